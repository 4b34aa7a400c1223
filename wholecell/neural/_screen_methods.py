"""Methods for `evaluate` beyond the baselines: a trained CellBox network (mechanistic or
hybrid) and the transfer baseline (the same perturbation measured in other screens)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._cellbox import CellBox, cellbox
from ._data import PerturbationData
from ._screen_evaluate import Method
from ._screens import pool_screens
from ._steady import steady_state
from ._train import train as train_model


def _with_shared_input(u: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One extra input node, driven (u = 1) in every perturbed condition."""
    perturbed = np.any(u != 0, axis=1, keepdims=True).astype(float)
    return np.hstack([u, perturbed]), np.hstack([y, np.zeros_like(perturbed)])


#: how a network with the shared input node starts: CellBox's small random W, or with the
#: shared node's edges set so that its steady state is the training mean
STARTS = ("mean", "random")


def start_at_mean(model: CellBox, mean: np.ndarray) -> CellBox:
    """``model`` with the edges of its last node (the shared input) set so that driving
    that node alone (u = 1 there) has the steady state ``mean`` on the other nodes:
    ``x = (eps/alpha) tanh(W x + W_s x_s)`` holds at ``x = mean`` when
    ``W_s = (atanh(alpha mean / eps) - W mean) / x_s``, with ``x_s = (eps/alpha)
    tanh(1)`` the shared node's own state (it receives no edges). The atanh argument is
    clipped to +-0.99."""
    n = model.n - 1
    eps, alpha = np.asarray(model.eps), np.asarray(model.alpha)
    w = np.array(model.weights)
    mean = np.nan_to_num(np.asarray(mean, dtype=float))
    x_s = eps[n] / alpha[n] * np.tanh(1.0)
    target = np.arctanh(np.clip(alpha[:n] * mean / eps[:n], -0.99, 0.99))
    w[:n, n] = (target - w[:n, :n] @ mean) / x_s
    return eqx.tree_at(lambda m: m.w, model, jnp.asarray(w, dtype=model.w.dtype))


def _fit_network(u: np.ndarray, y: np.ndarray, readouts: np.ndarray, n: int,
                 conditions: np.ndarray, *, hybrid: bool, seed: int, max_steps: int,
                 val_fraction: float, val_most: int | None, width: int, depth: int,
                 correction_inputs: str, start: str, train_options: dict):
    """A CellBox network (hybrid if asked) on ``n`` readout nodes of ``u``'s columns,
    trained on ``conditions`` less a seeded validation share for early stopping. With
    ``start="mean"`` the last column of ``u`` is the shared input and the network starts
    at the mean of the training effects (`start_at_mean`)."""
    rng = np.random.default_rng(seed)
    size = max(1, round(val_fraction * len(conditions)))
    val = rng.choice(conditions, size=size if val_most is None else min(size, val_most),
                     replace=False)
    fit = np.setdiff1d(conditions, val)
    model = cellbox(u.shape[1], n, n, key=jax.random.PRNGKey(seed), hybrid=hybrid,
                    width=width, depth=depth, correction_inputs=correction_inputs)
    if start == "mean":
        with warnings.catch_warnings():   # a gene no training condition measures: 0
            warnings.simplefilter("ignore", RuntimeWarning)
            model = start_at_mean(model, np.nanmean(y[fit, :n], axis=0))
    return train_model(model, u, y, readouts, fit, val,
                       seed=seed, max_steps=max_steps, progress=False,
                       **train_options).model


def _checked_start(val_fraction: float, start: str | None, shared_input: bool) -> str:
    """``start`` (default: "mean" with the shared input, else "random"), checked with
    ``val_fraction``."""
    start = ("mean" if shared_input else "random") if start is None else start
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if start not in STARTS:
        raise ValueError(f"start must be one of {STARTS}, got {start!r}")
    if start == "mean" and not shared_input:
        raise ValueError("start='mean' sets the shared input's edges: it needs "
                         "shared_input=True (or start='random')")
    return start


