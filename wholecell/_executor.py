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

Dask is imported here only, when an executor is given: ``import wholecell`` stays light.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from ._devices import shard_batch
from ._errors import SimulationError
from ._progress import progress_bar

if TYPE_CHECKING:
    from distributed import Client

#: programs one worker process keeps (the most recent), each with its compiled code
KEEP_PROGRAMS = 8
_PROGRAMS: OrderedDict[str, Callable] = OrderedDict()


def check_executor(executor: object) -> None:
    """Refuse an ``executor`` that is not a `dask.distributed.Client` (or Dask missing)."""
    try:
        from distributed import Client
    except ImportError as e:
        raise SimulationError(
            "executor= needs Dask: pip install 'wholecell[dask]' (dask[distributed])"
        ) from e
    if not isinstance(executor, Client):
        raise SimulationError(
            f"executor must be a dask.distributed.Client (or None for this machine), "
            f"got {type(executor).__name__}"
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


def map_chunks(executor: Client, run: Callable, members: Sequence[np.ndarray], n: int,
               chunk: int, *, shard: bool = True, progress: bool = False,
               label: str = "") -> list:
    """The outputs of every chunk of ``n`` members (``chunk`` each, the last padded with
    repeated members as in a local run), computed by the workers of ``executor``, in
    chunk order. ``run`` must be picklable (cloudpickle)."""
    import cloudpickle
    from dask.base import tokenize
    from distributed import as_completed

    blob = cloudpickle.dumps(run)
    token = hashlib.sha256(blob).hexdigest()
    # the program is a task, not scattered data: a task can be run again when every
    # worker holding its result is lost (and Dask's memory manager keeps few replicas of
    # data, so a broadcast does not stay on every worker)
    program = executor.submit(_same, blob, key=f"wholecell-program-{token}", pure=True)
    members = [np.asarray(a) for a in members]
    futures = []
    for k, (m, idx) in enumerate(chunk_windows(n, chunk)):
        specs = tuple(_rows(a, idx) for a in members)
        key = f"wholecell-{label or 'chunk'}-{k}-{tokenize(token, specs, m, shard)}"
        futures.append(executor.submit(_run_chunk, token, program, specs, m, shard,
                                       key=key, pure=True))
    with progress_bar(len(futures), f"{label} (cluster)", "chunk", progress) as bar:
        for f in as_completed(futures):
            if f.status == "error":
                break  # gather raises the worker's exception
            bar.update(1)
    return executor.gather(futures)


def _call(token: str, blob: bytes, args: tuple):
    """``program(*args)`` on a worker, with the worker's copy of the program."""
    return _program(token, blob)(*args)


def map_calls(executor: Client, program: Callable, calls: Sequence[tuple], *,
              label: str = "call") -> list:
    """``program(*args)`` for each ``args`` of ``calls``, on the workers of ``executor``,
    in order. ``program`` must be picklable (cloudpickle); each worker unpickles it once
    (so what it compiles is compiled once per worker). The tasks are pure: a lost
    worker's calls run again elsewhere, and none is lost or counted twice."""
    import cloudpickle
    from dask.base import tokenize

    blob = cloudpickle.dumps(program)
    token = hashlib.sha256(blob).hexdigest()
    held = executor.submit(_same, blob, key=f"wholecell-program-{token}", pure=True)
    futures = [
        executor.submit(_call, token, held, args,
                        key=f"wholecell-{label}-{k}-{tokenize(token, args)}", pure=True)
        for k, args in enumerate(calls)
    ]
    return executor.gather(futures)
