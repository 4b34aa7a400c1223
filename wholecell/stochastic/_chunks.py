"""The chunked ensemble driver: trajectories in compiled chunks, sharded over devices.

SSA, tau-leaping and hybrid ensembles and the cells of a generation (`wholecell.division`)
run through `run_chunks`: ``n`` members in chunks of a fixed size (the last one padded,
so one compilation serves all), each chunk split over the devices; a member's inputs
(its key, its parameters) are its own whatever the chunk size or device count.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import jax
import jax.numpy as jnp
import numpy as np

from .._devices import host_cores
from .._errors import SimulationError
from .._executor import chunk_windows, map_chunks, run_chunk
from .._progress import progress_bar


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


def run_chunks(run: Callable, members: tuple, n: int, chunk: int, *,
               progress: bool | None = False, label: str = "", shard: bool = True,
               executor=None):
    """``run(*chunk_of_each_member_array, m)`` over chunks of ``chunk`` members: the
    outputs (any pytree of arrays with members leading) of the ``n`` members, as numpy
    arrays. ``members`` holds arrays with one row per member. The last chunk is padded
    with repeated members (``m`` of a chunk are real), so one compilation serves all.
    ``shard`` rounds the chunk up to a multiple of the device count and splits each chunk
    over the devices (`shard_batch`, not over CPU cores); on a CPU the chunks run side
    by side, one thread per core (XLA runs each on one core). ``progress`` shows a tqdm bar
    (None: when there is more than one chunk). ``executor`` (a
    `dask.distributed.Client`) runs the chunks on its workers (`map_chunks`; ``run`` must
    then be picklable), with the same results."""
    if shard:
        n_dev = len(jax.devices())
        chunk = max(n_dev, -(-chunk // n_dev) * n_dev)  # a multiple of the device count
    n_chunks = -(-n // chunk)
    show = progress if progress is not None else n_chunks > 1
    if executor is not None:
        parts = map_chunks(executor, run, members, n, chunk, shard=shard, progress=show,
                           label=label)
        return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *parts)
    windows = list(chunk_windows(n, chunk))

    def one(window):
        m, idx = window
        return run_chunk(run, [jnp.asarray(a[idx]) for a in members], m, shard)

    # XLA runs one chunk on one CPU core: the chunks go to a thread per core
    threads = min(len(windows), host_cores()) if jax.default_backend() == "cpu" else 1
    with progress_bar(n, label, "traj", show) as bar, ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(one, w) for w in windows]
        parts = []
        for (m, _), f in zip(windows, futures, strict=True):
            parts.append(f.result())
            bar.update(m)
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *parts)


def member_rows(P, n: int):
    """One parameter row per member: ``P`` itself for a batch, else its row repeated
    (a view, not a copy)."""
    P = np.asarray(P)
    return P if P.shape[0] > 1 else np.broadcast_to(P[0], (n, P.shape[1]))
