"""Hybrid stochastic-deterministic simulation: exact SSA for some reactions, ODEs for the rest.

The reactions are split once, before the run: the stochastic ones fire one at a time as
in Gillespie's method, the others (with any rate rules) form an ODE integrated by the
project's adaptive loop (`_integrate.integrate`). During an ODE step the stochastic
species are held fixed (no ODE reaction changes a species that only stochastic
reactions change). Two couplings:

- ``communication_step=dt`` (default 1): time is cut into communication intervals of
  ``dt`` (shorter where an output time falls inside, or after `INTERVAL_STEPS` ODE
  steps). The ODE integrates across an interval with the stochastic species fixed;
  at its end every stochastic reaction due in the interval fires in an inner SSA loop
  with the ODE species frozen at mid-interval (`_frozen`), as the CME-ODE whole-cell
  models do with their 1 s communication step. Exact when the propensities do not
  depend on ODE species; otherwise a splitting whose error shrinks with ``dt``. The
  interval's ODE steps keep their dense outputs, so its firings and a division inside
  it are placed on the ODE's own path. A step inside an interval computes no
  propensity, and the right-hand side changes only at the interval's ends, where the
  first step is kept near the last interval's first (`FIRST_STEP_GROWTH`): on the
  coupled syn3A cell (0-600 s) this took 4,442 ODE steps (479 rejected) in 6.0 s,
  against 11,274 (3,312) in 12.6 s with the firings after every ODE step.
  Since the firings of an interval all read the ODE species at mid-interval, a law
  that fires only while a pool holds enough (the syn3A cell's translations) can let
  several firings, and the ODE in the same interval, take more than the pool holds: a
  run where an amount goes below zero says so in an `OverdrawWarning`
  (`warn_overdrawn`).
  Between firings the stochastic-only species hold still, so the ODE integrates only
  the states an ODE reaction or rate rule changes (`ode_states`); the others ride in
  the hooks' state. The error control and, for stiff solvers, the Jacobian and its
  linear solves are then over those states alone (a whole cell: ~200 metabolites, not
  ~3,000 species).
  With ``spread=True`` the firings' change of the ODE species is not added at once:
  it joins a pending amount that the ODE releases at a constant rate (the pending
  amount over the communication step) through the next interval. The ODE then never
  restarts from a jump, so a stiff solver keeps its long steps (the coupled syn3A
  cell, whose translations take hundreds of GTP and ATP at once, needed ~37 steps per
  second with jumps). What is reported (outputs, the division condition) is the ODE
  state plus what is pending, so every firing's change is counted at once and mass
  balances hold exactly; the ODE's own dynamics see the change later, by up to about
  one communication step.
- ``communication_step="exact"``: one firing per ODE step, placed by the random time
  change representation: with ``E ~ Exp(1)``, the next reaction fires when the
  integrated total propensity ``A(t) = int a0``, an extra ODE component integrated to
  the solver's tolerance, reaches ``E`` (found on the dense output). For checking:
  a million firings cost a million ODE steps.

The step hooks also stop a run when a division condition holds (`wholecell.division`):
at the firing that makes it hold, or where it starts to hold on the continuous path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import OverdrawWarning, SimulationError, UnsupportedSBMLError
from .._executables import cached_call
from .._now import evaluate_now
from .._result import make_result
from .._status import Status
from ..compiler._tolerances import as_input, state_atol
from ..ode._integrate import MESSAGES, NONFINITE, SUCCESS, Hooks, integrate
from ..ode._solvers import (
    STIFFNESS_THRESHOLD,
    make_solver,
    roll_stages_for,
    spectral_radius,
)
from ..sbml._model import Reaction
from ..solve._compiled import CompiledModel, describe_failure
from ..solve._inputs import on_device
from ..solve._registry import stored_description
from ._chunks import ensemble_size, member_rows, run_chunks
from ._frozen import BISECTION_STEPS, locate_division, run_step, when_any
from ._laws import laws_for
from ._odepart import ode_part
from ._ssa import BAD_PROPENSITY, _select
from ._stochastic import member_keys

#: status: the division condition held; the run stopped at the division time
DIVIDED = Status.DIVIDED.value
#: default copy-number threshold of ``stochastic="auto"``
DEFAULT_THRESHOLD = 100.0
#: default trajectories per compiled chunk
DEFAULT_CHUNK = 4096
#: frozen mode: a communication interval ends after this many ODE steps if not sooner
#: (their dense outputs are the ODE path its firings and a division are placed on)
INTERVAL_STEPS = 8
#: frozen mode: an interval's first step is at most this times the last interval's
FIRST_STEP_GROWTH = 1.25

Stochastic = Sequence[str] | Callable[[Reaction], bool] | str | float | None


@dataclass(frozen=True)
class Plan:
    """What is static about a hybrid run (hashable: it keys the compiled runs)."""

    structure: Any
    stochastic: tuple[bool, ...]  # per reaction
    exact: bool
    dt_comm: float
    condition: Any = None  # (t, x, c, observables at birth) -> bool, or None
    ode: tuple[int, ...] | None = None  # frozen mode: the states the ODE integrates
    spread: bool = False  # frozen mode: release the firings' ODE changes over a step

    @property
    def n_state(self) -> int:
        return self.structure.n_state

    def full(self, x, y):
        """The whole state: ``x`` with the ODE states set to ``y`` (frozen mode)."""
        return x.at[jnp.asarray(self.ode)].set(y)

    def part(self, x):
        """The ODE states of the whole state ``x`` (frozen mode)."""
        return x[jnp.asarray(self.ode)]


def ode_states(structure, stochastic) -> tuple[int, ...]:
    """The states an ODE reaction (``stochastic`` false) or a rate rule changes
    (`_laws.ode_states`); the others change only when a stochastic reaction fires. Never
    empty (a model whose reactions are all stochastic integrates its first state, which
    holds still)."""
    return tuple(int(i) for i in ode_part(structure, stochastic).ode)


def stochastic_reactions(sim: CompiledModel, stochastic: Stochastic, params=None) -> np.ndarray:
    """The boolean mask of the reactions that run as SSA.

    ``stochastic``: SBML reaction ids; a predicate on the `Reaction`; ``"auto"`` or a
    number: reactions whose reactants or modifiers (a source reaction: its products)
    include a species with fewer copies than the threshold (default 100) at the start.

    Raises:
        SimulationError: an id that is not a reaction, or no stochastic reaction.
    """
    reactions = sim.model.reactions
    ids = [r.id for r in reactions]
    if stochastic is None or (isinstance(stochastic, str) and stochastic != "auto"):
        raise SimulationError(
            "method='hybrid' needs stochastic=: a list of reaction ids, a predicate on "
            "the reaction, or 'auto' / a copy-number threshold"
        )
    if isinstance(stochastic, str) or isinstance(stochastic, int | float):
        limit = DEFAULT_THRESHOLD if isinstance(stochastic, str) else float(stochastic)
        p = sim.param_values if params is None else jnp.asarray(params)
        x0, _ = sim.structure.initial(p, jnp.asarray(0.0, p.dtype))
        amount = dict(zip(sim.state_ids, np.asarray(x0), strict=True))
        mask = []
        for r in reactions:
            # the species the propensity reads; a source reaction by what it makes
            names = [s.species for s in r.reactants] + list(r.modifiers)
            names = names or [s.species for s in r.products]
            mask.append(any(abs(amount.get(n, np.inf)) < limit for n in names))
        mask = np.array(mask, dtype=bool)
    elif callable(stochastic):
        mask = np.array([bool(stochastic(r)) for r in reactions], dtype=bool)
    else:
        wanted = [stochastic] if isinstance(stochastic, str) else list(stochastic)
        unknown = [w for w in wanted if w not in ids]
        if unknown:
            raise SimulationError(
                f"stochastic reactions {', '.join(map(repr, unknown))} are not reactions of "
                f"model '{sim.model.id}'; reactions are {', '.join(ids)}"
            )
        mask = np.array([i in set(wanted) for i in ids], dtype=bool)
    return mask.reshape(len(reactions))


def check_hybrid_model(sim: CompiledModel, allow_event: str | None = None) -> None:
    """Refuse what the hybrid method cannot simulate, naming the construct and element."""
    st = sim.structure
    m = sim.model
    for ev in m.events:
        if ev.id != allow_event:
            raise UnsupportedSBMLError(
                "Event in a hybrid simulation", ev.id,
                "events are not simulated by method='hybrid' (a division event is named "
                "with wholecell.division.event)",
            )
    if st.delays:
        raise UnsupportedSBMLError("csymbol delay in a hybrid simulation", None)
    if st.fast.size:
        raise UnsupportedSBMLError(
            "fast reaction in a hybrid simulation", st.reaction_ids[int(st.fast[0])]
        )


def _rates(structure, t, x, c):
    out = structure.rhs_prog(structure.base(t, x, c))
    return out, out[: structure.n_reactions]


def hybrid_rhs(plan: Plan, t, y, c):
    """d/dt of the ODE part (and of the integrated propensity in exact mode)."""
    st = plan.structure
    x = y[: plan.n_state]
    out, v = _rates(st, t, x, c)
    mask = jnp.asarray(plan.stochastic)
    dx = st.apply_stoichiometry(out, jnp.where(mask, 0.0, v), x)
    if len(st.rr_state):
        dx = dx.at[st.rr_state].set(out[st.rr_pos])
    if not plan.exact:
        return dx
    a0 = jnp.sum(jnp.where(mask, jnp.maximum(v, 0.0), 0.0))
    return jnp.concatenate([dx, jnp.reshape(a0, (1,))])


def reduced_rhs(plan: Plan, t, y, args):
    """Frozen mode: d/dt of the ODE states ``y``; ``args`` is (constants, whole state),
    whose stochastic-only species hold still during the step. Only the ODE reactions'
    rates and the rate rules are computed (`_odepart`). With ``spread`` ``args`` ends
    with the constant release rate of the pending changes."""
    c, x = args[:2]
    dy = ode_part(plan.structure, plan.stochastic).rhs(t, y, c, x)
    return dy + args[2] if len(args) > 2 else dy


class Fired(NamedTuple):
    """What an interval's firings (`_frozen.run_step`) leave for the hybrid loop."""

    z: Any
    draws: Any
    fired: Any
    bad: Any


