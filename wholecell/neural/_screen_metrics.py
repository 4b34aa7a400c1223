"""Metrics of unseen-perturbation prediction on genetic screens, and the linear baseline.

Every metric takes predicted and measured effects, shape (perturbations, genes), and the
perturbed gene of each row, which is left out of its own row's scoring (its knockdown is
given, not predicted):

- `top_k_overlap`: the share of the k genes most changed (|effect|) in the measurement
  that are among the k most changed in the prediction;
- `discrimination_score`: for each perturbation, the rank of its own measured profile
  among all measured profiles by L1 distance to its prediction (Virtual Cell Challenge,
  Roohani et al. 2025); 1 - 2 x the mean normalised rank, so 1 is perfect and 0 chance;
- `rank_metric`: PerturBench's (Wu et al. 2024): the normalised rank of the true
  perturbation among all by cosine similarity of the prediction to each measured
  profile, averaged; 0 is perfect, 0.5 chance;
- `paired_bootstrap`: a percentile interval of the mean per-perturbation difference of
  two methods.

`linear_baseline` is Ahlmann-Eltze, Huber & Anders 2025 (Nat Methods): effects ~ G W P^T
with G the top-K principal components of the training effects (genes x K), P the
perturbations' rows of G, W by ridge regression; unseen perturbations of measured genes
are predicted through their genes' rows of G.
"""

from __future__ import annotations

import numpy as np


def _masked(a: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``a`` with each row's own target gene set to NaN."""
    out = np.array(a, dtype=float)
    out[np.arange(len(targets)), targets] = np.nan
    return out


def _rank(score: np.ndarray, i: int) -> float:
    """The normalised rank of entry i among the others by ``score`` (higher is better):
    the share that score higher, ties counted half (so a constant score is 0.5)."""
    others = np.delete(score, i)
    if others.size == 0:
        return 0.0
    return float((np.sum(others > score[i]) + 0.5 * np.sum(others == score[i])) / others.size)


def top_k_overlap(pred: np.ndarray, true: np.ndarray, targets: np.ndarray,
                  k: int = 20) -> np.ndarray:
    """Per perturbation, the fraction of the true top-k changed genes in the predicted
    top-k (the target excluded; k at most the genes scored)."""
    k = min(k, np.shape(true)[1] - 1)
    p, t = np.abs(_masked(pred, targets)), np.abs(_masked(true, targets))
    p, t = np.nan_to_num(p, nan=-1.0), np.nan_to_num(t, nan=-1.0)
    top_p = np.argsort(-p, axis=1)[:, :k]
    top_t = np.argsort(-t, axis=1)[:, :k]
    return np.array([len(set(a) & set(b)) / k for a, b in zip(top_p, top_t, strict=True)])


def discrimination_score(pred: np.ndarray, true: np.ndarray,
                         targets: np.ndarray) -> tuple[float, np.ndarray]:
    """(1 - 2 x mean normalised rank, the normalised rank per perturbation): the rank of
    row i's own measured profile among all rows' by L1 distance to prediction i, over
    the genes other than i's target."""
    n = len(pred)
    ranks = np.empty(n)
    for i in range(n):
        keep = np.ones(pred.shape[1], dtype=bool)
        keep[targets[i]] = False
        d = np.abs(true[:, keep] - pred[i, keep]).sum(axis=1)
        ranks[i] = _rank(-d, i)
    return float(1.0 - 2.0 * ranks.mean()), ranks


def rank_metric(pred: np.ndarray, true: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per perturbation, PerturBench's normalised rank (0 best) of its own measured
    profile among all by cosine similarity to its prediction (target excluded)."""
    n = len(pred)
    ranks = np.empty(n)
    for i in range(n):
        keep = np.ones(pred.shape[1], dtype=bool)
        keep[targets[i]] = False
        p, t = pred[i, keep], true[:, keep]
        sim = t @ p / (np.linalg.norm(t, axis=1) * np.linalg.norm(p) + 1e-300)
        ranks[i] = _rank(sim, i)
    return ranks


def pearson_rows(pred: np.ndarray, true: np.ndarray, targets: np.ndarray,
                 reference: np.ndarray | None = None) -> np.ndarray:
    """Per perturbation, Pearson r of predicted vs measured effects over the genes other
    than its target; with ``reference`` (per gene) both are taken relative to it
    (PearsonDelta vs the mean perturbation)."""
    ref = 0.0 if reference is None else reference
    p, t = _masked(pred - ref, targets), _masked(true - ref, targets)
    out = np.empty(len(p))
    for i in range(len(p)):
        ok = np.isfinite(p[i]) & np.isfinite(t[i])
        a, b = p[i, ok] - p[i, ok].mean(), t[i, ok] - t[i, ok].mean()
        den = np.sqrt((a * a).sum() * (b * b).sum())
        out[i] = (a * b).sum() / den if den > 0 else np.nan
    return out


def paired_bootstrap(a: np.ndarray, b: np.ndarray, *, n: int = 2000, seed: int = 0,
                     level: float = 0.95) -> tuple[float, float, float]:
    """(mean of a - b, lower, upper): a percentile bootstrap interval of the mean paired
    difference, resampling perturbations."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n, len(d)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(d.mean()), float(lo), float(hi)


def linear_baseline(y_train: np.ndarray, train_targets: np.ndarray, test_targets: np.ndarray,
                    *, k: int = 10, ridge: float = 0.1) -> np.ndarray:
    """Effects of unseen perturbations by the linear model of Ahlmann-Eltze et al. 2025.

    Args:
        y_train: training effects, (train perturbations, genes).
        train_targets, test_targets: the perturbed gene of each row.
        k: principal components of the gene embedding (at most the rank of the centred
            training effects: fewer when there are fewer perturbations or genes).
        ridge: the ridge penalty of both sides of W.

    Returns:
        Predicted effects, (test perturbations, genes).
    """
    y = np.asarray(y_train, dtype=float).T                      # genes x perturbations
    b = y.mean(axis=1, keepdims=True)
    u, s, _ = np.linalg.svd(y - b, full_matrices=False)
    k = min(k, s.size)
    g = u[:, :k] * s[:k]                                        # genes x K
    p = g[np.asarray(train_targets)]                            # train perturbations x K
    left = np.linalg.solve(g.T @ g + ridge * np.eye(k), g.T)    # K x genes
    right = np.linalg.solve(p.T @ p + ridge * np.eye(k), p.T)   # K x train perturbations
    w = left @ (y - b) @ right.T                                # K x K
    return (g @ w @ g[np.asarray(test_targets)].T + b).T
