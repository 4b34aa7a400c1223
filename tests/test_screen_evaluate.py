"""wc.neural.evaluate: K-fold scoring of unseen perturbations on a screen (the L1000 slice)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import wholecell as wc

DATA = Path(__file__).parent / "data" / "perturbation"


@pytest.fixture(scope="module")
def screen():
    return wc.neural.load_l1000(DATA / "l1000_a375_slice.npz")


def oracle(data, train, test):
    """Predicts the measurement itself: every metric at its best."""
    return data.y[test]


def test_folds_cover_every_perturbation_once(screen):
    folds = wc.neural.kfold(len(screen.conditions), k=4, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(12))
    assert [len(f) for f in folds] == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="k=13"):
        wc.neural.kfold(12, k=13)


def test_oracle_scores_perfectly_and_baselines_are_scored(screen):
    ev = wc.neural.evaluate(screen, {"oracle": oracle}, k=4, seed=0)
    assert ev.methods == ["no_change", "train_mean", "linear", "oracle"]
    assert len(ev.rows) == 4 * 12
    table = ev.table()
    assert table.loc["oracle", "pearson"] == pytest.approx(1.0)
    assert table.loc["oracle", "pearson_delta"] == pytest.approx(1.0)
    assert table.loc["oracle", "mae"] == 0.0
    assert table.loc["oracle", "top20_de"] == 1.0
    assert table.loc["oracle", "discrimination"] == 1.0
    assert table.loc["oracle", "rank"] == 0.0
    # a constant prediction has no Pearson r; no change ties with every profile
    assert np.isnan(table.loc["no_change", "pearson"])
    assert table.loc["no_change", "rank"] == 0.5
    assert table.loc["no_change", "mae"] > 0


def test_chosen_folds_only(screen):
    full = wc.neural.evaluate(screen, k=4, seed=0)
    one = wc.neural.evaluate(screen, k=4, seed=0, folds=[2])
    assert one.rows.fold.unique().tolist() == [2]
    held = wc.neural.kfold(12, k=4, seed=0)[2]
    np.testing.assert_array_equal(one.predictions["linear"][held],
                                  full.predictions["linear"][held])
    others = np.setdiff1d(np.arange(12), held)
    assert np.all(np.isnan(one.predictions["linear"][others]))
    np.testing.assert_array_equal(full.predictions["train_mean"][held],
                                  np.tile(screen.y[others].mean(axis=0), (3, 1)))
    pd.testing.assert_frame_equal(one.rows.reset_index(drop=True),
                                  full.rows[full.rows.fold == 2].reset_index(drop=True))
    with pytest.raises(ValueError, match=r"folds \[4\] out of range"):
        wc.neural.evaluate(screen, k=4, folds=[4])


def test_rows_match_an_independent_computation(screen):
    """Fold 0's train-mean rows, recomputed with scipy and by hand (target left out)."""
    ev = wc.neural.evaluate(screen, k=3, seed=1)
    test = wc.neural.kfold(12, k=3, seed=1)[0]
    train = np.setdiff1d(np.arange(12), test)
    mean = screen.y[train].mean(axis=0)
    rows = ev.rows[(ev.rows.method == "train_mean") & (ev.rows.fold == 0)]
    for (_, row), c in zip(rows.iterrows(), test, strict=True):
        assert row.perturbation == screen.conditions[c]
        keep = np.arange(12) != c               # the target of condition c is gene c
        assert row.pearson == pytest.approx(stats.pearsonr(mean[keep], screen.y[c, keep])[0],
                                            rel=1e-10)
        assert row.mae == pytest.approx(np.abs(mean[keep] - screen.y[c, keep]).mean(),
                                        rel=1e-12)
    # the table is the mean over folds of each fold's mean, sd over folds
    per_fold = ev.rows[ev.rows.method == "linear"].groupby("fold")["mae"].mean()
    assert ev.table().loc["linear", "mae"] == pytest.approx(per_fold.mean(), rel=1e-12)
    assert ev.table().loc["linear", "mae_sd"] == pytest.approx(per_fold.std(ddof=0), rel=1e-12)


def test_versus_the_best_baseline(screen):
    ev = wc.neural.evaluate(screen, {"oracle": oracle}, k=4, seed=0)
    mae = ev.table().loc[["no_change", "train_mean", "linear"], "mae"]
    assert ev.best_baseline("mae") == mae.idxmin()
    out = ev.versus("oracle", "mae")
    assert out["versus"] == mae.idxmin()
    assert out["difference"] == pytest.approx(-mae.min(), rel=0.2)   # per-row vs per-fold mean
    assert out["lower"] <= out["difference"] <= out["upper"] < 0
    better = ev.versus("oracle", "discrimination")
    assert better["lower"] > 0
    with pytest.raises(KeyError, match="no method 'nope'"):
        ev.versus("nope", "mae")
    with pytest.raises(KeyError, match="no metric"):
        ev.versus("oracle", "accuracy")


