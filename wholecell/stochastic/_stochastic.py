"""Stochastic ensembles: many SSA trajectories in chunks, sharded over devices."""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._devices import host_cores
from .._errors import SimulationError, UnsupportedSBMLError
from .._executables import cached_call
from .._result import Deferred, make_result
from ..compiler._tolerances import as_input
from ..ode._events import ModelHooks
from ..ode._integrate import MESSAGES, SUCCESS
from ..solve._compiled import CompiledModel, describe_failure
from ..solve._inputs import on_device
from ..solve._plan import choose_solver
from ..solve._registry import stored_description
from ._chunks import ensemble_size, member_rows, run_chunks
from ._ssa import BAD_PROPENSITY, SSAStats, ssa_ensemble
from ._tau import tau_ensemble, tau_matrices

#: default trajectories per compiled chunk on a CPU
DEFAULT_CHUNK = 10_000
#: the widest default chunk on an accelerator: one iteration of the lanes loop is a few
#: kernel launches whatever its width, so wide batches pay (NVIDIA H200, 100,000 bursty
#: gene-expression trajectories: 42,000 traj/s in one chunk against 14,000 in chunks of
#: 10,000; benchmarks/RESULTS.md, gpu block)
ACCELERATOR_CHUNK = 100_000
#: bytes of observed output one accelerator chunk may hold
ACCELERATOR_CHUNK_BYTES = 2e9


