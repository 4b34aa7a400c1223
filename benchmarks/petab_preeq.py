"""Pre-equilibration by Newton against integration to t = 1e6, on the PEtab problems
with pre-equilibration and a published log-likelihood.

    python benchmarks/petab_preeq.py [--problems Zheng_PNAS2012,...] [--repeats 3]
                                     [--collection DIR]

For each problem, in one process: the log-likelihood at the nominal parameters with
``preeq_method="newton"`` and ``"integrate"`` next to the published value, the first
``value_and_grad`` call of each (compile + run) and the median of ``--repeats`` later
calls (alternating), the largest difference between the two gradients, and whether Newton
was accepted for every pre-equilibration condition. One JSON line per problem; the
persistent compilation cache is off (``WHOLECELL_NO_CACHE=1``), so first calls compile.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wholecell.petab.__main__ import REFERENCE_LLH  # noqa: E402

COLLECTION = Path("/work/shared/petab-benchmarks/Benchmark-Models")
PROBLEMS = ("Brannmark_JBC2010", "Weber_BMC2015", "Zheng_PNAS2012")

_CHILD = """
import json, statistics, sys, time
import jax, jax.numpy as jnp, numpy as np
import wholecell as wc
from wholecell.petab._steady import newton_steady_states
folder, repeats = sys.argv[1], int(sys.argv[2])
jax.jit(lambda x: x + 1)(1.0).block_until_ready()  # the runtime's own start, paid once
probs = {m: wc.petab.load(folder, preeq_method=m) for m in ("integrate", "newton")}
out = {"problem": folder.rstrip("/").split("/")[-1]}
grads, later = {}, {m: [] for m in probs}
for m, prob in probs.items():
    out[f"llh {m}"] = -float(prob.objective(prob.nominal))
    t = time.perf_counter()
    v, g = prob.value_and_grad(jnp.asarray(prob.nominal))
    g = np.asarray(g)
    out[f"first value_and_grad {m} s"] = time.perf_counter() - t
    grads[m] = g
for _ in range(repeats):
    for m, prob in probs.items():
        t = time.perf_counter()
        jax.block_until_ready(prob.value_and_grad(jnp.asarray(prob.nominal)))
        later[m].append(time.perf_counter() - t)
for m in probs:
    out[f"later value_and_grad {m} s"] = statistics.median(later[m])
gi, gn = grads["integrate"], grads["newton"]
out["grad max abs diff / max abs"] = float(np.max(np.abs(gn - gi)) / np.max(np.abs(gi)))
floor = np.maximum(np.abs(gi), 1e-3 * np.max(np.abs(gi)))
out["grad max rel diff (floor 1e-3 of max)"] = float(np.max(np.abs(gn - gi) / floor))
prob = probs["newton"]
v = prob.table.values(jnp.asarray(prob.nominal))
Pc = prob._conds.params(v)
P = Pc[prob._pre_cond]
X0 = prob._initial_states(prob._pre_cond, v, P)
out["newton accepted"] = np.asarray(newton_steady_states(
    prob.sim, P, X0, rtol=prob.rtol, atol=prob.atol)[1]).tolist()
out["n_par"], out["solver"] = len(prob.parameter_ids), prob.preeq_solver
print(json.dumps(out), flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--collection", type=Path, default=COLLECTION)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args(argv)
    for name in args.problems.split(","):
        try:
            res = subprocess.run(
                [sys.executable, "-c", _CHILD, str(args.collection / name), str(args.repeats)],
                capture_output=True, text=True, timeout=args.timeout, cwd=ROOT,
                # every first call compiles: no programs from the persistent cache
                env={**os.environ, "WHOLECELL_NO_CACHE": "1"},
            )
        except subprocess.TimeoutExpired:
            print(json.dumps({"problem": name, "error": "timeout"}), flush=True)
            continue
        line = res.stdout.strip().splitlines()[-1:] or [res.stderr.strip()[-2000:]]
        try:
            out = json.loads(line[0])
        except json.JSONDecodeError:
            print(json.dumps({"problem": name, "error": line[0]}), flush=True)
            continue
        out["published llh"] = REFERENCE_LLH.get(name)
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
