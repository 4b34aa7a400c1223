"""Wall time of N cells of sbml/growing_cell.xml through G generations (hybrid + division).

    python benchmarks/division_cells.py --cells 1000 --generations 3
    python benchmarks/division_cells.py --cells 100000 --generations 3 --chunk 100000  # GPU

Prints the time of a first run (with compilation) and of a second, compiled run.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import wholecell as wc

EXAMPLE = Path(__file__).parent.parent / "sbml" / "growing_cell.xml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--generations", type=int, default=3)
    ap.add_argument("--keep", default="all", help="'all', 'one' or a number")
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--ids", default="P,M,SA,cell", help="ids to record")
    a = ap.parse_args()
    keep = int(a.keep) if a.keep.isdigit() else a.keep
    model = wc.load_sbml(EXAMPLE)
    t = np.linspace(0.0, 60.0 * (a.generations + 1), 4 * (a.generations + 1) + 1)
    for run in ("first (with compilation)", "second"):
        tic = time.perf_counter()
        lin = wc.division.simulate(
            model, t, when=wc.division.doubled("SA"), n=a.cells, generations=a.generations,
            keep=keep, seed=0, chunk_size=a.chunk, ids=a.ids.split(","),
        )
        dt = time.perf_counter() - tic
        print(f"{run}: {dt:.2f} s, {lin}, {len(lin) / dt:.0f} cell cycles/s", flush=True)


if __name__ == "__main__":
    main()
