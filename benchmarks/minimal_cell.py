"""JCVI-syn3A through its cell cycle: speed (one cell; N cells together) and the figures.

    python -m benchmarks.minimal_cell --cells 100 [--data ../shared/minimal-cell]
        [--metabolism]

Builds (or takes from the cache) the full model, runs one cell through one cycle, then
``--cells`` cells together, each twice (the first run includes compilation), and writes
benchmarks/MINIMAL_CELL.md: the timings (the ratio of N cells to one is the target, <= 3x
for 100 cells) and the figures of `wholecell.models.syn3a._cells.summary` beside the
published ones. ``--metabolism``: the coupled model (`stage="coupled"`, as
``wholecell minimal-cell --metabolism``), written to benchmarks/MINIMAL_CELL_COUPLED.md.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import wholecell as wc
from wholecell.models.syn3a._cells import simulate_cells, summary

OUT = Path(__file__).parent / "MINIMAL_CELL.md"
OUT_COUPLED = Path(__file__).parent / "MINIMAL_CELL_COUPLED.md"


def _run(model, cells: int, seed: int, workers: int = 1):
    tic = time.perf_counter()
    lin = simulate_cells(model, cells=cells, generations=1, seed=seed, progress=True,
                         workers=workers if cells > 1 else 1)
    return lin, time.perf_counter() - tic


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=100)
    ap.add_argument("--data", default=None, help="minimal-cell tables (default ../shared)")
    ap.add_argument("--skip-one", action="store_true", help="only the population run")
    ap.add_argument("--repeat", action="store_true",
                    help="run the population twice (the second without compilation)")
    ap.add_argument("--metabolism", action="store_true",
                    help="the coupled model (metabolism as ODEs, the rest by SSA)")
    ap.add_argument("--workers", type=int, default=1,
                    help="processes for the population run (one cell per batch); the "
                         "single cell runs in this process")
    a = ap.parse_args()
    tic = time.perf_counter()
    stage = "coupled" if a.metabolism else "gene_expression"
    model = wc.models.load("syn3a", data=a.data, stage=stage)
    load_s = time.perf_counter() - tic
    rows = [f"model: {len(model.species)} species, {len(model.reactions)} reactions; "
            f"build or cache + import {load_s:.1f} s"]
    timings = {}
    for cells in ([] if a.skip_one else [1]) + [a.cells]:
        lin, first = _run(model, cells, seed=1, workers=a.workers)
        second = None
        if cells == 1 or a.repeat:
            lin, second = _run(model, cells, seed=2, workers=a.workers)
        timings[cells] = (first, second if second is not None else first, lin)
        how = f" in {a.workers} processes" if cells > 1 and a.workers > 1 else ""
        rows.append(f"{cells} cell(s){how}, one cycle: first run {first:.1f} s (with "
                    "compilation)"
                    + (f", second {second:.1f} s" if second is not None else ""))
        print(rows[-1], flush=True)
    if 1 in timings and a.cells in timings:
        ratio = timings[a.cells][1] / timings[1][1]
        rows.append(f"{a.cells} cells / 1 cell (second runs"
                    + ("" if a.repeat else "; the population's first, with compilation")
                    + f"): {ratio:.2f}x (target <= 3x)")
    figures = summary(timings[a.cells][2])
    text = ["# The minimal cell: speed and figures", "",
            "Made by `python -m benchmarks.minimal_cell"
            + (" --metabolism" if a.metabolism else "")
            + (f" --cells {a.cells}" if a.cells != 100 else "")
            + (f" --workers {a.workers}" if a.workers > 1 else "") + "` on this machine "
            f"({time.strftime('%Y-%m-%d %H:%M')}; load average "
            f"{os.getloadavg()[0]:.1f} at the end).", ""]
    text += [f"- {r}" for r in rows] + ["", "| figure | ours: median (5-95 %) | published |",
                                         "|---|---|---|"]
    for name, f in figures.items():
        extra = (f"; {f['below_1.8']} of {f['genes']} below 1.8" if "below_1.8" in f else "")
        text.append(f"| {name} | {f['median']:.3g} ({f['p5']:.3g}-{f['p95']:.3g}){extra} | "
                    f"{f['published']} |")
    (OUT_COUPLED if a.metabolism else OUT).write_text("\n".join(text) + "\n")
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
