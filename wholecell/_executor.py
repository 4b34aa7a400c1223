"""Ensembles beyond one machine: the chunks of a run on a Dask cluster.

``wc.simulate(..., executor=client)`` with a `dask.distributed.Client` sends each chunk
of an ensemble to a worker. The program of a chunk (the compiled model and the run's
settings, a picklable callable) is one task that the chunks depend on, so it travels to
each worker that needs it, and it is unpickled once per worker process (`_program` keeps
it, by the hash of its bytes), so each worker compiles it once. A chunk's inputs are its
members' rows, the same as in a local run, so the results are the local run's, bit for
bit, whatever the number of workers. The tasks are pure (their key is the hash of their
inputs): when a worker is lost, Dask runs its chunks (and the program task, if no other
worker holds it) again elsewhere, and the results are gathered by chunk, so none is lost
or counted twice.

Any `concurrent.futures.Executor` works too (a ``ProcessPoolExecutor`` with the "spawn"
start method, a ``ThreadPoolExecutor``, or a pool of another library with that
interface): each call carries the program's bytes, which each worker process unpickles
once; a pool that breaks is an error (re-running lost work is Dask's).

Dask is imported here only, when a Dask client is given: ``import wholecell`` stays light.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._devices import shard_batch
from ._errors import SimulationError
from ._progress import progress_bar

#: programs one worker process keeps (the most recent), each with its compiled code
KEEP_PROGRAMS = 8
_PROGRAMS: OrderedDict[str, Callable] = OrderedDict()


def check_executor(executor: object) -> None:
    """Refuse an ``executor`` that is neither a `concurrent.futures.Executor` nor a
    `dask.distributed.Client` (Dask is imported only to check the latter)."""
    if isinstance(executor, concurrent.futures.Executor):
        return
    try:
        from distributed import Client
    except ImportError as e:
        raise SimulationError(
            f"executor must be a concurrent.futures.Executor or a dask.distributed.Client "
            f"(pip install 'wholecell[dask]'), got {type(executor).__name__}"
        ) from e
    if not isinstance(executor, Client):
        raise SimulationError(
            "executor must be a dask.distributed.Client or a concurrent.futures.Executor "
            f"(or None for this machine), got {type(executor).__name__}"
        )


def _program(token: str, blob: bytes) -> Callable:
    """The unpickled program ``token`` of this worker process (unpickled once, so its
    compiled code is reused by every chunk the worker runs)."""
    run = _PROGRAMS.get(token)
    if run is None:
        import cloudpickle

        run = cloudpickle.loads(blob)
        _PROGRAMS[token] = run
        while len(_PROGRAMS) > KEEP_PROGRAMS:
            _PROGRAMS.popitem(last=False)
    else:
        _PROGRAMS.move_to_end(token)
    return run


def _same(blob: bytes) -> bytes:
    """The program's bytes, as the result of a task on a worker."""
    return blob


def _rows(a: np.ndarray, idx: np.ndarray):
    """A member array's rows ``idx`` to ship: a repeated row (a broadcast view, such as
    one parameter vector for every member) travels once."""
    if a.ndim and a.strides[0] == 0:
        return ("same", np.ascontiguousarray(a[0]), len(idx))
    return ("rows", np.ascontiguousarray(a[idx]))


def _unrows(spec) -> np.ndarray:
    if spec[0] == "same":
        return np.broadcast_to(spec[1], (spec[2],) + spec[1].shape)
    return spec[1]


def chunk_windows(n: int, chunk: int):
    """Each chunk of ``n`` members, ``chunk`` at a time: (its real members ``m``, the row
    indices ``idx``), the last chunk padded to a full one with repeated members."""
    for k in range(-(-n // chunk)):
        lo, hi = k * chunk, min(n, (k + 1) * chunk)
        yield hi - lo, np.arange(lo, lo + chunk) % n


def run_chunk(run: Callable, args: Sequence, m: int, shard: bool):
    """``run(*args, m)`` on this process, split over its devices when ``shard`` and their
    count divides the chunk: the first ``m`` outputs, as numpy."""
    if shard and args[0].shape[0] % len(jax.devices()) == 0:
        args = [shard_batch(a, on_cpu=False) for a in args]
    out = run(*args, m)
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[:m], out)


def _run_chunk(token: str, blob: bytes, specs: tuple, m: int, shard: bool):
    """One chunk on a worker (`run_chunk` of the worker's copy of the program)."""
    return run_chunk(_program(token, blob), [jnp.asarray(_unrows(s)) for s in specs], m, shard)


def map_chunks(executor, run: Callable, members: Sequence[np.ndarray], n: int,
               chunk: int, *, shard: bool = True, progress: bool = False,
               label: str = "") -> list:
    """The outputs of every chunk of ``n`` members (``chunk`` each, the last padded with
    repeated members as in a local run), computed by the workers of ``executor`` (a Dask
    client or a `concurrent.futures.Executor`), in chunk order. ``run`` must be picklable
    (cloudpickle)."""
    members = [np.asarray(a) for a in members]
    calls = []
    for m, idx in chunk_windows(n, chunk):
        calls.append((tuple(_rows(a, idx) for a in members), m, shard))
    return _map(executor, run, _run_chunk, calls, label or "chunk", progress)


def _call(token: str, blob: bytes, args: tuple):
    """``program(*args)`` on a worker, with the worker's copy of the program."""
    return _program(token, blob)(*args)


def map_calls(executor, program: Callable, calls: Sequence[tuple], *,
              label: str = "call", progress: bool = False) -> list:
    """``program(*args)`` for each ``args`` of ``calls``, on the workers of ``executor``
    (a Dask client or a `concurrent.futures.Executor`), in order. ``program`` must be
    picklable (cloudpickle); each worker process unpickles it once (so what it compiles
    is compiled once per worker)."""
    return _map(executor, program, _call, [(args,) for args in calls], label, progress)


def _map(executor, program: Callable, task: Callable, calls: list[tuple], label: str,
         progress: bool) -> list:
    """``task(token, program, *call)`` for each call on ``executor``'s workers, in order.

    On Dask the program is a task, not scattered data: a task can be run again when every
    worker holding its result is lost (and Dask's memory manager keeps few replicas of
    data, so a broadcast does not stay on every worker); the tasks are pure (keyed by the
    hash of their inputs), so a lost worker's calls run again elsewhere and none is lost
    or counted twice. A `concurrent.futures.Executor` gets the program's bytes with each
    call (each worker process unpickles them once); a lost process pool is an error.
    """
    import cloudpickle

    blob = cloudpickle.dumps(program)
    token = hashlib.sha256(blob).hexdigest()
    desc = f"{label} ({'pool' if _is_pool(executor) else 'cluster'})"
    if _is_pool(executor):
        futures = [executor.submit(task, token, blob, *call) for call in calls]
        with progress_bar(len(futures), desc, "task", progress) as bar:
            for _ in concurrent.futures.as_completed(futures):
                bar.update(1)
        return [f.result() for f in futures]
    from dask.base import tokenize
    from distributed import as_completed

    held = executor.submit(_same, blob, key=f"wholecell-program-{token}", pure=True)
    futures = [
        executor.submit(task, token, held, *call,
                        key=f"wholecell-{label}-{k}-{tokenize(token, call)}", pure=True)
        for k, call in enumerate(calls)
    ]
    with progress_bar(len(futures), desc, "task", progress) as bar:
        for f in as_completed(futures):
            if f.status == "error":
                break  # gather raises the worker's exception
            bar.update(1)
    return executor.gather(futures)


def _is_pool(executor) -> bool:
    return isinstance(executor, concurrent.futures.Executor)
