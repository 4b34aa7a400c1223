"""Using every CPU core: the cores as JAX devices, so ensembles split across them."""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec


def host_cores() -> int:
    """The CPU cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def use_cpu_cores(n: int | None = None) -> int:
    """Expose ``n`` CPU cores (default: all this process may use) as JAX devices.

    XLA runs one batched solve on one core. With the cores exposed as devices, parameter
    ensembles (`simulate` with batched parameters) split into one part per core
    (stochastic runs stay on one core, where they are faster; see `shard_batch`). JAX
    fixes its devices when it starts, so call this first, before any simulation or other
    JAX computation. Returns the number of CPU devices.

    Raises:
        ValueError: ``n`` is not a positive integer.
        RuntimeError: JAX has already started.
    """
    if n is None:
        n = host_cores()
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"use_cpu_cores needs a positive number of cores, got {n!r}")
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError as e:
        raise RuntimeError(
            "use_cpu_cores() must run before JAX starts (before the first simulation); "
            "restart the Python session and call it right after `import wholecell`"
        ) from e
    return n


def shard_batch(arr, on_cpu: bool = True):
    """``arr`` split along its leading (batch) axis over every JAX device, whose count
    must divide its length; on one device, ``arr`` itself. A computation on it runs its
    part on each device (in parallel; CPU devices are cores, see `use_cpu_cores`).

    ``on_cpu=False`` keeps ``arr`` on one device when the devices are CPU cores: loops
    whose iterations are short (SSA, one reaction each) run slower split over cores,
    since the parts synchronise on every iteration (10,000 bursty SSA trajectories on
    2 cores: 1,527 traj/s against 2,902 on one).
    """
    devices = jax.devices()
    if len(devices) == 1 or (not on_cpu and jax.default_backend() == "cpu"):
        return arr
    mesh = Mesh(np.array(devices), ("batch",))
    return jax.device_put(arr, NamedSharding(mesh, PartitionSpec("batch")))


def map_members(fn, P, split: bool = True):
    """``fn`` over the rows of ``P`` as a loop, not a batch: on CPU devices each core runs
    its share of the rows one after another (`jax.shard_map` with `lax.map`); on
    accelerators, one batch (`vmap`).

    For solvers whose steps branch (BDF: a new Jacobian or new factors only when needed),
    a batch pays for every branch in every step, since `vmap` turns branches into selects;
    one member at a time keeps them branches. ``split=False`` keeps the loop on one CPU
    device.
    """
    if jax.default_backend() != "cpu":
        return jax.vmap(fn)(P)
    if not split:
        return jax.lax.map(fn, P)
    return map_blocks(lambda Q: jax.lax.map(fn, Q), P)


def map_blocks(fn, P):
    """``fn`` on the whole batch ``P`` (rows are members), or on CPU devices on each
    core's block of rows (`jax.shard_map`; blocks run independently, none waits for the
    other's slowest member). ``fn`` maps (B, ...) to outputs with B leading."""
    devices = jax.devices()
    if jax.default_backend() != "cpu" or len(devices) == 1 or P.shape[0] % len(devices):
        return fn(P)
    mesh = Mesh(np.array(devices), ("batch",))
    spec = PartitionSpec("batch")
    return jax.shard_map(fn, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)(P)
