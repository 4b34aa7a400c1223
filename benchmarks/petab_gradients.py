"""PEtab objectives: gradient time / simulation time (issue 5), and multi-start fits.

    python benchmarks/petab_gradients.py [--problems Boehm_JProteomeRes2014,...]
                                          [--repeats 5] [--timeout 1800]
    python benchmarks/petab_gradients.py --fit [--starts 10]

The first form times, at the nominal parameters, the objective (every simulation of the
problem, rtol 1e-8, atol 1e-12) and its value and gradient (`value_and_grad`: reverse mode
through the solver, checkpointed), each jitted, the first call (compile + run) apart and then
the median of ``--repeats`` alternating calls; it writes the block ``petab-gradient`` of
benchmarks/RESULTS.md. ``--fit`` runs `wc.fit` (L-BFGS-B, seed 0, random starts uniform in
the bounds) on Boehm (plain objective) and Fujita (`prob.hierarchical()`: scaling factors
in closed form) and writes the block ``petab-fit``: how many starts, and how much wall
time, until the first start ends within 0.1 of the best known objective.
Each problem runs in its own process.
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

from benchmarks._common import header, table, write_section  # noqa: E402

COLLECTION = ROOT.parent / "shared" / "petab-benchmarks" / "Benchmark-Models"
PROBLEMS = ("Boehm_JProteomeRes2014", "Fujita_SciSignal2010", "Bachmann_MSB2011")
#: the objective at the nominal parameters (-AMICI's log-likelihood): an upper bound on the
#: best known objective
NOMINAL_OBJECTIVE = {"Boehm_JProteomeRes2014": 138.22199693517703,
                     "Fujita_SciSignal2010": -53.08377736998929}

_GRAD_CHILD = """
import json, statistics, sys, time
import jax
import wholecell as wc
folder, repeats = sys.argv[1], int(sys.argv[2])
t = time.perf_counter(); prob = wc.petab.load(folder); load = time.perf_counter() - t
th = prob.nominal
def run(f):
    t = time.perf_counter(); jax.block_until_ready(f(th)); return time.perf_counter() - t
first_sim, first_grad = run(prob.objective), run(prob.value_and_grad)
sims, grads = [], []
for _ in range(repeats):
    sims.append(run(prob.objective)); grads.append(run(prob.value_and_grad))
print(json.dumps({"n_par": len(th), "n_sim": len(prob._sims.pairs), "solver": prob.solver,
                  "load": load, "first_sim": first_sim, "first_grad": first_grad,
                  "sim": statistics.median(sims), "grad": statistics.median(grads),
                  "objective": float(prob.objective(th))}))
"""

_FIT_CHILD = """
import json, sys, time
import numpy as np
import wholecell as wc
folder, n, hier, nominal = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", float(sys.argv[4])
workers = int(sys.argv[5])
t = time.perf_counter()
prob = wc.petab.load(folder)
obj = prob.hierarchical() if hier else prob
obj.value_and_grad(prob.nominal)
if hier:
    obj.complete(prob.nominal)
