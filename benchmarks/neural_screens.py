"""Unseen-perturbation prediction on genetic screens: the baselines on the field's metrics.

    python benchmarks/neural_screens.py [--data ../shared/perturbation] [--folds 5]
                                        [--seed 0] [--write]

Screens: LINCS L1000 shRNA knockdowns (six cell lines) and the Torre 2021 melanoma
knockouts. Protocol: K-fold over perturbations (seeded); each held-out perturbation is
scored on every gene but its target. Methods: ``no_change`` (effect 0), ``train_mean``
(the mean training effect), ``linear`` (PCA K = 10 + ridge, Ahlmann-Eltze et al. 2025)
and, for L1000, ``other_lines`` (the same knockdown's mean effect in the other five
lines, where measured: the transfer baseline). Metrics per perturbation, then mean +- sd
over folds: Pearson r of effects vs control, PearsonDelta vs the training mean, MAE,
top-20 DE overlap, the discrimination score (1 best, 0 chance) and PerturBench's rank
(0 best, 0.5 chance). ``--write`` replaces the ``neural_screens`` block of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import wholecell as wc  # noqa: E402
from benchmarks._common import write_section  # noqa: E402
from wholecell.neural import (  # noqa: E402
    discrimination_score,
    linear_baseline,
    load_l1000,
    load_torre,
    pearson_rows,
    rank_metric,
    targets_of,
    top_k_overlap,
)

LINES = ("A375", "A549", "HA1E", "HT29", "MCF7", "PC3")
METRICS = ("pearson", "pearson_delta", "mae", "top20_de", "discrimination", "rank")


def folds(n: int, k: int, seed: int) -> list[np.ndarray]:
    return np.array_split(np.random.default_rng(seed).permutation(n), k)


def _mean(values: np.ndarray) -> float:
    """The mean of the finite values; NaN (undefined, e.g. Pearson r of a constant
    prediction) when there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def score(pred, true, targets, reference) -> dict[str, float]:
    keep = np.ones_like(true, dtype=bool)
    keep[np.arange(len(targets)), targets] = False
    return {
        "pearson": _mean(pearson_rows(pred, true, targets)),
        "pearson_delta": _mean(pearson_rows(pred, true, targets, reference)),
        "mae": float(np.abs(pred - true)[keep].mean()),
        "top20_de": float(top_k_overlap(pred, true, targets, 20).mean()),
        "discrimination": discrimination_score(pred, true, targets)[0],
        "rank": float(rank_metric(pred, true, targets).mean()),
    }


def other_lines(data, name, screens, test):
    """Per test knockdown: the mean effect of the same knockdown in the other lines, on
    this line's genes (NaN where no other line has it; those rows fall back to 0)."""
    out = np.zeros((len(test), len(data.nodes)))
    genes = {g: i for i, g in enumerate(data.nodes)}
    for row, c in enumerate(test):
        gene = data.conditions[c]
        sigs = []
        for other, d in screens.items():
            if other == name or gene not in d.conditions:
                continue
            sig = np.full(len(data.nodes), np.nan)
            pos = {g: i for i, g in enumerate(d.nodes)}
            common = [g for g in data.nodes if g in pos]
            sig[[genes[g] for g in common]] = d.y[d.conditions.index(gene)][
                [pos[g] for g in common]]
            sigs.append(sig)
        if sigs:
            stack = np.vstack(sigs)
            seen = np.isfinite(stack).sum(axis=0)
            out[row] = np.where(seen > 0, np.nansum(stack, axis=0) / np.maximum(seen, 1), 0.0)
    return out


