"""Compile a `Model` into pure JAX functions: `CompiledModel` and `compile`."""

from __future__ import annotations

import math
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._errors import CompileError, SimulationError
from ..compiler._jacobian import jacobian_for
from ..compiler._layout import build_layout
from ..compiler._program import scalar_programs, scalar_programs_active
from ..compiler._structure import RunArgs, Structure, refuse_misplaced_draws
from ..compiler._tolerances import state_atol, tolerance_values
from ..ensemble._members import solve_members
from ..ode._bdf import bdf_integrate
from ..ode._events import ModelHooks
from ..ode._integrate import MESSAGES, SUCCESS, Stats, integrate
from ..ode._solvers import make_solver, roll_stages_for
from ..ode._tsit5 import stiffness_checks, stiffness_checks_active
from ..sbml._model import Model
from ._plan import check_solver, choose_solver, plan, route_for
from ._registry import lookup, remember


class CompiledModel(eqx.Module):
    """A model compiled to pure JAX functions of (state, parameters, time).

    ``param_ids`` name every number the SBML file declares: global parameters, local
    parameters (as ``"reaction.id"``), compartment sizes, species' initial amounts or
    concentrations (as declared) and species-reference stoichiometries. They are inputs,
    so sweeping, batching or differentiating them never recompiles.
    """

    param_values: Float[Array, " params"]
    param_ids: tuple[str, ...] = eqx.field(static=True)
    state_ids: tuple[str, ...] = eqx.field(static=True)
    structure: Structure = eqx.field(static=True)

    @property
    def model(self) -> Model:
        return self.structure.layout.model

    @property
    def observable_ids(self) -> tuple[str, ...]:
        return tuple(self.structure.observable_ids)

    def param_vector(self, params: Mapping[str, object] | None = None) -> jnp.ndarray:
        """The parameter vector with ``params`` (id -> value) replacing defaults."""
        p = self.param_values
        if not params:
            return p
        for k, v in params.items():
            p = p.at[self.param_index(k)].set(v)
        return p

    def param_index(self, pid: str, error=CompileError) -> int:
        """The position of parameter ``pid`` in ``param_ids``; raises ``error`` when the
        model has no such parameter or an assignment rule sets it (`check_settable`).
        The one check of a parameter id, for `param_vector` and ``wc.simulate``."""
        try:
            i = self.param_ids.index(pid)
        except ValueError:
            raise error(
                f"'{pid}' is not a parameter of model '{self.model.id}'; "
                f"parameters are {', '.join(self.param_ids)}"
            ) from None
        self.check_settable(pid, error)
        return i

    def check_settable(self, pid: str, error=CompileError) -> None:
        """Raise ``error`` when ``pid`` is the target of an assignment rule: the rule
        sets its value at every time, so a value given for it would be ignored."""
        if pid in {r.variable for r in self.model.assignment_rules}:
            raise error(
                f"'{pid}' is set by an assignment rule in model '{self.model.id}': its value "
                "follows the rule and cannot be given; set the parameters the rule reads"
            )

    def initial_state(self, params=None, t0: float = 0.0):
        """(x0, c): the initial state and the time-constant values, from parameters."""
        p = self.param_values if params is None else jnp.asarray(params)
        return self.structure.initial(p, jnp.asarray(t0, p.dtype))

    def rhs(self, x, params=None, t=0.0):
        """dx/dt at state ``x`` and time ``t``."""
        p = self.param_values if params is None else jnp.asarray(params)
        _, c = self.structure.initial(p, jnp.asarray(0.0, p.dtype))
        return self.structure.rhs(jnp.asarray(t, x.dtype), x, c)

    def rates(self, x, params=None, t=0.0):
        """Reaction rates (extent per time) at state ``x`` and time ``t``."""
        p = self.param_values if params is None else jnp.asarray(params)
        _, c = self.structure.initial(p, jnp.asarray(0.0, p.dtype))
        st = self.structure
        return st.rhs_prog(st.base(jnp.asarray(t, x.dtype), x, c))[: st.n_reactions]

    def observe(self, ts, ys, params=None, t0: float | None = None):
        """Values of every model id (``observable_ids``) at times ``ts`` for states ``ys``.

        ``ys`` is `solve`'s output, or `solve_with_stats`'s (which also holds the delayed
        values of models that use ``delay``).
        """
        p = self.param_values if params is None else jnp.asarray(params)
        ts = jnp.asarray(ts, p.dtype)
        _, c = self.structure.initial(p, ts[0] if t0 is None else jnp.asarray(t0, p.dtype))
        st = self.structure
        if st.delays and ys.shape[-1] != st.n_state + len(st.delays):
            raise CompileError("observe needs solve_with_stats' output for a model with delay")

        def one(t, y):
            base = jnp.concatenate([c, y[: st.n_state], jnp.reshape(t, (1,)), y[st.n_state:]])
            return st.observe_prog(base)

        return jax.vmap(one)(ts, ys)

    def _tolerances(self, rtol, atol):
        """``rtol`` and ``atol`` as the solvers take them: a float, or a vector with one
        value per state (also from a dict id -> value, `_tolerances.tolerance_values`)."""
        def one(v, default, name):
            if isinstance(v, Mapping):
                return jnp.asarray(tolerance_values(self.state_ids, v, default, name))
            return v

        return one(rtol, 1e-6, "rtol"), one(atol, 1e-9, "atol")

    def solve_with_stats(
        self,
        ts,
        params=None,
        *,
        t0=None,
        solver: str = "auto",
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_steps: int = 100_000,
        adjoint: str = "checkpointed",
        x0=None,
        key=None,
    ) -> tuple[jnp.ndarray, Stats]:
        """Like `solve`, also returning the solver's `Stats` (never raises on failure).

        ``key`` (a PRNG key) feeds the events' random draws and tie-breaking.
        """
        rtol, atol = self._tolerances(rtol, atol)
        p = self.param_values if params is None else jnp.asarray(params)
        ts = jnp.asarray(ts, p.dtype)
        t0 = ts[0] if t0 is None else jnp.asarray(t0, p.dtype)
        name = solver
        if solver == "auto":
            span = _concrete_span(ts, t0)
            name = choose_solver(self, span, self.structure.nominal_params, 0.0)
        if x0 is not None:
            x0 = jnp.asarray(x0, p.dtype)
        return _solve_program(self, ts, p, t0, x0, key, rtol, atol, name, max_steps,
                              adjoint, scalar_programs_active(), stiffness_checks_active())

    def solve_batch(
        self,
        ts,
        params,
        *,
        t0=None,
        solver: str = "auto",
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_steps: int = 100_000,
    ) -> tuple[jnp.ndarray, Stats]:
        """Solve one trajectory per row of ``params`` (B, n_params): the states
        ``(B, len(ts), n_state)`` and `Stats` with one entry per member (never raises).

        Forward only (no ``adjoint``). Where the method and model allow it
        (`_lockstep.lockstep_applies`: Tsit5, or BDF for 16 members or more; no events,
        delays or fast reactions) the
        members advance together on batch-last arrays (`_lockstep`), taking the steps
        each would take alone (repressilator, 5,000 members: 1.6x faster than `jax.vmap`
        of `solve_with_stats`); otherwise this is that `vmap`. ``solver="auto"`` chooses
        BDF for stiff models where it runs in lock step, else as for a `vmap` batch
        (`_plan.plan` with ``vmap=True``).
        """
        rtol, atol = self._tolerances(rtol, atol)
        P = jnp.asarray(params)
        if P.ndim != 2 or P.shape[1] != len(self.param_ids):
            raise CompileError(
                f"solve_batch needs params of shape (B, {len(self.param_ids)}), got {P.shape}"
            )
        ts = jnp.asarray(ts, P.dtype)
        t0 = ts[0] if t0 is None else jnp.asarray(t0, P.dtype)
        st = self.structure
        # BDF where it runs in lock step; otherwise the batch is one vmap
        name = plan(self, "ode", P.shape[0], solver=solver, span=_concrete_span(ts, t0),
                    vmap=True).solver
        if route_for(st, name, P.shape[0], vmap=True) == "lockstep":
            return solve_members(st, ts, P, t0, name, rtol=rtol, atol=atol,
                                 max_steps=max_steps)
        return jax.vmap(lambda p: self.solve_with_stats(
            ts, p, t0=t0, solver=name, rtol=rtol, atol=atol, max_steps=max_steps,
            adjoint="lax"))(P)

    def solve(
        self,
        ts,
        params=None,
        *,
        t0=None,
        solver: str = "auto",
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_steps: int = 100_000,
        adjoint: str = "checkpointed",
        throw: bool = True,
        x0=None,
    ) -> jnp.ndarray:
        """The state at each time in ``ts``: an array (len(ts), n_state).

        Pure and jit/vmap/grad-friendly. With ``throw=True`` a failed solve raises at run
        time; with ``throw=False`` failed points are NaN. ``x0``, if given, is the state
        at ``t0`` in place of the one the parameters define (``state_ids`` order).
        ``atol`` is in the units of each value (a concentration species' concentration,
        see `_tolerances`); ``rtol`` and ``atol`` may be one value per state (a vector in
        ``state_ids`` order, or a dict id -> value).
        """
        ys, stats = self.solve_with_stats(
            ts, params, t0=t0, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
            adjoint=adjoint, x0=x0,
        )
        if throw:
            ys = eqx.error_if(ys, stats.status != SUCCESS, "wholecell: the ODE solve failed")
        return ys[:, : self.structure.n_state]


