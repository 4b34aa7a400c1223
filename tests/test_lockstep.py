"""Ensembles in lock step (`CompiledModel.solve_batch`, `wholecell.ensemble._lockstep`).

References: analytic solutions, libRoadRunner's trajectories of BIOMD0000000012
(tests/data/biomodels), and SBML Test Suite cases run as ensembles; and a member's own
solve, whose steps a member in lock step must take.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import DECAY

import wholecell as wc
from wholecell._errors import CompileError
from wholecell.compiler._lower import power
from wholecell.ode._integrate import MAX_STEPS, SUCCESS
from wholecell.testsuite import run_case

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def repressilator():
    return wc.compile(wc.models.load("BIOMD0000000012"))


@pytest.fixture(scope="module")
def decay():
    return wc.compile(wc.load_sbml(DECAY))


def _lognormal(sim, n, seed=0):
    p0 = np.asarray(sim.param_values)
    return jnp.asarray(p0 * np.exp(0.1 * np.random.default_rng(seed).standard_normal((n, p0.size))))


def test_members_take_the_steps_of_their_own_solves(repressilator):
    sim = repressilator
    P = _lognormal(sim, 24)
    ts = jnp.linspace(0.0, 300.0, 31)
    ys, stats = jax.jit(lambda P: sim.solve_batch(ts, P, solver="tsit5"))(P)
    ref, ref_stats = jax.jit(jax.vmap(
        lambda p: sim.solve_with_stats(ts, p, solver="tsit5", adjoint="lax")))(P)
    # Exact, although the two are compiled apart: an explicit method's decisions are error
    # tests only (no Newton iterations), and rounding of the stages (e.g. another FMA
    # contraction) moves each error ratio by about eps / rtol = 2e-10 relative; a decision
    # flips only for a ratio that close to 1, which for ~10^4 decisions here has a chance
    # of order 1e-6. (Lock-step BDF, with its Newton tests on increments near rounding,
    # is compared within 1% in test_lockstep_bdf.)
    np.testing.assert_array_equal(stats.steps, ref_stats.steps)
    np.testing.assert_array_equal(stats.rejected, ref_stats.rejected)
    np.testing.assert_array_equal(stats.status, SUCCESS)
    scale = np.max(np.abs(ref), axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(ys, ref, rtol=1e-9, atol=1e-11 * scale.max())
    np.testing.assert_allclose(stats.x_last, ref_stats.x_last, rtol=1e-9, atol=1e-9)


def test_batch_of_the_nominal_parameters_matches_roadrunner(repressilator):
    ref = np.genfromtxt(DATA / "biomodels" / "BIOMD0000000012.csv", delimiter=",", names=True)
    ids = [n for n in ref.dtype.names if n != "time"]
    sim = repressilator
    n = float(sim.param_values[sim.param_ids.index("n")])
    res = wc.simulate(sim, ref["time"], params={"n": [n, 1.1 * n, n]},
                      rtol=1e-8, atol=1e-12)
    assert res.stats["solver"] == "tsit5"
    for sid in ids:
        expected = ref[sid]
        tol = 1e-4 * np.abs(expected) + 1e-6 * np.max(np.abs(expected))
        for member in (0, 2):
            assert np.all(np.abs(res.concentration(sid)[member] - expected) <= tol), sid
        assert np.max(np.abs(res.concentration(sid)[1] - expected)) > 1e-2 * np.max(expected)


def test_more_outputs_than_steps_follow_the_analytic_solution(decay):
    ks = np.array([0.1, 0.7, 2.0, 5.0])
    ts = np.linspace(0.0, 5.0, 2001)
    res = wc.simulate(decay, ts, params={"k": ks}, rtol=1e-10, atol=1e-12)
    assert np.all(res.stats["steps"] < 2000)
    expected = 3.0 * np.exp(-ks[:, None] * ts[None, :])
    np.testing.assert_allclose(res.amount("A"), expected, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(res.amount("B"), 3.0 - expected, rtol=1e-7, atol=1e-10)


def test_a_failed_member_leaves_the_others_alone(decay):
    sim = decay
    ik = sim.param_ids.index("k")
    ks = jnp.asarray([0.1, 50.0, 0.3])
    P = jnp.tile(sim.param_values, (3, 1)).at[:, ik].set(ks)
    ts = jnp.linspace(0.0, 5.0, 11)
    ys, stats = sim.solve_batch(ts, P, solver="tsit5", rtol=1e-10, atol=1e-12, max_steps=60)
    ref, ref_stats = jax.vmap(lambda p: sim.solve_with_stats(
        ts, p, solver="tsit5", rtol=1e-10, atol=1e-12, max_steps=60, adjoint="lax"))(P)
    np.testing.assert_array_equal(stats.status, [SUCCESS, MAX_STEPS, SUCCESS])
    np.testing.assert_array_equal(stats.status, ref_stats.status)
    np.testing.assert_array_equal(np.isnan(ys), np.isnan(ref))
    assert np.isnan(ys[1, -1]).all() and not np.isnan(ys[1, 0]).any()
    for m in (0, 2):
        np.testing.assert_allclose(ys[m, :, 0], 3.0 * np.exp(-float(ks[m]) * ts), rtol=1e-8)


def test_solve_batch_refuses_parameters_of_the_wrong_shape(decay):
    with pytest.raises(CompileError, match="shape"):
        decay.solve_batch(jnp.linspace(0.0, 1.0, 3), decay.param_values)


@pytest.mark.parametrize("number", ["00994", "01380", "01117", "01151", "01339", "01484",
                                    "01499"])
def test_suite_cases_as_ensembles(number):
    """Variable stoichiometry (00994, 01380), rate rules (01117, 01151, 01339) and
    conversion factors (01484, 01499): every member against the suite's results."""
    outcome = run_case(str(DATA / "semantic" / number), members=3)
    assert outcome.status == "pass", f"{number}: {outcome.status}: {outcome.detail}"


def test_power_matches_c_pow_and_its_derivative():
    xs = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, np.inf, -np.inf, np.nan, 3.7,
                   1e-300, 1e300, -7.3])
    ys = np.array([0.0, 1.0, -1.0, 2.0, 3.0, -3.0, 0.5, -0.5, 2.5, np.inf, -np.inf, np.nan,
                   1e-3, 100.0, 7.0, -0.0])
    X, Y = np.meshgrid(xs, ys)
    with np.errstate(all="ignore"):
        expected = np.power(X, Y)
    got = np.asarray(power(jnp.asarray(X), jnp.asarray(Y)))
    same = (np.isnan(expected) & np.isnan(got)) | (
        np.isclose(got, expected, rtol=1e-13, atol=0.0)
        & (np.signbit(got) == np.signbit(expected)))
    assert same.all(), list(zip(X[~same], Y[~same], got[~same], strict=True))
    x, y = jnp.asarray([0.0, 2.0, 3.0, 0.4]), jnp.asarray([2.0, 2.5, 0.5, -1.5])
    ours = jax.grad(lambda x, y: power(x, y).sum(), argnums=(0, 1))(x, y)
    ref = jax.grad(lambda x, y: jnp.power(x, y).sum(), argnums=(0, 1))(x, y)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    # a constant exponent adds no log(x) term: finite slopes at x = 0 (as jnp.power's)
    assert float(jax.grad(lambda x: power(x, 2.5))(0.0)) == 0.0
    assert float(jax.jacfwd(lambda x: power(x, 1.5))(jnp.asarray(0.0))) == 0.0
