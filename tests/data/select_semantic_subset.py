"""Choose the CI subset of semantic cases from a full-suite report and copy them here.

Usage: python select_semantic_subset.py REPORT.csv SUITE_DIR [--per-tag 6] [--max 260]

Picks, for every tag, the fastest passing cases until each tag has ``--per-tag`` of them
(or all it has), then copies each case's SBML (the level the runner reads), settings,
results and model.m files
(and external comp models) into ./semantic/.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from collections import defaultdict
from pathlib import Path

from wholecell.testsuite._cases import _LEVELS


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("report", type=Path)
    ap.add_argument("suite", type=Path)
    ap.add_argument("--per-tag", type=int, default=6)
    ap.add_argument("--max", type=int, default=260)
    args = ap.parse_args()
    rows = [r for r in csv.DictReader(open(args.report)) if r["status"] == "pass"]
    rows.sort(key=lambda r: float(r["seconds"]))
    by_tag = defaultdict(list)
    for r in rows:
        for t in r["tags"].split():
            by_tag[t].append(r["case"])
    chosen: list[str] = []
    for tag in sorted(by_tag, key=lambda t: len(by_tag[t])):
        have = sum(1 for c in chosen if c in by_tag[tag])
        for c in by_tag[tag]:
            if have >= args.per_tag:
                break
            if c not in chosen:
                chosen.append(c)
                have += 1
    for r in rows:  # fill up with the fastest remaining cases
        if len(chosen) >= args.max:
            break
        if r["case"] not in chosen:
            chosen.append(r["case"])
    out = Path(__file__).parent / "semantic"
    out.mkdir(exist_ok=True)
    for case in sorted(chosen):
        src = args.suite / case
        dst = out / case
        dst.mkdir(exist_ok=True)
        sbml = next(src / f"{case}-sbml-{lv}.xml" for lv in _LEVELS
                    if (src / f"{case}-sbml-{lv}.xml").exists())
        for f in src.iterdir():
            external = f.suffix == ".xml" and "-sbml-" not in f.name  # comp submodels
            if f == sbml or external or f.suffix in (".csv", ".txt", ".m"):
                shutil.copy(f, dst / f.name)
    print(f"{len(chosen)} cases, {len(by_tag)} tags")


if __name__ == "__main__":
    main()