def _fired(f) -> Fired:
    return Fired(f.z, f.draws, f.fired, f.bad)


class HybridState(NamedTuple):
    key: Any
    threshold: Any  # the Exp(1) level the integrated propensity must reach (exact mode)
    fired: Any  # stochastic firings so far
    birth: Any  # observables at the start (for division conditions)
    draws: Any  # the counter of the random stream (frozen mode, `_frozen`)
    x: Any  # frozen mode: the whole state at the start of the interval (exact: empty)
    pending: Any  # spread: the firings' change of the ODE states pending at ``anchor``
    anchor: Any  # frozen mode: the time the current communication interval began
    path: Any  # frozen mode: the dense outputs of its steps so far (`INTERVAL_STEPS`)
    n_in: Any  # frozen mode: how many steps it has had
    rate: Any  # spread: the constant rate at which ``pending`` reaches the ODE
    t_now: Any  # the end of the last accepted step
    first: Any  # frozen mode: the length of the last interval's first accepted step


def _bisect(f, lo, hi):
    """The first time in (lo, hi] where the monotone predicate ``f`` holds (it holds at hi)."""

    def body(_, bounds):
        a, b = bounds
        mid = 0.5 * (a + b)
        yes = f(mid)
        return jnp.where(yes, a, mid), jnp.where(yes, mid, b)

    return jax.lax.fori_loop(0, BISECTION_STEPS, body, (lo, hi))[1]


