"""The variable-order BDF solver: its polynomial machinery, accuracy against closed-form and
Radau references, the structural Jacobian pattern it uses, and how models reach it.

References: exact polynomials for the difference table; a problem with a closed-form
solution for tolerance proportionality; scipy's Radau at rtol 1e-12 for Robertson and Van
der Pol (mu = 1000), shared with test_rosenbrock; libRoadRunner's trajectories of
BIOMD0000000019 (tests/data/biomodels; the model from `wc.models`) through `wc.simulate`.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_rosenbrock import (
    STIFF_RTOL,
    _exact,
    _forced,
    _reference_cached,
    _robertson,
    _van_der_pol,
)

import wholecell as wc
from wholecell._devices import map_members
from wholecell._errors import SimulationError
from wholecell.compiler._jacobian import sparsity_pattern
from wholecell.ode._bdf import MAX_ORDER, bdf_integrate, change_step, interpolate
from wholecell.ode._integrate import CHECKPOINT_BYTES, SUCCESS, checkpoints_for

DATA = Path(__file__).parent / "data"


def _differences(poly, t, h, order):
    """Backward differences D^0..D^order of ``poly`` on the grid t, t - h, ..., padded."""
    values = np.array([poly(t - k * h) for k in range(order + 1)])
    D = np.zeros((MAX_ORDER + 3, 1))
    col = values.copy()
    for k in range(order + 1):
        D[k, 0] = col[0]
        col = col[:-1] - col[1:]
    return D


@pytest.mark.parametrize("order", [1, 3, 5])
def test_difference_table_is_exact_on_polynomials(order):
    rng = np.random.default_rng(order)
    coef = rng.normal(size=order + 1)

    def poly(t):
        return np.polyval(coef, t)

    t, h, factor = 2.0, 0.3, 0.45
    D = _differences(poly, t, h, order)
    # the interpolating polynomial of the last step reproduces a polynomial of its degree
    for s in rng.uniform(t - order * h, t, 5):
        got = float(interpolate(s, t, h, jnp.array(order), jnp.asarray(D))[0])
        assert got == pytest.approx(poly(s), rel=1e-12, abs=1e-12)
    # changing the step re-expresses the same polynomial on the new grid
    changed = np.asarray(change_step(jnp.asarray(D), jnp.array(order), factor))
    expected = _differences(poly, t, factor * h, order)
    np.testing.assert_allclose(changed, expected, rtol=1e-10, atol=1e-12)


def test_error_follows_the_tolerance():
    ts = jnp.linspace(0.0, 2.0, 5)
    exact = np.asarray(jax.vmap(_exact)(ts))
    errors = {}
    for tol in (1e-5, 1e-8):
        run = jax.jit(lambda y0, tol=tol: bdf_integrate(
            _forced, None, y0, 0.0, ts, None, rtol=tol, atol=tol, max_steps=100_000))
        ys, stats = run(jnp.array([0.0, 1.0]))
        assert int(stats.status) == SUCCESS
        errors[tol] = float(np.max(np.abs(np.asarray(ys) - exact)))
        # global error within 100x the local tolerance
        assert errors[tol] < 100 * tol, errors
    assert errors[1e-8] < errors[1e-5] / 100, errors


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_step_count_shows_the_order(order):
    """With the order capped at k, the local error per step is O(h^(k+1)), so the number of
    steps grows as tol^(-1/(k+1)); the step count's slope against the tolerance gives k."""
    ts = jnp.linspace(0.0, 60.0, 5)
    run = jax.jit(lambda y0, tol: bdf_integrate(
        _forced, None, y0, 0.0, ts, None, rtol=tol, atol=tol, max_steps=100_000,
        max_order=order))
    tols = (1e-4, 1e-6) if order == 1 else (1e-6, 1e-10)
    steps = []
    for tol in tols:
        ys, stats = run(jnp.array([0.0, 1.0]), tol)
        assert int(stats.status) == SUCCESS
        steps.append(int(stats.steps) - int(stats.rejected))
    slope = np.log(steps[1] / steps[0]) / np.log(tols[0] / tols[1])
    assert abs(slope * (order + 1) - 1.0) < 0.15, (steps, slope)


def test_max_order_is_checked():
    with pytest.raises(ValueError, match="max_order"):
        bdf_integrate(_forced, None, jnp.array([0.0, 1.0]), 0.0, jnp.array([1.0]), None,
                      rtol=1e-6, atol=1e-6, max_steps=10, max_order=6)


