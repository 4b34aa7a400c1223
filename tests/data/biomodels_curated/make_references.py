"""Regenerate the libRoadRunner reference trajectories of this folder.

Run from this folder: ``python make_references.py [model ...]`` (needs libroadrunner, the
``bench`` extra). Each model is simulated by CVODE at rtol 1e-12, atol 1e-20 (10,000x
and more tighter than the comparison's rtol 1e-8 / atol 1e-12), or at atol 1e-16 where
CVODE fails at 1e-20 (BIOMD0000000234 at t = 0), over 0-100 time units at 51 points;
written are every species (its concentration, or its amount where it has only substance
units) and every variable set by a rule, as ``<model>.csv``. At rtol 1e-10 / atol 1e-14
the reference of BIOMD0000000462 was 38x the allowance off (species AbP, below 1e-17 at
t = 2-10, under that atol); every other model moved by less than 0.1x the allowance.
"""

from __future__ import annotations

import sys

import libsbml
import numpy as np
import roadrunner

T_END, POINTS = 100.0, 51
RTOL, ATOLS = 1e-12, (1e-20, 1e-16)


def columns(path: str) -> list[str]:
    """Species, then rule-driven variables, with roadrunner's selection for each."""
    m = libsbml.readSBMLFromFile(path).getModel()
    ids = [s.getId() for s in m.getListOfSpecies()]
    sel = [s.getId() if s.getHasOnlySubstanceUnits() else f"[{s.getId()}]"
           for s in m.getListOfSpecies()]
    for r in m.getListOfRules():
        v = r.getVariable() if (r.isAssignment() or r.isRate()) else ""
        if v and v not in ids:
            ids.append(v)
            sel.append(v)
    return ids, sel


def simulate(name: str, sel: list[str], atol: float) -> np.ndarray:
    rr = roadrunner.RoadRunner(f"{name}.xml")
    rr.setIntegrator("cvode")
    rr.integrator.relative_tolerance = RTOL
    rr.integrator.absolute_tolerance = atol
    rr.integrator.maximum_num_steps = 1_000_000
    rr.timeCourseSelections = ["time"] + sel
    return np.asarray(rr.simulate(0.0, T_END, POINTS))


def main(names: list[str]) -> None:
    for name in names:
        ids, sel = columns(f"{name}.xml")
        for atol in ATOLS:
            try:
                out = simulate(name, sel, atol)
                break
            except RuntimeError:  # CVODE's error test fails at this atol
                if atol == ATOLS[-1]:
                    raise
        np.savetxt(f"{name}.csv", out, delimiter=",", header=",".join(["time"] + ids),
                   comments="", fmt="%.17g")
        print(name, out.shape, f"rtol {RTOL:g} atol {atol:g}")


if __name__ == "__main__":
    import glob

    main(sys.argv[1:] or sorted(p[:-4] for p in glob.glob("BIOMD*.xml")))