def trained(data, train, test, seed: int, hybrid: bool, max_steps: int) -> np.ndarray:
    """Steady states of a CellBox network (u = -1 on the target) fitted to ``train``
    (a fifth of it for early stopping), at the ``test`` perturbations."""
    rng = np.random.default_rng(seed)
    val = rng.choice(train, size=max(1, len(train) // 5), replace=False)
    fit_idx = np.setdiff1d(train, val)
    n = len(data.nodes)
    model = wc.neural.cellbox(n, key=jax.random.PRNGKey(seed), hybrid=hybrid)
    res = wc.neural.train(model, data.u, data.y, data.readouts, fit_idx, val, seed=seed,
                          max_steps=max_steps, progress=False)
    return np.asarray(wc.neural.steady_state(res.model, data.u[test]))


def run_screen(name, data, screens, k, seed, train_models=False, max_steps=250):
    per = {}
    for f, test in enumerate(folds(len(data.conditions), k, seed)):
        train = np.setdiff1d(np.arange(len(data.conditions)), test)
        true, targets = data.y[test], targets_of(data, test)
        mean = data.y[train].mean(axis=0)
        preds = {"no_change": np.zeros_like(true), "train_mean": np.tile(mean, (len(test), 1)),
                 "linear": linear_baseline(data.y[train], targets_of(data, train), targets)}
        if name in LINES:
            preds["other_lines"] = other_lines(data, name, screens, test)
        if train_models:
            for label, hybrid in (("cellbox", False), ("hybrid", True)):
                t = time.perf_counter()
                preds[label] = trained(data, train, test, seed + f, hybrid, max_steps)
                print(f"# {name} fold {f} {label}: {time.perf_counter() - t:.0f} s", flush=True)
        for method, pred in preds.items():
            per.setdefault(method, []).append(score(pred, true, targets, mean))
    return {m: {k_: (float(np.mean([f[k_] for f in fs])), float(np.std([f[k_] for f in fs])))
                for k_ in METRICS} for m, fs in per.items()}


def table(results: dict) -> list[str]:
    lines = ["| screen | method | " + " | ".join(METRICS) + " |",
             "|---|---|" + "---|" * len(METRICS)]
    for screen, methods in results.items():
        for method, m in methods.items():
            cells = [f"{m[k][0]:.3f} +- {m[k][1]:.3f}" for k in METRICS]
            lines.append(f"| {screen} | {method} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "perturbation")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--train", default="",
                    help="comma-separated screens on which to also train the CellBox "
                         "network and the hybrid (e.g. 'Torre KO')")
    ap.add_argument("--max-steps", type=int, default=250)
    args = ap.parse_args()
    start = time.perf_counter()
    screens = {line: load_l1000(args.data / "lincs_l1000_shrna" / f"L1000_shRNA_{line}.npz")
               for line in LINES}
    screens["Torre KO"] = load_torre(args.data / "torre2021_melanoma_ko" / "torre2021_ko_rpm.csv")
    chosen = set(filter(None, args.train.split(",")))
    results = {name: run_screen(name, d, screens, args.folds, args.seed, name in chosen,
                                args.max_steps)
               for name, d in screens.items()}
    lines = table(results)
    print("\n".join(lines))
    if args.write:
        head = [
            "## Genetic screens: the baselines on unseen perturbations (`wc.neural`, issue 22)",
            "",
            f"    python benchmarks/neural_screens.py --folds {args.folds} --seed {args.seed}"
            " --write",
            "",
            "L1000 shRNA (six lines, log2 fold change vs LUCIFERASE) and Torre 2021 CRISPR "
            "knockouts (log2(RPM + 1) vs neg); 5-fold over perturbations; each held-out "
            "perturbation scored on every gene but its target; mean +- sd over folds of the "
            "per-perturbation means. pearson: effects vs control; pearson_delta: both minus "
            "the training mean; top20_de: overlap of the 20 most changed genes; "
            "discrimination: 1 - 2 x the normalised rank of the true profile by L1 distance "
            "(1 best, 0 chance); rank: PerturBench's cosine rank (0 best, 0.5 chance); ties "
            "count half. nan: undefined (Pearson r of a constant prediction). "
            "other_lines: the same knockdown's mean effect in the other five lines. "
            "The hybrid model is not in this table: it has not been trained on these "
            f"screens yet. Run time {time.perf_counter() - start:.0f} s on this 2-core CPU.",
            "",
        ]
        write_section("neural_screens", "\n".join(head + lines))


if __name__ == "__main__":
    main()
