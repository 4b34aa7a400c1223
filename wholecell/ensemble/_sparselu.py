"""Sparse LU on a fixed pattern, for many matrices at once (members on the last axis).

The stiff lock-step solver (`_lockstep_bdf`) factorises ``I - c J`` for thousands of
members whose Jacobians share one sparsity pattern. A dense LU of BIOMD0000000019's
94 x 94 matrix is about 277,000 multiply-adds; on its pattern (604 entries), with the
rows and columns in minimum-degree order, the factors hold 886 entries and cost 2,162.

The factorisation is planned once, in numpy: every entry of ``L + U`` is computed from
its Crout formula, ``U_ij = A_ij - sum_k L_ik U_kj`` and ``L_ij = (A_ij - sum_k L_ik
U_kj) / U_jj``, and the entries are grouped into levels whose inputs all come from
earlier levels. A level is one gather, product and sum over ``(entries, terms, B)``
arrays, written into a contiguous block: tens of array operations in all, where one
operation per multiply-add (straight-line code) took XLA half a minute to compile.
The triangular solves are planned the same way.

There is no pivoting (the order is chosen for sparsity alone). ``I - c J`` is the
identity for small ``c`` and its factors stay usable over the step sizes a stiff solver
takes on reaction networks; a zero or tiny pivot gives non-finite or large corrections,
which the solver's Newton test rejects like any failed iteration.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


def minimum_degree(pattern: np.ndarray) -> np.ndarray:
    """An elimination order of ``pattern``'s rows and columns (symmetrised) by minimum
    degree, ties to the lowest index."""
    S = pattern | pattern.T
    n = S.shape[0]
    alive = np.ones(n, dtype=bool)
    order = np.empty(n, dtype=np.int64)
    for step in range(n):
        degree = np.where(alive, (S & alive[None, :]).sum(axis=1), n + 1)
        k = int(np.argmin(degree))
        order[step] = k
        alive[k] = False
        neighbours = np.flatnonzero(S[k] & alive)
        S[np.ix_(neighbours, neighbours)] = True
    return order


def symbolic_fill(pattern: np.ndarray) -> np.ndarray:
    """The pattern of ``L + U`` for ``pattern`` factorised without pivoting."""
    F = pattern.copy()
    n = F.shape[0]
    for k in range(n):
        rows = np.flatnonzero(F[k + 1 :, k]) + k + 1
        cols = np.flatnonzero(F[k, k + 1 :]) + k + 1
        F[np.ix_(rows, cols)] = True
    return F


class _Level(NamedTuple):
    start: int  # first slot this level writes (a contiguous block)
    stop: int
    sources: np.ndarray  # (m,) what each entry starts from
    left: np.ndarray  # (m, w) slots of the products' first factors (0: the zero slot)
    right: np.ndarray  # (m, w) slots of their second factors
    divisor: np.ndarray | None  # (m,) slots divided by (1: the slot holding one)


def _levels(depends, depth, sources_of, divisor_of, first_slot: int) -> tuple[list, np.ndarray]:
    """Group items by ``depth`` into levels; item i reads the slots of the items (or
    fixed slots) named by ``depends(i, slot)``. Returns the levels and each item's slot."""
    order = np.argsort(depth, kind="stable")
    slot = np.empty(len(depth), dtype=np.int64)
    slot[order] = first_slot + np.arange(len(depth))
    levels = []
    for d in range(int(depth.max()) + 1 if len(depth) else 0):
        items = order[depth[order] == d]
        terms = [depends(int(i), slot) for i in items]
        w = max((len(t) for t in terms), default=0)
        left = np.zeros((len(items), w), dtype=np.int64)
        right = np.zeros((len(items), w), dtype=np.int64)
        for r, t in enumerate(terms):
            for q, (a, b) in enumerate(t):
                left[r, q], right[r, q] = a, b
        div = [divisor_of(int(i), slot) for i in items]
        levels.append(_Level(
            int(slot[items[0]]), int(slot[items[-1]]) + 1,
            np.array([sources_of(int(i)) for i in items], dtype=np.int64), left, right,
            None if all(v == 1 for v in div) else np.array(div, dtype=np.int64),
        ))
    return levels, slot


