"""The frozen-propensity coupling: every SSA firing of an ODE step, between two steps.

After each accepted ODE step [t0, t1] (steps end on output times and are at most the
communication step long), Gillespie's direct method fires all the stochastic reactions
due in [t0, t1] in one `jax.lax.while_loop`, as the CME-ODE whole-cell models do with
their 1 s communication step. The ODE species are held at their values at the middle of
the step, plus what the firings change in them; the stochastic species are the SSA's
own. The firings' net change is then added to the ODE's state at t1, and the ODE goes on
from there. Where no propensity reads an ODE species this is exact: the time to the next
firing is redrawn at each step boundary, which has the law of keeping the old draw
(memorylessness). Otherwise it is a splitting of first order in the step.

The loop evaluates only the stochastic reactions' kinetic laws (`stochastic_program`,
a `Program` with just those outputs) and applies a firing as a scatter of its few
stoichiometric entries (`change_table`), so one firing costs O(stochastic reactions),
not O(model). The random draws come from a counter-based stream (`_uniform2`): the loop
can be replayed bit for bit, which places a division inside a step (`locate_division`)
without storing the firings.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..compiler._program import Program
from ..sbml import _symbolic as S
from ._ssa import _propensity_sums, _uniform2

#: bisection iterations that place a division on the continuous path inside a step
BISECTION_STEPS = 48


def _mask_key(mask) -> str:
    return "".join("1" if b else "0" for b in mask)


def stochastic_program(structure, mask) -> Program:
    """The kinetic laws of the reactions in ``mask`` (only those), on the run-time base
    vector of `Structure.base` (a model without delays)."""

    def make(structure):
        L = structure.layout
        base = structure.const_syms + list(L.state_syms) + [S.TIME]
        ids = [r for r, m in zip(structure.reaction_ids, mask, strict=True) if m]
        return Program(base, L.run_defs, [S.symbol(r) for r in ids])

    return structure.cached("hybrid_stochastic_program:" + _mask_key(mask), make)


def change_table(structure, mask):
    """Per stochastic reaction its state changes as (index, coefficient) rows padded to
    the widest reaction, or None where a coefficient is not a number (a species
    reference id or a conversion factor: `Structure.reaction_change` then)."""

    def make(structure):
        st = structure
        rows = np.flatnonzero(np.asarray(mask, dtype=bool))
        on = np.isin(st.e_rxn, rows) & ~np.isin(st.e_state, st.rr_state)
        if np.any(st.e_var[on]) or np.any(st.e_has_factor[on]):
            return None
        pos = {int(r): k for k, r in enumerate(rows)}
        per: list[list[tuple[int, float]]] = [[] for _ in rows]
        for e in np.flatnonzero(on):
            per[pos[int(st.e_rxn[e])]].append((int(st.e_state[e]),
                                               float(st.e_sign[e] * st.e_const[e])))
        width = max((len(p) for p in per), default=0) or 1
        idx = np.zeros((len(rows), width), dtype=np.int32)
        coef = np.zeros((len(rows), width), dtype=np.float64)
        for k, p in enumerate(per):
            for w, (i, v) in enumerate(p):
                idx[k, w], coef[k, w] = i, v
        return idx, coef

    return structure.cached("hybrid_change_table:" + _mask_key(mask), make)


class Firings(NamedTuple):
    """The stochastic part of one ODE step, as the SSA loop carries it."""

    t: Any  # the time reached
    z: Any  # the state the propensities read (ODE species frozen, plus the firings)
    draws: Any  # the counter of the trajectory's random stream
    fired: Any  # firings in this step
    bad: Any  # a propensity was negative or not finite


class StochasticPart:
    """The stochastic reactions of a plan: propensities and firings on a state."""

    def __init__(self, structure, mask):
        self.structure = structure
        self.rows = np.flatnonzero(np.asarray(mask, dtype=bool)).astype(np.int32)
        self.program = stochastic_program(structure, mask)
        self.table = change_table(structure, mask)

    @property
    def empty(self) -> bool:
        return self.rows.size == 0

    def propensities(self, t, z, c):
        return self.program(self.structure.base(t, z, c))

    def fire(self, j, t, z, c, go):
        """``z`` after the ``j``-th stochastic reaction fires (where ``go``)."""
        if self.table is None:
            dz = self.structure.reaction_change(jnp.asarray(self.rows)[j], t, z, c)
            return jnp.where(go, z + dz, z)
        idx, coef = (jnp.asarray(a) for a in self.table)
        return z.at[idx[j]].add(jnp.where(go, coef[j], 0.0))

    def draw(self, key, f: Firings, t1, c):
        """One iteration of the direct method from ``f`` towards ``t1``: (the next
        firing's time, whether it comes by t1, the state after it, a bad propensity)."""
        a0, bad, pick = _propensity_sums(self.propensities(f.t, f.z, c))
        u0, u1 = _uniform2(key, f.draws)
        ok = (a0 > 0) & ~bad
        t_next = f.t - jnp.log1p(-u0) / jnp.where(ok, a0, 1.0)
        t_next = jnp.where(ok, t_next, jnp.inf)
        fire = t_next <= t1
        return t_next, fire, self.fire(pick(u1 * a0), t_next, f.z, c, fire), bad


def run_step(part: StochasticPart, key, t0, t1, z0, draws, c, go) -> Firings:
    """Every firing due in [t0, t1] from ``z0`` (none where ``go`` is false)."""
    f0 = Firings(t0, z0, draws, jnp.array(0), jnp.array(False))
    if part.empty:
        return f0._replace(t=t1)

    def cond(f):
        return go & (f.t < t1) & ~f.bad

    def body(f):
        t_next, fire, z, bad = part.draw(key, f, t1, c)
        return Firings(jnp.where(fire, t_next, t1), z, f.draws + jnp.uint32(1),
                       f.fired + fire.astype(f.fired.dtype), f.bad | bad)

    return jax.lax.while_loop(cond, body, f0)


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


def locate_division(part: StochasticPart, holds, path, key, t0, t1, z0, draws, c, go):
    """Replay the step's firings to find the first time the division condition holds.

    ``path(s, dz)``: the cell's state at ``s`` with the firings' change ``dz`` so far
    (the ODE's dense output plus ``dz``); ``holds(s, x)``: the condition. It is known to
    hold at t1 (``go``); the replay stops at the firing that makes it hold, or brackets
    its crossing on the continuous path between two firings (then bisected). Returns
    (time, state, firings up to then).
    """
    f0 = Firings(t0, z0, draws, jnp.array(0), jnp.array(False))
    s0 = _Search(f0, jnp.array(0), t0, t1, z0)

    def cond(s):
        return go & (s.found == 0) & (s.f.t < t1) & ~part.empty

    def body(s):
        f = s.f
        t_next, fire, z, _ = part.draw(key, f, t1, c)
        t_seg = jnp.minimum(t_next, t1)
        cont = holds(t_seg, path(t_seg, f.z - z0))
        hit = ~cont & fire & holds(t_next, path(t_next, z - z0))
        found = jnp.where(cont, 2, jnp.where(hit, 1, 0))
        moved = fire & ~cont
        f_new = Firings(jnp.where(moved, t_next, jnp.where(cont, f.t, t1)),
                        jnp.where(moved, z, f.z), f.draws + jnp.uint32(1),
                        f.fired + moved.astype(f.fired.dtype), f.bad)
        return _Search(f_new, found, jnp.where(cont, f.t, s.lo), jnp.where(cont, t_seg, s.hi),
                       jnp.where(hit, z, s.z_hit))

    s = jax.lax.while_loop(cond, body, s0)
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
