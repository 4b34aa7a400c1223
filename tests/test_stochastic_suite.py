"""A few stochastic test-suite cases (tests/data/stochastic, see SOURCES.md), judged by the
suite's own criteria on the mean and standard deviation at every output time.

Case 00003 (birth-death decaying towards extinction) is not among them: late in its run
(mean 0.67 molecules at t = 50, kurtosis near 80) the sample variance is dominated by rare
survivors, and the suite's sd criterion, which assumes a near-normal sample variance, fails
by chance even at the prescribed 10,000 runs (score -7.55 with seed 0). Against the
analytic mean and variance with kurtosis-aware standard errors, 3 x 100,000 trajectories
agree (|z| <= 1.84 at t = 10, 25, 50)."""

from pathlib import Path

import numpy as np
import pytest

import wholecell as wc
from wholecell.testsuite._stochastic import run_stochastic_case

CASES = Path(__file__).parent / "data" / "stochastic"


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_case_meets_suite_criteria(case):
    """Seeded (seed 1): the draws and outcome are the same on every machine. With a fresh
    seed, a correct simulator puts each of 51 mean scores outside (-3, 3) with probability
    2.7e-3 (and each sd score outside (-3, 3) likewise, outside (-5, 5) with 5.7e-7): about
    0.14 outliers expected per species and statistic, 0.28 for a case with two. A case
    fails beyond ALLOWED_OUTLIERS = 2, which (independent points, Poisson count) happens
    with probability 3e-3 (0.28 expected) or 4e-4 (0.14): about 1.2e-2 for the five cases
    together, more where neighbouring times' scores are correlated."""
    outcome = run_stochastic_case(str(CASES / case), n=2000, seed=1)
    assert outcome.status == "pass", f"{case}: {outcome.detail}"


def test_distrib_draws_differ_between_trajectories_and_repeat_with_seed():
    path = str(CASES / "00040" / "00040-sbml-l3v2.xml")
    model = wc.load_sbml(path)
    a = wc.simulate(model, np.arange(0.0, 6.0), method="ssa", n=50, seed=3)
    b = wc.simulate(model, np.arange(0.0, 6.0), method="ssa", n=50, seed=3)
    np.testing.assert_array_equal(a["X"], b["X"])
    assert np.unique(a["X"][:, 2]).size == 50  # one independent draw per trajectory
    assert np.unique(a["X"][0, 1:]).size == 5  # and a fresh one at every firing


def test_distrib_draws_repeat_when_the_model_is_loaded_again():
    """A draw's call site is numbered within its model: loading the document again (or any
    other model with draws in between) gives the same trajectories for the same seed.
    The numbers were process-wide, so the stochastic suite's cases 00070 and 00098 drew
    other values, and failed, after the cases before them had been loaded."""
    path = str(CASES / "00040" / "00040-sbml-l3v2.xml")
    ts = np.arange(0.0, 6.0)
    a = wc.simulate(wc.load_sbml(path), ts, method="ssa", n=50, seed=3)
    wc.load_sbml(path)
    b = wc.simulate(wc.load_sbml(path), ts, method="ssa", n=50, seed=3)
    np.testing.assert_array_equal(a["X"], b["X"])


def test_draw_outside_events_is_refused():
    sbml = Path(CASES / "00040" / "00040-sbml-l3v2.xml").read_text()
    # move the draw into an initial assignment
    start = sbml.index("<listOfEvents>")
    end = sbml.index("</listOfEvents>") + len("</listOfEvents>")
    draw = sbml[sbml.index("<apply>", sbml.index("<eventAssignment variable=\"X\"")):]
    draw = draw[: draw.index("</math>")]
    ia = (
        '<listOfInitialAssignments><initialAssignment symbol="X">'
        '<math xmlns="http://www.w3.org/1998/Math/MathML">' + draw + "</math>"
        "</initialAssignment></listOfInitialAssignments>"
    )
    model = wc.load_sbml(sbml[:start] + ia + sbml[end:])
    with pytest.raises(wc.UnsupportedSBMLError, match="initial assignment"):
        wc.compile(model)


def test_ode_method_with_draws_uses_the_callers_solver_and_tolerances():
    model = wc.load_sbml(str(CASES / "00040" / "00040-sbml-l3v2.xml"))
    ts = np.arange(0.0, 6.0)
    with pytest.raises(wc.SimulationError, match="unknown ODE solver 'nonesuch'"):
        wc.simulate(model, ts, method="ode", n=4, seed=3, solver="nonesuch")
    a = wc.simulate(model, ts, method="ode", n=4, seed=3, solver="tsit5", rtol=1e-10, atol=1e-12)
    b = wc.simulate(model, ts, method="ode", n=4, seed=3, solver="rodas5", rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a["X"], b["X"], rtol=1e-7)  # same draws, either method


def _with_draw(name: str, *args: float) -> str:
    """Case 00040's model with X drawn from ``name(args)`` at each firing."""
    sbml = Path(CASES / "00040" / "00040-sbml-l3v2.xml").read_text()
    start = sbml.index("<apply>", sbml.index('<eventAssignment variable="X"'))
    end = sbml.index("</math>", start)
    url = f"http://www.sbml.org/sbml/symbols/distrib/{name}"
    cns = "".join(f"<cn> {a} </cn>" for a in args)
    draw = f'<apply><csymbol encoding="text" definitionURL="{url}"> {name} </csymbol>{cns}</apply>'
    return sbml[:start] + draw + sbml[end:]


def test_one_argument_cauchy_and_laplace_have_location_zero():
    # the distrib one-argument forms (suite cases 00048, 00054): the argument is the scale
    n = 20_000
    ts = np.array([0.0, 1.0])
    x = wc.simulate(wc.load_sbml(_with_draw("cauchy", 2.0)), ts, method="ssa", n=n, seed=5)
    q = np.quantile(x["X"][:, 1], [0.25, 0.5, 0.75])
    # Cauchy(0, 2): quartiles -2, 0, 2; their standard error here is about 0.04, so each
    # check is at 5 SE (P(|Z| > 5) = 5.7e-7; the Laplace sd ratio's SE is 0.5 sqrt(5 / n) =
    # 0.008 for its kurtosis 6): with a fresh seed all five fail with at most 3e-6
    np.testing.assert_allclose(q, [-2.0, 0.0, 2.0], atol=0.2)
    y = wc.simulate(wc.load_sbml(_with_draw("laplace", 2.0)), ts, method="ssa", n=n, seed=5)
    v = y["X"][:, 1]
    assert abs(v.mean()) < 5 * 2.0 * np.sqrt(2.0 / n)  # mean 0, sd 2 sqrt(2)
    assert abs(v.std() / (2.0 * np.sqrt(2.0)) - 1.0) < 0.04  # se of the sd ratio ~0.009
    with pytest.raises(wc.SBMLError, match="normal"):
        wc.load_sbml(_with_draw("normal", 2.0))
