"""The frozen-propensity coupling: every SSA firing of an ODE step, between two steps.

After each accepted ODE step [t0, t1] (steps end on output times and are at most the
communication step long), Gillespie's direct method fires all the stochastic reactions
due in [t0, t1] in one `jax.lax.while_loop`, as the CME-ODE whole-cell models do with
their 1 s communication step. Time and the ODE species (the states an ODE reaction or
a rate rule changes) are held at their values at the middle of the step; the
stochastic species move with every firing. The firings' net change of the state, ODE
species included, is then added to the ODE's state at t1, and the ODE goes on from
there. Where no propensity reads an ODE species or time this is exact: the time to the
next firing is redrawn at each step boundary, which has the law of keeping the old draw
(memorylessness). Otherwise it is a splitting whose error shrinks with the step.

A firing costs O(its dependants) for the propensities (`_laws`: only the laws that
read a species it changed are recomputed) plus O(stochastic reactions) for the sum and
the choice of the next reaction. The random draws come from a counter-based stream
(`_uniform2`): the loop can be replayed bit for bit, which places a division inside a
step (`locate_division`) without storing the firings.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

from . import _sums
from ._laws import Laws
from ._ssa import _exponential, _select, _uniform2

#: bisection iterations that place a division on the continuous path inside a step
BISECTION_STEPS = 48


class Firings(NamedTuple):
    """The stochastic part of one ODE step, as the SSA loop carries it."""

    t: Any  # the time reached
    z: Any  # the state: at mid-step, plus the firings so far
    b: Any  # the laws' base vector (`Laws`): what the propensities read
    a: Any  # the propensities on ``b``, with their block sums (`_sums.Sums`)
    draws: Any  # the counter of the trajectory's random stream
    fired: Any  # firings in this step
    bad: Any  # a propensity was negative or not finite


def start(laws: Laws, t0, t1, z0, draws, c) -> Firings:
    """The loop's state at t0: time and the ODE species frozen at mid-step."""
    b = laws.base(0.5 * (t0 + t1), z0, c)
    a = _sums.make(laws.all(b) if not laws.empty else jnp.zeros(0, z0.dtype))
    return Firings(t0, z0, b, a, draws, jnp.array(0), jnp.array(False))


def draw(laws: Laws, key, f: Firings, t1):
    """One draw of the direct method from ``f``: (the next firing's time, whether it
    comes by ``t1``, which reaction, whether a propensity is bad)."""
    a0, pick = _sums.total_and_pick(f.a)
    bad = f.a.bad
    u0, u1 = _uniform2(key, f.draws)
    ok = (a0 > 0) & ~bad
    t_next = f.t + _exponential(u0) / jnp.where(ok, a0, 1.0)
    t_next = jnp.where(ok, t_next, jnp.inf)
    j = jnp.minimum(pick(u1 * a0), laws.rows.size - 1)
    return t_next, t_next <= t1, j, bad


def fire(laws: Laws, f: Firings, j, t, go, c) -> Firings:
    """``f`` after reaction ``j`` fires at ``t`` (where ``go``; else unchanged)."""
    z, b = laws.fire(j, t, f.z, f.b, c, go)
    if laws.deps is None:
        a = _sums.make(laws.all(b))
        a = jax.tree_util.tree_map(lambda new, old: jnp.where(go, new, old), a, f.a)
    else:  # (an update at no index where not ``go``: no copy of the table)
        u, new = laws.changed(b, j)
        a = _sums.set_values(f.a, jnp.where(go, u, -1), new)
    return f._replace(t=jnp.where(go, t, f.t), z=z, b=b, a=a,
                      fired=f.fired + go.astype(f.fired.dtype))


def lanes_while(active, body, init, consts):
    """``while active(s, consts): s = body(s, consts, on)``, with ``on`` true.

    Under `jax.vmap` it runs until no lane is active and calls ``body`` on every lane,
    with ``on`` false where a lane is done: ``body`` must then leave it unchanged (by
    masking its updates). The batched `jax.lax.while_loop` would instead select the
    whole carry between the new and the old value on every iteration, which cost
    about two thirds of an iteration for 32 cells of the 500-gene model of
    benchmarks/hybrid_scale.py (its carry: the state and 2,000 propensities per cell).
    """

    @custom_vmap
    def loop(init, consts):
        return jax.lax.while_loop(lambda s: active(s, consts),
                                  lambda s: body(s, consts, jnp.array(True)), init)

    @loop.def_vmap
    def batched(axis_size, in_batched, init, consts):
        init_b, consts_b = in_batched
        init = jax.tree_util.tree_map(
            lambda x, b: x if b else jnp.broadcast_to(x, (axis_size,) + jnp.shape(x)),
            init, init_b)
        axes = jax.tree_util.tree_map(lambda b: 0 if b else None, consts_b)
        each = jax.vmap(active, in_axes=(0, axes))
        step = jax.vmap(lambda s, cs: body(s, cs, active(s, cs)), in_axes=(0, axes))
        out = jax.lax.while_loop(lambda s: jnp.any(each(s, consts)),
                                 lambda s: step(s, consts), init)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return loop(init, consts)


