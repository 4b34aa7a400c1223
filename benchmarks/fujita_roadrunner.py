"""Fujita_SciSignal2010's PEtab objective computed with libroadrunner, apart from wholecell.

    python benchmarks/fujita_roadrunner.py [--collection DIR] [--rtol 1e-12] [X ...]

Prints the negative log-likelihood at the nominal parameters and at each X (19 values on
the log10 scale, in the parameter table's order, as one JSON list) from roadrunner's CVODE
and from `wholecell.petab`. The PEtab tables are read with pandas and the likelihood is
written out here (observables: a scaling factor times a sum of species; normal noise with
the fixed standard deviations of the measurement table), so the two values share only the
SBML file and the tables. Pulse conditions are integrated in pieces that end at the
switch-off time ``EGF_end``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.petab_gradients import COLLECTION  # noqa: E402

NAME = "Fujita_SciSignal2010"
OBSERVED = {"pAkt_tot": ("pAkt", "pAkt_S6"), "pEGFR_tot": ("pEGFR", "pEGFR_Akt"),
            "pS6_tot": ("pS6",)}


def roadrunner_nll(folder: Path, log10_values, rtol: float = 1e-12) -> float:
    """The PEtab negative log-likelihood at ``log10_values`` (all 19 parameters)."""
    import roadrunner

    meas = pd.read_csv(folder / f"measurementData_step_{NAME}.tsv", sep="\t")
    cond = pd.read_csv(folder / f"experimentalCondition_{NAME}.tsv", sep="\t")
    cond = cond.set_index("conditionId")
    ids = list(pd.read_csv(folder / f"parameters_{NAME}.tsv", sep="\t").parameterId)
    values = dict(zip(ids, 10.0 ** np.asarray(log10_values, dtype=float), strict=True))
    total = 0.0
    for cid, rows in meas.groupby("simulationConditionId"):
        r = roadrunner.RoadRunner(str(folder / f"model_{NAME}.xml"))
        r.integrator.relative_tolerance = rtol
        r.integrator.absolute_tolerance = 1e-14
        r.integrator.maximum_num_steps = 1_000_000
        for k in ids:
            if not k.startswith("scaling_"):
                r[k] = values[k]
        for k in ("EGF_0", "EGF_rate", "EGF_end"):
            r[k] = float(cond.loc[cid, k])
        r.reset()  # initial assignments (EGFR = init_EGFR, ...) with the values above
        times = sorted(set(rows.time))
        end = float(cond.loc[cid, "EGF_end"])
        grid = sorted(set(times) | ({end} if 0 < end < times[-1] else set()))
        seen, t_now = {}, 0.0
        for t in [0.0, *grid]:
            if t > t_now:
                r.simulate(t_now, t, 2)
                t_now = t
            seen[t] = {s: r[f"[{s}]"] for names in OBSERVED.values() for s in names}
        for m in rows.itertuples():
            simulated = sum(seen[m.time][s] for s in OBSERVED[m.observableId])
            h = values[m.observableParameters] * simulated
            sigma = float(m.noiseParameters)
            total += 0.5 * math.log(2 * math.pi * sigma**2)
            total += 0.5 * ((m.measurement - h) / sigma) ** 2
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--collection", type=Path, default=COLLECTION)
    ap.add_argument("--rtol", type=float, default=1e-12)
    ap.add_argument("points", nargs="*", help="JSON lists of 19 log10 values")
    args = ap.parse_args(argv)
    import wholecell as wc

    folder = args.collection / NAME
    prob = wc.petab.load(folder, rtol=1e-11, atol=1e-15)
    points = [("nominal", prob.nominal)] + [(p, np.asarray(json.loads(p))) for p in args.points]
    for label, x in points:
        print(json.dumps({
            "point": label, "roadrunner": roadrunner_nll(folder, x, args.rtol),
            "wholecell": float(prob.objective(x)),
        }), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
