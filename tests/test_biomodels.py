"""Real models from BioModels against reference trajectories from libRoadRunner.

The references (tests/data/biomodels/*.csv) were made with libRoadRunner 2.10.0's CVODE at
tight tolerances by tests/data/biomodels/make_references.py. We solve 100x tighter than we
compare. The models are loaded from the model library (`wc.models`, whose aliases are the
reference files' names; tests/test_models.py checks that the library's SBML is
byte-for-byte the SBML the references were made from), so this is also the check that the
library's model cards quote.
"""

from pathlib import Path

import numpy as np
import pytest

import wholecell as wc

DATA = Path(__file__).parent / "data" / "biomodels"
#: agreement asked of every species at every output time
RTOL = 1e-4
#: absolute floor, relative to the species' largest value over the run
ATOL_OF_MAX = 1e-6
#: and relative to the model's largest value: differences below double precision of the
#: largest quantity (Chen 2009: 1.2e9) are rounding, where a species stays near zero
ATOL_OF_MODEL = float(np.finfo(np.float64).eps)
MODELS = sorted(p.stem for p in DATA.glob("*.csv"))
#: the three that compile longest (about a minute each on 2 cores): `pytest -m slow`
SLOW = {"BIOMD0000000056", "BIOMD0000000064", "BIOMD0000000070"}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name for name in MODELS])
def test_matches_roadrunner(name):
    ref = np.genfromtxt(DATA / f"{name}.csv", delimiter=",", names=True)
    ids = [n for n in ref.dtype.names if n != "time"]
    model = wc.models.load(name)
    res = wc.simulate(model, ref["time"], rtol=1e-8, atol=1e-12)
    scale = max(np.max(np.abs(ref[sid])) for sid in ids)
    worst = 0.0
    for sid in ids:
        expected = ref[sid]
        actual = res.concentration(sid)
        tol = (RTOL * np.abs(expected) + ATOL_OF_MAX * np.max(np.abs(expected))
               + ATOL_OF_MODEL * scale + 1e-14)
        excess = np.max(np.abs(actual - expected) / tol)
        worst = max(worst, excess)
        assert excess <= 1.0, (
            f"{name}: {sid} differs from roadrunner by up to "
            f"{np.max(np.abs(actual - expected)):.3g}"
        )
    assert worst <= 1.0