class HybridHooks(Hooks):
    """Stochastic firings (and a division condition) inside the ODE step loop."""

    plan: Plan = eqx.field(static=True)
    key: Any

    def _observe(self, t, x, c):
        st = self.plan.structure
        return st.observe_prog(st.base(t, x, c))

    def init(self, t0, x0, args, template):
        key = self.key
        if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        key, k = jax.random.split(key)
        # frozen mode: the loop's args are (constants, the whole state at the start)
        c, x = (args, x0[: self.plan.n_state]) if self.plan.exact else args
        pending = jnp.zeros(len(self.plan.ode) if self.plan.spread else 0, x0.dtype)
        return HybridState(
            key, jax.random.exponential(k, (), x0.dtype), jnp.array(0),
            self._observe(t0, x, c), jnp.array(0, jnp.uint32),
            x if not self.plan.exact else jnp.zeros(0, x0.dtype),
            pending, t0,
            jax.tree_util.tree_map(
                lambda a: jnp.zeros((0 if self.plan.exact else INTERVAL_STEPS, *a.shape),
                                    a.dtype), template),
            jnp.array(0), pending, t0, jnp.asarray(self.plan.dt_comm, x0.dtype),
        )

    def step_args(self, args, hstate):
        if self.plan.exact:
            return args
        if self.plan.spread:
            return (args[0], hstate.x, hstate.rate)
        return (args[0], hstate.x)

    def max_step(self, hstate):
        """Frozen mode: the communication step; the first step of an interval at most
        `FIRST_STEP_GROWTH` times the last interval's. The firings change the ODE's
        right-hand side at the interval's start, and its fast pools follow within a
        fraction of a second: a longer first try is rejected with an error that barely
        shrinks with the step (the coupled syn3A cell: ~5 rejections per interval)."""
        if self.plan.exact:
            return jnp.inf
        first = jnp.minimum(FIRST_STEP_GROWTH * hstate.first, self.plan.dt_comm)
        return jnp.where(hstate.n_in == 0, first, self.plan.dt_comm)

    def next_stop(self, t, hstate):
        """Frozen mode: steps end where the communication interval does."""
        return jnp.inf if self.plan.exact else hstate.anchor + self.plan.dt_comm

    def _left(self, h: HybridState, s):
        """What is still pending at ``s`` (``spread``: released at a constant rate)."""
        return h.pending - h.rate * (s - h.anchor) if self.plan.spread else 0.0

    def _whole(self, x, hstate, t):
        """The whole state at ``t`` (with ``spread``: what is pending included)."""
        if self.plan.exact:
            return x[: self.plan.n_state]
        return self.plan.full(hstate.x, x + self._left(hstate, t))

    def save(self, t, x, args, hstate):
        """The whole state, and the firings so far as one more column (`run_cell`)."""
        fired = jnp.reshape(hstate.fired.astype(x.dtype), (1,))
        return jnp.concatenate([self._whole(x, hstate, t), fired])

    def final(self, x, hstate):
        return self._whole(x, hstate, hstate.t_now)

    def after_step(self, interp, t0, t1, x1, args, h: HybridState, accept=None,
                   at_stop=None):
        if self.plan.exact:
            return self._exact_step(interp, t0, t1, x1, args, h)
        return self._frozen_step(interp, t0, t1, x1, args, h, accept, at_stop)

    def _frozen_step(self, interp, t0, t1, y1, args, h: HybridState, accept, at_stop):
        """At the end of a communication interval (a step that ends on a stop: the
        interval's end or an output time; or its `INTERVAL_STEPS`-th step), all the
        firings of the interval [anchor, t1] (`_frozen`), the ODE species frozen at
        mid-interval. ``y1`` and ``interp`` are the ODE states' (of the last step); the
        whole state is rebuilt around them. A step inside the interval only moves the ODE
        on, and its dense output is kept for the interval's path."""
        plan = self.plan
        c, x = args[:2]
        part = laws_for(plan.structure, plan.stochastic)
        steps = jax.tree_util.tree_map(lambda b, v: b.at[h.n_in].set(v), h.path, interp)
        n_in = h.n_in + 1
        # (a first step that ended on a stop could have been longer: it lowers nothing)
        stopped = jnp.array(False) if at_stop is None else at_stop
        first = jnp.where(h.n_in == 0, jnp.where(stopped, jnp.maximum(t1 - t0, h.first),
                                                 t1 - t0), h.first)
        go = jnp.array(True) if accept is None else accept
        if at_stop is not None:
            go = go & (at_stop | (n_in >= INTERVAL_STEPS))
        t_a = h.anchor

        def left(s):
            return self._left(h, s)

        def ode_path(s):  # the ODE states over the interval, from its steps' dense outputs
            starts = jnp.where(jnp.arange(INTERVAL_STEPS) < n_in, steps.t0, jnp.inf)
            i = jnp.clip(jnp.sum(starts <= s) - 1, 0, INTERVAL_STEPS - 1)
            return jax.tree_util.tree_map(lambda b: b[i], steps).evaluate(s)

        x1 = plan.full(x, y1 + left(t1))
        t_mid = 0.5 * (t_a + t1)
        z0 = plan.full(x, ode_path(t_mid) + left(t_mid))
        # (only at an interval's end: a step inside it computes no propensity)
        f = when_any(go, lambda *o: _fired(run_step(part, *o)),
                     lambda k, a, b, z, d, cc, g: Fired(z, d, jnp.array(0), jnp.array(False)),
                     (h.key, t_a, t1, z0, h.draws, c, go))
        x_new = x1 + (f.z - z0)
        status = jnp.where(f.bad, BAD_PROPENSITY, SUCCESS)
        status = jnp.where(jnp.all(jnp.isfinite(x_new)), status, NONFINITE)
        # spread: the ODE goes on from y1; the firings' ODE change (and what the interval
        # left) is pending, released at a constant rate over the next interval
        pending = plan.part(x_new) - y1 if plan.spread else h.pending
        y_new = y1 if plan.spread else plan.part(x_new)

        def new_interval(t, x_w, pend, fired):
            return h._replace(fired=h.fired + fired, draws=f.draws, x=x_w, pending=pend,
                              anchor=t, path=steps, n_in=jnp.array(0),
                              rate=pend / plan.dt_comm, t_now=t, first=first)

        # the interval's end where ``go``, else the step inside it
        inside = h._replace(path=steps, n_in=n_in, t_now=t1, first=first)
        h_new = _select(go, new_interval(t1, x_new, pending, f.fired), inside)
        y_out = jnp.where(go, y_new, y1)
        if plan.condition is None:
            return t1, y_out, h_new, go, status

        def holds(s, xs):
            return plan.condition(s, xs, c, h.birth)

        def path(s, dz):  # the cell between firings: the ODE's path plus them
            return jnp.where(s >= t1, x1, plan.full(x, ode_path(s) + left(s))) + dz

        divides = go & (status == SUCCESS) & holds(t1, x_new)
        t_d, x_d, fired_d = locate_division(part, holds, path, h.key, t_a, t1, z0, h.draws,
                                            c, divides)
        # at a division the state is whole: nothing is left pending
        at_division = new_interval(t_d, x_d, jnp.zeros_like(pending), fired_d)
        h_new = _select(divides, at_division, h_new)
        status = jnp.where(divides, DIVIDED, status)
        return (jnp.where(divides, t_d, t1), jnp.where(divides, plan.part(x_d), y_out), h_new,
                go | divides, status)

    def _exact_step(self, interp, t0, t1, x1, args, h: HybridState):
        """At most one firing: where the integrated propensity crosses its Exp(1) level."""
        plan, st, c, n = self.plan, self.plan.structure, args, self.plan.n_state
        mask = jnp.asarray(plan.stochastic)
        crossed = x1[n] >= h.threshold
        t_f = _bisect(lambda s: interp.evaluate(s)[n] >= h.threshold, t0, t1)
        t_f = jnp.where(crossed, t_f, t1)
        y_f = jnp.where(crossed, interp.evaluate(t_f), x1)
        x_f = y_f[:n]
        # which reaction fires: drawn with the propensities at the firing time
        key, k_pick, k_next = jax.random.split(h.key, 3)
        _, v = _rates(st, t_f, x_f, c)
        bad = jnp.any(jnp.where(mask, (v < 0) | ~jnp.isfinite(v), False))
        a = jnp.where(mask, jnp.maximum(v, 0.0), 0.0)
        total = jnp.sum(a)
        j = jnp.searchsorted(jnp.cumsum(a), jax.random.uniform(k_pick, ()) * total, side="right")
        j = jnp.minimum(j, a.shape[0] - 1)
        go = crossed & (total > 0)
        x_new = jnp.where(go, x_f + st.reaction_change(j, t_f, x_f, c), x_f)
        y_new = jnp.concatenate([x_new, jnp.where(crossed, 0.0, y_f[n:])])
        fresh = jax.random.exponential(k_next, (), x1.dtype)
        h_new = h._replace(
            key=jnp.where(crossed, key, h.key),
            threshold=jnp.where(crossed, fresh, h.threshold),
            fired=h.fired + go.astype(h.fired.dtype),
        )
        status = jnp.where(bad, BAD_PROPENSITY, SUCCESS)
        status = jnp.where(jnp.all(jnp.isfinite(y_new)), status, NONFINITE)
        if plan.condition is None:
            return t_f, y_new, h_new, crossed, status
        # division: on the continuous path before the firing, or caused by the firing
        holds = plan.condition
        cont = holds(t_f, x_f, c, h.birth)
        t_d = _bisect(lambda s: holds(s, interp.evaluate(s)[:n], c, h.birth), t0, t_f)
        y_d = interp.evaluate(t_d)
        after = holds(t_f, x_new, c, h.birth)
        divided = cont | after
        t_out = jnp.where(cont, t_d, t_f)
        y_out = jnp.where(cont, y_d, y_new)
        status = jnp.where(divided & (status == SUCCESS), DIVIDED, status)
        return t_out, y_out, h_new, crossed | cont, status


