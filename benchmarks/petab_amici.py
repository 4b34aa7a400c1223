"""AMICI's log-likelihood of PEtab problems at the nominal parameters, at several tolerances.

    python benchmarks/petab_amici.py Crauste_CellSystems2017 [...] [--collection DIR]

Needs AMICI and the ``petab`` package (``pip install -e '.[amici]' petab``). Imports each
problem with AMICI's PEtab importer (compiled once into the temporary folder) and prints
one JSON line per (problem, rtol, atol) next to `wholecell.petab`'s value at rtol 1e-8 and
1e-12: a check of the published reference log-likelihoods, which carry the solver error of
the tolerances they were computed at.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.petab_gradients import COLLECTION  # noqa: E402

TOLERANCES = ((1e-8, 1e-8), (1e-8, 1e-12), (1e-10, 1e-14), (1e-12, 1e-16))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("problems", nargs="+")
    ap.add_argument("--collection", type=Path, default=COLLECTION)
    args = ap.parse_args(argv)
    import petab.v1 as petab
    from amici.importers.petab.v1 import import_petab_problem
    from amici.sim.sundials.petab.v1 import simulate_petab

    import wholecell as wc

    for name in args.problems:
        folder = args.collection / name
        ours = {}
        for rtol, atol in ((1e-8, 1e-12), (1e-12, 1e-16)):
            prob = wc.petab.load(folder, rtol=rtol, atol=atol)
            ours[f"wholecell rtol {rtol:g}"] = -float(prob.objective(prob.nominal))
        problem = petab.Problem.from_yaml(folder / f"{name}.yaml")
        model = import_petab_problem(problem, Path(tempfile.gettempdir()) / f"amici_petab_{name}")
        for rtol, atol in TOLERANCES:
            solver = model.create_solver()
            solver.set_relative_tolerance(rtol)
            solver.set_absolute_tolerance(atol)
            solver.set_max_steps(1_000_000)
            llh = float(simulate_petab(problem, amici_model=model, solver=solver)["llh"])
            print(json.dumps({"problem": name, "amici rtol": rtol, "amici atol": atol,
                              "amici llh": llh, **ours}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
