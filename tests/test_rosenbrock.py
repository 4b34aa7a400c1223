"""Rosenbrock methods: convergence order, dense output, and stiff benchmark problems.

References: a problem with a closed-form solution for the orders; for Robertson and Van
der Pol (mu = 1000), scipy's Radau (an established stiff solver) at rtol 1e-12.
"""

import functools

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from wholecell.ode._integrate import SUCCESS, integrate
from wholecell.ode._rosenbrock import RODAS4, RODAS5, RODAS5P, Rosenbrock

#: how far below its nominal order a method may measure (pre-asymptotic slack)
ORDER_SLACK = 0.3
#: agreement with the Radau reference on the stiff problems (relative, per component)
STIFF_RTOL = 1e-5


def _forced(t, y, args):
    # y1' = y2 + 1, y2' = -y1 + t: y1 = t + sin t, y2 = cos t from (0, 1)
    return jnp.array([y[1] + 1.0, -y[0] + t])


def _exact(t):
    return jnp.array([t + jnp.sin(t), jnp.cos(t)])


@pytest.mark.parametrize("tableau", [RODAS4, RODAS5, RODAS5P], ids=lambda t: t.name)
def test_convergence_order(tableau):
    solver = Rosenbrock(tableau)
    term = diffrax.ODETerm(_forced)
    step = jax.jit(lambda t, h, y: solver.step(term, t, t + h, y, None, None, False))
    errors, dense_errors = [], []
    for n in (10, 20, 40):
        h = 2.0 / n
        y, t, worst = jnp.array([0.0, 1.0]), 0.0, 0.0
        for _ in range(n):
            y1, _, dense, _, _ = step(t, h, y)
            interp = solver.interpolation_cls(t0=t, t1=t + h, **dense)
            mid = t + 0.37 * h
            worst = max(worst, float(jnp.max(jnp.abs(interp.evaluate(mid) - _exact(mid)))))
            y, t = y1, t + h
        errors.append(float(jnp.max(jnp.abs(y - _exact(2.0)))))
        dense_errors.append(worst)
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all(orders > tableau.order - ORDER_SLACK), orders
    dense_orders = np.log2(np.array(dense_errors[:-1]) / np.array(dense_errors[1:]))
    assert np.all(dense_orders > 3 - ORDER_SLACK), dense_orders


def _robertson(t, y, args):
    return jnp.array([
        -0.04 * y[0] + 1e4 * y[1] * y[2],
        0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
        3e7 * y[1] ** 2,
    ])


def _van_der_pol(t, y, args):
    """y'' = mu (1 - y^2) y' - y, mu = 1000 (MATLAB's vdp1000): about two periods in 0-3000."""
    mu = 1000.0
    return jnp.array([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]])


def _numpy_problem(f):
    """The same right-hand side and Jacobian in NumPy (fast for scipy's reference)."""
    if f is _robertson:
        def rhs(t, y):
            return np.array([
                -0.04 * y[0] + 1e4 * y[1] * y[2],
                0.04 * y[0] - 1e4 * y[1] * y[2] - 3e7 * y[1] ** 2,
                3e7 * y[1] ** 2,
            ])

        def jac(t, y):
            return np.array([
                [-0.04, 1e4 * y[2], 1e4 * y[1]],
                [0.04, -1e4 * y[2] - 6e7 * y[1], -1e4 * y[1]],
                [0.0, 6e7 * y[1], 0.0],
            ])
    else:
        mu = 1000.0

        def rhs(t, y):
            return np.array([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]])

        def jac(t, y):
            return np.array([[0.0, 1.0], [-2.0 * mu * y[0] * y[1] - 1.0, mu * (1.0 - y[0] ** 2)]])
    return rhs, jac


@functools.cache
def _reference_cached(problem: str):
    if problem == "robertson":
        return _reference(_robertson, np.array([1.0, 0.0, 0.0]), np.array([0, 0.4, 4, 40]))
    return _reference(_van_der_pol, np.array([2.0, 0.0]), np.linspace(0, 3000, 7))


def _reference(f, y0, ts):
    rhs, jac = _numpy_problem(f)
    sol = solve_ivp(rhs, (ts[0], ts[-1]), y0, method="Radau", t_eval=ts, rtol=1e-12,
                    atol=1e-14, jac=jac)
    assert sol.success
    return sol.y.T


@pytest.mark.parametrize("roll_stages", [False, True], ids=["unrolled", "rolled"])
@pytest.mark.parametrize("tableau", [RODAS5, RODAS4], ids=lambda t: t.name)
@pytest.mark.parametrize("problem", ["robertson", "van_der_pol"])
def test_stiff_problems_match_radau(tableau, problem, roll_stages):
    if problem == "robertson":
        f, y0, ts, floor = _robertson, np.array([1.0, 0.0, 0.0]), np.array([0, 0.4, 4, 40]), 1e-12
    else:
        f, y0, ts, floor = _van_der_pol, np.array([2.0, 0.0]), np.linspace(0, 3000, 7), 1e-8
    ref = _reference_cached(problem)  # the same Radau reference for every tableau
    solver = Rosenbrock(tableau, roll_stages=roll_stages)
    run = jax.jit(lambda y0: integrate(solver, f, y0, 0.0, jnp.asarray(ts), None,
                                       rtol=1e-9, atol=1e-13, max_steps=200_000,
                                       adjoint="lax"))
    ys, stats = run(jnp.asarray(y0))
    assert int(stats.status) == SUCCESS
    scale = np.abs(ref) + floor
    np.testing.assert_array_less(np.abs(np.asarray(ys) - ref) / scale, STIFF_RTOL)


@pytest.mark.parametrize("tableau", [RODAS4, RODAS5, RODAS5P], ids=lambda t: t.name)
def test_stages_in_a_loop_are_the_unrolled_stages(tableau):
    """The rolled stages (one right-hand side in a loop, for large models) give the
    unrolled step, its error estimate, dense output and derivative, up to rounding."""
    term = diffrax.ODETerm(_robertson)
    y0 = jnp.array([0.9, 2e-5, 0.1])

    def step(solver, y):
        y1, err, dense, _, _ = solver.step(term, 0.3, 0.3 + 1e-2, y, None, None, False)
        return y1, err, dense["kd"]

    unrolled = functools.partial(step, Rosenbrock(tableau))
    rolled = functools.partial(step, Rosenbrock(tableau, roll_stages=True))
    for a, b in zip(jax.jit(unrolled)(y0), jax.jit(rolled)(y0), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-18)
    v = jnp.array([1.0, -3.0, 0.5])
    _, ta = jax.jvp(unrolled, (y0,), (v,))
    _, tb = jax.jvp(rolled, (y0,), (v,))
    for a, b in zip(ta, tb, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-16)


def test_large_forward_solves_roll_their_stages():
    from wholecell.ode._solvers import ROLL_STAGES_FROM, make_solver, roll_stages_for

    assert roll_stages_for(ROLL_STAGES_FROM, "lax")
    assert not roll_stages_for(ROLL_STAGES_FROM - 1, "lax")
    assert not roll_stages_for(10 * ROLL_STAGES_FROM, "checkpointed")
    assert make_solver("rodas5", 1e-6, 1e-9, roll_stages=True).roll_stages
