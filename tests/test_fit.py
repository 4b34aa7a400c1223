"""`wc.fit` on small objectives: failed evaluations (NaN/inf, as from a simulation that
fails at some parameters) must not end a start, and starts where the objective is not
finite are redrawn."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import wholecell as wc

LO, HI = -5.0 * np.ones(3), 5.0 * np.ones(3)
MINIMUM = 3.0  # at x = (1, 1, 1)


def failing(x):
    """A pseudo-Huber bowl (quasi-Newton steps overshoot on it) that is NaN for x0 > 2,
    a tenth of the box: the minimum lies in the part where it is finite."""
    v = jnp.sum(jnp.sqrt(1.0 + (x - 1.0) ** 2))
    return jnp.where(x[0] > 2.0, jnp.nan, v)


def test_failed_evaluations_do_not_end_a_start():
    res = wc.fit(failing, n_starts=8, bounds=(LO, HI), seed=0, progress=False)
    # every start reaches the known minimum, although some steps fell in the NaN region
    np.testing.assert_allclose(res.fvals, MINIMUM, atol=1e-6)
    np.testing.assert_allclose(res.x, 1.0, atol=1e-3)
    assert res.n_failed.sum() > 0
    assert res.n_redrawn > 0
    assert np.all(res.x0s[:, 0] <= 2.0)  # redrawn starts are finite ones
    # the plain scipy L-BFGS-B (an infinite value on failure) stops short on some starts
    vg = jax.jit(jax.value_and_grad(failing))

    def plain(x):
        v, g = vg(x)
        return (np.inf, np.zeros(3)) if not np.isfinite(float(v)) else (float(v), np.asarray(g))

    box = scipy.optimize.Bounds(LO, HI)
    ends = [
        scipy.optimize.minimize(plain, s, jac=True, method="L-BFGS-B", bounds=box).fun
        for s in res.x0s
    ]
    assert max(ends) > MINIMUM + 0.1


@pytest.mark.parametrize("method", ["trust-constr", "optax"])
def test_other_methods_survive_failed_evaluations(method):
    starts = [(-4.0, -4.0, 3.0), (1.9, -3.0, 0.0)]
    res = wc.fit(
        failing, x0=starts, bounds=(LO, HI), method=method, progress=False,
        maxiter=3000 if method == "optax" else 1000, learning_rate=0.1,
    )
    assert np.all(np.isfinite(res.fvals))
    assert res.fun <= MINIMUM + 0.1


def test_given_start_that_fails_is_kept_and_reported():
    res = wc.fit(failing, x0=[(3.0, 0.0, 0.0), (0.0, 0.0, 0.0)], bounds=(LO, HI), progress=False)
    assert res.n_redrawn == 0
    assert np.isinf(res.fvals[-1]) and "not finite at the start" in res.messages[-1]
    assert abs(res.fun - MINIMUM) < 1e-6
    assert res.starts_to_reach(MINIMUM) == (2, pytest.approx(res.times.sum()))


def double_well(x):
    """Two minima: f = -0.151 near x = -1 (the global one) and f = +0.149 near x = +1."""
    return jnp.sum((x**2 - 1.0) ** 2 + 0.15 * x)


def test_screen_continues_only_starts_below_the_threshold():
    starts = [(-1.1,), (1.1,), (-0.8,), (0.8,)]
    box = (np.full(1, -2.0), np.full(1, 2.0))
    res = wc.fit(double_well, x0=starts, bounds=box, screen=(3, 0.0), progress=False)
    grid = np.linspace(-2.0, 2.0, 400_001)
    best = np.min((grid**2 - 1.0) ** 2 + 0.15 * grid)  # the global minimum, on a grid
    ran_first = np.argsort(res.start_index)  # rows in the order the starts ran
    for k in (0, 2):  # left of the barrier: continued to the global minimum
        row = ran_first[k]
        assert abs(res.fvals[row] - best) < 1e-8
        assert not res.messages[row].startswith("screened out")
    for k in (1, 3):  # right of it: above 0 after 3 iterations, not continued
        row = ran_first[k]
        assert res.messages[row].startswith("screened out")
        assert res.n_iter[row] <= 3 and res.fvals[row] > 0.0
    # without screening the right-hand starts use their iterations to reach the local one
    plain = wc.fit(double_well, x0=starts, bounds=box, progress=False)
    assert plain.n_iter.sum() > res.n_iter.sum()
    with pytest.raises(wc.WholecellError, match="screen"):
        wc.fit(double_well, x0=starts, bounds=box, screen=(0, 1.0), progress=False)