@pytest.mark.parametrize("problem", ["robertson", "van_der_pol"])
def test_stiff_problems_match_radau(problem):
    if problem == "robertson":
        f, y0, ts, floor = _robertson, np.array([1.0, 0.0, 0.0]), np.array([0, 0.4, 4, 40]), 1e-12
    else:
        f, y0, ts, floor = _van_der_pol, np.array([2.0, 0.0]), np.linspace(0, 3000, 7), 1e-8
    ref = _reference_cached(problem)
    run = jax.jit(lambda y0: bdf_integrate(f, None, y0, 0.0, jnp.asarray(ts), None,
                                           rtol=1e-9, atol=1e-13, max_steps=200_000))
    ys, stats = run(jnp.asarray(y0))
    assert int(stats.status) == SUCCESS
    scale = np.abs(ref) + floor
    np.testing.assert_array_less(np.abs(np.asarray(ys) - ref) / scale, STIFF_RTOL)


def _robertson_rates(t, y, k):
    return jnp.array([
        -k[0] * y[0] + k[1] * y[1] * y[2],
        k[0] * y[0] - k[1] * y[1] * y[2] - k[2] * y[1] ** 2,
        k[2] * y[1] ** 2,
    ])


#: reverse against forward mode through the same steps: both differentiate one discrete
#: computation, so they differ by rounding only (8e-11 measured)
SAME_COMPUTATION_RTOL = 1e-8
#: the discrete solution's derivative against the sensitivity equations: the solve's own
#: error at rtol 1e-10 (7e-8 measured) is the budget; the reference (Radau at rtol 1e-12)
#: is 100x tighter
SENSITIVITY_RTOL = 2e-6


def _robertson_sensitivities(k, ts):
    """d/d(log k) of x(ts) for Robertson's problem, from the forward sensitivity equations
    s' = J s + df/dlog k solved by scipy's Radau at rtol 1e-12."""
    from scipy.integrate import solve_ivp

    def augmented(t, z):
        y, S = z[:3], z[3:].reshape(3, 3)
        J = np.array([[-k[0], k[1] * y[2], k[1] * y[1]],
                      [k[0], -k[1] * y[2] - 2 * k[2] * y[1], -k[1] * y[1]],
                      [0.0, 2 * k[2] * y[1], 0.0]])
        v = np.array([k[0] * y[0], k[1] * y[1] * y[2], k[2] * y[1] ** 2])
        f = np.array([-v[0] + v[1], v[0] - v[1] - v[2], v[2]])
        dlogk = np.array([[-v[0], v[1], 0.0], [v[0], -v[1], -v[2]], [0.0, 0.0, v[2]]])
        return np.concatenate([f, (J @ S + dlogk).ravel()])

    z0 = np.concatenate([[1.0, 0.0, 0.0], np.zeros(9)])
    sol = solve_ivp(augmented, (0.0, float(ts[-1])), z0, method="Radau", t_eval=ts,
                    rtol=1e-12, atol=1e-20)
    return sol.y[3:].reshape(3, 3, -1)  # [state, parameter, time]


def test_reverse_mode_gradient_is_the_derivative_of_the_solve():
    """`grad` through the checkpointed BDF loop equals forward mode through the same
    solve (both differentiate one discrete computation: the steps' decisions are recorded
    and replayed, so a Newton or error test within rounding of its threshold cannot decide
    otherwise in the backward pass), and the sensitivity equations' solution to the solve's
    own accuracy. Central differences are no reference here: at rtol 1e-10 and a step of
    1e-5 their noise is about 1e-5 absolute, 1e-3 of the smallest component."""
    ts = np.array([0.4, 4.0, 40.0])
    k0 = np.array([0.04, 1e4, 3e7])

    def loss(logk, adjoint):
        ys, _ = bdf_integrate(_robertson_rates, None, jnp.array([1.0, 0.0, 0.0]), 0.0,
                              jnp.asarray(ts), jnp.exp(logk), rtol=1e-10, atol=1e-14,
                              max_steps=20_000, adjoint=adjoint)
        return jnp.sum(ys[:, 0] + 1e4 * ys[:, 1])

    grad = np.asarray(jax.jit(jax.grad(lambda lk: loss(lk, "checkpointed")))(jnp.log(k0)))
    forward = np.asarray(jax.jit(jax.jacfwd(lambda lk: loss(lk, "lax")))(jnp.log(k0)))
    np.testing.assert_allclose(grad, forward, rtol=SAME_COMPUTATION_RTOL)
    S = _robertson_sensitivities(k0, ts)
    exact = (S[0] + 1e4 * S[1]).sum(axis=-1)
    np.testing.assert_allclose(grad, exact, rtol=SENSITIVITY_RTOL)


