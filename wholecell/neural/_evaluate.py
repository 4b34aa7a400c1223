"""Metrics, baselines and cross-validation protocols for perturbation prediction.

Metrics (computed over all held-out conditions x readout nodes, pooled, as CellBox
reports its Pearson r; Yuan, Shen et al. 2021):
- ``pearson``: Pearson r of predicted vs measured effects (effects are vs control);
- ``pearson_delta``: Pearson r of both after subtracting the mean effect of the training
  perturbations (PearsonDelta vs the perturbed mean; Vinas Torne et al. 2025, "Systema");
- ``mae``: mean absolute error.

Baselines, by the same code: ``no_change`` (every effect 0, i.e. the control),
``train_mean`` (the mean training effect), ``additive`` (a condition's effect is the sum
of the effects of its drugs given alone, taken from the training singles).

Protocols (CellBox's): ``random_partition`` (K-fold over conditions with a seed),
``leave_one_drug_out`` (hold out the conditions with drug k; with ``keep_singles`` the
single-drug conditions of k stay in training and only its pairs are scored), and
``singles_to_pairs`` (train on singles, score pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._data import PerturbationData


def pearson(pred: np.ndarray, true: np.ndarray) -> float:
    """Pearson r over all entries (NaN when either side is constant)."""
    a, b = np.ravel(pred).astype(float), np.ravel(true).astype(float)
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def pearson_delta(pred: np.ndarray, true: np.ndarray, reference: np.ndarray) -> float:
    """Pearson r of ``pred - reference`` vs ``true - reference`` (reference: per node)."""
    return pearson(np.asarray(pred) - reference, np.asarray(true) - reference)


def mae(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean absolute error over all entries."""
    return float(np.mean(np.abs(np.asarray(pred) - np.asarray(true))))


def metrics(pred: np.ndarray, true: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """The three metrics of one prediction."""
    return {"pearson": pearson(pred, true),
            "pearson_delta": pearson_delta(pred, true, reference),
            "mae": mae(pred, true)}


@dataclass(frozen=True)
class Fold:
    """Condition indices of one fold: training, validation (early stopping), test."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _split_val(train: np.ndarray, val_fraction: float, rng: np.random.Generator):
    train = rng.permutation(train)
    k = max(1, round(val_fraction * train.size))
    return np.sort(train[k:]), np.sort(train[:k])


def random_partition(data: PerturbationData, k: int = 5, seed: int = 0,
                     val_fraction: float = 0.2) -> list[Fold]:
    """K folds over conditions; each fold's validation set is drawn from its training set."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(data.conditions))
    out = []
    for i, test in enumerate(np.array_split(perm, k)):
        train, val = _split_val(np.setdiff1d(perm, test), val_fraction, rng)
        out.append(Fold(f"fold{i}", train, val, np.sort(test)))
    return out


def leave_one_drug_out(data: PerturbationData, keep_singles: bool = True, seed: int = 0,
                       val_fraction: float = 0.2) -> list[Fold]:
    """One fold per drug: its conditions are held out (its singles kept in training if
    ``keep_singles``, and then only its pairs are scored)."""
    rng = np.random.default_rng(seed)
    drugs = sorted({d for ds in data.drugs for d in ds})
    out = []
    for drug in drugs:
        has = np.array([drug in ds for ds in data.drugs])
        single = np.array([len(ds) == 1 for ds in data.drugs])
        test = np.nonzero(has & ~single)[0] if keep_singles else np.nonzero(has)[0]
        train = np.setdiff1d(np.arange(len(data.conditions)), test)
        if not keep_singles:
            train = np.setdiff1d(train, np.nonzero(has)[0])
        train, val = _split_val(train, val_fraction, rng)
        out.append(Fold(f"drug{drug}", train, val, test))
    return out


def singles_to_pairs(data: PerturbationData, seed: int = 0,
                     val_fraction: float = 0.2) -> list[Fold]:
    """One fold: train on the single-drug conditions, score the pairs."""
    rng = np.random.default_rng(seed)
    train, val = _split_val(data.singles, val_fraction, rng)
    return [Fold("singles->pairs", train, val, data.pairs)]


def _condition_drugs(name: str) -> list[str]:
    return [part for part in name.split(",") if part]


def additive(data: PerturbationData, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """The additive baseline for the conditions ``test``: the sum, over a condition's
    drugs, of that drug's single-drug effect in the training conditions. A drug whose
    single at the same dose is not in training takes the mean of its training singles at
    other doses, else 0. Drugs are ``name|dose`` parts of the condition names."""
    singles: dict[str, np.ndarray] = {}
    by_drug: dict[str, list[np.ndarray]] = {}
    for i in train:
        parts = _condition_drugs(data.conditions[i])
        if len(parts) == 1:
            singles[parts[0]] = data.y[i]
            by_drug.setdefault(parts[0].split("|")[0], []).append(data.y[i])
    out = np.zeros((len(test), data.y.shape[1]))
    for row, i in enumerate(test):
        for part in _condition_drugs(data.conditions[i]):
            if part in singles:
                out[row] += singles[part]
            elif part.split("|")[0] in by_drug:
                out[row] += np.mean(by_drug[part.split("|")[0]], axis=0)
    return out


def baselines(data: PerturbationData, fold: Fold) -> dict[str, np.ndarray]:
    """Predictions of the baselines for ``fold.test``, from ``fold.train`` and
    ``fold.val`` (both are training data for a baseline), shape (test, nodes)."""
    seen = np.concatenate([fold.train, fold.val])
    mean = data.y[seen].mean(axis=0)
    return {"no_change": np.zeros((fold.test.size, data.y.shape[1])),
            "train_mean": np.tile(mean, (fold.test.size, 1)),
            "additive": additive(data, seen, fold.test)}


def score(data: PerturbationData, folds: list[Fold],
          predictions: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Metrics per method over all folds' test conditions pooled, on the readouts.

    ``predictions[method][fold.name]`` is (test, nodes). PearsonDelta subtracts each
    fold's own training mean before pooling. Also returns, per method, the mean and sd
    of the per-fold Pearson r (``pearson_fold_mean``, ``pearson_fold_sd``).
    """
    r = data.readouts
    out = {}
    for method, per_fold in predictions.items():
        preds, trues, refs, per = [], [], [], []
        for fold in folds:
            p, t = per_fold[fold.name][:, r], data.y[fold.test][:, r]
            ref = data.y[np.concatenate([fold.train, fold.val])][:, r].mean(axis=0)
            preds.append(p)
            trues.append(t)
            refs.append(np.tile(ref, (len(fold.test), 1)))
            per.append(pearson(p, t))
        p, t, ref = np.vstack(preds), np.vstack(trues), np.vstack(refs)
        m = {"pearson": pearson(p, t), "pearson_delta": pearson(p - ref, t - ref),
             "mae": mae(p, t)}
        per = np.asarray(per, dtype=float)
        m["pearson_fold_mean"] = float(np.nanmean(per)) if np.isfinite(per).any() else np.nan
        m["pearson_fold_sd"] = float(np.nanstd(per)) if np.isfinite(per).any() else np.nan
        out[method] = m
    return out
