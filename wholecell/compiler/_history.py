"""The solution's past, for the ``delay`` csymbol: a ring buffer of dense-output steps."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

#: steps kept; a delay reaching further back than this many steps is an error
HISTORY_STEPS = 512


class History(NamedTuple):
    """The last ``HISTORY_STEPS`` steps' interpolants, newest at ``(count - 1) % H``."""

    interp: Any  # a diffrax interpolation pytree with a leading axis H
    t_lo: Any  # (H,)
    t_hi: Any  # (H,)
    count: Any  # steps pushed so far
    t_start: Any
    x_start: Any
    overflow: Any  # a lookup fell before the oldest step kept


def empty(template_interp, t0, x0, size: int = HISTORY_STEPS) -> History:
    """An empty history shaped like ``template_interp`` (one step's interpolation)."""
    stacked = jax.tree_util.tree_map(
        lambda a: jnp.zeros((size,) + jnp.shape(a), jnp.result_type(a)), template_interp
    )
    return History(
        interp=stacked,
        t_lo=jnp.full((size,), jnp.inf, x0.dtype),
        t_hi=jnp.full((size,), -jnp.inf, x0.dtype),
        count=jnp.array(0),
        t_start=t0,
        x_start=x0,
        overflow=jnp.array(False),
    )


def push(h: History, interp, t0, t1) -> History:
    size = h.t_lo.shape[0]
    k = h.count % size
    stacked = jax.tree_util.tree_map(lambda buf, a: buf.at[k].set(a), h.interp, interp)
    return h._replace(
        interp=stacked, t_lo=h.t_lo.at[k].set(t0), t_hi=h.t_hi.at[k].set(t1), count=h.count + 1
    )


def lookup(h: History, tau, x_now):
    """The state at time ``tau`` (the initial state before the start).

    Returns (x, overflow): ``overflow`` is true when ``tau`` lies before the oldest step
    still kept.
    """
    size = h.t_lo.shape[0]
    inside = (h.t_lo <= tau) & (tau <= h.t_hi)
    found = jnp.any(inside)
    # where steps meet (at an event) take the later one: its start is post-event
    age = (h.count - 1 - jnp.arange(size)) % size
    k = jnp.argmin(jnp.where(inside, age, size + 1))
    newest = (h.count - 1) % size
    after_all = (h.count > 0) & (tau > h.t_hi[newest])
    k = jnp.where(found, k, newest)
    one = jax.tree_util.tree_map(lambda a: a[k], h.interp)
    x = one.evaluate(jnp.where(found | after_all, tau, h.t_lo[k]))
    before_start = tau <= h.t_start
    x = jnp.where(before_start, h.x_start, x)
    # within the current step (nothing stored covers tau yet): the current state
    x = jnp.where(~before_start & (h.count == 0), x_now, x)
    lost = ~before_start & ~found & ~after_all & (h.count > 0)
    return x, lost
