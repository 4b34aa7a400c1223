"""Regenerate the reference trajectories in this folder with libRoadRunner.

Run from this folder: ``python make_references.py [model ...]`` (needs libroadrunner).
Each model is simulated with CVODE at rtol 1e-10, atol 1e-14 (Chen 2009: 1e-8, 1e-11;
roadrunner 2.10.0) and the concentrations of its floating species are written to
``<model>.csv``.
"""

from __future__ import annotations

import hashlib

import numpy as np
import roadrunner

import wholecell as wc

#: model -> (end time, number of output points)
SPANS = {
    "BIOMD0000000012": (1000.0, 101),
    "BIOMD0000000019": (3600.0, 61),
    "BIOMD0000000042": (200.0, 101),
    "BIOMD0000000056": (300.0, 151),
    "BIOMD0000000064": (100.0, 51),
    "BIOMD0000000070": (100.0, 51),
    "BIOMD0000000172": (100.0, 51),
    "BIOMD0000000195": (100.0, 101),
    "Chen2009_ErbB_PEtab_from_BIOMD0000000255": (3600.0, 61),
}
#: CVODE's tolerances (rtol, atol); Chen 2009 cannot be pushed tighter than this
TOLERANCES = {"Chen2009_ErbB_PEtab_from_BIOMD0000000255": (1e-8, 1e-11)}


def main(names: list[str]) -> None:
    digests = dict(line.split() for line in open("SHA256").read().splitlines())
    for name, (t_end, n) in SPANS.items():
        if names and name not in names:
            continue
        sbml = wc.models.info(name).sbml  # the model library's file of this alias
        rr = roadrunner.RoadRunner(str(sbml))
        rtol, atol = TOLERANCES.get(name, (1e-10, 1e-14))
        rr.integrator.relative_tolerance = rtol
        rr.integrator.absolute_tolerance = atol
        rr.integrator.maximum_num_steps = 100_000
        ids = list(rr.model.getFloatingSpeciesIds())
        rr.timeCourseSelections = ["time"] + [f"[{s}]" for s in ids]
        out = rr.simulate(0.0, t_end, n)
        header = ",".join(["time"] + ids)
        np.savetxt(f"{name}.csv", np.asarray(out), delimiter=",", header=header, comments="",
                   fmt="%.17g")
        print(name, out.shape)
        digests[name] = hashlib.sha256(sbml.read_bytes()).hexdigest()
    with open("SHA256", "w") as f:
        f.writelines(f"{n} {d}\n" for n, d in sorted(digests.items()))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
