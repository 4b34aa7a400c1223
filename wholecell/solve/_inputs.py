"""The inputs of a simulation checked: output times and parameter values."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import SimulationError
from ._compiled import CompiledModel


def output_times(t) -> np.ndarray:
    """The output times ``t`` checked (1-D, finite, increasing); a single end time means
    101 points from 0."""
    ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if ts.ndim != 1:
        raise SimulationError("t must be a 1-D array of output times")
    if ts.size == 1:
        if not ts[0] > 0:
            raise SimulationError("a single t is the end time and must be positive")
        ts = np.linspace(0.0, ts[0], 101)
    if not np.all(np.isfinite(ts)):
        raise SimulationError("output times must be finite")
    if np.any(np.diff(ts) < 0):
        raise SimulationError("output times must be increasing")
    return ts


def param_batch(sim: CompiledModel, params) -> tuple[jnp.ndarray, bool]:
    """The parameter rows ``(B, n_params)`` for ``params`` (id -> scalar or 1-D batch) and
    whether they are a batch; each id, value and batch length checked."""
    base = np.asarray(sim.param_values)
    if not params:
        return jax.device_put(base[None, :]), False
    index = {k: sim.param_index(k, SimulationError) for k in params}
    sizes = set()
    for k, v in params.items():
        a = np.asarray(v, dtype=np.float64)
        if a.ndim > 1:
            raise SimulationError(f"parameter '{k}' must be a scalar or a 1-D batch")
        if np.any(np.isnan(a)):
            raise SimulationError(f"parameter '{k}' is NaN")
        if a.ndim == 1:
            sizes.add(a.shape[0])
    if len(sizes) > 1:
        raise SimulationError(f"batched parameters have different lengths: {sorted(sizes)}")
    n = sizes.pop() if sizes else 1
    P = np.tile(base, (n, 1))
    for k, v in params.items():
        P[:, index[k]] = np.asarray(v, dtype=np.float64)
    return jax.device_put(P), bool(sizes) or n > 1 or any(
        np.ndim(v) == 1 for v in params.values()
    )


def on_device(ts, t0) -> tuple[jax.Array, jax.Array]:
    """The output times and the start time as float64 device arrays: transfers
    (`jnp.asarray` of a NumPy array compiles a copy, about 0.1 s in a new process)."""
    return jax.device_put(np.asarray(ts, np.float64)), jax.device_put(np.float64(t0))