@eqx.filter_jit
def _solve_program(sim: CompiledModel, ts, p, t0, x0, key, rtol, atol, name: str,
                   max_steps: int, adjoint: str, scalar: bool,
                   check_stiff: bool = False) -> tuple[jnp.ndarray, Stats]:
    """`CompiledModel.solve_with_stats` as one jitted program (its solver already chosen).

    Called eagerly, and under an eager ``jax.grad`` or ``jax.jacfwd``, the solve is then
    one compilation, not one per operation inside it (hundreds: the gradient of a solve
    with events took 100 s, 61 of them in 457 small compilations). ``scalar`` is the
    caller's `scalar_programs` setting and ``check_stiff`` its `stiffness_checks`, both
    part of the cache key.
    """
    with scalar_programs(scalar), stiffness_checks(check_stiff):
        return _solve_traced(sim, ts, p, t0, x0, key, rtol, atol, name, max_steps, adjoint)


def _solve_traced(sim, ts, p, t0, x0, key, rtol, atol, name, max_steps, adjoint):
    x_init, c = sim.structure.initial(p, t0)
    # A given initial state (e.g. a steady state reached under other parameters)
    # replaces the one the parameters define; the constants still follow ``params``.
    x0 = x_init if x0 is None else jnp.asarray(x0, p.dtype).reshape(x_init.shape)
    st = sim.structure
    # per-state absolute tolerance: ``atol`` is in the user's units (`_tolerances`)
    atol = state_atol(st, p, t0, x0, atol)
    rtol = rtol if isinstance(rtol, float) else jnp.asarray(rtol, p.dtype)
    jac = jacobian_for(st) if name.startswith("rodas") or name == "bdf" else None
    if x0.shape[0] == 0 and st.events is None and not st.delays:
        ys = jnp.zeros((ts.shape[0], 0), p.dtype)
        z = jnp.array(0)
        return ys, Stats(z, z, z, ts[-1], x0)
    if name == "bdf":
        check_solver(st, name, sim.model.id)
        return bdf_integrate(
            lambda t, x, args: st.rhs(t, x, args), jac, x0, t0, ts, c,
            rtol=rtol, atol=atol, max_steps=max_steps, adjoint=adjoint,
        )
    method = make_solver(name, rtol, atol, jac,
                         roll_stages=roll_stages_for(x0.shape[0], adjoint))
    hooks = None
    if st.events is not None or st.delays or st.fast.size:
        hooks = ModelHooks(
            st.events if st.events is not None else st.no_events,
            st,
            loop_kind=adjoint if adjoint != "forward" else "lax",
            seed=key,
        )
    return integrate(
        method,
        lambda t, x, args: st.rhs(t, x, args),
        x0,
        t0,
        ts,
        RunArgs(c, None, p) if st.delays else c,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        adjoint=adjoint,
        hooks=hooks,
        stop_at_outputs=hooks is not None,
        # switches at times the parameters set end a step (``jump_ts``): between
        # them the solution is smooth and so are the step sizes
        differentiate_steps=st.smooth or st.time_switched,
        jump_ts=st.switch_times(c) if st.n_switches else None,
    )