def test_reverse_mode_loop_writes_every_output_and_matches_the_analytic_gradient():
    """The reverse-mode loop (one loop over the steps, outputs written to a buffer, up to
    four per iteration) gives the forward loop's values where single steps pass dozens of
    outputs, NaN after a failed solve like it, and d/dk of sum x(t) for x' = -k x equals
    the analytic sum of -t exp(-k t)."""
    ts = jnp.linspace(0.0, 10.0, 2001)

    def decay(t, y, k):
        return -k * y

    def solve(k, adjoint, max_steps=10_000):
        return bdf_integrate(decay, None, jnp.array([1.0]), 0.0, ts, k, rtol=1e-9,
                             atol=1e-12, max_steps=max_steps, adjoint=adjoint)

    k = 0.7
    y_lax, st_lax = jax.jit(lambda k: solve(k, "lax"))(k)
    y_rev, st_rev = jax.jit(lambda k: solve(k, "checkpointed"))(k)
    assert int(st_lax.steps) < ts.shape[0] // 4  # steps pass more than four outputs
    np.testing.assert_array_equal(np.asarray(y_rev), np.asarray(y_lax))
    assert int(st_rev.steps) == int(st_lax.steps)
    np.testing.assert_allclose(np.asarray(y_rev[:, 0]), np.exp(-k * np.asarray(ts)),
                               rtol=1e-6, atol=1e-9)
    grad = float(jax.jit(jax.grad(lambda k: jnp.sum(solve(k, "checkpointed")[0])))(k))
    exact = float(np.sum(-np.asarray(ts) * np.exp(-k * np.asarray(ts))))
    assert grad == pytest.approx(exact, rel=1e-5)

    y_lax, st_lax = solve(k, "lax", max_steps=5)
    y_rev, st_rev = solve(k, "checkpointed", max_steps=5)
    assert int(st_rev.status) == int(st_lax.status) != SUCCESS
    np.testing.assert_array_equal(np.isnan(np.asarray(y_rev)), np.isnan(np.asarray(y_lax)))
    assert np.isnan(np.asarray(y_rev)).any() and not np.isnan(np.asarray(y_rev)).all()


#: gradients of two BDF solves at rtol 1e-8 that took other steps differ by their errors:
#: against forward mode at rtol 1e-12, 1.8e-6 and 2.3e-7 relative for the two members
OTHER_STEPS_GRAD_RTOL = 1e-5


def test_vmapped_reverse_mode_gradients_equal_each_member_alone():
    """Under `vmap` a member that is done still runs the loop body (its result
    discarded); its gradient stays finite and equals the gradient taken alone."""
    ts = jnp.array([0.4, 4.0, 40.0])
    k0 = np.array([0.04, 1e4, 3e7])

    def loss(logk):
        ys, stats = bdf_integrate(_robertson_rates, None, jnp.array([1.0, 0.0, 0.0]), 0.0,
                                  ts, jnp.exp(logk), rtol=1e-8, atol=1e-12, max_steps=20_000,
                                  adjoint="checkpointed")
        return jnp.sum(ys[:, 0] + 1e4 * ys[:, 1]), (stats.steps, stats.rejected)

    logks = jnp.log(jnp.stack([k0, k0 * np.array([1.3, 0.7, 1.1])]))
    batch, b_steps = jax.jit(jax.vmap(jax.grad(loss, has_aux=True)))(logks)
    batch = np.asarray(batch)
    assert np.all(np.isfinite(batch))
    for i, lk in enumerate(logks):
        alone, steps = jax.jit(jax.grad(loss, has_aux=True))(lk)
        # the batched loop is compiled apart from the single one: with the same steps the
        # gradients agree to rounding; a Newton or error test within rounding of its
        # threshold may decide otherwise, and then they are the gradients of two solves at
        # rtol 1e-8 (OTHER_STEPS_GRAD_RTOL)
        same = all(int(b[i]) == int(a) for b, a in zip(b_steps, steps, strict=True))
        np.testing.assert_allclose(batch[i], np.asarray(alone),
                                   rtol=1e-9 if same else OTHER_STEPS_GRAD_RTOL, atol=0)


