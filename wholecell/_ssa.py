"""Exact stochastic simulation (Gillespie's direct method) on the compiled model.

The propensity of each reaction is its kinetic law evaluated on molecule amounts, as
the SBML stochastic interpretation prescribes (the same `rates` the ODE uses). One
trajectory is a `lax.while_loop` that records the state only at the requested times;
many trajectories run at once with `vmap` over PRNG keys. Events are exact too: with
the state constant between reactions, a trigger's firing time is found by bisection
in time alone, and the pending reaction is redrawn afterwards (the process is
memoryless).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from ._integrate import EVENT_OVERFLOW, MAX_STEPS, NONFINITE, SUCCESS

#: status: a propensity was negative or NaN
BAD_PROPENSITY = 5


class SSAStats(NamedTuple):
    events: Any  # reactions fired
    status: Any
    t_last: Any
    x_last: Any


class ConstantInterpolation(eqx.Module):
    """The state between two reactions: constant."""

    x: jax.Array

    def evaluate(self, t0, t1=None, left: bool = True):
        return self.x if t1 is None else jnp.zeros_like(self.x)


class _Loop(NamedTuple):
    t: Any
    x: Any
    key: Any
    ys: Any
    i_out: Any
    n: Any
    status: Any
    estate: Any


def ssa_trajectory(structure, hooks, ts, p, t0, key, max_events: int):
    """One SSA trajectory: the state at each time of ``ts`` (and `SSAStats`)."""
    ts = jnp.asarray(ts, jnp.float64)
    t0 = jnp.asarray(t0, jnp.float64)
    x0, c = structure.initial(p, t0)
    n_out = ts.shape[0]
    estate = hooks.init(t0, x0, c, ConstantInterpolation(x0)) if hooks is not None else ()
    status0 = jnp.array(SUCCESS)
    if hooks is not None:
        x0, estate, status0 = hooks.at_start(t0, x0, c, estate)
    ys = jnp.zeros((n_out,) + x0.shape, x0.dtype)

    def fill(s: _Loop, t_until, inclusive):
        """Record x for every output time before (or at) ``t_until``."""

        def cond(carry):
            i, _ = carry
            ti = ts[jnp.minimum(i, n_out - 1)]
            return (i < n_out) & jnp.where(inclusive, ti <= t_until, ti < t_until)

        def body(carry):
            i, ys = carry
            return i + 1, ys.at[i].set(s.x)

        i, ys = jax.lax.while_loop(cond, body, (s.i_out, s.ys))
        return s._replace(i_out=i, ys=ys)

    def cond_fun(s: _Loop):
        return (s.i_out < n_out) & (s.status == SUCCESS) & (s.n < max_events)

    def body_fun(s: _Loop) -> _Loop:
        a = structure.propensities(s.t, s.x, c)
        bad = jnp.any((a < 0) | ~jnp.isfinite(a))
        a = jnp.where(bad, 0.0, a)
        a0 = jnp.sum(a)
        key, k_tau, k_pick = jax.random.split(s.key, 3)
        u = jax.random.uniform(k_tau, (), minval=jnp.finfo(jnp.float64).tiny, maxval=1.0)
        tau = jnp.where(a0 > 0, -jnp.log(u) / jnp.where(a0 > 0, a0, 1.0), jnp.inf)
        t_next = s.t + tau
        t_end = ts[-1]
        # An event before the next reaction pre-empts it (the state is constant until
        # then, so the trigger time is found by bisection in time alone).
        if hooks is not None:
            t1 = jnp.minimum(jnp.minimum(t_next, t_end), hooks.next_stop(s.t, s.estate))
            t_ev, x_ev, estate, _, _ = hooks.after_step(
                ConstantInterpolation(s.x), s.t, t1, s.x, c, s.estate
            )
            fired = (t_ev < t_next) & (t_ev <= t_end)
        else:
            t_ev, x_ev, estate, fired = t_next, s.x, s.estate, jnp.array(False)
        s = fill(s, jnp.where(fired, t_ev, t_next), False)
        # fire one reaction (unless an event came first or the run is over)
        go = ~fired & (t_next <= t_end)
        cum = jnp.cumsum(a)
        j = jnp.searchsorted(cum, jax.random.uniform(k_pick, ()) * a0, side="right")
        j = jnp.minimum(j, a.shape[0] - 1)
        x_new = s.x + structure.reaction_change(j, s.t, s.x, c)
        x = jnp.where(go, x_new, jnp.where(fired, x_ev, s.x))
        t = jnp.where(fired, t_ev, jnp.where(go, t_next, t_end))
        status = jnp.where(bad, BAD_PROPENSITY, s.status)
        status = jnp.where(jnp.all(jnp.isfinite(x)), status, NONFINITE)
        if hooks is not None:
            status = jnp.where(estate.status != SUCCESS, EVENT_OVERFLOW, status)
        s = s._replace(t=t, x=x, key=key, n=s.n + go.astype(s.n.dtype), status=status,
                       estate=estate)
        # outputs at exactly the new time see the new state
        return fill(s, t, True)

    init = _Loop(t0, x0, key, ys, jnp.array(0), jnp.array(0), status0, estate)
    init = fill(init, t0, True)
    final = jax.lax.while_loop(cond_fun, body_fun, init)
    status = jnp.where((final.status == SUCCESS) & (final.i_out < n_out), MAX_STEPS, final.status)
    ys = jnp.where((jnp.arange(n_out) < final.i_out)[:, None], final.ys, jnp.nan)
    return ys, SSAStats(final.n, status, final.t, final.x)
