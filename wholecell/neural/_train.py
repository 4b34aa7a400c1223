"""Fit a perturbation model to steady-state effects: Adam over mini-batches of
conditions, early stopping on a validation set, deterministic for a seed.

The loss is CellBox's (Yuan, Shen et al. 2021): the mean squared error of the steady
state on the readout nodes, plus ``l1 * sum|W|`` (sparse interactions), plus, for the
hybrid, ``l2_correction * mean g_theta(x*, u)^2``, which keeps the neural term small
where the mechanism suffices. Batches are drawn from a NumPy generator seeded by
``seed`` and the model's key is the caller's, so two runs with the same seed give
identical parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array

from .._progress import progress_bar
from ._cellbox import CellBox
from ._steady import steady_state


@dataclass(frozen=True)
class TrainResult:
    """The best model (lowest validation loss) and the loss history.

    Attributes:
        model: the parameters at the best validation loss.
        train_loss: the mean training loss between validation checks.
        val_loss: the validation MSE at each check.
        best_step: the step of the best validation loss.
        steps: the steps taken.
    """

    model: CellBox
    train_loss: list[float]
    val_loss: list[float]
    best_step: int
    steps: int


def _penalties(model: CellBox, x: Array, u: Array, l1: float, l2_correction: float):
    pen = l1 * jnp.sum(jnp.abs(model.weights))
    if model.correction is not None:
        g = jax.vmap(model.correction)(x, u)
        pen = pen + l2_correction * jnp.mean(g**2)
    return pen


def fit_error(x: Array, y: Array, readouts: Array) -> Array:
    """Mean squared error of ``x`` against ``y`` on the readout nodes, over the measured
    entries: a NaN in ``y`` (a gene a screen does not measure) is left out."""
    xr, yr = x[:, readouts], y[:, readouts]
    seen = jnp.isfinite(yr)
    d = jnp.where(seen, xr - jnp.where(seen, yr, 0.0), 0.0)
    return jnp.sum(d**2) / jnp.maximum(jnp.sum(seen, dtype=d.dtype), 1.0)


def mse(model: CellBox, u: Array, y: Array, readouts: Array) -> Array:
    """Mean squared error of the steady state on the readout nodes (NaN in ``y``:
    unmeasured, left out)."""
    return fit_error(steady_state(model, u), y, readouts)


def _loss(model, u, y, readouts, l1, l2_correction, fallback, linear_solver):
    x = steady_state(model, u, fallback=fallback, linear_solver=linear_solver)
    return fit_error(x, y, readouts) + _penalties(model, x, u, l1, l2_correction)


@eqx.filter_jit
def _step(model, opt_state, u, y, readouts, l1, l2_correction, optimizer, fallback,
          linear_solver):
    loss, grads = eqx.filter_value_and_grad(_loss)(model, u, y, readouts, l1, l2_correction,
                                                   fallback, linear_solver)
    # optax's bias correction mixes its int32 step count with floats: allow that promotion
    # even where a caller (our tests) runs JAX with strict dtype promotion
    with jax.numpy_dtype_promotion("standard"):
        updates, opt_state = optimizer.update(grads, opt_state,
                                              eqx.filter(model, eqx.is_array))
    return eqx.apply_updates(model, updates), opt_state, loss


_predict = steady_state


def train(model: CellBox, u: np.ndarray, y: np.ndarray, readouts: np.ndarray,
          train_idx: np.ndarray, val_idx: np.ndarray, *, seed: int = 0,
          learning_rate: float = 1e-2, batch_size: int = 8, max_steps: int = 2000,
          check_every: int = 25, patience: int = 8, l1: float = 1e-4,
          l2_correction: float = 1e-2, fallback: bool | int = True,
          linear_solver: str = "auto",
          progress: bool = True) -> TrainResult:
    """Train ``model`` on the conditions ``train_idx``; stop early on ``val_idx``.

    Arguments:
        model: the initial model (mechanistic or hybrid).
        u, y: inputs and measured effects, shape (conditions, nodes). A NaN in ``y`` is
            an unmeasured effect, left out of the loss.
        readouts: node indices in the loss.
        train_idx, val_idx: condition indices for training and for early stopping.
        seed: seeds the batch order.
        learning_rate: Adam's step size.
        batch_size: conditions per step (all training conditions if fewer).
        max_steps: the most Adam steps.
        check_every: steps between validation checks.
        patience: checks without improvement before stopping.
        l1: weight of the L1 penalty on W.
        l2_correction: weight of the L2 penalty on the correction term's output.
        fallback: integrate when Newton fails; an int bounds the integration's steps
            (see `steady_state`: 4,096 keeps oscillating hybrids from stalling training).
        linear_solver: how Newton's linear systems are solved, ``"lu"``, ``"gmres"`` or
            ``"auto"`` (GMRES for large networks; see `steady_state`).
        progress: show a tqdm progress bar.

    Returns:
        A `TrainResult` holding the best model.

    Raises:
        ValueError: empty training or validation set, an index out of range, or an
            input ``u`` that is not finite.
    """
    train_idx, val_idx = np.asarray(train_idx, int), np.asarray(val_idx, int)
    if train_idx.size == 0 or val_idx.size == 0:
        raise ValueError("train: need at least one training and one validation condition")
    if max(train_idx.max(), val_idx.max()) >= u.shape[0]:
        raise ValueError(f"train: a condition index exceeds the {u.shape[0]} conditions")
    if not np.all(np.isfinite(np.asarray(u))):
        raise ValueError("train: the inputs u must be finite (NaN is allowed in y only, "
                         "for unmeasured effects)")
    u, y = jnp.asarray(u, dtype=jnp.float64), jnp.asarray(y, dtype=jnp.float64)
    readouts = jnp.asarray(readouts)
    optimizer = optax.adam(learning_rate)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_array))
    rng = np.random.default_rng(seed)
    b = min(batch_size, train_idx.size)
    order, pos = rng.permutation(train_idx), 0
    best, best_val, best_step, waited = model, np.inf, 0, 0
    train_hist, val_hist, running = [], [], []
    bar = progress_bar(max_steps, "train", "step", progress)
    step = 0
    for step in range(1, max_steps + 1):
        if pos + b > order.size:
            order, pos = rng.permutation(train_idx), 0
        batch = order[pos:pos + b]
        pos += b
        new, new_state, loss = _step(model, opt_state, u[batch], y[batch], readouts,
                                     l1, l2_correction, optimizer, fallback, linear_solver)
        if np.isfinite(float(loss)):  # a batch without steady state leaves the model as is
            model, opt_state = new, new_state
            running.append(float(loss))
        bar.update(1)
        if step % check_every == 0 or step == max_steps:  # the last step is checked too
            # the validation conditions only: on a 1,000-gene screen a steady state of
            # every condition costs ~6x more than the steps between two checks
            x = _predict(model, u[val_idx], fallback=fallback, linear_solver=linear_solver)
            val = float(fit_error(x, y[val_idx], readouts))
            train_hist.append(float(np.mean(running)) if running else float("nan"))
            val_hist.append(val)
            running = []
            bar.set_postfix(train=train_hist[-1], val=val)
            if np.isfinite(val) and val < best_val:
                best, best_val, best_step, waited = model, val, step, 0
            else:
                waited += 1
                if waited >= patience:
                    break
    bar.close()
    return TrainResult(model=best, train_loss=train_hist, val_loss=val_hist,
                       best_step=best_step, steps=step)
