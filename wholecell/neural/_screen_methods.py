"""Methods for `evaluate` beyond the baselines: a trained CellBox network (mechanistic or
hybrid) and the transfer baseline (the same perturbation measured in other screens)."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import numpy as np

from ._cellbox import cellbox
from ._data import PerturbationData
from ._screen_evaluate import Method
from ._steady import steady_state
from ._train import train as train_model


def network_method(*, hybrid: bool = False, seed: int = 0, max_steps: int = 250,
                   val_fraction: float = 0.2, width: int = 32, depth: int = 2,
                   shared_input: bool = True, correction_inputs: str = "state_and_input",
                   **train_options) -> Method:
    """A method that fits a CellBox network ODE (with the neural correction if
    ``hybrid``) to the training perturbations and predicts the held-out ones as steady
    states of their inputs ``u`` (-1 on a knocked-down gene).

    With ``shared_input`` every perturbed condition also drives one extra input node
    (``u = 1``), whose edges the fit learns: the response all perturbations of a screen
    share (infection, Cas9 cutting, selection), which the training-mean baseline carries
    and a knockdown's own input cannot. A share ``val_fraction`` of the training
    perturbations (seeded) is kept for early stopping; ``train_options`` go to `train`
    (learning rate, L1, patience, fallback).
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")

    def predict(data: PerturbationData, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        rng = np.random.default_rng(seed)
        val = rng.choice(train, size=max(1, round(val_fraction * len(train))), replace=False)
        fit = np.setdiff1d(train, val)
        n = len(data.nodes)
        u, y = data.u, data.y
        if shared_input:                  # the extra node: an input (activity) node
            perturbed = np.any(u != 0, axis=1, keepdims=True).astype(float)
            u, y = np.hstack([u, perturbed]), np.hstack([y, np.zeros_like(perturbed)])
        model = cellbox(u.shape[1], n, n, key=jax.random.PRNGKey(seed), hybrid=hybrid,
                        width=width, depth=depth, correction_inputs=correction_inputs)
        result = train_model(model, u, y, data.readouts, fit, val, seed=seed,
                             max_steps=max_steps, progress=False, **train_options)
        return np.asarray(steady_state(result.model, u[test]))[:, :n]

    return predict


def other_screens(screens: Mapping[str, PerturbationData]) -> Method:
    """The transfer baseline: a perturbation's effect is the mean of the same gene's
    perturbation in ``screens`` (other cell lines), on the genes they share; genes no
    other screen measures, and perturbations none of them has, predict 0."""

    def predict(data: PerturbationData, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        genes = {g: i for i, g in enumerate(data.nodes)}
        # per other screen, once: its row of each perturbation and its genes' columns here
        others = []
        for other in screens.values():
            if other is data:
                continue
            cols = np.array([(genes[g], j) for j, g in enumerate(other.nodes) if g in genes],
                            dtype=int).reshape(-1, 2)
            rows = {p: i for i, p in enumerate(other.conditions)}
            others.append((other.y, rows, cols[:, 0], cols[:, 1]))
        out = np.zeros((len(test), len(data.nodes)))
        for row, c in enumerate(test):
            total, seen = np.zeros(len(data.nodes)), np.zeros(len(data.nodes))
            for y, rows, mine, theirs in others:
                if data.conditions[c] in rows:
                    total[mine] += y[rows[data.conditions[c]], theirs]
                    seen[mine] += 1
            out[row] = np.where(seen > 0, total / np.maximum(seen, 1), 0.0)
        return out

    return predict