class SparseLU:
    """Factorise and solve matrices with the sparsity ``pattern`` (n, n), members on the
    last axis: values come as ``(nnz, B)`` in the order of ``np.nonzero(pattern)``.

    The pattern must include the diagonal.
    """

    def __init__(self, pattern: np.ndarray):
        pattern = np.asarray(pattern, dtype=bool)
        n = pattern.shape[0]
        if pattern.shape != (n, n) or not pattern.diagonal().all():
            raise ValueError("SparseLU needs a square pattern that includes the diagonal")
        self.n = n
        self.order = minimum_degree(pattern)
        self.inverse = np.argsort(self.order)
        P = pattern[np.ix_(self.order, self.order)]
        F = symbolic_fill(P)
        rows, cols = np.nonzero(F)  # row-major: every entry's inputs come before it
        self.n_factors = len(rows)
        entry = -np.ones((n, n), dtype=np.int64)
        entry[rows, cols] = np.arange(len(rows))
        # where each entry of L + U starts: its value in the given pattern, or 0 (fill)
        given_rows, given_cols = np.nonzero(pattern)
        given = -np.ones((n, n), dtype=np.int64)
        given[self.inverse[given_rows], self.inverse[given_cols]] = np.arange(len(given_rows))
        self.n_given = len(given_rows)
        products = []
        depth = np.zeros(len(rows), dtype=np.int64)
        for e, (i, j) in enumerate(zip(rows.tolist(), cols.tolist(), strict=True)):
            m = min(i, j)
            ks = np.flatnonzero(F[i, :m] & F[:m, j])
            pairs = [(int(entry[i, k]), int(entry[k, j])) for k in ks.tolist()]
            if i > j:
                pairs_in = [a for p in pairs for a in p] + [int(entry[j, j])]
            else:
                pairs_in = [a for p in pairs for a in p]
            products.append(pairs)
            depth[e] = 1 + max((depth[a] for a in pairs_in), default=-1)
        self.multiply_adds = sum(len(p) for p in products)
        # slots: 0 holds zero, 1 holds one, the factors from 2 on (by level)
        self._factor_levels, self._factor_slot = _levels(
            lambda e, slot: [(slot[a], slot[b]) for a, b in products[e]],
            depth,
            lambda e: int(given[rows[e], cols[e]]),
            lambda e, slot: int(slot[entry[cols[e], cols[e]]]) if rows[e] > cols[e] else 1,
            2,
        )
        slot = self._factor_slot
        lower = [[(int(slot[entry[i, k]]), k) for k in np.flatnonzero(F[i, :i]).tolist()]
                 for i in range(n)]
        upper = [[(int(slot[entry[i, k]]), k) for k in (np.flatnonzero(F[i, i + 1 :]) + i + 1)
                  .tolist()] for i in range(n)]
        # forward (L y = b, unit diagonal) and backward (U x = y) substitution; slot 0 of
        # y and x holds zero, row i of the permuted system from 1 on (by level)
        forward_depth = np.zeros(n, dtype=np.int64)
        for i in range(n):
            forward_depth[i] = 1 + max((forward_depth[k] for _, k in lower[i]), default=-1)
        backward_depth = np.zeros(n, dtype=np.int64)
        for i in reversed(range(n)):
            backward_depth[i] = 1 + max((backward_depth[k] for _, k in upper[i]), default=-1)
        self._forward, self._y_slot = _levels(
            lambda i, s: [(a, s[k]) for a, k in lower[i]], forward_depth,
            lambda i: i, lambda i, s: 1, 1)
        self._backward, self._x_slot = _levels(
            lambda i, s: [(a, s[k]) for a, k in upper[i]], backward_depth,
            lambda i: int(self._y_slot[i]), lambda i, s: int(slot[entry[i, i]]), 1)

    @property
    def levels(self) -> tuple[int, int, int]:
        """The number of levels of the factorisation and of the two substitutions."""
        return len(self._factor_levels), len(self._forward), len(self._backward)

    def factor(self, values):
        """The factors of the matrices whose entries are ``values (nnz, B)``: an array
        ``(n_factors + 2, B)`` for `solve`."""
        B = values.shape[1]
        padded = jnp.concatenate([values, jnp.zeros((1, B), values.dtype)])
        Z = jnp.concatenate([jnp.zeros((1, B), values.dtype), jnp.ones((1, B), values.dtype),
                             jnp.zeros((self.n_factors, B), values.dtype)])
        for lv in self._factor_levels:
            sources = np.where(lv.sources < 0, self.n_given, lv.sources)
            Z = Z.at[lv.start : lv.stop].set(self._evaluate(lv, padded[sources], Z, Z))
        return Z

    def solve(self, Z, b):
        """``x`` with ``A x = b`` for each member, from ``Z = factor(A)``; ``b (n, B)``.

        Straight-line code, one expression per row: XLA fuses the two substitutions into
        loops over the members (BIOMD0000000019: 0.6-0.7 us per member, against 2-8 us
        for level-wise gathers or updates, whose XLA gathers copy element by element).
        """
        Zr = [Z[k] for k in range(Z.shape[0])]
        bp = [b[int(i)] for i in self.order]
        y: dict[int, jnp.ndarray] = {}
        for lv in self._forward:
            for e, i in enumerate(lv.sources.tolist()):
                y[lv.start + e] = _row(bp[i], lv.left[e], lv.right[e], Zr, y, None)
        x: dict[int, jnp.ndarray] = {}
        for lv in self._backward:
            for e, i in enumerate(lv.sources.tolist()):
                x[lv.start + e] = _row(y[i], lv.left[e], lv.right[e], Zr, x,
                                       Zr[int(lv.divisor[e])])
        return jnp.stack([x[int(s)] for s in self._x_slot[self.inverse]])

    @staticmethod
    def _evaluate(lv: _Level, start, Z, V):
        value = start
        if lv.left.shape[1]:
            value = value - jnp.sum(Z[lv.left] * V[lv.right], axis=1)
        if lv.divisor is not None:
            value = value / Z[lv.divisor]
        return value


def _row(start, left, right, Z, values, divisor):
    """``(start - sum_q Z[left_q] * values[right_q]) / divisor`` for one row."""
    acc = None
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a:  # 0: padding
            term = Z[a] * values[b]
            acc = term if acc is None else acc + term
    value = start if acc is None else start - acc
    return value if divisor is None else value / divisor