def _hybrid_state(plan: Plan, x0):
    """The hybrid loop's state: the model's, and in exact mode the integrated propensity
    (the firings so far) after it, starting at zero."""
    return x0 if not plan.exact else jnp.concatenate([x0, jnp.zeros(1, x0.dtype)])


@eqx.filter_jit
def _jacobian_at_start(plan: Plan, p, t0):
    """The Jacobian of what the ODE integrates, at the initial state: one compiled program
    (evaluated operation by operation, the minimal-cell fixture's took 20 s in about 400
    small compilations). Frozen mode: over the ODE states only (the rows of the others
    are zero, so the nonzero eigenvalues are the same)."""
    x0, c = plan.structure.initial(p, t0)
    if not plan.exact:
        return jax.jacfwd(lambda y: reduced_rhs(plan, t0, y, (c, x0)))(plan.part(x0))
    y0 = _hybrid_state(plan, x0)
    return jax.jacfwd(lambda y: hybrid_rhs(plan, t0, y, c))(y0)


def choose_hybrid_solver(plan: Plan, p, t0: float, span: float) -> str:
    """``"rodas5"`` when the ODE part is stiff at the start, else ``"tsit5"``.

    A Rosenbrock method: one LU of the Jacobian per step and no Newton iteration. On the
    syn3A metabolism (0-60 s, the same answer) rodas5 took 404 steps and kvaerno5 5,955,
    half of them rejected when its Newton iteration failed to converge.
    """
    # evaluated now, even when called while tracing (p and t0 are concrete)
    J = evaluate_now(_jacobian_at_start, plan, jnp.asarray(p), jnp.asarray(t0, jnp.float64))
    rho = spectral_radius(J)
    return "rodas5" if rho * max(span, 0.0) > STIFFNESS_THRESHOLD else "tsit5"


