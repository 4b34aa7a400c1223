"""Command line of the SBML Test Suite runner."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

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
    args = ap.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
