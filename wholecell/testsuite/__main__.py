"""Command line of the SBML Test Suite runner."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ._biomodels import run_folder, table
from ._cases import parse_ranges
from ._runner import run_cases, summary, tag_table, write_report

DEFAULT_SEMANTIC = Path("../shared/sbml-test-suite/semantic")
DEFAULT_STOCHASTIC = Path("../shared/sbml-test-suite/stochastic")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m wholecell.testsuite",
        description="Run SBML Test Suite semantic cases and compare with expected results.",
    )
    ap.add_argument("cases_dir", nargs="?", type=Path, default=None)
    ap.add_argument(
        "--stochastic", action="store_true",
        help="run the stochastic cases (default dir ../shared/sbml-test-suite/stochastic)",
    )
    ap.add_argument("--runs", type=int, default=10_000, help="SSA runs per stochastic case")
    ap.add_argument("--members", type=int, default=1,
                    help="run each semantic case as an ensemble of this many copies "
                         "(the batch path of simulate) and judge every member")
    ap.add_argument("--cases", help="case numbers, e.g. 1-100,205 (default: all)")
    ap.add_argument("--jobs", type=int, default=1, help="worker processes")
    ap.add_argument("--out", type=Path, help="write a CSV report here")
    ap.add_argument("--tags", action="store_true", help="print the per-tag table")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--biomodels", type=Path, action="append", metavar="DIR",
                    help="compare every SBML file in DIR with libRoadRunner (repeatable)")
    ap.add_argument("--rtol", type=float, default=1e-8, help="--biomodels: both tools' rtol")
    ap.add_argument("--atol", type=float, default=1e-12, help="--biomodels: both tools' atol")
    ap.add_argument("--t-end", type=float, default=100.0, help="--biomodels: end time")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="--biomodels: seconds per model")
    args = ap.parse_args(argv)
    if args.biomodels:
        return _biomodels(args)
    root = args.cases_dir or (DEFAULT_STOCHASTIC if args.stochastic else DEFAULT_SEMANTIC)
    if not root.is_dir():
        print(f"no such directory: {root}", file=sys.stderr)
        return 2
    available = [int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit()]
    numbers = parse_ranges(args.cases, available)
    dirs = [root / f"{n:05d}" for n in numbers]
    t0 = time.perf_counter()
    outcomes = run_cases(
        dirs, jobs=args.jobs, progress=not args.no_progress,
        stochastic_runs=args.runs if args.stochastic else None, members=args.members,
    )
    elapsed = time.perf_counter() - t0
    if args.out:
        write_report(outcomes, args.out)
    if args.tags:
        print(tag_table(outcomes))
    bad = [o for o in sorted(outcomes, key=lambda o: o.case) if o.status in ("fail", "error")]
    for o in bad[:50]:
        print(f"{o.case:05d} {o.status}: {o.detail}")
    if len(bad) > 50:
        print(f"... and {len(bad) - 50} more")
    print(summary(outcomes) + f" ({elapsed:.0f} s)")
    return 1 if bad else 0


def _biomodels(args) -> int:
    """Each folder against libRoadRunner; the table on stdout, and in ``--out`` (markdown,
    with the rows as JSON beside it)."""
    rows = []
    for folder in args.biomodels:
        if not folder.is_dir():
            print(f"no such directory: {folder}", file=sys.stderr)
            return 2
        rows += run_folder(folder, rtol=args.rtol, atol=args.atol, t_end=args.t_end, n=101,
                           timeout=args.timeout, progress=not args.no_progress,
                           jobs=args.jobs)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
        args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1) + "\n")
    return 1 if any(r["status"] in ("mismatch", "error", "timeout") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