def run_cell(plan: Plan, solver: str, ts, t0, x0, c, key, rtol, atol, max_steps):
    """One hybrid trajectory from (t0, x0): (ys, Stats) of `integrate`; ``ys[:, :n]`` are
    the states at ``ts``, ``ys[:, n]`` the stochastic firings so far (n = plan.n_state)."""
    atol = jnp.asarray(atol, x0.dtype)
    if plan.exact:
        y0 = _hybrid_state(plan, x0)
        if atol.ndim == 1:  # the integrated propensity: the tightest
            atol = jnp.concatenate([atol, jnp.min(atol, initial=jnp.inf, keepdims=True)])
        rhs, args = (lambda t, y, a: hybrid_rhs(plan, t, y, a)), c
    else:
        y0 = plan.part(x0)
        if atol.ndim == 1:
            atol = plan.part(atol)
        rhs, args = (lambda t, y, a: reduced_rhs(plan, t, y, a)), (c, x0)
    method = make_solver(solver, rtol, atol, roll_stages=roll_stages_for(y0.shape[0], "lax"))
    return integrate(
        method, rhs, y0, t0, ts, args,
        rtol=rtol, atol=atol, max_steps=max_steps, hooks=HybridHooks(plan, key), adjoint="lax",
        dt_max=jnp.inf if plan.exact else plan.dt_comm,
        # frozen mode: the firings of a step are applied at its end, so outputs end steps
        stop_at_outputs=not plan.exact,
    )


