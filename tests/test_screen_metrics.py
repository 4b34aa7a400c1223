"""The screen metrics and the linear baseline against hand computations and a planted model."""

from __future__ import annotations

import numpy as np
import pytest

from wholecell.neural._screen_metrics import (
    discrimination_score,
    linear_baseline,
    paired_bootstrap,
    pearson_rows,
    rank_metric,
    top_k_overlap,
)


def test_top_k_overlap_by_hand():
    true = np.array([[5.0, -4.0, 0.1, 3.0, 0.2]])
    pred = np.array([[9.0, 0.0, 3.5, -2.0, 0.0]])
    # target gene 0 excluded: true top-2 of the rest {1, 3}, predicted top-2 {2, 3}
    assert top_k_overlap(pred, true, np.array([0]), k=2)[0] == 0.5


def test_discrimination_and_rank_are_perfect_and_chance():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(30, 50))
    targets = np.arange(30)
    score, ranks = discrimination_score(true, true, targets)
    assert score == 1.0 and np.all(ranks == 0.0)
    assert np.all(rank_metric(true, true, targets) == 0.0)
    # a constant prediction ties with everything: normalised rank 0.5, score 0
    const = np.ones_like(true)
    assert np.allclose(rank_metric(0.0 * const, true, targets), 0.5)
    # the reversed order: each prediction is another row's profile
    shifted = np.roll(true, 1, axis=0)
    assert discrimination_score(shifted, true, targets)[0] < 0.0


def test_discrimination_by_hand():
    true = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])
    pred = np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])
    targets = np.array([0, 0, 0])
    # row 0 over genes 1-2: distances to the rows 4, 2, 2: its own is the farthest
    _, ranks = discrimination_score(pred, true, targets)
    assert ranks.tolist() == [1.0, 0.0, 0.0]


def test_pearson_rows_leave_out_the_target():
    true = np.array([[100.0, 1.0, 2.0, 3.0]])
    pred = np.array([[-100.0, 2.0, 4.0, 6.0]])
    assert pearson_rows(pred, true, np.array([0]))[0] == pytest.approx(1.0)
    ref = np.array([0.0, 1.0, 1.0, 1.0])
    assert pearson_rows(pred, true, np.array([0]), ref)[0] == pytest.approx(1.0)


def test_paired_bootstrap_interval():
    a = np.full(200, 0.5) + np.random.default_rng(1).normal(0, 0.1, 200)
    mean, lo, hi = paired_bootstrap(a, np.zeros(200), seed=2)
    assert lo < mean < hi and lo > 0.45 and hi < 0.55


def test_linear_baseline_recovers_a_planted_linear_model():
    """Effects generated exactly as G W G[target]^T + b (rank 3; b the training mean, so
    G's training rows sum to 0) are predicted for perturbations not in training."""
    rng = np.random.default_rng(3)
    genes, k = 40, 3
    train, test = np.arange(30), np.arange(30, 40)
    g = rng.normal(size=(genes, k))
    g -= g[train].mean(axis=0)
    w = rng.normal(size=(k, k))
    b = rng.normal(size=genes)
    y = (g @ w @ g.T).T + b                      # row j: knockdown of gene j
    pred = linear_baseline(y[train], train, test, k=k, ridge=1e-9)
    np.testing.assert_allclose(pred, y[test], rtol=1e-6, atol=1e-6)


DATA = __import__("pathlib").Path(__file__).parent / "data" / "perturbation"


def test_load_l1000_slice():
    import wholecell as wc
    data = wc.neural.load_l1000(DATA / "l1000_a375_slice.npz")
    raw = np.load(DATA / "l1000_a375_slice.npz")["X"].astype(float)
    assert data.y.shape == (12, 12) and data.conditions[0] == "AARS"
    # condition j (knockdown of gene j), gene i: log2 X[i, j] - log2 X[i, control]
    assert data.y[3, 5] == pytest.approx(np.log2(raw[5, 3]) - np.log2(raw[5, -1]), rel=1e-12)
    assert data.u[3, 3] == -1.0 and np.count_nonzero(data.u) == 12
    assert wc.neural.targets_of(data, np.array([0, 7])).tolist() == [0, 7]


def test_load_torre_slice():
    import pandas as pd

    import wholecell as wc
    data = wc.neural.load_torre(DATA / "torre_slice.csv")
    t = pd.read_csv(DATA / "torre_slice.csv", index_col=0)
    expected = np.log2(t.loc["BRD8", "CHD7"] + 1) - np.log2(t.loc["BRD8", "neg"] + 1)
    assert data.y[data.conditions.index("CHD7"), data.nodes.index("BRD8")] == pytest.approx(
        expected, rel=1e-12)
