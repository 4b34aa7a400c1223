"""`simulate`: the one entry point from a model to a `Result`."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import numpy as np

from ._devices import map_blocks, map_members, shard_batch
from ._errors import SimulationError
from ._executables import cached_call
from ._executor import check_executor, map_chunks
from ._result import Result, make_result
from .compiler._program import scalar_programs
from .compiler._tolerances import as_input, guard_small, tolerance_values
from .ode._integrate import STIFF, SUCCESS
from .ode._solvers import EXPLICIT
from .ode._tsit5 import stiffness_checks
from .sbml._model import Model
from .solve._compiled import CompiledModel, compile, describe_failure
from .solve._inputs import on_device, output_times, param_batch
from .solve._plan import after_failure, plan, route_for, stochastic_plan
from .solve._registry import stored_description
from .stochastic._hybrid import simulate_hybrid
from .stochastic._stochastic import simulate_ssa

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from distributed import Client


def simulate(
    model: Model | CompiledModel,
    t,
    method: str = "ode",
    params: Mapping[str, object] | None = None,
    *,
    rtol: float | Mapping[str, float] = 1e-6,
    atol: float | Mapping[str, float] = 1e-9,
    solver: str = "auto",
    max_steps: int = 100_000,
    t0: float | None = None,
    n: int = 1,
    seed: int = 0,
    throw: bool = True,
    chunk_size: int | None = None,
    progress: bool | None = None,
    executor: Client | Executor | None = None,
    **options,
) -> Result:
    """Simulate ``model`` and return the values of every model id at the times ``t``.

    Arguments:
        model: a `Model` from `load_sbml` (compiled on first use and cached) or a
            `CompiledModel`.
        t: output times (increasing; the first is the start time), or a single end
            time for 101 points from 0.
        method: ``"ode"`` (deterministic), ``"ssa"`` (exact stochastic simulation,
            Gillespie's direct method, ``n`` trajectories) or ``"tau"`` (tau-leaping with
            Cao-Gillespie-Petzold steps, exact steps when few molecules remain) or
            ``"hybrid"`` (the reactions named by ``stochastic=`` as exact SSA, the rest as
            ODEs; ``n`` trajectories).
        params: parameter id -> value. Arrays with a leading batch axis run an
            ensemble (vmap): ``res[id]`` then has shape (batch, len(t)).
        rtol, atol: relative and absolute tolerance of the ODE solver, each a number or
            a dict id -> number for some states (the others keep the default). ``atol``
            is in the units of each value: a species' concentration (or its amount when
            it has only substance units), whatever the compartment's size; a state that
            starts below 1 in magnitude gets ``atol`` times that magnitude. A state that
            stays below its tolerance over the run is named in a `ToleranceWarning`.
        solver: the ODE method (``"auto"``, ``"tsit5"``, ``"kvaerno5"``, ...).
        max_steps: the most steps a solve may take.
        t0: the start time (default: the first output time).
        n: number of stochastic trajectories (``"ssa"``, ``"tau"``, and ``"ode"`` for
            models whose events draw random numbers with the distrib package).
        seed: the random seed of stochastic runs; trajectory ``i`` is the same whatever
            the chunk size or device count.
        throw: raise `SimulationError` when a solve fails; otherwise failed members are
            NaN and ``res.stats["status"]`` says why.
        chunk_size: trajectories per compiled batch (stochastic methods), bounding memory
            (default 10,000 on a CPU; up to 100,000 on an accelerator, within 2 GB of
            output).
        progress: print progress of long stochastic runs (default: when > 1 chunk).
        executor: ``None`` (this machine), a `dask.distributed.Client` or any
            `concurrent.futures.Executor` (e.g. a spawn ``ProcessPoolExecutor``): the
            chunks of an ensemble run on its workers, each compiling the model once; on
            Dask a lost worker's chunks run again elsewhere. A stochastic ensemble (``"ssa"``,
            ``"tau"``, ``"hybrid"``) gives the local run's results for the same ``seed``
            and ``chunk_size``, bit for bit, whatever the number of workers; a parameter
            ensemble of ODEs runs in chunks of ``chunk_size`` parameter sets (default
            1,000), each solved as a local batch of that size would be (one parameter
            set is solved here).
        **options: for ``method="hybrid"``: ``stochastic`` (reaction ids, a predicate on
            the `Reaction`, or ``"auto"`` / a copy-number threshold) and
            ``communication_step`` (the longest time propensities stay frozen, default 1,
            or ``"exact"`` to integrate time-dependent propensities) and ``spread`` (True:
            the firings' change of ODE species is released over the next communication
            step instead of at once, which keeps a stiff solver's steps long; the
            reported state includes what is pending).

    Returns:
        A `Result`.

    Raises:
        SimulationError: bad inputs (an unknown method or option, n < 1, unsorted times,
            NaN parameters, batches of different lengths), or a failed solve.
        UnsupportedSBMLError: the model uses a construct that cannot be simulated.
    """
    _check_arguments(method, n, options)
    if executor is not None:
        check_executor(executor)
    sim = compile(model)
    ts = output_times(t)
    rtol = tolerance_values(sim.state_ids, rtol, 1e-6, "rtol")
    atol = tolerance_values(sim.state_ids, atol, 1e-9, "atol")
    P, batch = param_batch(sim, params)
    start = ts[0] if t0 is None else float(t0)
    if start > ts[0]:
        raise SimulationError("t0 must not be after the first output time")
    if method in ("ssa", "tau") or (method == "ode" and sim.structure.draws):
        ode = {"rtol": rtol, "atol": atol, "solver": solver} if method == "ode" else {}
        res = simulate_ssa(
            sim, ts, start, P, batch, n=n, seed=seed, max_events=max_steps, throw=throw,
            chunk_size=chunk_size, progress=progress, method=method, executor=executor, **ode,
        )
        return res.planned(stochastic_plan(method, res.method, draws=method == "ode"))
    if method == "hybrid":
        res = simulate_hybrid(
            sim, ts, start, P, batch, n=n, seed=seed, rtol=rtol, atol=atol, solver=solver,
            max_steps=max_steps, throw=throw, chunk_size=chunk_size, progress=progress,
            executor=executor, **options,
        )
        return res.planned(stochastic_plan(method, res.method))
    how = plan(sim, "ode", P.shape[0], solver=solver, span=ts[-1] - start,
               p=np.asarray(P)[0], t0=start)
    tols = as_input(rtol), as_input(atol)
    # An explicit method that "auto" chose stops where stiffness shows (its steps held
    # at the stability limit) or where it fails; the run is then redone with a stiff one.
    values, stats = _run_ensemble(
        executor, chunk_size, sim, *on_device(ts, start), P, how.solver, *tols,
        max_steps, check_stiff=how.fallback is not None,
    )
    status = np.asarray(stats.status)
    if how.fallback and np.any(status != SUCCESS):
        how = after_failure(sim, how, P.shape[0], stiff=bool(np.any(status == STIFF)))
        values, stats = _run_ensemble(
            executor, chunk_size, sim, *on_device(ts, start), P, how.solver,
            *tols, max_steps,
        )
        status = np.asarray(stats.status)
    if throw and np.any(status != SUCCESS):
        failed = jax.tree_util.tree_map(lambda a: np.asarray(a)[status != SUCCESS], stats)
        raise describe_failure(sim, failed)
    values = np.asarray(values)
    _guard(sim, values, atol)
    if not batch:
        values = values[0]
        stats_out = {k: np.asarray(v)[0] for k, v in stats._asdict().items() if k != "x_last"}
    else:
        stats_out = {k: np.asarray(v) for k, v in stats._asdict().items() if k != "x_last"}
    stats_out["solver"] = how.solver
    return make_result(sim, ts, values, stats_out, method, how)


def _guard(sim: CompiledModel, values: np.ndarray, atol) -> None:
    """Warn about states that stayed below their absolute tolerance (user units): the
    tolerance of a state is ``atol`` times its initial magnitude where that is below 1
    (`_tolerances`), so only states that start at zero (or at rounding level) can stay
    below it."""
    where = {name: i for i, name in enumerate(sim.observable_ids)}
    cols = [where.get(s, -1) for s in sim.state_ids]
    keep = [k for k, c in enumerate(cols) if c >= 0]
    if not keep:
        return
    u = values[..., [cols[k] for k in keep]]  # (B, n_out, n)
    u0 = np.abs(u[:, 0, :])
    mag = np.where((u0 > 0) & np.isfinite(u0), np.minimum(u0, 1.0), 1.0)
    tol = np.broadcast_to(np.asarray(atol, dtype=np.float64), (len(cols),))[keep] * mag
    guard_small([sim.state_ids[k] for k in keep], u, tol, f"model '{sim.model.id}'")


#: the methods of `simulate`, and the options (``**options``) each accepts
METHOD_OPTIONS = {
    "ode": (), "ssa": (), "tau": (), "hybrid": ("stochastic", "communication_step", "spread"),
}


def _check_arguments(method: str, n: int, options: Mapping[str, object]) -> None:
    """Refuse an unknown method, an option the method does not take and ``n < 1``, before
    anything is compiled."""
    if method not in METHOD_OPTIONS:
        raise SimulationError(
            f"unknown method '{method}'; use 'ode', 'ssa', 'tau' or 'hybrid'"
        )
    unknown = [k for k in options if k not in METHOD_OPTIONS[method]]
    if unknown:
        takes = ", ".join(METHOD_OPTIONS[method]) or "none"
        raise SimulationError(
            f"unknown option(s) {', '.join(unknown)} for method '{method}' "
            f"(its options: {takes})"
        )
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise SimulationError(f"n (the number of trajectories) must be an integer >= 1, got {n!r}")


#: parameter sets per task of an ODE ensemble on a Dask cluster (``executor=``)
ODE_CHUNK = 1_000


def _run_ensemble(executor, chunk_size, sim, ts, t0, P, solver, rtol, atol, max_steps,
                  check_stiff=False):
    """`_run_batch` here, or on the workers of ``executor`` (a Dask client) in chunks of
    ``chunk_size`` parameter sets (default `ODE_CHUNK`), each chunk one `_run_batch`."""
    n = P.shape[0]
    if executor is None or n == 1:
        return _run_batch(sim, ts, t0, P, solver, rtol, atol, max_steps, check_stiff)
    run = functools.partial(_run_chunk, sim, ts, t0, solver, rtol, atol, max_steps,
                            check_stiff)
    chunk = min(n, chunk_size or ODE_CHUNK)
    parts = map_chunks(executor, run, (np.asarray(P),), n, chunk, shard=False, label="ode")
    return jax.tree_util.tree_map(lambda *a: np.concatenate(a), *parts)


def _run_chunk(sim, ts, t0, solver, rtol, atol, max_steps, check_stiff, P, m):
    """One chunk of an ODE ensemble on a worker (``m``: its members that are not padding,
    which `map_chunks` keeps)."""
    return _run_batch(sim, ts, t0, P, solver, rtol, atol, max_steps, check_stiff)


def _run_batch(sim, ts, t0, P, solver, rtol, atol, max_steps, check_stiff=False):
    """Solve and observe every member of the batch ``P`` in one compiled call
    (``check_stiff``: Tsit5 stops with ``STIFF`` at its stability limit,
    `_tsit5.stiffness_checks`).

    With several devices (GPUs, or CPU cores exposed with `use_cpu_cores`) the batch is
    sharded over them, each running its part.
    """
    # batched explicit solves evaluate the model's expressions on scalars (faster there)
    scalar = P.shape[0] > 1 and solver in EXPLICIT
    n, n_dev = P.shape[0], len(jax.devices())
    if n_dev == 1:  # from the executables on disk where a new process can
        return cached_call("ode-batch", _run_batch_arrays_first, (sim,),
                           (ts, t0, P, rtol, atol), (solver, max_steps, scalar, check_stiff),
                           describe=stored_description(sim))
    if n < 2 * n_dev:
        return _run_batch_jit(sim, ts, t0, P, solver, rtol, atol, max_steps, scalar,
                              check_stiff)
    order = np.minimum(np.arange(-(-n // n_dev) * n_dev), n - 1)  # pad with the last member
    out = _run_batch_jit(sim, ts, t0, shard_batch(P[order]), solver, rtol, atol, max_steps,
                         scalar, check_stiff)
    return jax.tree_util.tree_map(lambda a: np.asarray(a)[:n], out)


def _run_batch_arrays_first(sim, ts, t0, P, rtol, atol, solver, max_steps, scalar,
                            check_stiff):
    """`_run_batch_jit` with its arrays first, as `cached_call` passes them."""
    return _run_batch_jit(sim, ts, t0, P, solver, rtol, atol, max_steps, scalar, check_stiff)


@eqx.filter_jit
def _run_batch_jit(sim, ts, t0, P, solver, rtol, atol, max_steps, scalar, check_stiff):
    with scalar_programs(scalar), stiffness_checks(check_stiff):
        return _solve_batch(sim, ts, t0, P, solver, rtol, atol, max_steps)


def _solve_batch(sim, ts, t0, P, solver, rtol, atol, max_steps):
    def one(p):
        ys, stats = sim.solve_with_stats(
            ts, p, t0=t0, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps, adjoint="lax"
        )
        return sim.observe(ts, ys, p, t0=t0), stats

    route = route_for(sim.structure, solver, P.shape[0])
    if route == "lockstep":
        # members in lock step on batch-last arrays (`CompiledModel.solve_batch`); also
        # one member: its single loop without per-output loops is about 3x faster than
        # `integrate` (repressilator, 1,000 outputs: 2.7 ms against 8.2)
        def block(Q):
            ys, stats = sim.solve_batch(ts, Q, t0=t0, solver=solver, rtol=rtol, atol=atol,
                                        max_steps=max_steps)
            return jax.vmap(lambda y, p: sim.observe(ts, y, p, t0=t0))(ys, Q), stats

        return map_blocks(block, P)
    if route == "single":  # tracing under vmap costs more than the batch axis saves
        return jax.tree_util.tree_map(lambda a: a[None], one(P[0]))
    if route == "members":
        return map_members(one, P)
    return jax.vmap(one)(P)
