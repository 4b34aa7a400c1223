"""The stochastic reactions' laws for the hybrid's inner SSA loop, reaction by reaction.

Inside one communication step the ODE species and time are frozen, so a stochastic
propensity changes only with the *stochastic species*: the states that stochastic
reactions change and no ODE reaction or rate rule does. Each law is rewritten in terms
of those species and of frozen values (constants, ODE species, time, and the derived
values that depend on no stochastic species, computed once per step). The rewritten
laws are grouped by shape, as a `Program` does, but each can also be evaluated alone:
after a firing only the laws that read a species it changed are recomputed (a
dependency graph), which makes a firing cost O(those laws) instead of O(all laws).

Measured on the 500-gene model of benchmarks/hybrid_scale.py (2,000 stochastic
reactions, 8 cells): evaluating every law after each firing took about 50 us per cell
and firing on this CPU, most of it the laws.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from ..compiler._lower import Lowerer, as_number
from ..compiler._program import Program, arg, canonical, const
from ..sbml import _symbolic as S

#: recompute every law after a firing when some firing touches more than this share of
#: them (the dependency graph's padded rows would cost as much)
DENSE_SHARE = 0.25


def _mask_key(mask) -> str:
    return "".join("1" if b else "0" for b in mask)


def ode_states(structure, mask) -> np.ndarray:
    """Per state: changed by an ODE reaction (``mask`` false) or a rate rule."""
    st = structure
    rows = np.asarray(mask, dtype=bool)
    by_ode = np.zeros(st.n_state, dtype=bool)
    by_ode[st.e_state[~rows[st.e_rxn]]] = True
    by_ode[np.asarray(st.rr_state, dtype=np.int64)] = True
    return by_ode


def stochastic_states(structure, mask) -> np.ndarray:
    """Per state: changed by a stochastic reaction and by no ODE reaction or rate rule."""
    st = structure
    rows = np.asarray(mask, dtype=bool)
    by_stoch = np.zeros(st.n_state, dtype=bool)
    by_stoch[st.e_state[rows[st.e_rxn]]] = True
    return by_stoch & ~ode_states(st, mask)


def change_table(structure, mask):
    """Per stochastic reaction its state changes as (index, coefficient) rows padded to
    the widest reaction, or None where a coefficient is not a number (a species
    reference id or a conversion factor: `Structure.reaction_change` then)."""
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


class Laws:
    """The stochastic laws on a frozen base vector ``b`` = (constants, state, time,
    frozen derived values); only ``b``'s stochastic-species entries move in a step."""

    def __init__(self, structure, mask):
        st = structure
        L = st.layout
        self.structure = structure
        self.rows = np.flatnonzero(np.asarray(mask, dtype=bool)).astype(np.int32)
        self.s_state = stochastic_states(structure, mask)
        defs = L.run_defs
        moving = {L.state_syms[i] for i in np.flatnonzero(self.s_state)}
        memo: dict[sp.Symbol, bool] = {}

        def moves(s) -> bool:  # depends on a stochastic species
            if s in moving:
                return True
            if s not in defs:
                return False
            if s not in memo:
                memo[s] = False  # (definitions are acyclic)
                memo[s] = any(moves(d) for d in defs[s].free_symbols)
            return memo[s]

        laws = [defs[S.symbol(st.reaction_ids[r])] for r in self.rows]
        # derived values that move with the stochastic species (a free RNA polymerase:
        # all of it less the sum over 500 genes of the bound) are computed once per
        # evaluation by a Program and read by the laws, not written into each of them
        # (inlined, 500 laws of 500 terms each: minutes to trace, 250,000 terms per firing)
        derived = [s for s in defs if moves(s) and s not in moving]
        needed: set[sp.Symbol] = set()
        stack = [x for e in laws for x in e.free_symbols if x in defs and moves(x)]
        while stack:
            x = stack.pop()
            if x in needed or x in moving:
                continue
            needed.add(x)
            stack.extend(d for d in defs[x].free_symbols if d in defs and moves(d))
        derived = sorted((x for x in derived if x in needed), key=str)
        reach: dict[sp.Symbol, frozenset] = {}

        def moving_reads(x) -> frozenset:  # the stochastic species a symbol depends on
            if x in moving:
                return frozenset((x,))
            if x not in defs or not moves(x):
                return frozenset()
            if x not in reach:
                reach[x] = frozenset().union(*(moving_reads(d) for d in defs[x].free_symbols))
            return reach[x]

        frozen = sorted({x for e in [*laws, *(defs[d] for d in derived)]
                         for x in e.free_symbols if x in defs and not moves(x)}, key=str)
        base = st.const_syms + list(L.state_syms) + [S.TIME] + frozen
        self.n_const = len(st.const_syms)
        self.n_base = len(base)
        self.frozen = Program(st.const_syms + list(L.state_syms) + [S.TIME], defs,
                              frozen) if frozen else None
        self.derived = Program(base, defs, derived) if derived else None
        position = {x: i for i, x in enumerate(base + derived)}
        reads = [sorted(position[m] - self.n_const for x in e.free_symbols
                        for m in moving_reads(x)) for e in laws]

        def is_symbol(node):
            return node in position

        groups: dict[Any, list] = {}
        for k, e in enumerate(laws):
            shape, args, consts = canonical(e, is_symbol)
            groups.setdefault(shape, []).append((k, [position[a] for a in args], consts))
        self.groups = []
        self.group_of = np.zeros(len(laws), dtype=np.int32)
        self.row_of = np.zeros(len(laws), dtype=np.int32)
        for g, (shape, members) in enumerate(groups.items()):
            n_args, n_consts = len(members[0][1]), len(members[0][2])
            idx = np.array([m[1] for m in members], dtype=np.int32).reshape(len(members), n_args)
            cst = np.array([m[2] for m in members], dtype=np.float64).reshape(len(members),
                                                                                n_consts)
            who = np.array([m[0] for m in members], dtype=np.int32)
            self.group_of[who], self.row_of[who] = g, np.arange(len(members))
            self.groups.append((shape, idx, cst, who))
        self.table = change_table(structure, mask)
        self.deps = self._dependencies(reads)

    def _dependencies(self, reads):
        """(R, d) laws to recompute after each firing (padded with R), or None: all."""
        R = len(self.rows)
        if self.table is None or R == 0:
            return None
        idx, coef = self.table
        readers: dict[int, set[int]] = {}
        for k, r in enumerate(reads):
            for i in r:
                readers.setdefault(i, set()).add(k)
        deps = []
        for j in range(R):
            hit: set[int] = set()
            for i, v in zip(idx[j], coef[j], strict=True):
                if v != 0 and self.s_state[i]:
                    hit |= readers.get(int(i), set())
            deps.append(sorted(hit))
        width = max((len(d) for d in deps), default=0) or 1
        if width > DENSE_SHARE * R:
            return None
        out = np.full((R, width), R, dtype=np.int32)
        for j, d in enumerate(deps):
            out[j, : len(d)] = d
        return out

    @property
    def empty(self) -> bool:
        return self.rows.size == 0

    def base(self, t, z, c):
        """The frozen base vector at time ``t`` and state ``z``."""
        st = self.structure
        b = st.base(t, z, c)
        if self.frozen is None:
            return b
        return jnp.concatenate([b, self.frozen(b)])

    def _with_derived(self, b):
        """``b`` followed by the moving derived values computed from it."""
        return b if self.derived is None else jnp.concatenate([b, self.derived(b)])

    def _group(self, g, b, rows):
        shape, idx, cst, _ = self.groups[g]
        env = {arg(j): b[jnp.asarray(idx)[rows, j]] for j in range(idx.shape[1])}
        env.update({const(j): jnp.asarray(cst)[rows, j] for j in range(cst.shape[1])})
        out = as_number(Lowerer(env)(shape))
        return jnp.broadcast_to(jnp.asarray(out, b.dtype), rows.shape)

    def all(self, b):
        """Every law on ``b``: (R,)."""
        return _all_laws(self, b)

    def _all(self, b):
        b = self._with_derived(b)
        a = jnp.zeros(len(self.rows), b.dtype)
        for g, (_, _, _, who) in enumerate(self.groups):
            a = a.at[jnp.asarray(who)].set(self._group(g, b, jnp.arange(who.size)))
        return a

    def changed(self, b, j):
        """The laws that firing ``j`` may have changed, recomputed on ``b``: (indices,
        values), indices -1 where padded. Only with a dependency graph (``deps``)."""
        return _changed_laws(self, b, j)

    def _changed(self, b, j):
        R = len(self.rows)
        b = self._with_derived(b)
        u = jnp.asarray(self.deps)[j]
        valid = u < R
        uc = jnp.minimum(u, R - 1)
        g_of, r_of = jnp.asarray(self.group_of)[uc], jnp.asarray(self.row_of)[uc]
        new = jnp.zeros(u.shape, b.dtype)
        for g in range(len(self.groups)):
            if len(self.groups) == 1:
                new = self._group(g, b, r_of)
                break
            mine = g_of == g
            new = jnp.where(mine, self._group(g, b, jnp.where(mine, r_of, 0)), new)
        return jnp.where(valid, u, -1), new

    def fire(self, j, t, z, b, c, go):
        """(z, b) after the ``j``-th stochastic reaction fires (where ``go``)."""
        n0 = self.n_const
        if self.table is None:
            st = self.structure
            dz = jnp.where(go, st.reaction_change(jnp.asarray(self.rows)[j], t, z, c), 0.0)
            move = jnp.asarray(self.s_state)
            b = b.at[n0: n0 + st.n_state].add(jnp.where(move, dz, 0.0))
            return z + dz, b
        idx, coef = (jnp.asarray(a) for a in self.table)
        dz = jnp.where(go, coef[j], 0.0)
        moving = jnp.asarray(self.s_state)[idx[j]]
        return z.at[idx[j]].add(dz), b.at[n0 + idx[j]].add(jnp.where(moving, dz, 0.0))


# Jitted, so a hybrid loop that evaluates the laws at several places (the start of a
# step, each firing, batched and unbatched) traces each group's gathers once per shape:
# traced at every call they were over half of the minimal cell's 65 s trace. XLA inlines
# them, so the compiled program is the same.
@jax.jit(static_argnums=0)
def _all_laws(laws: Laws, b):
    return laws._all(b)


@jax.jit(static_argnums=0)
def _changed_laws(laws: Laws, b, j):
    return laws._changed(b, j)


def laws_for(structure, mask) -> Laws:
    """The `Laws` of ``mask``, made once per structure and mask."""
    return structure.cached("hybrid_laws:" + _mask_key(mask), lambda st: Laws(st, mask))
