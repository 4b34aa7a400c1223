"""Curated BioModels against saved libRoadRunner trajectories, at the issue's criterion.

The references (tests/data/biomodels_curated/*.csv) were made by libRoadRunner's CVODE at
rtol 1e-12 / atol 1e-20 (1e-16 for BIOMD0000000234; make_references.py there: against
them, CVODE's own run at 1e-10 / 1e-14 is within 0.1x the allowance for every model but
BIOMD0000000462, 38x, which is why the references are this tight); wholecell runs at
rtol 1e-8 / atol 1e-12, as a user comparing both tools would, and must agree at every
output for every species and rule-driven variable: |a - b| <= 1e-6 max|b| + 1e-4 |b|.
The subset includes BIOMD0000000305 (compartments of 1e-15 L) and BIOMD0000000321
(0.196), and the two models where tsit5 at its stability limit was wrong without saying
so (`solver="auto"` now detects it and reruns with BDF): BIOMD0000000415 (species_7 4.4x
the allowance off) and BIOMD0000000407 (Casp3, a pM species, left swinging by +-4 atol;
the run also warns that Casp3 and four others stay below atol, which they do).
`python -m wholecell.testsuite --biomodels` runs the whole folder.

Each model costs 4-13 s on 2 cores, nearly all of it compiling its solve, so CI runs the
20 that compile fastest and BIOMD0000000415 (`CI`, about 110 s); the other 11 are marked
slow (`pytest -m slow`).
"""

import contextlib
from pathlib import Path

import numpy as np
import pytest

import wholecell as wc

DATA = Path(__file__).parent / "data" / "biomodels_curated"
ABS_OF_MAX, REL = 1e-6, 1e-4
MODELS = sorted(p.stem for p in DATA.glob("*.csv"))
#: the models CI runs (the fastest 20, and 415; BIOMD0000000305 has compartments of 1e-15 L)
CI = {f"BIOMD0000000{n}" for n in (
    "204", "234", "272", "290", "296", "299", "305", "321", "341", "346", "351", "360",
    "377", "381", "415", "458", "462", "521", "532", "538", "546")}
#: the ToleranceWarning a model must give (a species it names), where states stay below atol
WARNS = {"BIOMD0000000407": "Casp3"}


@pytest.mark.parametrize("name", [
    name if name in CI else pytest.param(name, marks=pytest.mark.slow) for name in MODELS])
def test_matches_roadrunner_reference(name):
    ref = np.genfromtxt(DATA / f"{name}.csv", delimiter=",", names=True, deletechars="")
    ids = [n for n in ref.dtype.names if n != "time"]
    model = wc.load_sbml(DATA / f"{name}.xml")
    warns = (pytest.warns(wc.ToleranceWarning, match=WARNS[name]) if name in WARNS
             else contextlib.nullcontext())
    with warns:
        res = wc.simulate(model, ref["time"], rtol=1e-8, atol=1e-12)
    for sid in ids:
        b = ref[sid]
        a = np.asarray(res[sid], dtype=float)
        allow = ABS_OF_MAX * np.nanmax(np.abs(b), initial=0.0) + REL * np.abs(b)
        # a value both tools find undefined (a rule dividing by zero at t = 0) agrees
        ok = (np.abs(a - b) <= allow) | (np.isnan(a) & np.isnan(b))
        k = int(np.argmin(ok))
        assert np.all(ok), (
            f"{name}: '{sid}' at t = {ref['time'][k]:g} is {a[k]:.8g}, roadrunner "
            f"{b[k]:.8g}"
        )
