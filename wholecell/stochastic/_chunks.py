"""The chunked ensemble driver: trajectories in compiled chunks, sharded over devices.

SSA, tau-leaping and hybrid ensembles run through `run_chunks`: ``n`` trajectories (or
one per row of a parameter batch) in chunks of a fixed size (the last one padded, so one
compilation serves all), each chunk split over the devices, trajectory ``i`` with key
``i`` whatever the chunk size or device count.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .._devices import shard_batch
from .._errors import SimulationError


def ensemble_size(P, n: int) -> int:
    """The number of trajectories: ``n``, or one per row of a parameter batch ``P``."""
    if P.shape[0] > 1:
        if n not in (1, P.shape[0]):
            raise SimulationError(
                f"n={n} trajectories but a parameter batch of {P.shape[0]}; give one or the other"
            )
        n = P.shape[0]
    if n < 1:
        raise SimulationError("n must be at least 1")
    return n


def run_chunks(run: Callable, P, keys, n: int, chunk: int, progress: bool | None,
               label: str):
    """``run(P_chunk, keys_chunk, m)`` over chunks of ``chunk`` trajectories (rounded up
    to a multiple of the device count; ``m`` of them are real): the values and stats of
    the ``n`` trajectories, as numpy arrays. ``progress`` prints the rate (default: when
    there is more than one chunk)."""
    n_dev = len(jax.devices())
    chunk = max(n_dev, -(-chunk // n_dev) * n_dev)  # a multiple of the device count
    n_chunks = -(-n // chunk)
    show = progress if progress is not None else n_chunks > 1
    out_vals, out_stats = [], []
    t_start = time.perf_counter()
    for k in range(n_chunks):
        lo, hi = k * chunk, min(n, (k + 1) * chunk)
        idx = np.arange(lo, lo + chunk) % n  # pad the last chunk to a full one
        Pk = P[idx] if P.shape[0] > 1 else jnp.broadcast_to(P[0], (chunk, P.shape[1]))
        vals, stats = run(shard_batch(jnp.asarray(Pk), on_cpu=False),
                          shard_batch(keys[idx], on_cpu=False), hi - lo)
        m = hi - lo
        out_vals.append(np.asarray(vals)[:m])
        out_stats.append(jax.tree_util.tree_map(lambda a, m=m: np.asarray(a)[:m], stats))
        if show:
            rate = hi / (time.perf_counter() - t_start)
            print(f"{label}: {hi}/{n} trajectories ({rate:.0f}/s)", file=sys.stderr, flush=True)
    values = np.concatenate(out_vals)
    stats = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *out_stats)
    return values, stats
