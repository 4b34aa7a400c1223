"""Propensities kept with their block sums: the direct method's draw in O(sqrt(R)).

The R propensities are stored as a (B, W) table (W ~ sqrt(R), zero padded) beside the
B row sums. The total is the sum of the row sums; the reaction with
cumsum(a)[j-1] <= r < cumsum(a)[j] is found by a prefix sum over the rows and then over
one row. Changing a few propensities updates their rows' sums. A prefix sum over all R
would cost most of a firing: XLA's cumulative sum of 2,000 doubles takes about 19 us on
this CPU, against 2 us for their plain sum (benchmarks/hybrid_scale.py's 500 genes).
A changed row's sum is summed again from the row, so no rounding accumulates.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax.numpy as jnp

from ._ssa import UNROLL_REACTIONS, _propensity_sums


class Sums(NamedTuple):
    a: Any  # (B, W) propensities, zero padded
    rows: Any  # (B,) their row sums
    bad: Any  # one was negative or not finite


def shape_for(R: int) -> tuple[int, int]:
    """(B, W) of R propensities: W = ceil(sqrt(R)) columns, as many rows as needed; one
    row up to `UNROLL_REACTIONS` (their sums are then unrolled, `_propensity_sums`)."""
    if R <= UNROLL_REACTIONS:
        return 1, max(R, 1)
    W = math.ceil(math.sqrt(R))
    return max(1, -(-R // W)), W


def _bad(v):
    return jnp.any((v < 0) | ~jnp.isfinite(v))


def make(a) -> Sums:
    """`Sums` of the propensities ``a`` (R,)."""
    R = a.shape[0]
    B, W = shape_for(R)
    table = jnp.pad(a, (0, B * W - R)).reshape(B, W)
    return Sums(table, jnp.sum(table, axis=1), _bad(a))


def set_values(s: Sums, u, new) -> Sums:
    """``s`` with the propensities at ``u`` (indices; out of range: ignored) set to ``new``.

    The changed rows' sums are summed again from the table after the update (reading
    the old values first would make XLA copy the whole table on every firing)."""
    B, W = s.a.shape
    ok = (u >= 0) & (u < B * W)
    i, k = jnp.where(ok, u // W, B), jnp.where(ok, u % W, 0)
    a = s.a.at[i, k].set(new, mode="drop")
    rows = s.rows.at[i].set(jnp.sum(a[jnp.minimum(i, B - 1)], axis=-1), mode="drop")
    return Sums(a, rows, s.bad | _bad(jnp.where(ok, new, 0.0)))


def total_and_pick(s: Sums):
    """(a0, pick): the total and ``pick(r)`` -> j with cumsum[j-1] <= r < cumsum[j]."""
    B, W = s.a.shape
    if B == 1:
        a0, _, pick = _propensity_sums(s.a[0])
        return a0, lambda r: pick(r).astype(jnp.int32)
    cum = jnp.cumsum(s.rows)
    a0 = cum[-1]

    def pick(r):
        i = jnp.minimum(jnp.sum(cum[:-1] <= r), B - 1).astype(jnp.int32)
        rest = r - (cum[i] - s.rows[i])
        _, _, within = _propensity_sums(s.a[i])
        return i * W + within(rest).astype(jnp.int32)

    return a0, pick