def _concrete_span(ts, t0) -> float:
    """The time span if it is known at trace time, else a long one (so stiffness shows)."""
    try:
        return float(ts[-1]) - float(t0)
    except (jax.errors.ConcretizationTypeError, TypeError):
        return 1e3


def compile(model: Model) -> CompiledModel:  # noqa: A001 - the public name of the design
    """Compile ``model`` into a `CompiledModel` (cached per model object).

    Raises:
        UnsupportedSBMLError: the model uses a construct that cannot be simulated.
        CompileError: the model's math cannot be compiled.
    """
    if isinstance(model, CompiledModel):
        return model
    if not isinstance(model, Model):
        raise CompileError(f"compile expects a wholecell Model, not {type(model).__name__}")
    hit = lookup(model)
    if hit is not None:
        return hit
    refuse_misplaced_draws(model)
    layout = build_layout(model)
    structure = Structure(layout)
    values = np.asarray(layout.param_values, dtype=np.float64)
    compiled = CompiledModel(
        param_values=jax.device_put(values),  # a transfer: jnp.asarray compiles a copy
        param_ids=tuple(layout.param_ids),
        state_ids=tuple(layout.state_ids),
        structure=structure,
    )
    remember(model, compiled)
    return compiled


def describe_failure(sim: CompiledModel, stats: Stats) -> SimulationError:
    """A `SimulationError` saying what failed, when and which variables went non-finite."""
    status = int(np.max(np.asarray(stats.status)))
    t = float(np.min(np.asarray(stats.t_last)))
    x = np.asarray(stats.x_last).reshape(-1, len(sim.state_ids))
    bad = tuple(
        sim.state_ids[i] for i in range(len(sim.state_ids)) if not np.all(np.isfinite(x[:, i]))
    )
    msg = f"simulation of '{sim.model.id}' failed at t = {t:g}: {MESSAGES.get(status, status)}"
    if bad:
        msg += f"; non-finite: {', '.join(bad)}"
    if not math.isfinite(t):
        t = float("nan")
    return SimulationError(msg, t, bad)