def test_checkpoints_shrink_with_the_carry():
    """Small carries keep equinox's default (446 states for 100,000 steps); a carry with a
    Jacobian and factors gets as many as fit in the budget for all outputs, at least 2."""
    small = jnp.zeros(200)
    assert checkpoints_for(small, 101, 100_000) == 446
    assert checkpoints_for(small, 101, 10) == 4  # (c + 1)(c + 2) / 2 >= 10 steps
    big = {"J": jnp.zeros((100, 100)), "lu": jnp.zeros((100, 100))}
    n = checkpoints_for(big, 101, 100_000)
    assert n == CHECKPOINT_BYTES // (101 * 2 * 100 * 100 * 8)
    assert checkpoints_for(big, 100_000, 100_000) == 2


def test_stiff_model_runs_bdf_and_matches_roadrunner():
    """`simulate` picks BDF for the stiff EGF-MAPK model; roadrunner's trajectory agrees."""
    name = "BIOMD0000000019"
    ref = np.genfromtxt(DATA / "biomodels" / f"{name}.csv", delimiter=",", names=True)
    model = wc.models.load(name)
    res = wc.simulate(model, ref["time"], rtol=1e-8, atol=1e-12)
    assert res.stats["solver"] == "bdf"
    for sid in [n for n in ref.dtype.names if n != "time"]:
        expected = ref[sid]
        tol = 1e-4 * np.abs(expected) + 1e-6 * np.max(np.abs(expected)) + 1e-14
        assert np.all(np.abs(res.concentration(sid) - expected) <= tol), sid


#: two BDF solves of one problem at rtol 1e-6, atol 1e-9 that took other steps: 100 times
#: the tolerances
OTHER_STEPS_RTOL, OTHER_STEPS_ATOL = 1e-4, 1e-7


def test_ensemble_members_equal_single_solves():
    model = wc.models.load("BIOMD0000000019")
    sim = wc.compile(model)
    k = sim.param_ids.index("k1")
    ts = np.linspace(0.0, 600.0, 7)
    values = sim.param_values[k] * np.array([0.5, 1.0, 2.0])
    res = wc.simulate(sim, ts, params={"k1": values}, solver="bdf")
    for i, v in enumerate(values):
        one = wc.simulate(sim, ts, params={"k1": float(v)}, solver="bdf")
        # the ensemble's loop is compiled apart from the single solve's: with the same
        # steps they agree to rounding; a Newton or error test within rounding of its
        # threshold may decide otherwise, and then they are two solves at the default
        # rtol 1e-6, atol 1e-9 (OTHER_STEPS_RTOL, _ATOL)
        same = int(np.asarray(res.stats["steps"])[i]) == int(np.asarray(one.stats["steps"]))
        rtol, atol = (1e-9, 1e-12) if same else (OTHER_STEPS_RTOL, OTHER_STEPS_ATOL)
        np.testing.assert_allclose(res.values[i], one.values, rtol=rtol, atol=atol)


def test_map_members_is_a_loop_over_rows():
    P = jnp.arange(12.0).reshape(4, 3)
    out = jax.jit(lambda P: map_members(lambda p: (p.sum(), p * 2.0), P))(P)
    np.testing.assert_allclose(out[0], np.asarray(P).sum(axis=1))
    np.testing.assert_allclose(out[1], 2.0 * np.asarray(P))


def test_bdf_refuses_events_by_name():
    model = wc.models.load("BIOMD0000000056")
    with pytest.raises(SimulationError, match=r"'bdf' does not support events"):
        wc.simulate(model, 10.0, solver="bdf")


@pytest.mark.parametrize("name", ["BIOMD0000000019", "BIOMD0000000070",
                                  "Chen2009_ErbB_PEtab_from_BIOMD0000000255"])
def test_structural_pattern_covers_numerical_jacobians(name):
    """Every entry of the Jacobian at random states, times and parameters lies inside the
    pattern read from the model's structure (which holds for all of them)."""
    sim = wc.compile(wc.models.load(name))
    st = sim.structure
    pattern = sparsity_pattern(st)
    rng = np.random.default_rng(0)
    jac = jax.jit(jax.jacfwd(lambda x, t, p: st.rhs(t, x, st.initial(p, 0.0)[1])))
    for _ in range(3):
        p = sim.param_values * rng.uniform(0.5, 2.0, sim.param_values.shape)
        x0, _ = st.initial(p, 0.0)
        x = np.asarray(x0) * rng.uniform(0.5, 1.5, x0.shape) + rng.uniform(0.1, 1.0, x0.shape)
        J = np.asarray(jac(jnp.asarray(x), jnp.asarray(rng.uniform(0.0, 3600.0)), p))
        outside = (J != 0) & ~pattern
        assert not outside.any(), np.argwhere(outside)[:5]
    assert pattern.sum() < 0.2 * pattern.size  # sparse: worth colouring
