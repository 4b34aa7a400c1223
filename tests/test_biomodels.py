"""Real models from BioModels against reference trajectories from libRoadRunner.

The references (tests/data/biomodels/*.csv) were made with libRoadRunner 2.10.0's CVODE at
tight tolerances by tests/data/biomodels/make_references.py. We solve 100x tighter than we
compare.
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
#: the 500-species Chen 2009 model takes minutes per solve at these tolerances; it runs with
#: ``pytest -m slow`` (and in benchmarks/), not in the default test run
LARGE = {"Chen2009_ErbB_PEtab_from_BIOMD0000000255"}
MODELS = sorted(p.stem for p in DATA.glob("*.csv") if p.stem not in LARGE)


@pytest.mark.parametrize(
    "name", MODELS + [pytest.param(n, marks=pytest.mark.slow) for n in sorted(LARGE)]
)
def test_matches_roadrunner(name):
    ref = np.genfromtxt(DATA / f"{name}.csv", delimiter=",", names=True)
    ids = [n for n in ref.dtype.names if n != "time"]
    model = wc.load_sbml(DATA / f"{name}.xml")
    res = wc.simulate(model, ref["time"], rtol=1e-8, atol=1e-12)
    worst = 0.0
    for sid in ids:
        expected = ref[sid]
        actual = res.concentration(sid)
        tol = RTOL * np.abs(expected) + ATOL_OF_MAX * np.max(np.abs(expected)) + 1e-14
        excess = np.max(np.abs(actual - expected) / tol)
        worst = max(worst, excess)
        assert excess <= 1.0, (
            f"{name}: {sid} differs from roadrunner by up to "
            f"{np.max(np.abs(actual - expected)):.3g}"
        )
    assert worst <= 1.0