def test_bad_methods_and_screens_are_refused(screen):
    with pytest.raises(ValueError, match="'short' predicted shape"):
        wc.neural.evaluate(screen, {"short": lambda d, tr, te: d.y[te][:, :3]}, k=3)
    with pytest.raises(ValueError, match="'nan' predicted non-finite"):
        wc.neural.evaluate(screen, {"nan": lambda d, tr, te: np.full((len(te), 12), np.nan)},
                           k=3)
    with pytest.raises(ValueError, match="taken by a baseline"):
        wc.neural.evaluate(screen, {"linear": oracle}, k=3)
    cellbox = wc.neural.load_cellbox(DATA / "cellbox_subset", readouts=5)
    with pytest.raises(ValueError, match="single-gene screens"):
        wc.neural.evaluate(cellbox, k=2)


def test_other_screens_is_the_mean_over_the_other_lines(screen):
    """Two more 'lines' made from the slice: one with the genes reordered and scaled, one
    missing a gene and a perturbation; the prediction is their mean where measured."""
    order = np.arange(12)[::-1]
    b = screen.subset(conditions=order, nodes=order)
    b = type(b)(y=2.0 * b.y, u=b.u, nodes=b.nodes, conditions=b.conditions, drugs=b.drugs,
                readouts=b.readouts)
    c = screen.subset(conditions=np.arange(1, 12), nodes=np.arange(1, 12))
    predict = wc.neural.other_screens({"A": screen, "B": b, "C": c})
    pred = predict(screen, np.arange(2, 12), np.array([0, 5]))
    # perturbation 0 (not in C): B alone, i.e. twice the slice's own effects
    np.testing.assert_allclose(pred[0], 2.0 * screen.y[0], rtol=1e-12)
    # perturbation 5: gene 0 only in B; genes 1-11 the mean of B and C = 1.5 x
    np.testing.assert_allclose(pred[1, 0], 2.0 * screen.y[5, 0], rtol=1e-12)
    np.testing.assert_allclose(pred[1, 1:], 1.5 * screen.y[5, 1:], rtol=1e-12)


def test_network_method_is_deterministic(screen):
    method = wc.neural.network_method(seed=4, max_steps=4, check_every=2)
    train, test = np.arange(4, 12), np.arange(4)
    first = method(screen, train, test)
    assert first.shape == (4, 12) and np.all(np.isfinite(first))
    np.testing.assert_array_equal(first, method(screen, train, test))
    with pytest.raises(ValueError, match="val_fraction"):
        wc.neural.network_method(val_fraction=1.0)


def test_shared_input_learns_the_response_every_knockdown_shares(screen):
    """A screen whose knockdowns all have the same effect c: only a network with the
    shared input node can predict c for knockdowns it never saw."""
    c = 0.2 * np.sin(np.arange(12.0))
    same = type(screen)(y=np.tile(c, (12, 1)), u=screen.u, nodes=screen.nodes,
                        conditions=screen.conditions, drugs=screen.drugs,
                        readouts=screen.readouts)
    train, test = np.arange(4, 12), np.arange(4)
    kw = dict(seed=0, max_steps=300, learning_rate=3e-2, l1=0.0, fallback=False)
    shared = wc.neural.network_method(**kw)(same, train, test)
    alone = wc.neural.network_method(shared_input=False, **kw)(same, train, test)
    keep = ~np.eye(12, dtype=bool)[test]                 # the targets are not scored
    err_shared = np.abs(shared - same.y[test])[keep].mean()
    err_alone = np.abs(alone - same.y[test])[keep].mean()
    assert err_shared < 0.03 and err_shared < 0.25 * err_alone, (err_shared, err_alone)


def _lines(screen):
    """Two more 'lines' from the slice: B with the genes reordered and effects doubled,
    C without gene 0 and without the knockdown of gene 0."""
    order = np.arange(12)[::-1]
    b = screen.subset(conditions=order, nodes=order)
    b = type(b)(y=2.0 * b.y, u=b.u, nodes=b.nodes, conditions=b.conditions, drugs=b.drugs,
                readouts=b.readouts)
    return b, screen.subset(conditions=np.arange(1, 12), nodes=np.arange(1, 12))