@eqx.filter_jit
def _chunk(sim, plan, solver, ts, t0, P, keys, rtol, atol, max_steps):
    def one(p, key):
        x0, c = plan.structure.initial(p, t0)
        a = state_atol(plan.structure, p, t0, x0, atol)  # user units (`_tolerances`)
        ys, stats = run_cell(plan, solver, ts, t0, x0, c, key, rtol, a, max_steps)
        fired = jnp.max(jnp.where(jnp.isnan(ys[:, plan.n_state]), 0, ys[:, plan.n_state]))
        return sim.observe(ts, ys[:, : plan.n_state], p, t0=t0), (stats, fired)

    return jax.vmap(one)(P, keys)


def plan_description(sim: CompiledModel, plan: Plan, condition: object = None):
    """What determines the programs of a hybrid ``plan`` of ``sim`` besides the arrays
    (`stored_description`); ``condition`` describes the plan's division condition (None:
    it has none, or it cannot be described: then None, and nothing is stored)."""
    if plan.structure is not sim.structure or (plan.condition is not None
                                               and condition is None):
        return None
    return stored_description(sim, plan.stochastic, plan.exact, plan.dt_comm, plan.ode,
                              plan.spread, condition)


def _chunk_arrays_first(sim, plan, ts, t0, P, keys, rtol, atol, solver, max_steps):
    """`_chunk` with its arrays first, as `cached_call` passes them."""
    return _chunk(sim, plan, solver, ts, t0, P, keys, rtol, atol, max_steps)