def network_method(*, hybrid: bool = False, seed: int = 0, max_steps: int = 250,
                   val_fraction: float = 0.2, width: int = 32, depth: int = 2,
                   shared_input: bool = True, correction_inputs: str = "state_and_input",
                   start: str | None = None, **train_options) -> Method:
    """A method that fits a CellBox network ODE (with the neural correction if
    ``hybrid``) to the training perturbations and predicts the held-out ones as steady
    states of their inputs ``u`` (-1 on a knocked-down gene).

    With ``shared_input`` every perturbed condition also drives one extra input node
    (``u = 1``), whose edges the fit learns: the response all perturbations of a screen
    share (infection, Cas9 cutting, selection), which the training-mean baseline carries
    and a knockdown's own input cannot. A share ``val_fraction`` of the training
    perturbations (seeded) is kept for early stopping; ``train_options`` go to `train`
    (learning rate, L1, patience, fallback, linear solver).

    ``start``: ``"mean"`` (the default with the shared input) starts the network at the
    training mean (`start_at_mean`), ``"random"`` (the default without) at CellBox's
    small random W. On a 938-gene L1000 screen a random start spends hundreds of steps
    at the no-change level before the shared edges grow, while the other ~880,000
    weights take Adam steps of the same size.
    """
    start = _checked_start(val_fraction, start, shared_input)

    def predict(data: PerturbationData, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        n = len(data.nodes)
        u, y = _with_shared_input(data.u, data.y) if shared_input else (data.u, data.y)
        model = _fit_network(u, y, data.readouts, n, np.asarray(train), hybrid=hybrid,
                             seed=seed, max_steps=max_steps, val_fraction=val_fraction,
                             val_most=None, width=width, depth=depth,
                             correction_inputs=correction_inputs, start=start,
                             train_options=train_options)
        solver = train_options.get("linear_solver", "auto")
        return np.asarray(steady_state(model, u[test], linear_solver=solver))[:, :n]

    return predict


def transfer_network(screens: Mapping[str, PerturbationData], *, hybrid: bool = False,
                     seed: int = 0, max_steps: int = 250, val_fraction: float = 0.2,
                     val_most: int = 200, width: int = 32, depth: int = 2,
                     shared_input: bool = True,
                     correction_inputs: str = "state_and_input",
                     start: str | None = None, **train_options) -> Method:
    """Transfer by a trained model: a CellBox network (or hybrid) fitted to the
    perturbations of the *other* screens in ``screens`` (pooled on the evaluated screen's
    genes by `pool_screens`, unmeasured effects left out) predicts the evaluated screen's
    held-out perturbations. It never sees the evaluated screen's effects, so it is
    trained once per screen and reused across folds. At most ``val_most`` pooled
    conditions (a share ``val_fraction``, seeded) are kept for early stopping. Compare
    with `other_screens`, the mean of the same perturbation in the other screens.
    ``start`` as in `network_method` (the mean is the other screens' pooled mean).
    """
    start = _checked_start(val_fraction, start, shared_input)
    trained: dict[int, tuple[PerturbationData, Any]] = {}

    def predict(data: PerturbationData, train: np.ndarray, test: np.ndarray) -> np.ndarray:
        n = len(data.nodes)
        if id(data) not in trained or trained[id(data)][0] is not data:
            pooled = pool_screens({k: d for k, d in screens.items() if d is not data},
                                  data.nodes)
            u, y = ((pooled.u, pooled.y) if not shared_input
                    else _with_shared_input(pooled.u, pooled.y))
            model = _fit_network(u, y, pooled.readouts, n, np.arange(len(u)),
                                 hybrid=hybrid, seed=seed, max_steps=max_steps,
                                 val_fraction=val_fraction, val_most=val_most,
                                 width=width, depth=depth,
                                 correction_inputs=correction_inputs, start=start,
                                 train_options=train_options)
            trained[id(data)] = (data, model)
        model = trained[id(data)][1]
        u = data.u[test]
        if shared_input:
            u = _with_shared_input(u, np.zeros_like(u))[0]
        solver = train_options.get("linear_solver", "auto")
        return np.asarray(steady_state(model, u, linear_solver=solver))[:, :n]

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
