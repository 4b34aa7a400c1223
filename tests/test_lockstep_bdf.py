"""Stiff ensembles in lock step (`wholecell.ensemble._lockstep_bdf`) and the sparse LU they use.

References: numpy's dense solves, the analytic solution of a stiff linear chain (which
also carries the tests of lock-step bookkeeping: lanes, step limits, a single output time),
libRoadRunner's trajectory of BIOMD0000000019 (tests/data/biomodels), and a member's
own `bdf_integrate` solve, whose attempts a member in lock step takes.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import mass_action, parameter, sbml_model, species

import wholecell as wc
from wholecell.compiler._jacobian import sparsity_pattern
from wholecell.ensemble._lockstep import lockstep_applies
from wholecell.ensemble._sparselu import SparseLU
from wholecell.ode._integrate import MAX_STEPS, SUCCESS

DATA = Path(__file__).parent / "data"

#: A -> B -> P at k1 A, k2 B (size-1 compartment): stiff for k1 >> k2
CHAIN = sbml_model(
    species("A", 1.0) + species("B", 0.0) + species("P", 0.0),
    mass_action("r1", "A", "B", "k1") + mass_action("r2", "B", "P", "k2"),
    parameter("k1", 1000.0) + parameter("k2", 1.0),
)


def _random_pattern(n, density, rng):
    pattern = rng.random((n, n)) < density
    np.fill_diagonal(pattern, True)
    return pattern


@pytest.mark.parametrize("n, density", [(1, 1.0), (7, 0.4), (30, 0.1), (60, 0.05)])
def test_sparse_lu_solves_as_numpy(n, density):
    rng = np.random.default_rng(n)
    pattern = _random_pattern(n, density, rng)
    lu = SparseLU(pattern)
    rows, cols = np.nonzero(pattern)
    B = 5
    values = rng.standard_normal((rows.size, B))
    values[rows == cols] += 2.0 * np.sqrt(n)  # pivots away from zero without pivoting
    b = rng.standard_normal((n, B))
    x = jax.jit(lambda v, b: lu.solve(lu.factor(v), b))(values, b)
    A = np.zeros((B, n, n))
    A[:, rows, cols] = values.T
    ref = np.linalg.solve(A, b.T[..., None])[..., 0].T
    np.testing.assert_allclose(x, ref, rtol=1e-10, atol=1e-12)


def test_sparse_lu_on_a_model_pattern_fills_in_little():
    sim = wc.compile(wc.models.load("BIOMD0000000019"))
    pattern = sparsity_pattern(sim.structure)
    lu = SparseLU(pattern)
    n = pattern.shape[0]
    # minimum degree: 886 entries of L + U for the 604 of the Jacobian (the identity
    # order fills in 3,477); far below a dense LU's n^3 / 3 multiply-adds
    assert pattern.sum() <= lu.n_factors <= 1.6 * pattern.sum()
    assert lu.multiply_adds < 0.02 * n**3 / 3


def test_sparse_lu_needs_the_diagonal():
    with pytest.raises(ValueError, match="diagonal"):
        SparseLU(np.array([[False, True], [True, True]]))


@pytest.fixture(scope="module")
def chain():
    """The stiff chain: compiles in seconds where BIOMD0000000019's lock-step BDF takes
    about a minute, for the tests of lock-step bookkeeping that any model shows."""
    return wc.compile(wc.load_sbml(CHAIN))


def _chain_params(sim, k1s):
    P = np.tile(np.asarray(sim.param_values), (len(k1s), 1))
    P[:, sim.param_ids.index("k1")] = k1s
    return jnp.asarray(P)


@pytest.fixture(scope="module")
def schoeberl():
    return wc.compile(wc.models.load("BIOMD0000000019"))


def test_members_take_the_attempts_of_their_own_bdf_solves(schoeberl):
    sim = schoeberl
    assert lockstep_applies(sim.structure, "bdf", 16)
    assert not lockstep_applies(sim.structure, "bdf", 15)
    p0 = np.asarray(sim.param_values)
    P = jnp.asarray(p0 * np.exp(0.2 * np.random.default_rng(1).standard_normal((16, p0.size))))
    ts = jnp.linspace(0.0, 3600.0, 13)
    ys, stats = jax.jit(lambda P: sim.solve_batch(ts, P, solver="bdf"))(P)
    ref, ref_stats = jax.jit(jax.vmap(
        lambda p: sim.solve_with_stats(ts, p, solver="bdf", adjoint="lax")))(P)
    np.testing.assert_array_equal(stats.status, SUCCESS)
    # the same attempts, to rounding: a Newton or error test within rounding of its
    # threshold may decide otherwise (sums are taken in another order)
    np.testing.assert_allclose(stats.steps, ref_stats.steps, rtol=0.01)
    scale = np.max(np.abs(np.asarray(ref)), axis=1, keepdims=True)
    np.testing.assert_allclose(ys, ref, rtol=1e-4, atol=1e-8 * scale.max())
    np.testing.assert_allclose(stats.t_last, 3600.0)


#: two lane widths' trajectories (solved at rtol 1e-6, atol 1e-9): 100 times the tolerances
LANES_RTOL, LANES_ATOL = 1e-4, 1e-7


def test_lanes_refill_with_the_next_members(chain):
    from wholecell.ensemble._lockstep_bdf import batch_jacobian_for, lockstep_bdf

    sim = chain
    st = sim.structure
    # five members of different stiffness, so that they finish after different numbers
    # of steps and the lanes refill at different times
    P = _chain_params(sim, np.geomspace(1e2, 3e4, 5))
    ts = jnp.linspace(0.0, 5.0, 7)
    x0, c = jax.vmap(lambda p: st.initial(p, 0.0))(P)

    def run(lanes):
        return jax.jit(lambda x0, c: lockstep_bdf(
            batch_jacobian_for(st), x0.T, c.T, 0.0, ts, rtol=1e-6, atol=1e-9,
            max_steps=100_000, lanes=lanes))(x0, c)

    ys2, stats2 = run(2)
    ys5, stats5 = run(5)
    np.testing.assert_array_equal(stats2.status, SUCCESS)
    assert len(set(np.asarray(stats5.steps).tolist())) > 1
    # XLA compiles the two widths' loops differently: a Newton or error test within
    # rounding of its threshold may decide otherwise, so the attempts agree within 1% and
    # the trajectories within LANES_RTOL, LANES_ATOL (two solves at rtol 1e-6, atol 1e-9
    # taking other steps differ by their errors); a member solved with another member's
    # parameters or state would differ by orders of magnitude more
    np.testing.assert_allclose(stats2.steps, stats5.steps, rtol=0.01)
    np.testing.assert_allclose(ys2, ys5, rtol=LANES_RTOL, atol=LANES_ATOL)
    np.testing.assert_allclose(stats2.x_last, ys5[:, -1].T, rtol=LANES_RTOL, atol=LANES_ATOL)
    # and each member is its own chain: the analytic solution at its k1
    ids = sim.state_ids
    for m, k1 in enumerate(np.geomspace(1e2, 3e4, 5)):
        A = np.exp(-k1 * np.asarray(ts))
        np.testing.assert_allclose(ys5[m, :, ids.index("A")], A, atol=1e-5)


def test_nominal_member_matches_roadrunner(schoeberl):
    """The criterion of test_biomodels, for the nominal members of an ensemble."""
    ref = np.genfromtxt(DATA / "biomodels" / "BIOMD0000000019.csv", delimiter=",", names=True)
    sim = schoeberl
    k = sim.param_ids[0]
    v = float(sim.param_values[0])
    values = [v, 1.5 * v] * 8  # 16 members: in lock step
    res = wc.simulate(sim, ref["time"], params={k: values}, rtol=1e-8, atol=1e-12)
    ids = [n for n in ref.dtype.names if n != "time"]
    scale = max(np.max(np.abs(ref[sid])) for sid in ids)
    for sid in ids:
        expected = ref[sid]
        tol = (1e-4 * np.abs(expected) + 1e-6 * np.max(np.abs(expected))
               + np.finfo(np.float64).eps * scale + 1e-14)
        ours = np.asarray(res.concentration(sid))
        for m in (0, 14):
            assert np.all(np.abs(ours[m] - expected) <= tol), sid


def test_stiff_chain_against_the_analytic_solution(chain):
    sim = chain
    ts = np.linspace(0.0, 5.0, 51)
    k1s = np.geomspace(1e3, 3e4, 16)
    k2 = 1.0
    P = _chain_params(sim, k1s)
    ys, stats = jax.jit(lambda P: sim.solve_batch(jnp.asarray(ts), P, solver="bdf",
                                                  rtol=1e-8, atol=1e-12))(P)
    np.testing.assert_array_equal(stats.status, SUCCESS)
    ids = sim.state_ids
    for m, k1 in enumerate(k1s):
        A = np.exp(-k1 * ts)
        B = k1 / (k2 - k1) * (np.exp(-k1 * ts) - np.exp(-k2 * ts))
        np.testing.assert_allclose(ys[m, :, ids.index("A")], A, atol=1e-7)
        np.testing.assert_allclose(ys[m, :, ids.index("B")], B, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(ys[m, :, ids.index("P")], 1 - A - B, rtol=1e-6, atol=1e-9)


def test_members_out_of_steps_stop_with_their_own_status(chain):
    sim = chain
    P = jnp.stack([sim.param_values] * 16)
    ts = jnp.linspace(0.0, 5.0, 5)
    ys, stats = jax.jit(lambda P: sim.solve_batch(ts, P, solver="bdf", max_steps=40))(P)
    np.testing.assert_array_equal(stats.status, MAX_STEPS)
    np.testing.assert_array_equal(stats.steps, 40)
    assert np.all(np.isfinite(ys[:, 0])) and np.all(np.isnan(ys[:, -1]))


def test_a_single_output_time_gives_the_initial_state(chain):
    sim = chain
    P = jnp.stack([sim.param_values] * 16)
    ys, stats = jax.jit(lambda P: sim.solve_batch(jnp.zeros(1), P, solver="bdf"))(P)
    x0 = sim.structure.initial(sim.param_values, 0.0)[0]
    np.testing.assert_allclose(ys[:, 0], np.broadcast_to(x0, (16, x0.shape[0])), rtol=1e-15)
    np.testing.assert_array_equal(stats.status, SUCCESS)
