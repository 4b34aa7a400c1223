"""Compile time of models with SBML events: trace + lower + compile seconds.

Run: ``python benchmarks/compile_events.py [case ...]`` (cases: ``jump``, ``petab``,
``division``; default all). Each case runs in a fresh process with the persistent
compilation cache off (``WHOLECELL_NO_CACHE=1``) and does what its test does:

- ``jump``: the one-species model with one event of ``tests/test_events.py``: the
  reverse-mode gradient (``adjoint="checkpointed"``) and the forward-mode Jacobian
  (``adjoint="lax"``) of the final state, Tsit5 at rtol 1e-10, called as the test calls
  them (not wrapped in ``jit``);
- ``petab``: the events problem of ``tests/test_petab_gradients.py`` (two events whose
  times depend on estimated parameters, Tsit5): the first ``value_and_grad`` and the
  forward-mode Jacobian of the objective;
- ``division``: ``tests/test_division.py::test_division_at_an_sbml_event`` (the growing
  cell dividing when its event's trigger turns true).

The seconds are the sums of JAX's own compile events (``jax.monitoring``): tracing to a
jaxpr, lowering to StableHLO, and XLA's compilation, over every program the case compiles
(eager primitives included). ``wall`` is the case's whole run time, compile included.
The table goes into ``benchmarks/RESULTS.md`` ("compile time, event models").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
    "/jax/core/compile/backend_compile_duration": "compile",
}
CASES = ("jump", "petab", "division")


def _jump() -> None:
    import jax
    import numpy as np
    from test_events import JUMP, T_END

    import wholecell as wc

    sim = wc.compile(wc.load_sbml(JUMP))
    ts = np.array([0.0, T_END])

    def final_s(p, adjoint="checkpointed"):
        return sim.solve(ts, params=p, rtol=1e-10, atol=1e-12, solver="tsit5",
                         adjoint=adjoint)[-1, 0]

    jax.block_until_ready(jax.grad(final_s)(sim.param_values))
    jax.block_until_ready(jax.jacfwd(lambda p: final_s(p, "lax"))(sim.param_values))


def _petab() -> None:
    import tempfile

    import jax
    from test_petab_gradients import _forward_mode, _write_problem

    import wholecell as wc

    with tempfile.TemporaryDirectory() as tmp:
        prob = wc.petab.load(_write_problem(Path(tmp) / "p", events=True), solver="tsit5",
                             rtol=1e-5, atol=1e-8)
        theta = prob.nominal + 0.03
        jax.block_until_ready(prob.value_and_grad(theta))
        _forward_mode(prob, theta)


def _division() -> None:
    import numpy as np
    from test_division import DIVIDE_EVENT, EXAMPLE

    import wholecell as wc

    doc = EXAMPLE.read_text().replace("</model>", DIVIDE_EVENT)
    wc.division.simulate(wc.load_sbml(doc), np.linspace(0.0, 130.0, 3),
                         when=wc.division.event("divide"), n=2, seed=0)


def _child(case: str) -> None:
    """Run one case in this process and print its figures as one JSON line."""
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT))
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_numpy_dtype_promotion", "strict")
    jax.config.update("jax_numpy_rank_promotion", "raise")
    sums = dict.fromkeys(EVENTS.values(), 0.0)

    def listen(name, secs, **_):
        if name in EVENTS:
            sums[EVENTS[name]] += secs

    jax.monitoring.register_event_duration_secs_listener(listen)
    start = time.perf_counter()
    {"jump": _jump, "petab": _petab, "division": _division}[case]()
    wall = time.perf_counter() - start
    print(json.dumps({"case": case, **{k: round(v, 2) for k, v in sums.items()},
                      "total": round(sum(sums.values()), 2), "wall": round(wall, 2)}))


def main(argv: list[str]) -> None:
    cases = argv or list(CASES)
    env = dict(os.environ, WHOLECELL_NO_CACHE="1")
    rows = []
    for case in cases:
        out = subprocess.run([sys.executable, __file__, "--child", case], env=env,
                             capture_output=True, text=True, check=True, cwd=ROOT)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print("| case | trace s | lower s | compile s | total s | wall s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['trace']} | {r['lower']} | {r['compile']} | "
              f"{r['total']} | {r['wall']} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2])
    else:
        main(sys.argv[1:])
