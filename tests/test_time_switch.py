"""Switches at times the parameters set: the integrator stops there, so the solution is
smooth in the parameters between switches and its gradient is exact (tau included)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import parameter, sbml_model, species

import wholecell as wc
from wholecell.ode._explicit import Tsit5
from wholecell.ode._integrate import Hooks, integrate

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
#: the same switch written with ``and``: k1 while not ``time >= tau and on > 0.5``
#: (on = 1, a constant)
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


#: outputs off the switch: an output exactly at tau has a kink in tau
TS_GRAD = np.array([0.0, 0.9, 1.5, 2.5, 4.0, 6.0])
Q0 = np.array([2.0, 0.3, 0.8, 1.7])  # k1, k2, d, tau
#: reverse mode against the closed form's derivative at rtol 1e-10 (measured at most
#: 1.1e-9 relative, the solver's error in d; at rtol 1e-6 it is 1.5e-5)
GRAD_RTOL = 1e-6
#: reverse against forward mode through the same solve: rounding only (measured 4e-14)
MODE_RTOL = 1e-8


def _loss(sim, rtol, adjoint="checkpointed"):
    idx = jnp.array([sim.param_ids.index(n) for n in ("k1", "k2", "d", "tau")])
    w = jnp.arange(1.0, len(TS_GRAD) + 1.0)

    def loss(q):
        p = sim.param_values.at[idx].set(q)
        ys = sim.solve(TS_GRAD, params=p, rtol=rtol, atol=1e-12, solver="tsit5",
                       adjoint=adjoint)
        return jnp.sum(w * ys[:, 0] ** 2)

    return loss


def _exact_loss(q):
    w = jnp.arange(1.0, len(TS_GRAD) + 1.0)
    return jnp.sum(w * exact(*q, jnp.asarray(TS_GRAD)) ** 2)


def test_gradient_matches_closed_form(sim):
    g = jax.grad(_loss(sim, 1e-10))(jnp.asarray(Q0))
    np.testing.assert_allclose(g, jax.grad(_exact_loss)(jnp.asarray(Q0)), rtol=GRAD_RTOL)


def test_reverse_mode_equals_forward_mode(sim):
    q0 = jnp.asarray(Q0)
    g = jax.grad(_loss(sim, 1e-6))(q0)
    fwd = _loss(sim, 1e-6, adjoint="lax")
    jv = jnp.stack([jax.jvp(fwd, (q0,), (e,))[1] for e in jnp.eye(4)])
    np.testing.assert_allclose(g, jv, rtol=MODE_RTOL)


def test_gradient_is_the_derivative_of_the_computed_loss():
    """At a loose tolerance the gradient is that of what is computed: central
    differences of the computed loss converge to it (measured 1e-8 relative at step
    1e-4; holding the step sizes, or stepping over the switch, left 7-29 %)."""
    sim = wc.compile(wc.load_sbml(BEFORE))
    loss = _loss(sim, 1e-6)
    q0 = jnp.asarray(Q0)
    g = jax.grad(loss)(q0)
    h = 1e-4 * q0
    fd = jnp.stack([(loss(q0 + h * e) - loss(q0 - h * e)) / (2 * h @ e) for e in jnp.eye(4)])
    # the central-difference truncation error at step 1e-4 is O(h^2) ~ 1e-8 relative
    np.testing.assert_allclose(g, fd, rtol=1e-6)


class _StepEnds(Hooks):
    """Records (start, end) of every accepted step through a host callback."""

    steps: list = eqx.field(static=True)

    def _record(self, t0, t1, accept):
        if accept:
            self.steps.append((float(t0), float(t1)))

    def after_step(self, interp, t0, t1, x1, args, hstate, accept=None, at_stop=None):
        ok = jnp.array(True) if accept is None else accept
        jax.debug.callback(self._record, t0, t1, ok, ordered=True)
        return t1, x1, hstate, jnp.array(False), jnp.array(0)


def test_steps_end_on_the_switch():
    """Like diffrax's ``jump_ts``: a step ends on the float before tau, the next starts on
    the float after it."""
    sim = wc.compile(wc.load_sbml(BEFORE))
    st = sim.structure
    x0, c = sim.initial_state(_params(sim, tau=1.7))
    hooks = _StepEnds([])
    ys, stats = integrate(Tsit5(), st.rhs, x0, jnp.asarray(0.0), jnp.asarray([0.0, 4.0]), c,
                          rtol=1e-6, atol=1e-12, max_steps=1000, hooks=hooks,
                          jump_ts=st.switch_times(c), adjoint="lax")
    assert int(stats.status) == 0
    starts, ends = np.array(hooks.steps).T
    before, after = np.nextafter(1.7, -np.inf), np.nextafter(1.7, np.inf)
    k = int(np.flatnonzero(ends == before)[0])  # a step ends just before the switch
    assert starts[k + 1] == after  # and the next starts just after it
    assert not np.any((starts < 1.7) & (ends > 1.7))  # no step spans the switch
    np.testing.assert_allclose(ys[-1, 0], exact(2.0, 0.3, 0.8, 1.7, 4.0), rtol=2e-5)


def _switch_model(kinetic_law: str):
    return wc.compile(wc.load_sbml(sbml_model(
        species("x", 0.5),
        f"""<reaction id="make" reversible="false">
          <listOfProducts><speciesReference species="x" stoichiometry="1" constant="true"/>
          </listOfProducts><kineticLaw><math {_M}>{kinetic_law}</math></kineticLaw>
          </reaction>""",
        parameter("k1", 2.0) + parameter("tau", 1.7),
    )))


def test_which_switches_are_time_switches():
    """``10 <= time``, ``tau > time`` and ``time - tau < 0`` switch at 10 and tau; a
    switch on the state is not a time switch (the step sizes then stay held)."""
    pw = "<piecewise><piece><ci>k1</ci>{}</piece><otherwise><cn>0</cn></otherwise></piecewise>"
    sim = _switch_model(pw.format(
        f"<apply><or/><apply><leq/><cn>10</cn>{_TIME}</apply>"
        f"<apply><gt/><ci>tau</ci>{_TIME}</apply></apply>"))
    st = sim.structure
    _, c = sim.initial_state()
    assert st.time_switched
    assert sorted(np.asarray(st.switch_times(c)).tolist()) == [1.7, 10.0]
    # Beer_MolBioSystems2014 writes its switch as ``time - tau < 0``
    shifted = _switch_model(pw.format(
        f"<apply><lt/><apply><minus/>{_TIME}<ci>tau</ci></apply><cn>0</cn></apply>"))
    assert shifted.structure.time_switched
    np.testing.assert_equal(np.asarray(shifted.structure.switch_times(c)), [1.7])
    state = _switch_model(pw.format("<apply><gt/><ci>x</ci><ci>tau</ci></apply>")).structure
    assert not state.time_switched and state.n_switches == 0
    mixed = _switch_model(pw.format(
        f"<apply><and/><apply><gt/>{_TIME}<ci>tau</ci></apply>"
        "<apply><lt/><ci>x</ci><cn>3</cn></apply></apply>")).structure
    assert not mixed.time_switched and mixed.n_switches == 1  # still a stop at tau
    smooth = _switch_model("<apply><times/><ci>k1</ci><ci>x</ci></apply>").structure
    assert smooth.smooth and not smooth.time_switched and smooth.n_switches == 0
