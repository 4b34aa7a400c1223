"""The unrolled Tsit5 (`wholecell.ode._explicit.Tsit5`) against diffrax's and exact solutions."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from wholecell.ode._explicit import Tsit5
from wholecell.ode._integrate import integrate
from wholecell.ode._solvers import make_solver
from wholecell.ode._tsit5 import STABILITY_LIMIT, h_lambda

jax.config.update("jax_enable_x64", True)


def _forced_vdp(t, y, mu):
    return jnp.array([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0] + jnp.sin(3.0 * t)])


def _fixed_steps(solver, vf, y0, t1, n):
    """``n`` equal steps from 0 to ``t1`` (the solver's own `step`, in a scan)."""
    term = diffrax.ODETerm(vf)
    h = t1 / n

    @jax.jit
    def run(y0):
        def body(carry, i):
            y, state = carry
            y, _, _, state, _ = solver.step(term, i * h, (i + 1) * h, y, None, state,
                                            jnp.array(False))
            return (y, state), None

        init = (y0, solver.init(term, 0.0, h, y0, None))
        return jax.lax.scan(body, init, jnp.arange(n, dtype=y0.dtype))[0][0]

    return run(y0)


def test_make_solver_returns_ours():
    assert isinstance(make_solver("tsit5", 1e-6, 1e-9), Tsit5)
    assert isinstance(make_solver("TSIT5", 1e-6, 1e-9), Tsit5)


def test_one_step_matches_diffrax():
    term = diffrax.ODETerm(_forced_vdp)
    y0 = jnp.array([1.3, -0.4])
    t0, t1, mu = 0.2, 0.45, 2.0
    ours, ref = Tsit5(), diffrax.Tsit5()
    s_ours = ours.init(term, t0, t1, y0, mu)
    s_ref = ref.init(term, t0, t1, y0, mu)
    # two steps: the second one uses the first-same-as-last derivative
    for a, b in ((t0, t1), (t1, t1 + 0.3)):
        y_o, e_o, d_o, s_ours, _ = ours.step(term, a, b, y0, mu, s_ours, jnp.array(False))
        y_r, e_r, d_r, s_ref, _ = ref.step(term, a, b, y0, mu, s_ref, jnp.array(False))
        np.testing.assert_allclose(y_o, y_r, rtol=1e-14, atol=1e-15)
        # the estimate cancels O(h f) terms: agreement to rounding of the stages
        np.testing.assert_allclose(e_o, e_r, rtol=1e-9, atol=1e-15)
        np.testing.assert_allclose(d_o["k"], d_r["k"], rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(s_ours, s_ref[1], rtol=1e-14, atol=1e-15)
        i_o = ours.interpolation_cls(t0=a, t1=b, **d_o)
        i_r = ref.interpolation_cls(t0=a, t1=b, **d_r)
        for tau in np.linspace(a, b, 7):
            np.testing.assert_allclose(i_o.evaluate(tau), i_r.evaluate(tau), rtol=1e-14, atol=1e-15)
        y0 = y_o


def test_jump_recomputes_first_stage():
    term = diffrax.ODETerm(_forced_vdp)
    y0 = jnp.array([0.5, 0.1])
    solver = Tsit5()
    good = solver.init(term, 0.0, 0.1, y0, 1.0)
    ref = solver.step(term, 0.0, 0.1, y0, 1.0, good, jnp.array(False))[0]
    stale = jnp.array([1e3, -1e3])
    jumped = solver.step(term, 0.0, 0.1, y0, 1.0, stale, jnp.array(True))[0]
    np.testing.assert_array_equal(jumped, ref)
    # batched: one member jumped, all use a fresh first stage (exact for every member)
    ys = jnp.stack([y0, 2 * y0])
    states = jnp.stack([stale, jax.vmap(lambda y: _forced_vdp(0.0, y, 1.0))(ys)[1]])
    out = jax.vmap(lambda y, s, j: solver.step(term, 0.0, 0.1, y, 1.0, s, j)[0])(
        ys, states, jnp.array([True, False])
    )
    np.testing.assert_allclose(out[0], ref, rtol=1e-15)


def test_order_five():
    """Global error of fixed steps on the oscillator y'' = -y over [0, 10] falls like h^5.

    (Tsit5's error constants are tuned small, so the asymptotic regime needs 40+ steps
    here; the observed orders are about 5.2, 5.2, 5.1.)
    """

    def vf(t, y, args):
        return jnp.array([y[1], -y[0]])

    y0 = jnp.array([1.0, 0.0])
    exact = np.array([np.cos(10.0), -np.sin(10.0)])
    errs = [
        float(np.max(np.abs(_fixed_steps(Tsit5(), vf, y0, 10.0, n) - exact)))
        for n in (40, 80, 160, 320)
    ]
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 4.8), orders
    assert np.all(orders < 5.5), orders


def test_error_estimate_and_dense_output_orders():
    """The embedded estimate is O(h^5) per step; the dense output is O(h^5) locally."""

    def vf(t, y, args):
        return jnp.array([-y[0] * jnp.cos(t)])

    def exact(t):
        return np.exp(-np.sin(t))

    term = diffrax.ODETerm(vf)
    solver = Tsit5()
    y0 = jnp.array([1.0])
    est, dense = [], []
    for h in (0.1, 0.05, 0.025):
        s = solver.init(term, 0.0, h, y0, None)
        _, err, d, _, _ = solver.step(term, 0.0, h, y0, None, s, jnp.array(False))
        est.append(abs(float(err[0])))
        interp = solver.interpolation_cls(t0=0.0, t1=h, **d)
        dense.append(max(abs(float(interp.evaluate(f * h)[0]) - exact(f * h)) for f in (0.3, 0.7)))
    for e in (est, dense):
        orders = np.log2(np.array(e[:-1]) / np.array(e[1:]))
        assert np.all(orders > 4.5), orders


def test_integrate_matches_diffrax_tsit5():
    """The adaptive loop takes the same steps with either solver."""
    ts = jnp.linspace(0.0, 10.0, 41)
    x0 = jnp.array([2.0, 0.0])
    kw = dict(rtol=1e-8, atol=1e-10, max_steps=10_000)
    ys_o, st_o = integrate(Tsit5(), _forced_vdp, x0, 0.0, ts, 3.0, **kw)
    ys_r, st_r = integrate(diffrax.Tsit5(), _forced_vdp, x0, 0.0, ts, 3.0, **kw)
    # Exact: the two tableaus' error estimates agree to rounding of the stages (about
    # eps |h f|, i.e. 2e-8 of the tolerance rtol |y| here), and a step decision flips only
    # for an error ratio within that of 1: a chance of order 1e-6 for these ~10^2 steps.
    assert int(st_o.steps) == int(st_r.steps)
    assert int(st_o.rejected) == int(st_r.rejected)
    np.testing.assert_allclose(ys_o, ys_r, rtol=1e-10, atol=1e-12)


def test_diffeqsolve_accepts_it():
    term = diffrax.ODETerm(lambda t, y, args: -y)
    sol = diffrax.diffeqsolve(
        term, Tsit5(), 0.0, 1.0, 0.1, jnp.array([1.0, 2.0]),
        stepsize_controller=diffrax.PIDController(rtol=1e-9, atol=1e-12),
        saveat=diffrax.SaveAt(ts=jnp.array([0.35, 1.0])),
    )
    np.testing.assert_allclose(
        sol.ys, np.exp(-np.array([0.35, 1.0]))[:, None] * np.array([1.0, 2.0]), rtol=1e-7
    )


def _loss(solver, mu, rtol=1e-8, adjoint="checkpointed"):
    ys, _ = integrate(solver, _forced_vdp, jnp.array([2.0, 0.0]), 0.0, jnp.linspace(0.0, 3.0, 7),
                      mu, rtol=rtol, atol=rtol * 1e-2, max_steps=4096, adjoint=adjoint)
    return jnp.sum(ys**2)


#: reverse mode (the checkpointed loop, which recomputes steps from checkpoints) against
#: forward mode through the same solve (a plain loop): the same steps and arithmetic, so
#: only rounding amplified over the steps separates them (measured: at most 6e-14 relative
#: at rtol 1e-10 and 1e-13 at rtol 1e-6, over 64 values of mu). A step decided otherwise
#: in the recomputation would differ by about the solver tolerance, far above this.
GRAD_RTOL = 1e-10
#: Richardson-extrapolated central differences (steps H and H / 2) against forward mode.
#: Their truncation error is O(H^4). A step decision that flips between two of the
#: perturbed solves moves the loss by about rtol * |loss| = 3e-10, i.e. 4/3 * 3e-10 / H =
#: 4e-8 absolute (3e-8 relative) in the extrapolated quotient; the derivative of the
#: discrete solution differs from the solver's derivative (step sizes held) by about the
#: solver's error (1.5e-9 relative measured at rtol 1e-11). Measured error: see the test.
FD_STEP = 1e-2
FD_RTOL = 1e-6


def test_reverse_mode_gradient_matches_forward_mode_and_differences():
    mu = 1.5
    g = float(jax.jit(jax.grad(lambda m: _loss(Tsit5(), m, 1e-11)))(mu))
    fwd = float(jax.jit(jax.jacfwd(lambda m: _loss(Tsit5(), m, 1e-11, adjoint="lax")))(mu))
    assert g == pytest.approx(fwd, rel=GRAD_RTOL)
    f = jax.jit(lambda m: _loss(Tsit5(), m, 1e-11, adjoint="lax"))

    def central(h):
        return (float(f(mu + h)) - float(f(mu - h))) / (2 * h)

    richardson = (4 * central(FD_STEP / 2) - central(FD_STEP)) / 3
    assert fwd == pytest.approx(richardson, rel=FD_RTOL)


@pytest.mark.slow
def test_gradient_matches_diffrax():
    """Same steps, same derivative (batched: the jump test reduces over the batch)."""
    mus = jnp.array([0.5, 1.5])
    grads = [jax.jit(jax.vmap(jax.grad(lambda m, s=s: _loss(s, m))))(mus)
             for s in (Tsit5(), diffrax.Tsit5())]
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9)


