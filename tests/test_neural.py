"""wc.neural: data loading, the CellBox steady state and its implicit gradient, metrics,
baselines and deterministic training."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from wholecell import neural

SUBSET = "perturbation/cellbox_subset"

#: Newton converges quadratically: at rtol = atol = 1e-10 on the step, the residual of the
#: fixed-point equation is at rounding level (~1e-15); 1e-12 leaves three decades.
FIXED_POINT_TOL = 1e-12
#: central differences with step H: truncation ~ H^2 |d3L| ~ 1e-10 and rounding
#: ~ 1e-16 |L| / H ~ 1e-11 for |L| ~ 1; the Newton solve's own error (~1e-15) divided by H
#: adds ~1e-10. 1e-6 relative (to the gradient's largest entry) is far above that budget
#: and far below any real error (a missing term is O(1)).
FD_STEP = 1e-5
FD_RTOL = 1e-6


def small_model(n: int = 6, seed: int = 0, hybrid: bool = False) -> neural.CellBox:
    return neural.cellbox(n, n - 2, n - 1, key=jax.random.PRNGKey(seed), w_scale=0.5,
                          hybrid=hybrid, width=8, depth=1)


def small_inputs(n: int = 6, c: int = 4, seed: int = 1) -> jnp.ndarray:
    return jnp.asarray(np.random.default_rng(seed).normal(0, 1.0, (c, n)))


def test_load_subset(data_dir):
    import wholecell as wc

    assert wc.neural is neural   # the lazily loaded submodule attribute
    d = neural.load_cellbox(data_dir / SUBSET, readouts=5)
    assert d.y.shape == d.u.shape == (6, 8)
    assert d.nodes[0] == "4EBP1pS65" and d.nodes[5] == "aMEK"
    assert d.conditions[2] == "AK|5,901|1.5"
    assert d.drugs == ((1,), (2,), (1, 2), (3,), (1, 3), (2, 3))
    # values from the labelled copy of the full data (expr_labeled.csv, pert_labeled.csv)
    assert d.y[0, 0] == -0.435 and d.u[0, 5] == -0.863 and d.u[1, 6] == -2.59
    np.testing.assert_array_equal(d.readouts, np.arange(5))
    np.testing.assert_array_equal(d.singles, [0, 1, 3])
    np.testing.assert_array_equal(d.pairs, [2, 4, 5])
    with pytest.raises(FileNotFoundError, match="expr.csv"):
        neural.load_cellbox(data_dir / "perturbation")


def test_perturbation_inputs():
    table = pd.DataFrame({"aMEK": [1.0, np.nan], "aAKT": [0.0, -2.0]}, index=["a", "b"])
    u = neural.perturbation_inputs(table, ("x", "aAKT", "aMEK"))
    np.testing.assert_array_equal(u, [[0.0, 0.0, 1.0], [0.0, -2.0, 0.0]])
    with pytest.raises(ValueError, match="aXYZ"):
        neural.perturbation_inputs(pd.DataFrame({"aXYZ": [1.0]}), ("x",))


def test_mask_follows_cellbox():
    m = neural.cellbox_mask(6, 4, 5)
    assert np.all(np.diag(m) == 0) and np.all(m[5] == 0)   # no self loops, input node
    assert np.all(m[:, 4] == 0) and m[4, 5] == 0 and m[4, 0] == 1  # the phenotype node


@pytest.mark.parametrize("linear_solver", ["lu", "gmres"])
def test_steady_state_is_fixed_point(linear_solver):
    model, u = small_model(), small_inputs()
    x = neural.steady_state(model, u, linear_solver=linear_solver)
    fixed = jax.vmap(lambda xi, ui: model.eps * jnp.tanh(model.weights @ xi + ui)
                     / model.alpha)(x, u)
    assert float(jnp.max(jnp.abs(x - fixed))) < FIXED_POINT_TOL
    # the same state as integration from the control (steady-state event at 1e-8)
    xi = neural.integrate_to_steady_state(model, u)
    np.testing.assert_allclose(np.asarray(x), np.asarray(xi), atol=1e-6)
    assert float(jnp.max(jnp.abs(neural.steady_state(model, jnp.zeros_like(u))))) == 0.0


@pytest.mark.parametrize("linear_solver", ["lu", "gmres"])
def test_implicit_gradient_matches_finite_differences(linear_solver):
    model, u = small_model(), small_inputs()
    c = jnp.asarray(np.random.default_rng(2).normal(size=u.shape))

    def loss(m):
        return jnp.sum(c * neural.steady_state(m, u, fallback=False,
                                               linear_solver=linear_solver))

    grad = eqx.filter_grad(loss)(model)
    params, static = eqx.partition(model, eqx.is_array)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    g = jax.flatten_util.ravel_pytree(eqx.filter(grad, eqx.is_array))[0]
    f = jax.jit(lambda p: loss(eqx.combine(unravel(p), static)))
    rng = np.random.default_rng(3)
    idx = rng.choice(flat.size, 12, replace=False)   # 12 of the 48 parameters
    fd = np.array([(f(flat.at[i].add(FD_STEP)) - f(flat.at[i].add(-FD_STEP))) / (2 * FD_STEP)
                   for i in idx])
    err = np.max(np.abs(fd - np.asarray(g)[idx])) / np.max(np.abs(np.asarray(g)))
    assert err < FD_RTOL, err


def test_large_network_solves_by_gmres_like_lu():
    """From GMRES_FROM_NODES nodes on, "auto" solves Newton's systems by GMRES: the same
    steady states and implicit gradient as dense LU (a hybrid, as trained on L1000)."""
    n = neural.GMRES_FROM_NODES
    assert isinstance(neural.linear_solver_for("auto", n, 1e-10, 1e-10), lineax.GMRES)
    assert isinstance(neural.linear_solver_for("auto", n - 1, 1e-10, 1e-10), lineax.LU)
    model = neural.cellbox(n, key=jax.random.PRNGKey(4), w_scale=0.05, hybrid=True)
    u = -jnp.eye(n)[:3]                             # three knockdowns
    c = jnp.asarray(np.random.default_rng(5).normal(size=u.shape))

    def value_and_grad(solver):
        return eqx.filter_value_and_grad(lambda m: jnp.sum(
            c * neural.steady_state(m, u, fallback=False, linear_solver=solver)))(model)

    (v_lu, g_lu), (v_gm, g_gm) = value_and_grad("lu"), value_and_grad("auto")
    assert np.isfinite(float(v_lu)) and abs(float(v_gm - v_lu)) < 1e-10 * abs(float(v_lu))
    for a, b in zip(jax.tree.leaves(eqx.filter(g_lu, eqx.is_array)),
                    jax.tree.leaves(eqx.filter(g_gm, eqx.is_array)), strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0,
                                   atol=1e-8 * float(jnp.max(jnp.abs(a))) + 1e-14)


def test_unknown_linear_solver_is_refused():
    with pytest.raises(ValueError, match="linear_solver must be one of"):
        neural.steady_state(small_model(), small_inputs(), linear_solver="cholesky")


def test_hybrid_keeps_control_and_trains_network():
    model, u = small_model(hybrid=True), small_inputs()
    # g(0, 0) = MLP(0) - MLP(0): zero up to the rounding of two fused evaluations
    x0 = neural.steady_state(model, jnp.zeros_like(u), fallback=False)
    assert float(jnp.max(jnp.abs(x0))) < 1e-15
    grad = eqx.filter_grad(
        lambda m: jnp.sum(neural.steady_state(m, u, fallback=False) ** 2))(model)
    w = grad.correction.mlp.layers[-1].weight
    assert float(jnp.max(jnp.abs(w))) > 0.0


def test_metrics_match_scipy():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(7, 5)), rng.normal(size=(7, 5))
    ref = rng.normal(size=5)
    assert neural.pearson(p, t) == pytest.approx(scipy.stats.pearsonr(p.ravel(), t.ravel())[0],
                                                 rel=1e-12)
    assert neural.pearson_delta(p, t, ref) == pytest.approx(
        scipy.stats.pearsonr((p - ref).ravel(), (t - ref).ravel())[0], rel=1e-12)
    assert neural.mae(p, t) == pytest.approx(np.mean(np.abs(p - t)), rel=1e-14)
    assert np.isnan(neural.pearson(np.zeros(4), t[0, :4]))


def test_additive_baseline_by_hand():
    y = np.array([[1.0, 2.0], [10.0, 20.0], [0.0, 0.0], [0.0, 0.0], [5.0, 5.0], [3.0, 1.0]])
    d = neural.PerturbationData(
        y=y, u=np.zeros_like(y), nodes=("p", "q"),
        conditions=("A|1", "B|2", "A|1,B|2", "A|1,C|1", "B|4,A|1", "A|2"),
        drugs=((1,), (2,), (1, 2), (1, 3), (1, 2), (1,)), readouts=np.arange(2))
    pred = neural.additive(d, train=np.array([0, 1, 5]), test=np.array([2, 3, 4]))
    # A|1 + B|2; A|1 + (no C single: 0); B|4 unseen at that dose -> B's mean single + A|1
    np.testing.assert_array_equal(pred, [[11.0, 22.0], [1.0, 2.0], [11.0, 22.0]])
    fold = neural.Fold("f", np.array([0, 1]), np.array([5]), np.array([2, 3]))
    base = neural.baselines(d, fold)
    np.testing.assert_array_equal(base["train_mean"], [[14 / 3, 23 / 3]] * 2)
    np.testing.assert_array_equal(base["no_change"], np.zeros((2, 2)))


def test_protocol_folds(data_dir):
    d = neural.load_cellbox(data_dir / SUBSET, readouts=5)
    loo = neural.leave_one_drug_out(d, keep_singles=True)
    assert [f.name for f in loo] == ["drug1", "drug2", "drug3"]
    np.testing.assert_array_equal(loo[0].test, [2, 4])          # the pairs with drug 1
    assert 0 in np.concatenate([loo[0].train, loo[0].val])      # its single kept
    nos = neural.leave_one_drug_out(d, keep_singles=False)
    np.testing.assert_array_equal(nos[0].test, [0, 2, 4])
    assert not set(np.concatenate([nos[0].train, nos[0].val])) & {0, 2, 4}
    folds = neural.random_partition(d, k=3, seed=0)
    np.testing.assert_array_equal(np.sort(np.concatenate([f.test for f in folds])), np.arange(6))
    for f in folds:
        assert not set(f.test) & set(np.concatenate([f.train, f.val]))


def test_training_is_deterministic():
    model, u = small_model(seed=4), small_inputs(c=6, seed=5)
    # batches of 2 and all 6 conditions: two compiled shapes
    # a reachable target
    y = np.asarray(neural.steady_state(small_model(seed=9), u, fallback=False))
    kw = dict(seed=7, fallback=False, batch_size=2, max_steps=6, check_every=3, patience=5,
              learning_rate=1e-2, progress=False)
    r1 = neural.train(model, u, y, np.arange(5), np.arange(4), np.array([4, 5]), **kw)
    r2 = neural.train(model, u, y, np.arange(5), np.arange(4), np.array([4, 5]), **kw)
    assert r1.steps == 6 and r1.val_loss == r2.val_loss
    for a, b in zip(jax.tree_util.tree_leaves(r1.model), jax.tree_util.tree_leaves(r2.model),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert r1.val_loss[-1] < float(neural.mse(model, u[4:], y[4:], jnp.arange(5)))
    with pytest.raises(ValueError, match="validation"):
        neural.train(model, u, y, np.arange(5), np.arange(4), np.array([], int), **kw)
    # fewer steps than between two checks: the last step is still validated, so the
    # result is the trained model, not the initial one
    short = neural.train(model, u, y, np.arange(5), np.arange(4), np.array([4, 5]),
                         **{**kw, "max_steps": 2, "check_every": 25})
    assert len(short.val_loss) == 1 and short.best_step == 2
    assert short.val_loss[0] < float(neural.mse(model, u[4:], y[4:], jnp.arange(5)))


def test_steady_state_bounded_fallback_gives_nan_without_a_root():
    """dx/dt = 1 + x^2 has no steady state: Newton fails at x = 0 (zero Jacobian), the
    bounded integration cannot settle, and the condition comes back NaN."""
    no_root = lambda x, u: 1.0 + x**2 + 0.0 * u
    u = jnp.zeros((2, 1))
    assert np.all(np.isnan(np.asarray(neural.steady_state(no_root, u, fallback=64))))
    assert np.all(np.isnan(np.asarray(neural.steady_state(no_root, u, fallback=False))))
