"""Multi-start fit of a PEtab problem: screen each start briefly, continue the promising.

    python benchmarks/fit_refine.py [--problem Fujita_SciSignal2010] [--seed 2]
        [--starts 40] [--screen-evals 150] [--threshold 200] [--refine-evals 3000]
        [--screen-rtol 1e-6] [--hierarchical] [--log fits.jsonl]

Each start (uniform in the bounds, drawn with ``seed`` as `wholecell.fit` draws them) gets
``screen_evals`` residual evaluations of ``wc.fit(..., method="least_squares")`` (trust-region
Gauss-Newton) at the looser ``screen_rtol``. A start that ends below ``threshold`` is
continued for up to ``refine_evals`` more at the same tolerance, then polished (up to
``polish_evals``) at the problem's tolerance (rtol 1e-8), and its objective is reported at
that tolerance. Non-identifiable directions (an initial amount against its observable's
scaling factor) make Gauss-Newton steps creep, so a start in the right basin can need
thousands of evaluations; most starts end far away within a hundred, and screening spares
them the rest. ``--hierarchical`` optimises over `PetabProblem.hierarchical` (scaling
factors in closed form). One JSON line per start (objective, evaluations, seconds, end
point); the last line sums up: starts and wall time until the first start within 0.1 of
the objective at the nominal parameters.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import wholecell as wc  # noqa: E402
from benchmarks.petab_gradients import COLLECTION  # noqa: E402
from wholecell.fitting import local_workers  # noqa: E402


def _lsq(objective, x, evals: int, tol: float):
    r = wc.fit(objective, x0=[x], method="least_squares", maxiter=evals, tol=tol,
               progress=False)
    return r.x, float(r.fun), int(r.n_fev[0])


#: this process's problems, loaded once (by the settings that load them)
_LOADED: dict = {}


def _load(args, rtol: float):
    """(problem, objective) at ODE tolerance ``rtol`` (atol = 1e-4 rtol), loaded once here."""
    key = (str(args.collection), args.problem, args.max_steps, args.hierarchical, rtol)
    if key not in _LOADED:
        p = wc.petab.load(args.collection / args.problem, max_steps=args.max_steps,
                          rtol=rtol, atol=rtol * 1e-4)
        _LOADED[key] = p, (p.hierarchical() if args.hierarchical else p)
    return _LOADED[key]


def _problems(args):
    """(tight problem, tight objective, loose objective) for ``args``."""
    tight, tight_obj = _load(args, 1e-8)
    loose_obj = tight_obj if args.screen_rtol == 1e-8 else _load(args, args.screen_rtol)[1]
    return tight, tight_obj, loose_obj


def one_start(args, k: int, x0) -> dict:
    """Screen start ``k`` (from ``x0``), continue and polish it if it passes: its record."""
    tight, tight_obj, loose_obj = _problems(args)
    t = time.perf_counter()
    x, f, n = _lsq(loose_obj, x0, args.screen_evals, 1e-8)
    rec = {"problem": args.problem, "seed": args.seed, "start": k, "screen": round(f, 4),
           "hierarchical": args.hierarchical}
    if np.isfinite(f) and f < args.threshold:
        x, f, n2 = _lsq(loose_obj, x, args.refine_evals, 1e-12)
        x, f, n3 = _lsq(tight_obj, x, args.polish_evals, 1e-12)
        rec.update({"refined": round(f, 4), "evals": [n, n2, n3]})
    else:
        rec["evals"] = [n]
    f_tight = float(tight.objective(x)) if np.isfinite(f) else np.inf
    rec.update({"f": round(f_tight, 4), "s": round(time.perf_counter() - t, 1),
                "x": np.round(x, 4).tolist()})
    return rec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collection", type=Path, default=COLLECTION)
    ap.add_argument("--problem", default="Fujita_SciSignal2010")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--starts", type=int, default=40)
    ap.add_argument("--first", type=int, default=0, help="skip the starts before this one")
    ap.add_argument("--screen-evals", type=int, default=150)
    ap.add_argument("--threshold", type=float, default=200.0,
                    help="continue a start whose screened objective is below this")
    ap.add_argument("--refine-evals", type=int, default=3000)
    ap.add_argument("--polish-evals", type=int, default=500)
    ap.add_argument("--screen-rtol", type=float, default=1e-6,
                    help="ODE rtol of screening and continuation (atol = 1e-4 rtol)")
    ap.add_argument("--hierarchical", action="store_true",
                    help="observable scaling factors in closed form")
    ap.add_argument("--max-steps", type=int, default=10_000,
                    help="solver step limit: starts in very stiff regions fail fast")
    ap.add_argument("--workers", type=int, default=1,
                    help="run the starts in this many processes, one core each "
                         "(`wholecell.fitting.local_workers`); 1: in this process")
    ap.add_argument("--log", type=Path, help="also append the JSON lines to this file")
    args = ap.parse_args(argv)

    tight = _load(args, 1e-8)[0]  # in one process, the problem its starts use
    target = float(tight.objective(tight.nominal)) + 0.1
    lo, hi = np.asarray(tight.lower_bounds), np.asarray(tight.upper_bounds)
    starts = lo + np.random.default_rng(args.seed).uniform(size=(args.starts, lo.size)) * (hi - lo)

    def emit(record):
        line = json.dumps(record)
        print(line, flush=True)
        if args.log:
            with args.log.open("a") as fh:
                fh.write(line + "\n")

    t_all, best, reached, done = time.perf_counter(), np.inf, None, 0
    ks = range(args.first, args.starts)
    if args.workers == 1:
        records = (one_start(args, k, starts[k]) for k in ks)
        pool = None
    else:
        # the starts in order of completion; the time to reach is the wall time until
        # the first start that got there finished
        pool = local_workers(args.workers)
        futures = [pool.submit(one_start, args, k, starts[k]) for k in ks]
        records = (f.result() for f in concurrent.futures.as_completed(futures))
    for rec in records:
        done += 1
        best = min(best, rec["f"])
        if reached is None and rec["f"] <= target:
            reached = (done, time.perf_counter() - t_all)
        emit(rec)
    if pool is not None:
        pool.shutdown()
    emit({"problem": args.problem, "seed": args.seed, "starts_run": args.starts - args.first,
          "workers": args.workers, "best": round(best, 4), "target": round(target, 4),
          "starts_to_reach": None if reached is None else reached[0],
          "seconds_to_reach": None if reached is None else round(reached[1], 1),
          "wall_s": round(time.perf_counter() - t_all, 1)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
