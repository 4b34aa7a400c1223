"""`evaluate`: unseen-perturbation prediction on a genetic screen, on one fixed protocol.

K folds over the perturbations (seeded); every method (the baselines and the caller's
models) predicts each fold's held-out perturbations from its training perturbations, and
each prediction is scored per perturbation on every gene but its target (a knockdown's
own gene is given, not predicted). The table gives each metric's mean +- sd over folds;
`Evaluation.versus` gives a paired bootstrap interval of a method against the best
baseline, resampling perturbations.

Per-perturbation metrics (`_screen_metrics`): ``pearson`` (effects vs control),
``pearson_delta`` (both minus the fold's training mean: PearsonDelta, Systema), ``mae``,
``top20_de`` (overlap of the 20 most changed genes), ``discrimination`` (1 - 2 x the
normalised rank of the true profile by L1 distance: 1 best, 0 chance; its fold mean is
the Virtual Cell Challenge score) and ``rank`` (PerturBench's cosine rank: 0 best, 0.5
chance). Higher is better for all but ``mae`` and ``rank``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._data import PerturbationData
from ._screen_metrics import (
    _masked,
    discrimination_score,
    linear_baseline,
    paired_bootstrap,
    pearson_rows,
    rank_metric,
    top_k_overlap,
)
from ._screens import targets_of

#: a method: (screen, training conditions, test conditions) -> predicted effects of the
#: test conditions, shape (test, nodes)
Method = Callable[[PerturbationData, np.ndarray, np.ndarray], np.ndarray]

METRICS = ("pearson", "pearson_delta", "mae", "top20_de", "discrimination", "rank")
#: metrics for which a lower value is better
LOWER_IS_BETTER = frozenset({"mae", "rank"})
BASELINES = ("no_change", "train_mean", "linear")


def no_change(data: PerturbationData, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Every effect 0 (the control)."""
    return np.zeros((len(test), len(data.nodes)))


