"""Errors at cell volumes against the analytic solutions, per method and tolerance.

``python benchmarks/cell_volumes.py [solver ...]`` prints, for the decay and binding
models of tests/test_cell_volumes.py at 1e-15 L, 1e-17 L (1 uM) and 1 L (9 pM), the
largest error relative to the initial concentration, the steps and any warning
(benchmarks/BIOMODELS.md has the figures before and after per-state tolerances).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import test_cell_volumes as cv  # noqa: E402

import wholecell as wc  # noqa: E402


def main(solvers: list[str]) -> None:
    for make in (cv.decay, cv.binding):
        model, _ = make(1.0)
        for volume, c0 in ((1e-15, 1e-6), (1e-17, 1e-6), (1.0, 9e-12)):
            params = {"C": volume}
            scale = c0 / cv.C0
            for name in ("A", "B", "AB"):
                if name in {s.id for s in model.species}:
                    params[name] = (2 * c0 if name == "B" else 0.0 if name == "AB" else c0)
            if make is cv.binding:
                params["kf"] = 1.0 / c0
            exact = {k: v * scale for k, v in make(1.0)[1].items()}
            for tol in ((1e-6, 1e-9), (1e-8, 1e-12)):
                for solver in solvers:
                    with warnings.catch_warnings(record=True) as got:
                        warnings.simplefilter("always")
                        try:
                            res = wc.simulate(model, cv.TS, params=params, solver=solver,
                                              rtol=tol[0], atol=tol[1])
                        except wc.SimulationError as e:
                            print(make.__name__, volume, c0, tol, solver, "failed:", e)
                            continue
                    err = max(np.max(np.abs(res[s] - v)) for s, v in exact.items()) / c0
                    print(f"{make.__name__:8s} V={volume:g} c0={c0:g} rtol/atol={tol} "
                          f"{solver:8s} error/c0={err:.2e} steps={res.stats['steps']} "
                          f"warnings={len(got)}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["auto", "tsit5", "rodas5", "bdf"])
