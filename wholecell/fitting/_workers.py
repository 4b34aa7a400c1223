"""Worker processes on this machine for multi-start fits, one core each.

A fit's evaluations are sequential loops of small XLA kernels. In one process XLA hands
those kernels between the threads of its pool (one per core): on a 2-core CPU that kept
both cores busy for no gain (Fujita's screening starts took as long as on one pinned core;
Boehm's gradient 7.2-12.6 ms against 6.0-6.6 ms pinned). So the starts of a fit run
fastest as one process per core, each pinned to its core before JAX starts its thread
pool (JAX sizes the pool by the cores the process may use).
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

from ._result import FitError


def available_cores() -> list[int]:
    """The CPU ids this process may run on (all of them where that cannot be asked)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _pin(cpus) -> None:
    """Worker start-up: run on one CPU alone (the next from ``cpus``; None: no pinning)."""
    cpu = cpus.get()
    if cpu is not None:  # only given where the system can pin (`local_workers`)
        os.sched_setaffinity(0, {cpu})


def local_workers(n: int | None = None) -> concurrent.futures.ProcessPoolExecutor:
    """A pool of ``n`` worker processes on this machine (default: one per core this process
    may use), for ``wc.fit(..., executor=pool)`` or its ``workers=n``.

    The workers are started afresh ("spawn": JAX cannot be forked), and where there are
    at least ``n`` cores and the system can pin processes (Linux), each runs on a core of
    its own. Each worker compiles the objective once (or reads it from the compilation
    cache). As with any spawned pool, a script that makes one must guard its top level
    with ``if __name__ == "__main__":``.

    Raises:
        FitError: ``n`` is not a positive integer.
    """
    cores = available_cores()
    if n is None:
        n = len(cores)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise FitError(f"workers must be a positive integer, not {n!r}")
    context = multiprocessing.get_context("spawn")
    cpus = context.Queue()
    pin = n <= len(cores) and hasattr(os, "sched_setaffinity")
    for k in range(n):
        cpus.put(cores[k] if pin else None)
    return concurrent.futures.ProcessPoolExecutor(
        n, mp_context=context, initializer=_pin, initargs=(cpus,)
    )
