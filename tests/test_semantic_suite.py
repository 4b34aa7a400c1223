"""A fixed subset of the SBML Test Suite's semantic cases, spread over every tag.

The cases (tests/data/semantic/, LGPL 2.1+, SBML Test Suite 3.3.0) are judged by the
suite's own rule, |expected - actual| <= absolute + relative * |expected| at every point,
with each case's tolerances. `python -m wholecell.testsuite` runs the whole suite.
"""

from pathlib import Path

import pytest

from wholecell.testsuite import run_case

CASES = Path(__file__).parent / "data" / "semantic"
NUMBERS = sorted(p.name for p in CASES.iterdir() if p.is_dir() and p.name.isdigit())


def test_subset_is_large_enough():
    assert len(NUMBERS) >= 200


@pytest.mark.parametrize("number", NUMBERS)
def test_case(number):
    outcome = run_case(str(CASES / number))
    assert outcome.status == "pass", f"{number}: {outcome.status}: {outcome.detail}"
