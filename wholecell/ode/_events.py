"""SBML events inside the integration loop.

Semantics (SBML L3V2, section 4.12): an event fires when its trigger goes from false to
true; the firing time is located by bisection on the solver's dense output. A fired
event is queued with its execution time (trigger time + delay) and, if
``useValuesFromTriggerTime``, the values of its assignments at trigger time. Events due
at the same instant execute one at a time, highest priority first (ties broken at
random); after each execution every trigger is re-evaluated, so events can trigger
other events, and a non-persistent event whose trigger turns false is dropped from the
queue. ``initialValue`` gives each trigger's value just before the start time, so an
event whose trigger is true at t0 with ``initialValue=false`` fires at t0.

Event times are differentiable: for a trigger that is a comparison ``a > b`` (or <, >=,
<=) the located time carries the implicit-function derivative ``-(dg/dp) / (dg/dt)`` of
``g = a - b``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np

from ..compiler import _history
from ..compiler._events import EventSpec
from ..compiler._structure import RunArgs
from ._integrate import EVENT_OVERFLOW, SUCCESS, Hooks

#: bisection iterations to locate a trigger time (enough for full double precision)
BISECTION_STEPS = 64
#: points per step at which triggers are checked (so brief pulses are not missed)
TRIGGER_SAMPLES = 8
#: most event executions at one instant (guards against infinite cascades)
MAX_CASCADE = 200


class EventState(NamedTuple):
    prev: Any  # (n_events,) bool: trigger values at the current time
    hist: Any  # History of past steps (models with delay), else None
    tau_min: Any  # the shortest delay at the start: the largest step allowed
    q_time: Any  # (Q,) execution times, inf where the slot is free
    q_event: Any  # (Q,) event index
    q_values: Any  # (Q, n_assign) captured assignment values
    key: Any  # PRNG key for random tie-breaking
    status: Any




def _held(tree):
    """``tree`` with its arrays held constant under differentiation (`stop_gradient`)."""
    return jax.tree_util.tree_map(
        lambda a: jax.lax.stop_gradient(a) if isinstance(a, jax.Array) else a, tree
    )


class ModelHooks(Hooks):
    """The integrator hooks of one compiled model: its events and its delays."""

    spec: EventSpec = eqx.field(static=True)
    structure: Any = eqx.field(static=True, default=None)
    loop_kind: str = eqx.field(static=True, default="lax")
    seed: Any = None

    @property
    def has_history(self) -> bool:
        return self.structure is not None and bool(self.structure.delays)

    # -- evaluation helpers ----------------------------------------------------------
    def _triggers(self, t, x, args):
        return self.spec.programs.triggers(t, x, args) != 0.0

    def _details(self, t, x, args, key=None):
        """(delays, priorities, assignment values) at (t, x); ``key`` feeds distrib draws."""
        return self.spec.programs.details(t, x, args, key)

    def _project(self, t, x, args):
        """Fast reactions return to their equilibrium (after an event or a step)."""
        if self.structure is None or not self.structure.fast.size:
            return x
        c = args.c if hasattr(args, "c") else args
        return self.structure.project_fast(t, x, c)

    def _args(self, args, hist):
        if not self.has_history:
            return args
        if isinstance(args, RunArgs):
            return args._replace(hist=hist)
        return RunArgs(args, hist)

    # -- hooks -----------------------------------------------------------------------
    def init(self, t0, x0, args, template):
        sp = self.spec
        Q = sp.capacity
        key = jax.random.PRNGKey(0) if self.seed is None else self.seed
        hist = _history.empty(template, t0, x0) if self.has_history else None
        return EventState(
            prev=jnp.asarray(np.array(sp.initial_value, dtype=bool)).reshape(sp.n_events),
            hist=hist,
            tau_min=jnp.asarray(jnp.inf, x0.dtype),
            q_time=jnp.full((Q,), jnp.inf, x0.dtype),
            q_event=jnp.zeros((Q,), jnp.int32),
            q_values=jnp.zeros((Q, sp.n_assign), x0.dtype),
            key=key,
            status=jnp.array(SUCCESS),
        )

    def at_start(self, t0, x0, args, estate):
        args = self._args(args, estate.hist)
        if self.has_history:
            taus = self.structure.tau_prog(self.structure.base(t0, x0, args))
            positive = jnp.where(taus > 0, taus, jnp.inf)
            estate = estate._replace(tau_min=jnp.min(positive))
        if self.spec.n_events == 0:
            return x0, estate, estate.status
        trig = self._triggers(t0, x0, args)
        fired = trig & ~estate.prev
        estate = self._schedule(fired, t0, x0, args, estate)
        estate = estate._replace(prev=trig)
        x0, estate = self._execute_due(t0, x0, args, estate)
        return x0, estate, estate.status

    def step_args(self, args, estate):
        return self._args(args, estate.hist)

    def max_step(self, estate):
        return estate.tau_min

    def save(self, t, x, args, estate):
        if not self.has_history:
            return x
        d = self.structure.delayed_values(t, x, args.c, estate.hist, args.p)
        return jnp.concatenate([x, d])

    def next_stop(self, t, estate):
        return jnp.min(estate.q_time)

    def after_step(self, interp, t0, t1, x1, args, estate, accept=None, at_stop=None):
        if self.spec.n_events == 0:
            if self.has_history:
                hist = _history.push(estate.hist, interp, t0, t1)
                estate = estate._replace(hist=hist)
                args = self._args(args, hist)
            return t1, self._project(t1, x1, args), estate, jnp.array(False), estate.status
        # Which triggers rise, and where, is discrete: it is found on values held out of
        # differentiation (`_held`), so that forward and reverse mode do not trace (and
        # XLA compile) derivatives that are zero. The event time's derivative comes from
        # `_differentiable_time`.
        h_interp, h_args, h_t0, h_t1, h_x1 = _held((interp, args, t0, t1, x1))
        # Sample the triggers inside the step too, so a trigger that is true only
        # briefly (rising and falling within one step) is not missed.
        K = TRIGGER_SAMPLES
        frac = jnp.arange(1, K + 1, dtype=x1.dtype) / K
        taus = h_t0 + (h_t1 - h_t0) * frac
        xs = jax.vmap(h_interp.evaluate)(taus[:-1])
        xs = jnp.concatenate([xs, h_x1[None]], axis=0)
        trig_s = jax.vmap(lambda tau, x: self._triggers(tau, x, h_args))(taus, xs)
        before_s = jnp.concatenate([estate.prev[None], trig_s[:-1]], axis=0)
        rising_s = jnp.any(trig_s & ~before_s, axis=1)
        any_rising = jnp.any(rising_s)
        j = jnp.argmax(rising_s)
        before = before_s[j]
        lo0 = jnp.where(j == 0, h_t0, taus[jnp.maximum(j - 1, 0)])
        hi0 = taus[j]

        def locate(_):
            def body(_, lohi):
                lo, hi = lohi
                mid = lo + 0.5 * (hi - lo)
                x = h_interp.evaluate(mid)
                hit = jnp.any(self._triggers(mid, x, h_args) & ~before)
                return jnp.where(hit, lo, mid), jnp.where(hit, mid, hi)

            return jax.lax.fori_loop(0, BISECTION_STEPS, body, (lo0, hi0))[1]

        te = jax.lax.cond(any_rising, locate, lambda _: h_t1, None)
        te = self._differentiable_time(interp, te, trig_s[j] & ~before, args)
        x_e = jnp.where(any_rising, interp.evaluate(te), x1)
        t_e = jnp.where(any_rising, te, t1)
        trig = jnp.where(any_rising, self._triggers(*_held((t_e, x_e, args))), trig_s[-1])
        prev = jnp.where(any_rising, before, estate.prev)
        fired = trig & ~prev
        # A non-persistent event whose trigger went false in this step is cancelled.
        estate = self._cancel(trig, estate)
        estate = self._schedule(fired, t_e, x_e, args, estate)
        estate = estate._replace(prev=trig)
        if self.has_history:
            # the step is history only up to the event: after it the state has jumped
            hist = _history.push(estate.hist, interp, t0, t_e)
            estate = estate._replace(hist=hist)
            args = self._args(args, hist)
        x_new, estate = self._execute_due(t_e, x_e, args, estate)
        jumped = jnp.any(x_new != x_e) | any_rising | jnp.any(estate.q_time <= t_e)
        return t_e, x_new, estate, jumped, estate.status

    # -- queue operations ------------------------------------------------------------
    def _differentiable_time(self, interp, te, rising, args):
        """te with the implicit-function derivative of the first rising comparison."""
        sp = self.spec
        idx = np.array([i for i, r in enumerate(sp.root_index) if r >= 0], dtype=np.int32)
        if idx.size == 0:
            return te
        pos = np.array([sp.root_index[i] for i in idx], dtype=np.int32)

        def g_of(tau):
            x = interp.evaluate(tau)
            return self.spec.programs.roots(tau, x, args)[pos]

        g, dg = jax.jvp(g_of, (te,), (jnp.ones_like(te),))
        g0 = jax.lax.stop_gradient(g)
        dg = jax.lax.stop_gradient(dg)
        ok = rising[idx] & (dg != 0) & jnp.isfinite(dg)
        corr = jnp.where(ok, (g - g0) / jnp.where(ok, dg, 1.0), 0.0)
        # first (by position) rising comparison event
        first = jnp.argmax(ok)
        return te - jnp.where(jnp.any(ok), corr[first], 0.0)

    def _cancel(self, trig, estate):
        sp = self.spec
        if all(sp.persistent):
            return estate
        persistent = jnp.asarray(np.array(sp.persistent, dtype=bool))
        drop = ~persistent[estate.q_event] & ~trig[estate.q_event] & jnp.isfinite(estate.q_time)
        return estate._replace(q_time=jnp.where(drop, jnp.inf, estate.q_time))

    def _schedule(self, fired, t, x, args, estate):
        """Queue every fired event at t + delay, with its values if taken at trigger time."""
        sp = self.spec
        key, sub = jax.random.split(estate.key)
        estate = estate._replace(key=key)
        delays, _, values = self._details(t, x, args, sub)
        Q = estate.q_time.shape[0]
        free = jnp.isinf(estate.q_time)
        # the k-th fired event takes the k-th free slot
        free_slots = jnp.argsort(~free, stable=True)
        rank = jnp.cumsum(fired) - 1
        n_free = jnp.sum(free)
        ok = fired & (rank < n_free)
        slot = jnp.where(ok, free_slots[jnp.clip(rank, 0, Q - 1)], Q)  # Q: dropped
        when = t + (delays if sp.has_delay else jnp.zeros_like(delays))
        q_time = estate.q_time.at[slot].set(when, mode="drop")
        q_event = estate.q_event.at[slot].set(jnp.arange(sp.n_events, dtype=jnp.int32),
                                              mode="drop")
        q_values = estate.q_values.at[slot].set(
            jnp.broadcast_to(values, (sp.n_events,) + values.shape), mode="drop"
        )
        overflow = jnp.any(fired & ~ok)
        status = jnp.where(overflow, EVENT_OVERFLOW, estate.status)
        return estate._replace(q_time=q_time, q_event=q_event, q_values=q_values, status=status)

    def _execute_due(self, t, x, args, estate):
        """Execute, one by one and by priority, every queued event due at time t."""
        sp = self.spec
        use_trigger = jnp.asarray(np.array(sp.use_trigger_values, dtype=bool))
        has_priority = jnp.asarray(np.array(sp.has_priority, dtype=bool))

        def cond(carry):
            x, es, n = carry
            return jnp.any(es.q_time <= t) & (n < MAX_CASCADE) & (es.status == SUCCESS)

        def body(carry):
            x, es, n = carry
            due = es.q_time <= t
            key, sub, k_draw = jax.random.split(es.key, 3)
            _, prio, now_values = self._details(t, x, args, k_draw)
            p = jnp.where(has_priority[es.q_event], prio[es.q_event], -jnp.inf)
            p = jnp.where(due, p, jnp.nan)
            best = jnp.nanmax(jnp.where(due, p, -jnp.inf))
            ties = due & ((p == best) | (jnp.isinf(best) & jnp.isinf(p)))
            score = jnp.where(ties, jax.random.uniform(sub, ties.shape), -1.0)
            slot = jnp.argmax(score)
            ev = es.q_event[slot]
            values = jnp.where(use_trigger[ev], es.q_values[slot], now_values)
            x = self._apply(ev, values, t, x, args)
            es = es._replace(q_time=es.q_time.at[slot].set(jnp.inf), key=key)
            trig = self._triggers(*_held((t, x, args)))
            es = self._cancel(trig, es)
            es = self._schedule(trig & ~es.prev, t, x, args, es)
            es = es._replace(prev=trig)
            return x, es, n + 1

        x, estate, n = eqxi.while_loop(
            cond, body, (x, estate, jnp.array(0)), max_steps=MAX_CASCADE, kind=self.loop_kind
        )
        x = self._project(t, x, args)
        status = jnp.where(
            (n >= MAX_CASCADE) & jnp.any(estate.q_time <= t), EVENT_OVERFLOW, estate.status
        )
        return x, estate._replace(status=status)

    def _apply(self, ev, values, t, x, args):
        """Apply event ``ev``'s assignments (``values`` for all assignments) to x.

        A species concentration assigned by an event becomes an amount with the
        compartment size before the event; a compartment that changes keeps the amounts
        inside it (so concentrations held as state are rescaled).
        """
        sp = self.spec
        if sp.n_assign == 0:
            return x
        a_event = np.array(sp.assign_event, dtype=np.int32)
        a_state = np.array(sp.assign_state, dtype=np.int32)
        a_amount = np.array(sp.assign_amount, dtype=bool)
        conc_state = np.array(sp.conc_state, dtype=np.int32)
        active = a_event == ev
        n = x.shape[0]
        if a_amount.any():
            values = jnp.where(
                a_amount, values * self.spec.programs.compartments(t, x, args), values
            )
        if conc_state.size:
            v_old = self.spec.programs.conc_compartments(t, x, args)
        hit = jax.ops.segment_sum(active.astype(x.dtype), a_state, n) > 0
        new = jax.ops.segment_sum(jnp.where(active, values, 0.0), a_state, n)
        x = jnp.where(hit, new, x)
        if conc_state.size:
            v_new = self.spec.programs.conc_compartments(t, x, args)
            x = x.at[conc_state].set(x[conc_state] * v_old / v_new)
        return x
