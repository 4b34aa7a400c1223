"""Run the PEtab SciML test suite: ``python -m wholecell.neural.sciml_suite [DIR]``.

DIR is the suite's ``test_cases`` folder (default ``../shared/petab-sciml/test_cases``).
Prints a Markdown report (or writes it with ``--out``); exits 1 when a case fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax

from ._sciml_suite import GROUPS, report, run_suite

DEFAULT = Path("../shared/petab-sciml/test_cases")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m wholecell.neural.sciml_suite",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", type=Path, default=DEFAULT,
                    help=f"the suite's test_cases folder (default {DEFAULT})")
    ap.add_argument("--groups", default=",".join(GROUPS),
                    help="comma-separated groups (default: all three)")
    ap.add_argument("--out", type=Path, help="write the Markdown report here")
    args = ap.parse_args(argv)
    if not args.root.is_dir():
        ap.error(f"{args.root} is not a folder: give the suite's test_cases folder")
    jax.config.update("jax_enable_x64", True)
    results = run_suite(args.root, tuple(args.groups.split(",")))
    text = report(results)
    if args.out:
        args.out.write_text(text)
    print(text)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
