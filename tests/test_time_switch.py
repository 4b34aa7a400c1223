"""Switches at times the parameters set: the integrator stops there, so the solution is
smooth in the parameters between switches and its gradient is exact (tau included)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import parameter, sbml_model, species

import wholecell as wc

jax.config.update("jax_enable_x64", True)

_TIME = ('<csymbol encoding="text" '
         'definitionURL="http://www.sbml.org/sbml/symbols/time">t</csymbol>')
_M = 'xmlns="http://www.w3.org/1998/Math/MathML"'


def _model(condition: str) -> str:
    """x produced at k1 while ``condition`` holds, else at k2; degraded at d x."""
    return sbml_model(
        species("x", 0.5),
        f"""<reaction id="make" reversible="false">
          <listOfProducts><speciesReference species="x" stoichiometry="1" constant="true"/>
          </listOfProducts><kineticLaw><math {_M}><piecewise>
            <piece><ci>k1</ci>{condition}</piece><otherwise><ci>k2</ci></otherwise>
          </piecewise></math></kineticLaw></reaction>
        <reaction id="decay" reversible="false">
          <listOfReactants><speciesReference species="x" stoichiometry="1" constant="true"/>
          </listOfReactants><kineticLaw><math {_M}>
          <apply><times/><ci>d</ci><ci>x</ci></apply></math></kineticLaw></reaction>""",
        parameter("k1", 2.0) + parameter("k2", 0.3) + parameter("d", 0.8)
        + parameter("tau", 1.7) + parameter("on", 1.0),
    )


#: production k1 before tau, k2 after: ``time < tau``
BEFORE = _model(f"<apply><lt/>{_TIME}<ci>tau</ci></apply>")
#: the same switch as ``not (time >= tau and on > 0)`` is false... written with ``and``:
#: k1 while ``tau > time`` or not ``time >= tau and on > 0.5`` (on = 1: the same switch)
WITH_AND = _model(
    f"<apply><not/><apply><and/><apply><geq/>{_TIME}<ci>tau</ci></apply>"
    "<apply><gt/><ci>on</ci><cn>0.5</cn></apply></apply></apply>"
)
X0 = 0.5
TS = np.array([0.0, 0.9, 1.7, 2.5, 4.0, 6.0])  # one output on the switch itself


def exact(k1, k2, d, tau, t):
    """x(t): relaxation to k1/d until tau, then to k2/d."""
    before = k1 / d + (X0 - k1 / d) * jnp.exp(-d * t)
    at_tau = k1 / d + (X0 - k1 / d) * jnp.exp(-d * tau)
    after = k2 / d + (at_tau - k2 / d) * jnp.exp(-d * (t - tau))
    return jnp.where(t < tau, before, after)


@pytest.fixture(scope="module", params=["before", "with_and"])
def sim(request):
    return wc.compile(wc.load_sbml(BEFORE if request.param == "before" else WITH_AND))


def _params(sim, k1=2.0, k2=0.3, d=0.8, tau=1.7):
    return sim.param_vector({"k1": k1, "k2": k2, "d": d, "tau": tau})


def test_the_switch_time_is_found(sim):
    st = sim.structure
    assert st.time_switched and st.n_switches == 1
    np.testing.assert_equal(np.asarray(st.switch_times(sim.initial_state(_params(sim))[1])),
                            [1.7])
    _, c = sim.initial_state(_params(sim, tau=2.9))
    np.testing.assert_equal(np.asarray(st.switch_times(c)), [2.9])  # follows the parameter


@pytest.mark.parametrize("rtol", [1e-6, 1e-10])
def test_solution_matches_closed_form(sim, rtol):
    ys = sim.solve(TS, params=_params(sim), rtol=rtol, atol=1e-12, solver="tsit5")
    # the global error of an adaptive 5th-order method is a small multiple of rtol
    np.testing.assert_allclose(ys[:, 0], exact(2.0, 0.3, 0.8, 1.7, TS), rtol=20 * rtol)