compile_s = time.perf_counter() - t
res = wc.fit(obj, n_starts=n, seed=0, progress=False, workers=workers)
best = min(res.fun, nominal)
reach = res.starts_to_reach(best, 0.1)
print(json.dumps({
    "compile": compile_s, "wall": res.wall_time, "best": res.fun,
    "best_full": float(prob.objective(res.x)), "n_conv": res.n_converged(0.1),
    "reach_n": reach[0] if reach else None, "reach_s": reach[1] if reach else None,
    "redrawn": res.n_redrawn, "failed": int(res.n_failed.sum()),
    "analytic": list(getattr(obj, "analytic_parameter_ids", ())),
}))
"""


def _child(code: str, args: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run ``code`` in a new Python process; its last stdout line is JSON (or a note)."""
    try:
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                             text=True, timeout=timeout, cwd=ROOT, env=env)
    except subprocess.TimeoutExpired:
        return {"note": f"not finished within {timeout:.0f} s"}
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        return {"note": (lines[-1] if lines else f"exit {out.returncode}")[:120]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def gradients(problems: list[str], repeats: int, timeout: float) -> None:
    rows = []
    for name in problems:
        r = _child(_GRAD_CHILD, [str(COLLECTION / name), str(repeats)], timeout)
        row = {"problem": name, **r}
        if "grad" in r:
            row["grad / sim"] = r["grad"] / r["sim"]
        rows.append(row)
        print(row, flush=True)
    notes = (
        "PEtab objectives at the nominal parameters (rtol 1e-8, atol 1e-12; all simulations "
        "of the problem, batched with vmap). sim: `prob.objective(theta)` (forward "
        "simulation and likelihood); grad: `prob.value_and_grad(theta)` (value and gradient "
        "with respect to every estimated parameter, reverse mode through the solver with "
        "checkpointing); both jitted, seconds, median of "
        f"{repeats} alternating calls after a first call (compile + run) shown apart. "
        "Written by `python benchmarks/petab_gradients.py`."
    )
    text = header("PEtab: gradient time / simulation time", notes) + "\n" + table(
        rows, ["problem", "n_par", "n_sim", "solver", "sim", "grad", "grad / sim",
               "first_sim", "first_grad", "note"])
    write_section("petab-gradient", text)


def fits(problems: list[str], n: int, timeout: float, workers: list[int]) -> None:
    rows = []
    for name, hier in (("Boehm_JProteomeRes2014", False), ("Fujita_SciSignal2010", True)):
        if name not in problems:
            continue
        for w in workers:
            r = _child(_FIT_CHILD, [str(COLLECTION / name), str(n), "1" if hier else "0",
                                    repr(NOMINAL_OBJECTIVE[name]), str(w)], timeout)
            row = {"problem": name, "objective": "hierarchical" if hier else "plain",
                   "starts": n, "workers": w, "nominal objective": NOMINAL_OBJECTIVE[name],
                   **r}
            row["cache"] = "off" if os.environ.get("WHOLECELL_NO_CACHE") else "on"
            if w > 1:  # the starts ran side by side: their summed time is not wall time
                row["reach_s"] = None
            _fit_row(row, r)
            rows.append(row)
            print(row, flush=True)
    notes = (
        "`wc.fit(obj, n_starts, seed=0, workers=w)` (L-BFGS-B, starts uniform in the bounds "
        "on the parameter scales; workers: 1 in the process, else that many new processes, "
        "one core each, their start-up and compile in the wall time). best: the best "
        "objective found; reach_n / reach_s: starts run, and their summed time in seconds "
        "(compile excluded; one worker only), until the first start ended within 0.1 of "
        "min(best, objective at the nominal parameters); n_conv: starts within "
        "0.1 of the best; redrawn: random starts redrawn because the objective was not "
        "finite there; failed: evaluations with a failed simulation (rejected steps); "
        "compile: load and the first value and gradient in a new process (cache off: "
        "`WHOLECELL_NO_CACHE=1`, a first run; on: the cache as found); to best, compile "
        "included: compile + reach_s (issue 23's target for Boehm: <= 120 s); s per "
        "converged start: wall / n_conv. Written by `python benchmarks/petab_gradients.py --fit`."
    )
    text = header("PEtab: multi-start fits", notes) + "\n" + table(
        rows, ["problem", "objective", "starts", "workers", "nominal objective", "best",
               "best_full",
               "n_conv", "reach_n", "reach_s", "wall", "cache", "compile",
               "to best, compile included",
               "s per converged start", "redrawn", "failed", "note"])
    write_section("petab-fit", text)


def _fit_row(row: dict, r: dict) -> None:
    """The derived columns of a fit's row."""
    if row.get("reach_s") is not None:
        row["to best, compile included"] = r["compile"] + row["reach_s"]
    if r.get("n_conv"):
        row["s per converged start"] = r["wall"] / r["n_conv"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS),
                    help="comma-separated problem names (with --fit: Boehm and/or Fujita)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per problem")
    ap.add_argument("--fit", action="store_true", help="run the multi-start fits instead")
    ap.add_argument("--starts", type=int, default=10)
    ap.add_argument("--workers", default="1",
                    help="comma-separated worker counts of the fits (wc.fit's workers=)")
    args = ap.parse_args(argv)
    if args.fit:
        fits(args.problems.split(","), args.starts, args.timeout,
             [int(w) for w in args.workers.split(",")])
    else:
        gradients(args.problems.split(","), args.repeats, args.timeout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