def make_plan(
    sim: CompiledModel, stochastic: Stochastic, communication_step: float | str, p=None,
    condition=None, allow_event: str | None = None, spread: bool = False,
) -> Plan:
    """Check the model and fix the split of its reactions and the coupling (``spread``:
    release the firings' ODE changes over the next steps; frozen mode only)."""
    check_hybrid_model(sim, allow_event)
    mask = stochastic_reactions(sim, stochastic, p)
    exact = communication_step == "exact"
    if not exact:
        if isinstance(communication_step, str) or not communication_step > 0:
            raise SimulationError(
                f"communication_step must be a positive time or 'exact', not "
                f"{communication_step!r}"
            )
    if spread and exact:
        raise SimulationError("spread=True needs a communication step, not 'exact'")
    dt = float("inf") if exact else float(communication_step)
    split = tuple(bool(b) for b in mask)
    ode = None if exact else ode_states(sim.structure, split)
    return Plan(sim.structure, split, exact, dt, condition, ode, bool(spread))


def simulate_hybrid(
    sim: CompiledModel, ts, t0, P, batch, *, n: int, seed: int, rtol: float, atol: float,
    solver: str, max_steps: int, throw: bool, chunk_size: int | None, progress: bool | None,
    stochastic: Stochastic = None, communication_step: float | str = 1.0, executor=None,
    spread: bool = False,
):
    """``n`` hybrid trajectories (or one per row of a parameter batch ``P``): a `Result`;
    ``executor``: a Dask client whose workers run the chunks (`run_chunks`)."""
    plan = make_plan(sim, stochastic, communication_step, P[0], spread=spread)
    if solver == "auto":
        solver = choose_hybrid_solver(plan, P[0], float(t0), float(ts[-1] - t0))
    n = ensemble_size(P, n)
    keys = member_keys(seed, n)

    ts_d, t0_d = on_device(ts, t0)
    describe = plan_description(sim, plan)

    def run(Pk, keys_k, m):  # a new process reads the program from disk (`cached_call`)
        return cached_call("hybrid chunk", _chunk_arrays_first, (sim, plan),
                           (ts_d, t0_d, Pk, keys_k, as_input(rtol), as_input(atol)),
                           (solver, max_steps), describe=describe)

    values, (stats, fired) = run_chunks(run, (member_rows(P, n), keys), n,
                               chunk_size or min(n, DEFAULT_CHUNK), progress=progress,
                               label="hybrid", executor=executor)
    status = stats.status
    if throw and np.any(status != SUCCESS):
        raise hybrid_failure(sim, stats)
    stats_out = {"steps": stats.steps, "rejected": stats.rejected, "status": status,
                 "t_last": stats.t_last, "events": fired.astype(np.int64), "solver": solver}
    warn_overdrawn(sim, sim.observable_ids, values, ts)
    return make_result(sim, ts, values, stats_out, "hybrid")


