"""Hybrid SSA-ODE: exact laws for the stochastic part, the ODE solution for the rest."""

import numpy as np
import pytest
from conftest import parameter, sbml_model

import wholecell as wc

#: a birth-death process 0 -> X (lam * S / S0), X -> 0 (mu X) beside an ODE conversion
#: S -> Q (k S); with coupled=False the birth rate is lam (independent of S)
LAM, MU, K, S0 = 20.0, 0.5, 0.3, 1.0e5
#: members of the ensembles (SE of a Poisson mean of 40: 0.14)
N = 2000
#: relative agreement of the ODE part with its exact solution (solved at rtol 1e-8)
ODE_RTOL = 1e-6


def _model(coupled: bool) -> str:
    law = "<apply><times/><ci>lam</ci><apply><divide/><ci>S</ci><ci>S0</ci></apply></apply>"
    ref = '<modifierSpeciesReference species="S"/>'
    return sbml_model(
        "".join(
            f'<species id="{s}" compartment="C" initialAmount="{v}" hasOnlySubstanceUnits='
            '"true" boundaryCondition="false" constant="false"/>'
            for s, v in (("X", 0), ("S", S0), ("Q", 0))
        ),
        f"""<reaction id="birth" reversible="false">
          <listOfProducts><speciesReference species="X" stoichiometry="1" constant="true"/>
          </listOfProducts>{'<listOfModifiers>' + ref + '</listOfModifiers>' if coupled else ''}
          <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          {law if coupled else '<ci>lam</ci>'}</math></kineticLaw></reaction>
        <reaction id="death" reversible="false">
          <listOfReactants><speciesReference species="X" stoichiometry="1" constant="true"/>
          </listOfReactants><kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci>mu</ci><ci>X</ci></apply></math></kineticLaw></reaction>
        <reaction id="convert" reversible="false">
          <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/>
          </listOfReactants><listOfProducts>
          <speciesReference species="Q" stoichiometry="1" constant="true"/></listOfProducts>
          <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci>k</ci><ci>S</ci></apply></math></kineticLaw></reaction>""",
        parameter("lam", LAM) + parameter("mu", MU) + parameter("k", K) + parameter("S0", S0),
    )


@pytest.fixture(scope="module")
def independent():
    return wc.load_sbml(_model(False))


@pytest.fixture(scope="module")
def coupled():
    return wc.load_sbml(_model(True))


def _check_poisson(x, m):
    """X ~ Poisson(m): mean and variance within 4 standard errors (two checks, each failing
    a correct simulator with probability P(|Z| > 4) = 6.3e-5). The tests are seeded, so
    their draws and outcome are fixed; with a fresh seed the false-failure rates are
    at most 6 x 6.3e-5 = 4e-4 (three times) and 4 x 6.3e-5 = 2.5e-4 (two times)."""
    n = x.shape[0]
    assert np.all(x == np.round(x))
    assert abs(x.mean() - m) < 4 * np.sqrt(m / n)
    assert abs(x.var(ddof=1) - m) < 4 * m * np.sqrt((2 + 1 / m) / n)


def test_independent_parts_match_ssa_law_and_ode(independent):
    ts = np.array([0.0, 1.0, 2.0, 8.0])
    res = wc.simulate(
        independent, ts, method="hybrid", stochastic=["birth", "death"], n=N, seed=3,
        communication_step=1.0, rtol=1e-8, atol=1e-8,
    )
    x = res.amount("X")
    assert x.shape == (N, len(ts))
    for k in range(1, len(ts)):
        _check_poisson(x[:, k], LAM / MU * (1 - np.exp(-MU * ts[k])))
    # (the pure SSA's law: tests/test_ssa.py checks it against the same Poisson law)
    # the ODE part is the exact solution of S' = -k S, Q' = k S in every member
    S = S0 * np.exp(-K * ts)
    np.testing.assert_allclose(res["S"], np.broadcast_to(S, res["S"].shape), rtol=ODE_RTOL)
    np.testing.assert_allclose(res["Q"], np.broadcast_to(S0 - S, res["Q"].shape),
                               rtol=ODE_RTOL, atol=1e-6)


def test_exact_mode_follows_time_dependent_propensity(coupled):
    """Birth at rate lam S(t)/S0, S = S0 exp(-k t): X is Poisson with mean m(t),
    m' = lam exp(-k t) - mu m."""
    ts = np.array([0.0, 2.0, 6.0])
    res = wc.simulate(coupled, ts, method="hybrid", stochastic=["birth", "death"], n=N,
                      seed=5, communication_step="exact", rtol=1e-8, atol=1e-8)
    x = res.amount("X")
    for k in range(1, len(ts)):
        t = ts[k]
        m = LAM / (MU - K) * (np.exp(-K * t) - np.exp(-MU * t))
        _check_poisson(x[:, k], m)


def test_selection_of_stochastic_reactions(independent):
    from wholecell.stochastic._hybrid import stochastic_reactions

    sim = wc.compile(independent)
    assert list(stochastic_reactions(sim, "auto")) == [True, True, False]
    assert list(stochastic_reactions(sim, lambda r: r.id == "death")) == [False, True, False]
    assert list(stochastic_reactions(sim, 1e6)) == [True, True, True]
    with pytest.raises(wc.SimulationError, match="'nope'"):
        wc.simulate(independent, 1.0, method="hybrid", stochastic=["nope"])
    with pytest.raises(wc.SimulationError, match="communication_step"):
        wc.simulate(independent, 1.0, method="hybrid", stochastic="auto", communication_step=0)
    with pytest.raises(wc.SimulationError, match="stochastic="):
        wc.simulate(independent, 1.0, method="hybrid")


def test_events_are_refused():
    doc = sbml_model(
        '<species id="X" compartment="C" initialAmount="0" hasOnlySubstanceUnits="true" '
        'boundaryCondition="false" constant="false"/>',
        """<reaction id="birth" reversible="false"><listOfProducts>
        <speciesReference species="X" stoichiometry="1" constant="true"/></listOfProducts>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>1</cn></math>
        </kineticLaw></reaction>""",
        extra="""<listOfEvents><event id="reset" useValuesFromTriggerTime="true">
        <trigger initialValue="false" persistent="true"><math
        xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/><ci>X</ci><cn>5</cn></apply>
        </math></trigger><listOfEventAssignments><eventAssignment variable="X"><math
        xmlns="http://www.w3.org/1998/Math/MathML"><cn>0</cn></math></eventAssignment>
        </listOfEventAssignments></event></listOfEvents>""",
    )
    with pytest.raises(wc.UnsupportedSBMLError, match="reset"):
        wc.simulate(wc.load_sbml(doc), 1.0, method="hybrid", stochastic="auto")