def test_pool_screens_maps_genes_and_marks_unmeasured_effects(screen):
    b, c = _lines(screen)
    pooled = wc.neural.pool_screens({"B": b, "C": c}, screen.nodes)
    assert pooled.nodes == screen.nodes and len(pooled.conditions) == 12 + 11
    row = pooled.conditions.index(f"B:{screen.conditions[4]}")
    np.testing.assert_array_equal(pooled.y[row], 2.0 * screen.y[4])
    np.testing.assert_array_equal(pooled.u[row], screen.u[4])
    assert pooled.drugs[row] == screen.drugs[4]
    row = pooled.conditions.index(f"C:{screen.conditions[7]}")
    assert np.isnan(pooled.y[row, 0])                       # C does not measure gene 0
    np.testing.assert_array_equal(pooled.y[row, 1:], screen.y[7, 1:])
    # on genes 1-11, B's knockdown of gene 0 perturbs a gene outside: dropped
    fewer = wc.neural.pool_screens({"B": b, "C": c}, screen.nodes[1:])
    assert len(fewer.conditions) == 11 + 11
    assert f"B:{screen.conditions[0]}" not in fewer.conditions
    with pytest.raises(ValueError, match="distinct"):
        wc.neural.pool_screens({"B": b}, [screen.nodes[0]] * 2)


def test_train_leaves_unmeasured_effects_out(screen):
    """NaN effects are out of the loss: a gene unmeasured everywhere trains exactly as
    that gene dropped from the readouts."""
    model = wc.neural.cellbox(12, key=jax.random.PRNGKey(0), w_scale=0.05)
    y = screen.y.copy()
    y[:, 3] = np.nan
    kw = dict(train_idx=np.arange(8), val_idx=np.arange(8, 12), max_steps=6,
              check_every=3, progress=False, fallback=False)
    nan = wc.neural.train(model, screen.u, y, np.arange(12), **kw)
    dropped = wc.neural.train(model, screen.u, screen.y, np.delete(np.arange(12), 3), **kw)
    assert np.all(np.isfinite(nan.val_loss))
    np.testing.assert_allclose(nan.val_loss, dropped.val_loss, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(nan.model.w), np.asarray(dropped.model.w),
                               rtol=0, atol=1e-12)
    bad_u = screen.u.copy()
    bad_u[0, 0] = np.nan
    with pytest.raises(ValueError, match="must be finite"):
        wc.neural.train(model, bad_u, screen.y, np.arange(12), **kw)


def test_transfer_network_learns_from_the_other_screens_only(screen):
    """Every knockdown of the other lines has the same effect c: the transferred network
    predicts c for the evaluated line, whatever that line measured itself."""
    c = 0.2 * np.sin(np.arange(12.0))
    b, other = _lines(screen)
    b = type(b)(y=np.tile(c[::-1], (12, 1)), u=b.u, nodes=b.nodes,
                conditions=b.conditions, drugs=b.drugs, readouts=b.readouts)
    other = type(other)(y=np.tile(c[1:], (11, 1)), u=other.u, nodes=other.nodes,
                        conditions=other.conditions, drugs=other.drugs,
                        readouts=other.readouts)
    target = screen
    noise = type(screen)(y=np.random.default_rng(0).normal(size=screen.y.shape),
                         u=screen.u, nodes=screen.nodes, conditions=screen.conditions,
                         drugs=screen.drugs, readouts=screen.readouts)
    kw = dict(seed=0, max_steps=300, learning_rate=3e-2, l1=0.0, fallback=False)
    method = wc.neural.transfer_network({"A": target, "B": b, "C": other}, **kw)
    train, test = np.arange(4, 12), np.arange(4)
    pred = method(target, train, test)
    keep = ~np.eye(12, dtype=bool)[test]
    assert np.abs(pred - c)[keep].mean() < 0.03
    np.testing.assert_array_equal(method(target, np.arange(8), test), pred)  # trained once
    # the evaluated line's own effects are never read
    alone = wc.neural.transfer_network({"A": noise, "B": b, "C": other}, **kw)
    np.testing.assert_allclose(alone(noise, train, test), pred, rtol=0, atol=1e-12)


def test_start_at_mean_puts_the_shared_input_steady_state_at_the_mean():
    """Driving only the shared input node gives the mean (Newton to 1e-10), up to the
    atanh clip; the knockdown inputs are untouched."""
    n = 12
    model = wc.neural.cellbox(n + 1, n, n, key=jax.random.PRNGKey(2), w_scale=0.1)
    mean = 0.4 * np.sin(np.arange(n, dtype=float))
    started = wc.neural.start_at_mean(model, mean)
    u = np.zeros((1, n + 1))
    u[0, n] = 1.0
    x = np.asarray(wc.neural.steady_state(started, u))[0]
    np.testing.assert_allclose(x[:n], mean, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(np.asarray(started.w)[:, :n], np.asarray(model.w)[:, :n])
    with pytest.raises(ValueError, match="shared_input=True"):
        wc.neural.network_method(shared_input=False, start="mean")
    with pytest.raises(ValueError, match="start must be one of"):
        wc.neural.network_method(start="zeros")