#: an amount below this many molecules is an overdraw, not rounding (`warn_overdrawn`)
OVERDRAW_MOLECULES = -0.5


def warn_overdrawn(sim: CompiledModel, ids: Sequence[str], values, ts) -> None:
    """An `OverdrawWarning` naming the species of ``ids`` whose amount in ``values``
    (..., len(ts), len(ids)) fell below `OVERDRAW_MOLECULES`: the hybrid's firings read
    the ODE species at mid-step, so they can take what the ODE uses up in the same step."""
    model = sim.model
    sizes = {c.id: c.size for c in model.compartments}
    scale = {s.id: 1.0 if s.has_only_substance_units else (sizes.get(s.compartment) or 1.0)
             for s in model.species if not s.boundary_condition}
    cols = [(k, i, scale[i]) for k, i in enumerate(ids) if i in scale]
    if not cols:
        return
    v = np.asarray(values)
    amounts = v[..., [k for k, _, _ in cols]] * np.array([f for _, _, f in cols])
    low = np.nan_to_num(amounts, nan=0.0) < OVERDRAW_MOLECULES
    if not low.any():
        return
    worst = np.where(low, amounts, np.inf).min(axis=tuple(range(amounts.ndim - 1)))
    j = int(np.argmin(worst))
    first = np.flatnonzero(low[..., j].reshape(-1, low.shape[-2]).any(axis=0))[0]
    names = [cols[i][1] for i in np.flatnonzero(low.reshape(-1, low.shape[-1]).any(axis=0))]
    warnings.warn(
        f"hybrid run of '{model.id}': {len(names)} species went below zero "
        f"({', '.join(names[:5])}{', ...' if len(names) > 5 else ''}); {cols[j][1]} reached "
        f"{worst[j]:.4g} molecules, first below {OVERDRAW_MOLECULES:g} at t = "
        f"{float(np.asarray(ts)[first]):g}. Stochastic firings read the ODE species at "
        "mid-step and took molecules the ODE used up in the same step; values near there "
        "are not exact (a shorter communication_step narrows the overlap)",
        OverdrawWarning, stacklevel=3)


def hybrid_failure(sim: CompiledModel, stats) -> SimulationError:
    """The `SimulationError` of the failed members of a hybrid batch."""
    status = np.asarray(stats.status)
    bad = int(status[status != SUCCESS][0])
    if bad == BAD_PROPENSITY:
        return SimulationError(
            f"simulation of '{sim.model.id}': a propensity or the state became negative, NaN "
            "or infinite (a kinetic law that is not a valid propensity on amounts?)"
        )
    n = len(sim.state_ids)
    failed = jax.tree_util.tree_map(lambda a: np.asarray(a)[status != SUCCESS], stats)
    failed = failed._replace(x_last=np.asarray(failed.x_last)[..., :n])
    err = describe_failure(sim, failed)
    return SimulationError(str(err) + f" ({MESSAGES.get(bad, bad)})", err.time, err.variables)