def test_stiffness_estimate_is_exact_on_a_linear_mode():
    # y' = lambda y: k7 - k6 = h lambda (y7 - y6) exactly, so the estimate is h |lambda|;
    # the stages are those of the solver's own step, as the loops pass them
    lam, h = -50.0, 0.06
    y0 = jnp.array([2.0])
    term, solver = diffrax.ODETerm(lambda t, y, args: lam * y), Tsit5()
    y1, _, dense, _, _ = solver.step(term, 0.0, h, y0, None, solver.init(term, 0.0, h, y0, None),
                                     jnp.array(False))
    est = h_lambda(y0, y1, dense["k"], 1e-12 + 1e-8 * jnp.abs(y0))
    np.testing.assert_allclose(est, h * abs(lam), rtol=1e-10)


def test_stiffness_estimate_sees_a_fast_mode_in_one_state_among_many():
    # ten states at h|lambda| = 1 and one at 3.5, all with the same share of y7 - y6 in
    # the error test's units: any norm over the state averages the fast one away
    # (sqrt((10 + 3.5**2) / 11) = 1.42); the per-state estimate finds 3.5. A state with a
    # negligible share (1%) and a large ratio is left out.
    w = jnp.ones(12)
    dy = jnp.array([1.0] * 11 + [0.01])
    dk = jnp.array([1.0] * 10 + [3.5, 1.0])
    k = jnp.zeros((7, 12)).at[6].set(dk)  # k6 = 0
    y0 = jnp.zeros(12)
    est = h_lambda(y0, y0 + dy, k, w)
    np.testing.assert_allclose(est, 3.5, rtol=1e-12)
    assert est > STABILITY_LIMIT
    # the same with the fast state's share below the cut: not seen
    est = h_lambda(y0, y0 + dy.at[10].set(0.2), k.at[6, 10].set(0.7), w)
    assert est < STABILITY_LIMIT


def test_stiffness_estimate_of_a_model_without_states_is_zero():
    # SBML Test Suite 00937: only rules and parameters, so the state is empty
    z = jnp.zeros(0)
    assert float(h_lambda(z, z, jnp.zeros((7, 0)), jnp.ones(0))) == 0.0
    zb = jnp.zeros((0, 3))  # a batch of three members, batch last
    np.testing.assert_array_equal(h_lambda(zb, zb, jnp.zeros((7, 0, 3)), jnp.ones((0, 3))),
                                  np.zeros(3))
