"""Events: firing times, assignments, and gradients through a moving event time."""

import jax
import numpy as np
import pytest
from conftest import parameter, sbml_model

import wholecell as wc

#: S decays at rate k; when time passes tau, S jumps by 1:
#: S(T) = S0 exp(-k T) + exp(-k (T - tau)) for T > tau
JUMP = sbml_model(
    '<species id="S" compartment="C" initialAmount="2" hasOnlySubstanceUnits="true" '
    'boundaryCondition="false" constant="false"/>',
    """<reaction id="decay" reversible="false">
      <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/>
      </listOfReactants><kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
      <apply><times/><ci>k</ci><ci>S</ci></apply></math></kineticLaw></reaction>""",
    parameter("k", 0.3) + parameter("tau", 1.7),
    extra="""<listOfEvents><event id="kick" useValuesFromTriggerTime="true">
      <trigger initialValue="false" persistent="true"><math
        xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/>
        <csymbol encoding="text" definitionURL="http://www.sbml.org/sbml/symbols/time">t
        </csymbol><ci>tau</ci></apply></math></trigger>
      <listOfEventAssignments><eventAssignment variable="S"><math
        xmlns="http://www.w3.org/1998/Math/MathML"><apply><plus/><ci>S</ci><cn>1</cn>
        </apply></math></eventAssignment></listOfEventAssignments></event></listOfEvents>""",
)
T_END = 4.0
#: agreement of the solution and its gradient with the closed form (solve at rtol 1e-10;
#: measured errors of the gradient 2e-9 and 3e-11 relative)
RTOL = 1e-6
#: reverse mode against forward mode through the same solve: rounding only
GRAD_RTOL = 1e-10


def exact(k, tau, t):
    return 2.0 * np.exp(-k * t) + np.where(t > tau, np.exp(-k * (t - tau)), 0.0)


@pytest.fixture(scope="module")
def sim():
    return wc.compile(wc.load_sbml(JUMP))


def test_event_time_and_jump(sim):
    ts = np.linspace(0, T_END, 9)
    res = wc.simulate(sim, ts, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res["S"], exact(0.3, 1.7, ts), rtol=RTOL)


def test_gradient_through_a_moving_event_time(sim):
    ts = np.array([0.0, T_END])
    i_tau, i_k = sim.param_ids.index("tau"), sim.param_ids.index("k")

    def final_s(p, adjoint="checkpointed"):
        return sim.solve(ts, params=p, rtol=1e-10, atol=1e-12, solver="tsit5",
                         adjoint=adjoint)[-1, 0]

    p0 = sim.param_values
    g = jax.grad(final_s)(p0)
    # closed form: dS/dtau = k exp(-k (T - tau)); dS/dk = -2 T e^{-kT} - (T - tau) e^{-k(T - tau)}
    k, tau = 0.3, 1.7
    assert float(g[i_tau]) == pytest.approx(k * np.exp(-k * (T_END - tau)), rel=RTOL)
    dk = -2 * T_END * np.exp(-k * T_END) - (T_END - tau) * np.exp(-k * (T_END - tau))
    assert float(g[i_k]) == pytest.approx(dk, rel=RTOL)
    # and against forward mode through the same solve (no recomputation from checkpoints):
    # the same steps and event time, so only rounding separates them (measured: 0 and
    # 6e-16 relative). Central differences are no reference at this precision: a step
    # decision flipping between two perturbed solves moves S by about rtol * S = 1e-10,
    # 5e-6 over 2 h = 2e-5, i.e. 3e-5 of dS/dtau.
    fwd = jax.jacfwd(lambda p: final_s(p, "lax"))(p0)
    np.testing.assert_allclose(np.asarray(g), np.asarray(fwd), rtol=GRAD_RTOL,
                               atol=GRAD_RTOL * float(np.max(np.abs(fwd))))