def default_chunk(n: int, n_out: int, n_observed: int) -> int:
    """Trajectories per compiled chunk of ``n`` when the caller gives no ``chunk_size``:
    on a CPU, at least one chunk per core (`run_chunks` runs them side by side)."""
    if jax.default_backend() == "cpu":
        return min(DEFAULT_CHUNK, -(-n // host_cores()))
    fits = int(ACCELERATOR_CHUNK_BYTES // (8 * n_out * max(n_observed, 1)))
    return max(DEFAULT_CHUNK, min(ACCELERATOR_CHUNK, fits))
#: ODE tolerances of stochastic runs whose randomness is all in events
ODE_RTOL, ODE_ATOL = 1e-8, 1e-10


def check_ssa_model(sim: CompiledModel, method: str = "ssa") -> None:
    """Refuse what the stochastic methods cannot simulate, naming the construct."""
    st = sim.structure
    L = st.layout
    if method == "tau":
        if st.events is not None:
            raise UnsupportedSBMLError("Event in tau-leaping", L.model.events[0].id,
                                       "use method='ssa'")
        tau_matrices(st)
    if L.rate_rules:
        name = L.state_ids[next(iter(L.rate_rules))]
        raise UnsupportedSBMLError(
            "RateRule in a stochastic simulation", name,
            "continuous dynamics need method='hybrid' or 'ode'",
        )
    if st.delays:
        raise UnsupportedSBMLError("csymbol delay in a stochastic simulation", None)
    if st.fast.size:
        raise UnsupportedSBMLError(
            "fast reaction in a stochastic simulation", st.reaction_ids[int(st.fast[0])]
        )


def member_keys(seed: int, n: int):
    return jax.random.split(jax.random.PRNGKey(seed), n)


@eqx.filter_jit
def _chunk(sim, ts, t0, P, keys, n_valid, max_events, method, rtol=ODE_RTOL, atol=ODE_ATOL):
    """The first ``n_valid`` of a chunk of trajectories: (out, SSAStats). ``out``: the
    observed values for the ODE methods; for SSA and tau-leaping the states and the
    model's constants (one row per member), observed later (`observed_later`)."""
    st = sim.structure
    if method.startswith("ode:"):

        def one(p, key):
            # the randomness is in the events (distrib, random ties)
            _, k_events = jax.random.split(key)
            ys, stats = sim.solve_with_stats(
                ts, p, t0=t0, solver=method[4:], rtol=rtol, atol=atol,
                max_steps=max_events, adjoint="lax", key=k_events,
            )
            return ys, SSAStats(stats.steps, stats.status, stats.t_last, stats.x_last)

        ys, stats = jax.vmap(one)(P, keys)
        return _observe_members(sim, ts, t0, ys, P), stats
    if method == "tau":
        ys, stats = tau_ensemble(st, tau_matrices(st), ts, P, t0, keys, n_valid, max_events)
    else:
        def make_hooks(key):
            # events draw (distrib, random ties) from the trajectory's own stream
            return ModelHooks(st.events, st, seed=key) if st.events is not None else None

        ys, stats = ssa_ensemble(st, make_hooks, ts, P, t0, keys, n_valid, max_events)
    return (ys, jax.vmap(lambda p: st.initial(p, t0)[1])(P)), stats


@eqx.filter_jit
def _observe_members(sim, ts, t0, ys, P):
    """Every id of each member (one row of ``ys`` and ``P`` each) at times ``ts``."""
    return jax.vmap(lambda y, p: sim.observe(ts, y, p, t0=t0))(ys, P)


def observed_later(sim, ts, t0, ys, consts, P) -> Deferred:
    """The values of every id for states ``ys`` (members, times, states) and constants
    ``consts`` (members, constants) of members with parameters ``P``: the ids that are a
    state or a constant are read from them, the rest (rates, rules, concentrations) are
    observed for all members when first asked for."""
    prog, n_c = sim.structure.observe_prog, consts.shape[-1]
    n, n_out, n_state = ys.shape
    direct = {}
    for k, slot in enumerate(prog.output_index.tolist()):
        if slot < n_c:
            direct[k] = functools.partial(np.repeat, consts[:, None, slot], n_out, axis=1)
        elif slot < n_c + n_state:
            direct[k] = functools.partial(ys.__getitem__, (..., slot - n_c))

    def compute():
        return np.asarray(cached_call(
            "stochastic observe", _observe_members, (sim,),
            (jnp.asarray(ts), jnp.asarray(t0, jnp.float64), jnp.asarray(ys), jnp.asarray(P)),
            describe=stored_description(sim)))

    return Deferred((n, n_out, len(prog.output_index)), direct, compute)


def _chunk_arrays_first(sim, ts, t0, P, keys, n_valid, rtol, atol, max_events, method):
    """`_chunk` with its arrays first, as `cached_call` passes them."""
    return _chunk(sim, ts, t0, P, keys, n_valid, max_events, method, rtol, atol)


def simulate_ssa(
    sim, ts, t0, P, batch, *, n, seed, max_events, throw, chunk_size, progress, method="ssa",
    rtol=ODE_RTOL, atol=ODE_ATOL, solver="auto", executor=None,
):
    """n stochastic trajectories (or one per row of a parameter batch ``P``).

    A model without reactions is deterministic between its events; its randomness is in
    the events (distrib draws, random tie-breaking), so it runs on the ODE solver with
    one PRNG stream per trajectory (as does ``method="ode"`` for models that draw, with
    the caller's ``rtol``, ``atol`` and ``solver``). ``executor``: a Dask client whose
    workers run the chunks (`run_chunks`).
    """
    label = method
    if method == "ode" or (method in ("ssa", "tau") and not sim.structure.layout.model.reactions):
        if solver == "auto":
            solver = choose_solver(sim, float(ts[-1] - t0), P[0], float(t0))
        method = "ode:" + solver
    else:
        check_ssa_model(sim, method)
    n = ensemble_size(P, n)
    keys = member_keys(seed, n)
    chunk = chunk_size or min(n, default_chunk(n, len(ts), len(sim.observable_ids)))

    ts_d, t0_d = on_device(ts, t0)

    def run(Pk, keys_k, m):  # a new process reads the program from disk (`cached_call`)
        return cached_call("stochastic chunk", _chunk_arrays_first, (sim,),
                           (ts_d, t0_d, Pk, keys_k, jnp.asarray(m), as_input(rtol),
                            as_input(atol)), (max_events, method),
                           describe=stored_description(sim))

    rows = member_rows(P, n)
    out, stats = run_chunks(run, (rows, keys), n, chunk, progress=progress, label=method,
                            executor=executor)
    values = out if method.startswith("ode:") else observed_later(sim, ts, t0, *out, rows)
    status = stats.status
    if throw and np.any(status != SUCCESS):
        bad = int(status[status != SUCCESS][0])
        if bad == BAD_PROPENSITY:
            raise SimulationError(
                f"simulation of '{sim.model.id}': a propensity became negative or NaN "
                "(a kinetic law that is not a valid propensity on amounts)"
            )
        failed = jax.tree_util.tree_map(lambda a: a[status != SUCCESS], stats)
        err = describe_failure(sim, failed)
        raise SimulationError(str(err) + f" ({MESSAGES.get(bad, bad)})", err.time, err.variables)
    stats_out = {"events": stats.events, "status": status, "t_last": stats.t_last}
    return make_result(sim, ts, values, stats_out, label)
