"""Compile-time scaling on generated mass-action networks (100, 1,000, 10,000 reactions).

Run: ``python benchmarks/compile_scaling.py [--sizes 100,1000,10000]``. Reports load,
compile (IR -> JAX programs), first simulation (JIT compile + run) and a second run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import wholecell as wc
from wholecell._generate import mass_action_network


def measure(n: int, t_end: float = 10.0) -> dict:
    text = mass_action_network(n)
    t0 = time.perf_counter()
    model = wc.load_sbml(text, check=False)
    t1 = time.perf_counter()
    sim = wc.compile(model)
    t2 = time.perf_counter()
    ts = np.linspace(0, t_end, 101)
    res = wc.simulate(sim, ts)
    t3 = time.perf_counter()
    wc.simulate(sim, ts)
    t4 = time.perf_counter()
    groups = sum(len(level) for level in sim.structure.rhs_prog.levels)
    return {
        "reactions": len(model.reactions),
        "species": len(model.species),
        "shape groups": groups,
        "load s": t1 - t0,
        "compile s": t2 - t1,
        "first simulate s": t3 - t2,
        "second simulate s": t4 - t3,
        "solver": res.stats["solver"],
        "steps": int(res.stats["steps"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100,1000,10000")
    args = ap.parse_args()
    rows = [measure(int(n)) for n in args.sizes.split(",")]
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k])
                                 for k in keys) + " |")


if __name__ == "__main__":
    main()