def train_mean(data: PerturbationData, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The mean effect of the training perturbations."""
    return np.tile(data.y[train].mean(axis=0), (len(test), 1))


def linear(data: PerturbationData, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """PCA K = 10 + ridge (Ahlmann-Eltze et al. 2025), see `linear_baseline`."""
    return linear_baseline(data.y[train], targets_of(data, train), targets_of(data, test))


def kfold(n: int, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    """K disjoint test sets covering ``range(n)``, from a seeded permutation."""
    if not 2 <= k <= n:
        raise ValueError(f"kfold: need 2 <= k <= {n} perturbations, got k={k}")
    return [np.sort(t) for t in np.array_split(np.random.default_rng(seed).permutation(n), k)]


def score_rows(pred: np.ndarray, true: np.ndarray, targets: np.ndarray,
               reference: np.ndarray, top_k: int = 20) -> dict[str, np.ndarray]:
    """Every metric per perturbation (row), the target gene of each row left out."""
    _, disc = discrimination_score(pred, true, targets)
    return {
        "pearson": pearson_rows(pred, true, targets),
        "pearson_delta": pearson_rows(pred, true, targets, reference),
        "mae": np.nanmean(np.abs(_masked(pred - true, targets)), axis=1),
        "top20_de": top_k_overlap(pred, true, targets, top_k),
        "discrimination": 1.0 - 2.0 * disc,
        "rank": rank_metric(pred, true, targets),
    }


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise KeyError(f"no metric {metric!r}; metrics: {list(METRICS)}")


@dataclass(frozen=True)
class Evaluation:
    """Scores of every method on every held-out perturbation.

    Attributes:
        rows: one row per (method, fold, perturbation): the columns ``method``, ``fold``,
            ``perturbation`` and one per metric.
        seconds: wall time per method, summed over folds.
        predictions: per method, the predicted effects of every condition, shape
            (conditions, nodes), each from the fold that held it out (NaN for conditions
            of folds not scored).
    """

    rows: pd.DataFrame
    seconds: dict[str, float]
    predictions: dict[str, np.ndarray]

    @property
    def methods(self) -> list[str]:
        return list(dict.fromkeys(self.rows["method"]))

    def table(self) -> pd.DataFrame:
        """Per method and metric, the mean over folds of the per-perturbation means (NaN
        rows, e.g. Pearson r of a constant prediction, are left out), and their sd over
        folds (columns ``<metric>`` and ``<metric>_sd``)."""
        per_fold = self.rows.groupby(["method", "fold"], sort=False)[list(METRICS)].mean()
        mean = per_fold.groupby(level="method", sort=False).mean()
        sd = per_fold.groupby(level="method", sort=False).std(ddof=0).add_suffix("_sd")
        out = pd.concat([mean, sd], axis=1)
        return out[[c for m in METRICS for c in (m, f"{m}_sd")]]

    def best_baseline(self, metric: str) -> str:
        """The baseline with the best fold-mean value of ``metric``."""
        _check_metric(metric)
        table = self.table()
        present = [b for b in BASELINES if b in table.index and np.isfinite(table.at[b, metric])]
        if not present:
            raise ValueError(f"no baseline has a finite {metric!r}")
        values = table.loc[present, metric]
        return str(values.idxmin() if metric in LOWER_IS_BETTER else values.idxmax())

    def versus(self, method: str, metric: str, other: str | None = None, *,
               n: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, float | str]:
        """A paired bootstrap of ``method`` - ``other`` (default: the best baseline on
        ``metric``) over the held-out perturbations: the mean difference and its
        percentile interval. For ``mae`` and ``rank`` a negative difference is better."""
        _check_metric(metric)
        other = self.best_baseline(metric) if other is None else other
        a = self._column(method, metric)
        b = self._column(other, metric)
        diff, lo, hi = paired_bootstrap(a, b, n=n, seed=seed, level=level)
        return {"method": method, "versus": other, "metric": metric, "difference": diff,
                "lower": lo, "upper": hi}

    def _column(self, method: str, metric: str) -> np.ndarray:
        if method not in self.methods:
            raise KeyError(f"no method {method!r}; evaluated: {self.methods}")
        sel = self.rows[self.rows["method"] == method]
        return sel.sort_values(["fold", "perturbation"])[metric].to_numpy(dtype=float)


def evaluate(data: PerturbationData, methods: Mapping[str, Method] | None = None, *,
             k: int = 5, seed: int = 0, folds: Sequence[int] | None = None,
             baselines: bool = True, top_k: int = 20) -> Evaluation:
    """Score ``methods`` (and the baselines) on K folds over ``data``'s perturbations.

    Arguments:
        data: a single-gene screen (`load_l1000`, `load_torre`): every condition perturbs
            one node, which is left out of its own scoring.
        methods: name -> ``f(data, train, test)`` returning the predicted effects of the
            ``test`` conditions, shape (len(test), nodes), from the ``train`` conditions.
        k, seed: the folds (`kfold`).
        folds: score only these of the k folds (e.g. ``[0]`` for a first look; default
            all).
        baselines: also score ``no_change``, ``train_mean`` and ``linear``.
        top_k: genes in the DE overlap.

    Returns:
        An `Evaluation`: per-perturbation rows, `Evaluation.table()` and
        `Evaluation.versus()`.

    Raises:
        ValueError: a condition with other than one target, a method name that repeats a
            baseline, or a prediction of the wrong shape or with non-finite values.
    """
    multi = [c for c, d in zip(data.conditions, data.drugs, strict=True) if len(d) != 1]
    if multi:
        raise ValueError(f"evaluate scores single-gene screens; conditions with other than "
                         f"one target: {multi[:5]} (use wc.neural.score for drug pairs)")
    chosen: dict[str, Method] = {}
    if baselines:
        chosen.update(no_change=no_change, train_mean=train_mean, linear=linear)
    for name, fn in (methods or {}).items():
        if name in chosen:
            raise ValueError(f"method name {name!r} is taken by a baseline")
        chosen[name] = fn
    if not chosen:
        raise ValueError("evaluate: no methods to score")
    frames, seconds = [], dict.fromkeys(chosen, 0.0)
    n = len(data.conditions)
    predictions = {name: np.full(data.y.shape, np.nan) for name in chosen}
    tests = kfold(n, k, seed)
    chosen_folds = range(k) if folds is None else list(folds)
    bad = [f for f in chosen_folds if not 0 <= f < k]
    if bad:
        raise ValueError(f"folds {bad} out of range for k={k}")
    for f in chosen_folds:
        test = tests[f]
        train = np.setdiff1d(np.arange(n), test)
        true, targets = data.y[test], targets_of(data, test)
        reference = data.y[train].mean(axis=0)
        for name, fn in chosen.items():
            tic = time.perf_counter()
            pred = np.asarray(fn(data, train, test), dtype=float)
            seconds[name] += time.perf_counter() - tic
            if pred.shape != true.shape:
                raise ValueError(f"method {name!r} predicted shape {pred.shape} for fold "
                                 f"{f}, expected {true.shape}")
            if not np.all(np.isfinite(pred)):
                raise ValueError(f"method {name!r} predicted non-finite effects in fold {f}")
            predictions[name][test] = pred
            scores = score_rows(pred, true, targets, reference, top_k)
            frames.append(pd.DataFrame({"method": name, "fold": f,
                                        "perturbation": [data.conditions[i] for i in test],
                                        **scores}))
    return Evaluation(rows=pd.concat(frames, ignore_index=True), seconds=seconds,
                      predictions=predictions)
