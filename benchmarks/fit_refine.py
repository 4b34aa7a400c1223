"""Multi-start fit of a PEtab problem in two phases: screen many starts, refine the best.

    python benchmarks/fit_refine.py [--problem Fujita_SciSignal2010] [--seed 2]
        [--starts 40] [--screen-evals 150] [--refine 3] [--refine-evals 6000]

Phase 1 runs ``wc.fit(prob, n_starts, seed, method="least_squares", maxiter=screen_evals)``:
short trust-region Gauss-Newton runs from starts uniform in the bounds. Phase 2 continues
the ``refine`` best end points with ``maxiter=refine_evals``. Non-identifiable directions
(an initial amount against its observable's scaling factor) make the Gauss-Newton steps
creep, so a start in the right basin can need thousands of evaluations to end there, which
is too many to spend on every start. Prints one JSON line per phase: the objective values,
evaluations and wall times.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import wholecell as wc  # noqa: E402
from benchmarks.petab_gradients import COLLECTION  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collection", type=Path, default=COLLECTION)
    ap.add_argument("--problem", default="Fujita_SciSignal2010")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--starts", type=int, default=40)
    ap.add_argument("--screen-evals", type=int, default=150)
    ap.add_argument("--refine", type=int, default=3)
    ap.add_argument("--refine-evals", type=int, default=6000)
    ap.add_argument("--max-steps", type=int, default=10_000,
                    help="solver step limit: starts in very stiff regions fail fast")
    args = ap.parse_args(argv)

    prob = wc.petab.load(args.collection / args.problem, max_steps=args.max_steps)
    nominal = float(prob.objective(prob.nominal))
    t = time.perf_counter()
    screen = wc.fit(prob, n_starts=args.starts, seed=args.seed, method="least_squares",
                    maxiter=args.screen_evals, tol=1e-8, progress=False)
    print(json.dumps({
        "phase": "screen", "problem": args.problem, "seed": args.seed, "starts": args.starts,
        "best": [round(float(f), 3) for f in screen.fvals[: max(args.refine, 5)]],
        "wall_s": round(time.perf_counter() - t, 1), "redrawn": screen.n_redrawn,
    }), flush=True)
    t = time.perf_counter()
    refined = wc.fit(prob, x0=screen.xs[: args.refine], method="least_squares",
                     maxiter=args.refine_evals, tol=1e-12, progress=False)
    print(json.dumps({
        "phase": "refine", "fvals": [round(float(f), 4) for f in refined.fvals],
        "n_fev": [int(n) for n in refined.n_fev], "wall_s": round(time.perf_counter() - t, 1),
        "nominal objective": nominal, "within_0.1": bool(refined.fun <= nominal + 0.1),
        "x": dict(zip(prob.parameter_ids, np.round(refined.x, 4).tolist(), strict=True)),
    }), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
