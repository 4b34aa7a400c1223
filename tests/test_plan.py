"""The solve plan (`wholecell.solve._plan`) and the status enumeration.

The stiffness the plan judges by is exact here: for A <-> B with rate constants k1 and k2
(compartment of size 1) the Jacobian is [[-k1, k2], [k1, -k2]], with eigenvalues 0 and
-(k1 + k2), so the spectral radius is k1 + k2.
"""

import numpy as np
import pytest
from conftest import mass_action, parameter, sbml_model, species
from test_events import JUMP

import wholecell as wc
from wholecell.ensemble._lockstep import MIN_BDF_MEMBERS
from wholecell.ode import _integrate
from wholecell.solve._plan import ROUTES, plan
from wholecell.stochastic import _hybrid, _ssa


def exchange(k1: float, k2: float) -> wc.CompiledModel:
    return wc.compile(wc.load_sbml(sbml_model(
        species("A", 1.0) + species("B", 0.0),
        mass_action("f", "A", "B", "k1") + mass_action("b", "B", "A", "k2"),
        parameter("k1", k1) + parameter("k2", k2),
    )))


@pytest.fixture(scope="module")
def mild():
    return exchange(0.5, 0.25)  # radius 0.75: 7.5 over a span of 10


@pytest.fixture(scope="module")
def stiff():
    return exchange(1e4, 1.0)  # radius 10,001: 1.0001e5 over a span of 10


def test_auto_chooses_by_the_exact_spectral_radius(mild, stiff):
    p = plan(mild, "ode", 1, span=10.0)
    assert p.solver == "tsit5" and p.fallback == "bdf"
    assert "= 7.5 <= 10000" in p.reasons[0]
    p = plan(stiff, "ode", 1, span=10.0)
    assert p.solver == "bdf" and p.fallback is None
    assert "= 1e+05 > 10000" in p.reasons[0]
    # the threshold is on radius x span: the same stiff model over a short span is mild
    assert plan(stiff, "ode", 1, span=0.5).solver == "tsit5"


def test_routes_of_a_batch(stiff):
    assert plan(stiff, "ode", 1, span=10.0).route == "single"
    assert plan(stiff, "ode", 3, span=10.0).route == "members"
    assert plan(stiff, "ode", MIN_BDF_MEMBERS, span=10.0).route == "lockstep"
    # a batch that runs as one vmap (CompiledModel.solve_batch) gets rodas5, not BDF
    p = plan(stiff, "ode", 3, span=10.0, vmap=True)
    assert (p.solver, p.route) == ("rodas5", "vmap")
    assert plan(stiff, "ode", MIN_BDF_MEMBERS, span=10.0, vmap=True).solver == "bdf"
    assert all(plan(stiff, "ode", b, span=10.0).route in ROUTES for b in (1, 3, 40))


def test_a_method_that_cannot_run_the_model_is_refused():
    sim = wc.compile(wc.load_sbml(JUMP))
    with pytest.raises(wc.SimulationError, match="'bdf' does not support events"):
        plan(sim, "ode", 1, solver="bdf")
    with pytest.raises(wc.SimulationError, match="'bdf' does not support events"):
        wc.simulate(sim, 4.0, solver="bdf")
    p = plan(sim, "ode", 1, solver="rodas5")
    assert (p.solver, p.route) == ("rodas5", "single")
    assert p.reasons[0] == "solver 'rodas5' was asked for"


def test_results_record_the_plan_that_ran(mild, stiff):
    t = np.linspace(0.0, 10.0, 11)
    res = wc.simulate(stiff, t)
    assert res.solver == res.stats["solver"] == "bdf"
    assert res.plan == plan(stiff, "ode", 1, span=10.0)
    # the solution: A + B = 1, and A relaxes to k2 / (k1 + k2)
    np.testing.assert_allclose(res["A"][-1], 1.0 / 10001.0, rtol=1e-4)
    res = wc.simulate(mild, t, params={"k1": [0.5, 0.6]})
    assert res.plan.route == "lockstep" and res.solver == "tsit5"
    res = wc.simulate(mild, t, method="ssa", n=2)
    assert (res.plan.method, res.plan.route, res.solver) == ("ssa", "stochastic", "ssa")


def test_one_status_enumeration():
    S = wc.Status
    assert [_integrate.SUCCESS, _integrate.MAX_STEPS, _integrate.DT_UNDERFLOW,
            _integrate.NONFINITE, _integrate.EVENT_OVERFLOW, _ssa.BAD_PROPENSITY,
            _integrate.STIFF, _hybrid.DIVIDED] == [s.value for s in S]
    assert len({s.value for s in S}) == len(S)
    assert all(s.message for s in S)
    assert S.DT_UNDERFLOW.message.startswith("the step size became too small")


#: S -> P at 0.1 S, P -> 0 at 50 P (S(0) = 1): radius 50, so 5,000 over a span of 100,
#: below the threshold, while Tsit5's steps are held at h <= 3.51 / 50 by stability
#: (accuracy alone would allow steps of ~1): S = exp(-0.1 t) and
#: P = 0.1 / 49.9 (exp(-0.1 t) - exp(-50 t))
_CHAIN = (species("S", 1.0) + species("P", 0.0),
          mass_action("slow", "S", "P", "k1") + mass_action("fast", "P", "", "k2"),
          parameter("k1", 0.1) + parameter("k2", 50.0))
#: an event that never fires keeps the model off the BDF loop (rodas5 is its stiff method)
_NEVER = """<listOfEvents><event id="never" useValuesFromTriggerTime="true">
  <trigger initialValue="false" persistent="true"><math
    xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/><csymbol encoding="text"
    definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol><cn>1e6</cn>
  </apply></math></trigger>
  <listOfEventAssignments><eventAssignment variable="S"><math
    xmlns="http://www.w3.org/1998/Math/MathML"><cn>0</cn></math></eventAssignment>
  </listOfEventAssignments></event></listOfEvents>"""


@pytest.mark.parametrize("events, stiff_method", [(False, "bdf"), (True, "rodas5")])
def test_auto_detects_stiffness_during_the_run(events, stiff_method):
    model = wc.load_sbml(sbml_model(*_CHAIN, extra=_NEVER if events else ""))
    t = np.linspace(0.0, 100.0, 101)
    exact_p = 0.1 / 49.9 * (np.exp(-0.1 * t) - np.exp(-50.0 * t))
    res = wc.simulate(model, t, rtol=1e-8, atol=1e-12)
    assert res.plan.reasons[0].startswith("not stiff: spectral radius x time span = 5e+03")
    assert res.solver == stiff_method
    assert any("stayed at its stability limit" in r for r in res.plan.reasons)
    np.testing.assert_allclose(res["S"], np.exp(-0.1 * t), rtol=1e-6)
    np.testing.assert_allclose(res["P"], exact_p, rtol=1e-5, atol=1e-12)
    # asked for by name, Tsit5 runs to the end (at the stability limit: many steps)
    res = wc.simulate(model, t, rtol=1e-8, atol=1e-12, solver="tsit5")
    assert res.solver == "tsit5" and res.stats["status"] == wc.Status.SUCCESS
    assert res.stats["steps"] > 100.0 * 50.0 / 3.51