def when_any(pred, work, skip, operands):
    """``work(*operands)`` where ``pred``, else ``skip(*operands)`` (the same structure).

    Under `jax.vmap` ``work`` runs for the whole batch, its results kept where ``pred``,
    and only when some lane's ``pred`` holds: a batched `jax.lax.cond` would run it on
    every call (it becomes a select of both branches).
    """

    @custom_vmap
    def branch(pred, operands):
        return jax.lax.cond(pred, lambda o: work(*o), lambda o: skip(*o), operands)

    @branch.def_vmap
    def batched(axis_size, in_batched, pred, operands):
        pred_b, ops_b = in_batched
        pred = pred if pred_b else jnp.broadcast_to(pred, (axis_size,))
        axes = jax.tree_util.tree_map(lambda b: 0 if b else None, ops_b)

        def both(o):
            return _select(pred, jax.vmap(work, in_axes=axes)(*o),
                           jax.vmap(skip, in_axes=axes)(*o))

        def none(o):
            rest = jax.vmap(skip, in_axes=axes)(*o)
            shapes = jax.eval_shape(lambda: jax.vmap(work, in_axes=axes)(*o))
            return jax.tree_util.tree_map(lambda v, s: jnp.broadcast_to(v, s.shape), rest,
                                          shapes)

        out = jax.lax.cond(jnp.any(pred), both, none, operands)
        return out, jax.tree_util.tree_map(lambda _: True, out)

    return branch(pred, operands)


def run_step(part: Laws, key, t0, t1, z0, draws, c, go) -> Firings:
    """Every firing due in [t0, t1] from ``z0`` (none where ``go`` is false)."""
    f0 = start(part, t0, t1, z0, draws, c)
    if part.empty:
        return f0._replace(t=t1)

    def active(f, consts):
        _, t1, go, _ = consts
        return go & (f.t < t1) & ~f.bad

    def body(f, consts, on):
        key, t1, _, c = consts
        t_next, due, j, bad = draw(part, key, f, t1)
        g = fire(part, f, j, t_next, due & on, c)
        return g._replace(t=jnp.where(on, jnp.where(due, g.t, t1), f.t),
                          draws=f.draws + on.astype(f.draws.dtype), bad=f.bad | (bad & on))

    return lanes_while(active, body, f0, (key, t1, go, c))


def _bisect_while(pred, lo, hi, go):
    """The first time in (lo, hi] where the monotone ``pred`` holds (it holds at hi); no
    iteration where ``go`` is false (under vmap: none unless a lane needs it)."""

    def cond(s):
        return go & (s[2] < BISECTION_STEPS)

    def body(s):
        a, b, i = s
        mid = 0.5 * (a + b)
        yes = pred(mid)
        return jnp.where(yes, a, mid), jnp.where(yes, mid, b), i + 1

    return jax.lax.while_loop(cond, body, (lo, hi, jnp.array(0)))[1]


class _Search(NamedTuple):
    f: Firings
    found: Any  # 0 searching, 1 at a firing, 2 on the continuous path before a firing
    lo: Any
    hi: Any
    z_hit: Any  # the state at a firing that divides


def locate_division(part: Laws, holds, path, key, t0, t1, z0, draws, c, go):
    """Replay the step's firings to find the first time the division condition holds.

    ``path(s, dz)``: the cell's state at ``s`` with the firings' change ``dz`` so far
    (the ODE's dense output plus ``dz``); ``holds(s, x)``: the condition. It is known to
    hold at t1 (``go``); the replay stops at the firing that makes it hold, or brackets
    its crossing on the continuous path between two firings (then bisected). Returns
    (time, state, firings up to then).
    """
    f0 = start(part, t0, t1, z0, draws, c)
    s0 = _Search(f0, jnp.array(0), t0, t1, z0)

    def active(s, consts):
        _, t1, go, _ = consts
        return go & (s.found == 0) & (s.f.t < t1)

    def body(s, consts, on):
        key, t1, _, c = consts
        f = s.f
        t_next, due, j, _ = draw(part, key, f, t1)
        t_seg = jnp.minimum(t_next, t1)
        cont = on & holds(t_seg, path(t_seg, f.z - z0))
        g = fire(part, f, j, t_next, due & ~cont & on, c)
        hit = on & ~cont & due & holds(t_next, path(t_next, g.z - z0))
        found = jnp.where(cont, 2, jnp.where(hit, 1, s.found))
        g = g._replace(t=jnp.where(~on | due | cont, g.t, t1),
                       draws=f.draws + on.astype(f.draws.dtype))
        return _Search(g, found, jnp.where(cont, f.t, s.lo), jnp.where(cont, t_seg, s.hi),
                       jnp.where(hit, g.z, s.z_hit))

    # (a plain loop: ``holds`` and ``path`` close over the cell's values; it runs only
    # in a step where some cell divides)
    consts = (key, t1, go, c)
    s = s0 if part.empty else jax.lax.while_loop(
        lambda s: active(s, consts), lambda s: body(s, consts, jnp.array(True)), s0)
    # the condition held at t1 but no firing or segment was found (no stochastic
    # reaction, or it held only with the ODE's end point): the last segment's crossing
    cont = (s.found == 2) | (s.found == 0)
    lo = jnp.where(s.found == 2, s.lo, s.f.t)
    hi = jnp.where(s.found == 2, s.hi, t1)
    dz = s.f.z - z0
    t_d = _bisect_while(lambda u: holds(u, path(u, dz)), lo, hi, go & cont)
    t_out = jnp.where(cont, t_d, s.f.t)
    x_out = jnp.where(cont, path(t_d, dz), path(s.f.t, s.z_hit - z0))
    return t_out, x_out, s.f.fired
