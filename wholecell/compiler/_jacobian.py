"""Sparse Jacobians by column colouring: one JVP per colour instead of one per state.

The sparsity pattern of d(rhs)/dx comes from the model's structure: which states each
reaction rate, rate rule and variable stoichiometry depends on (through the compiled
definitions), spread over the states each reaction changes. It holds for every value of
the parameters and the time, where a pattern read off numerical Jacobians would miss
entries that vanish at the sampled point (a parameter that is zero, a rate switched on
later by a piecewise function). Columns that share no row get one colour, and a JVP
along the sum of their unit vectors recovers all of them. Reaction networks are sparse
— each rate depends on a few species — so a 500-species model needs a few dozen JVPs,
not 500.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: colouring pays off above this many states
MIN_STATES = 24


def sparsity_pattern(structure) -> np.ndarray:
    """Boolean (n, n) pattern of d(rhs)/dx (diagonal always included), from structure."""
    n = structure.n_state
    lo = len(structure.const_syms)
    deps = structure.rhs_prog.dependencies(lo, lo + n)
    pattern = np.eye(n, dtype=bool)

    def mark(rows, out_positions):
        for i, k in zip(np.asarray(rows).tolist(), np.asarray(out_positions).tolist(), strict=True):
            cols = list(deps[k])
            if cols:
                pattern[i, cols] = True

    mark(structure.e_state, structure.e_rxn)
    if structure.any_var:
        mark(structure.e_state[structure.e_var], structure.e_var_pos[structure.e_var])
    if structure.any_factor:
        has = structure.e_has_factor
        mark(structure.e_state[has], structure.e_factor_pos[has])
    if len(structure.rr_state):
        pattern[structure.rr_state] = np.eye(n, dtype=bool)[structure.rr_state]
        mark(structure.rr_state, structure.rr_pos)
    return pattern


def colour_columns(pattern: np.ndarray) -> np.ndarray:
    """Greedy colouring: columns sharing a row get different colours (largest first)."""
    n = pattern.shape[1]
    order = np.argsort(-pattern.sum(axis=0), kind="stable")
    colours = -np.ones(n, dtype=np.int64)
    rows_of = [np.flatnonzero(pattern[:, j]) for j in range(n)]
    used_rows: list[set] = []
    for j in order:
        rows = set(rows_of[j].tolist())
        for k, taken in enumerate(used_rows):
            if not (rows & taken):
                colours[j] = k
                taken |= rows
                break
        else:
            colours[j] = len(used_rows)
            used_rows.append(rows)
    return colours


class SparseJacobian:
    """``jac(t, y, args) -> (J, f_t)`` with one JVP per colour (static, identity-hashed)."""

    def __init__(self, structure, pattern: np.ndarray):
        self.structure = structure
        self.pattern = pattern
        self.colours = colour_columns(pattern)
        self.n_colours = int(self.colours.max()) + 1 if self.colours.size else 0
        n = pattern.shape[0]
        seeds = np.zeros((self.n_colours, n))
        seeds[self.colours, np.arange(n)] = 1.0
        self.seeds = seeds
        rows, cols = np.nonzero(pattern)
        self.rows, self.cols = rows, cols
        self.colour_of = self.colours[cols]

    def __call__(self, t, y, args):
        def f(y_, t_):
            return self.structure.rhs(t_, y_, args)

        def jvp_y(v):
            return jax.jvp(lambda y_: f(y_, t), (y,), (v,))[1]

        compressed = jax.vmap(jvp_y)(jnp.asarray(self.seeds, y.dtype))  # (colours, n)
        values = compressed[self.colour_of, self.rows]
        n = y.shape[0]
        J = jnp.zeros((n, n), y.dtype).at[self.rows, self.cols].set(values)
        ft = jax.jvp(lambda t_: f(y, t_), (t,), (jnp.ones_like(t),))[1]
        return J, ft

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def jacobian_for(structure):
    """A `SparseJacobian` when it saves work, else None (dense `jacfwd`)."""
    n = structure.n_state
    if n < MIN_STATES or structure.delays or structure.fast.size:
        return None
    return structure.cached("sparse_jacobian", _sparse_jacobian)


def _sparse_jacobian(structure):
    jac = SparseJacobian(structure, sparsity_pattern(structure))
    return jac if jac.n_colours < 0.5 * structure.n_state else None
