"""The cell-cycle driver: hybrid runs from birth to division, generation by generation."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import SimulationError
from .._executables import cached_call
from .._executor import check_executor
from .._progress import progress_bar
from ..compiler._tolerances import state_atol
from ..ode._integrate import SUCCESS
from ..sbml._model import Model
from ..solve._compiled import compile
from ..solve._inputs import output_times, param_batch
from ..stochastic._chunks import run_chunks
from ..stochastic._hybrid import (
    DIVIDED,
    Stochastic,
    choose_hybrid_solver,
    hybrid_failure,
    make_plan,
    plan_description,
    run_cell,
    warn_overdrawn,
)
from ..stochastic._stochastic import member_keys
from ._conditions import describe_condition, resolve
from ._lineage import Lineage
from ._partition import Rule, partition_rules, split

#: most cells simulated in one compiled batch
DEFAULT_CHUNK = 1024


def simulate(
    model: Model,
    t,
    *,
    when,
    stochastic: Stochastic = "auto",
    n: int = 1,
    seed: int = 0,
    partition: Mapping[str, Rule] | None = None,
    keep: str | int = "all",
    generations: int | None = None,
    communication_step: float | str = 1.0,
    spread: bool = False,
    params: Mapping[str, float] | None = None,
    ids: Sequence[str] | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    solver: str = "auto",
    max_steps: int = 100_000,
    max_cells: int = 1_000_000,
    chunk_size: int | None = None,
    progress: bool = False,
    executor=None,
) -> Lineage:
    """Grow ``n`` cells from the model's initial state; each divides when ``when`` holds.

    Each cell runs as a hybrid simulation (``method="hybrid"`` of `wholecell.simulate`).
    At division its state is shared between two daughters (see ``partition``), which
    both continue from the division time, until the last output time.

    Arguments:
        model: the model; growth is whatever it computes (e.g. a volume from membrane).
        t: output times (the first is the start), or an end time.
        when: the division condition: ``doubled("V")``, ``event("divide")`` (an SBML
            event's trigger), or a callable ``(now, birth) -> bool`` on ids
            (``now["V"] >= 2 * birth["V"]``).
        stochastic: which reactions run as SSA (see `wholecell.simulate`).
        n: founder cells; seed: the random seed.
        partition: state id -> ``"binomial"``, ``"half"``, ``"copies"`` (whole copies:
            genes, chromosomes), ``"initial"`` (both daughters start from the model's
            initial value: e.g. a replication origin's state), ``"keep"`` or a callable
            ``(key, amount) -> first daughter's amount``. By default counts changed by
            stochastic reactions split binomially, other amounts and compartment sizes
            halve (concentrations are kept), everything else is kept.
        keep: ``"all"`` daughters; ``"one"`` (follow one daughter, mother-machine style);
            or a number N: at most N cells per generation, sampled at random.
        generations: stop after this many cycles of divisions (default: at the end time).
        communication_step: see `wholecell.simulate` (``"exact"`` or a time).
        spread: see `wholecell.simulate` (release the firings' change of ODE species
            over the next communication step).
        params: scalar parameter values (id -> value).
        ids: the ids whose trajectories are recorded (default: all).
        rtol, atol, solver, max_steps: the ODE part's settings, per cell cycle.
        max_cells: refuse to grow past this many cells in one generation.
        chunk_size: cells per compiled batch (every batch has this size, so runs of
            any size share one compilation; default: powers of two up to 1024, faster on
            CPU than larger batches; on a GPU give a large one).
        progress: a progress bar over the generations (with the cells of each).
        executor: a `dask.distributed.Client` or a `concurrent.futures.Executor`: each
            generation's chunks of cells run on its workers (`wholecell._executor`),
            with the local run's results, bit for bit (the same chunks; give
            ``chunk_size`` to spread a generation over more workers). None (the
            default): this process.

    Returns:
        A `Lineage`.

    Raises:
        SimulationError: bad arguments, too many cells, or a failed cell.
        UnsupportedSBMLError: a construct the hybrid method cannot simulate.
    """
    if executor is not None:
        check_executor(executor)
    sim = compile(model)
    st = sim.structure
    ts = output_times(t)
    P, batch = param_batch(sim, params)
    if batch:
        raise SimulationError("division.simulate takes scalar parameters, not a batch")
    p = P[0]
    condition, event_id = resolve(st, when)
    plan = make_plan(sim, stochastic, communication_step, p, condition, event_id,
                     spread=spread)
    if solver == "auto":
        solver = choose_hybrid_solver(plan, p, float(ts[0]), float(ts[-1] - ts[0]))
    codes, custom = partition_rules(st, plan.stochastic, partition)
    names, cols = _check_arguments(sim, keep, n, ids)
    rng = np.random.default_rng(seed)

    t_start = jnp.asarray(ts[0])
    x0, c = st.initial(p, t_start)
    X = np.broadcast_to(np.asarray(x0), (n, x0.shape[0])).copy()
    T0 = np.full(n, ts[0])
    keys = np.asarray(member_keys(seed, n))
    parent = np.full(n, -1)
    out = {k: [] for k in ("parent", "generation", "birth", "division", "traces", "bv", "dv")}
    steps = []
    offset, gen = 0, 0
    wall = time.perf_counter()
    bar = progress_bar(generations, "division", "generation", progress)
    while True:
        obs, bv, dv, stats, kd = _run_generation(
            sim, plan, solver, ts, T0, X, p, c, keys, rtol, atol, max_steps, cols,
            chunk_size, executor,
        )
        status = np.asarray(stats.status)
        if np.any((status != SUCCESS) & (status != DIVIDED)):
            raise hybrid_failure(sim, stats)
        warn_overdrawn(sim, names, obs, ts)
        t_div = np.where(status == DIVIDED, np.asarray(stats.t_last), np.nan)
        m = len(T0)
        for k, v in (("parent", parent), ("generation", np.full(m, gen)), ("birth", T0),
                     ("division", t_div), ("traces", obs), ("bv", bv), ("dv", dv)):
            out[k].append(v)
        steps.append(np.asarray(stats.steps))
        bar.set_postfix(cells=m, refresh=False)
        bar.update(1)
        gen += 1
        mothers = np.flatnonzero(np.isfinite(t_div) & (t_div < ts[-1]))
        if not mothers.size or (generations is not None and gen >= generations):
            break
        xa, xb = _split_all(jnp.asarray(np.asarray(stats.x_last)[mothers, : st.n_state]),
                            jnp.asarray(kd[mothers, 0]), codes, custom, x0)
        X, T0, parent, keys = _daughters(xa, xb, t_div, mothers, kd, offset, keep, rng)
        if len(T0) > max_cells:
            raise SimulationError(
                f"generation {gen} has {len(T0)} cells, more than max_cells={max_cells}; "
                "cap the population with keep='one' or keep=N"
            )
        offset += m
    bar.close()
    cat = {k: np.concatenate(v) for k, v in out.items()}
    return Lineage(
        ts, names, cat["parent"], cat["generation"], cat["birth"], cat["division"],
        cat["traces"], cat["bv"], cat["dv"],
        {"solver": solver, "steps": np.concatenate(steps), "wall_time": time.perf_counter() - wall},
    )


def _check_arguments(sim, keep, n, ids) -> tuple[list[str], tuple[int, ...]]:
    """Check ``keep`` and ``n``; the ids recorded and their columns among the observables."""
    if keep not in ("all", "one") and not (isinstance(keep, int) and keep >= 1):
        raise SimulationError(f"keep must be 'all', 'one' or a positive number, not {keep!r}")
    if n < 1:
        raise SimulationError("n must be at least 1")
    names = list(ids) if ids is not None else list(sim.observable_ids)
    missing = [i for i in names if i not in sim.observable_ids]
    if missing:
        raise SimulationError(f"ids {', '.join(missing)} are not ids of model '{sim.model.id}'")
    return names, tuple(sim.observable_ids.index(i) for i in names)


def _daughters(xa, xb, t_div, mothers, kd, offset, keep, rng):
    """The next generation's states, birth times, parents and keys: sisters adjacent,
    then the ones ``keep`` follows."""
    X = np.concatenate([np.asarray(xa), np.asarray(xb)])
    T0 = np.concatenate([t_div[mothers], t_div[mothers]])
    parent = np.concatenate([mothers, mothers]) + offset
    keys = np.concatenate([kd[mothers, 1], kd[mothers, 2]])
    order = np.argsort(np.concatenate([2 * np.arange(mothers.size),
                                       2 * np.arange(mothers.size) + 1]))
    X, T0, parent, keys = X[order], T0[order], parent[order], keys[order]
    if keep == "one":
        pick = np.arange(0, len(T0), 2)
    elif keep != "all" and len(T0) > keep:
        pick = np.sort(rng.choice(len(T0), size=keep, replace=False))
    else:
        pick = np.arange(len(T0))
    return X[pick], T0[pick], parent[pick], keys[pick]


def _run_generation(sim, plan, solver, ts, T0, X, p, c, keys, rtol, atol, max_steps, cols,
                    chunk, executor=None):
    """Every cell of a generation from its birth to its division (or the end), in
    compiled batches of ``chunk`` cells, or by default of a power-of-two size (few
    recompiles as the population grows); on ``executor``'s workers when one is given."""
    m = len(T0)
    size = chunk or min(DEFAULT_CHUNK, 1 << max(m - 1, 1).bit_length())

    ts_d = jax.device_put(np.asarray(ts, np.float64))
    describe = plan_description(sim, plan, describe_condition(plan.condition, sim.structure))

    def run(T0k, Xk, keys_k, _):  # a new process reads the program from disk
        return cached_call("division cells", _cells_arrays_first, (sim, plan),
                           (ts_d, T0k, Xk, p, c, keys_k, rtol, atol),
                           (solver, max_steps, tuple(cols)), describe=describe)

    return run_chunks(run, (T0, X, keys), m, size, shard=False, executor=executor)


def _cells_arrays_first(sim, plan, ts, T0, X, p, c, keys, rtol, atol, solver, max_steps,
                        cols):
    """`_cells` with its arrays first, as `cached_call` passes them."""
    return _cells(sim, plan, solver, ts, T0, X, p, c, keys, rtol, atol, max_steps, cols)


@eqx.filter_jit
def _cells(sim, plan, solver, ts, T0, X, p, c, keys, rtol, atol, max_steps, cols):
    st = plan.structure
    idx = jnp.asarray(np.array(cols, dtype=np.int32).reshape(len(cols)))

    def observe(t, x):
        return st.observe_prog(st.base(t, x, c))[idx]

    def one(t0, x0, key):
        k_run, k_split, k_a, k_b = jax.random.split(key, 4)
        # per-state tolerances in the user's units (`_tolerances`), from this cell's start
        a = state_atol(st, p, t0, x0, atol)
        ys, stats = run_cell(plan, solver, ts, t0, x0, c, k_run, rtol, a, max_steps)
        obs = jax.vmap(observe)(ts, ys[:, : plan.n_state])
        obs = jnp.where((ts < t0)[:, None], jnp.nan, obs)
        x_last = stats.x_last[: plan.n_state]
        at_div = jnp.where(stats.status == DIVIDED, observe(stats.t_last, x_last), jnp.nan)
        return obs, observe(t0, x0), at_div, stats, jnp.stack([k_split, k_a, k_b])

    return jax.vmap(one)(T0, X, keys)


@eqx.filter_jit
def _split_all(X, keys, codes, custom, x_init):
    return jax.vmap(lambda x, k: split(x, k, codes, custom, x_init))(X, keys)
