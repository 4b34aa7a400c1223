"""Dense LU factors and solves for the stiff solvers, with derivative rules.

The factors keep the row permutation, not LAPACK's pivot sequence: turning pivots into
a permutation is a loop over the rows, and `jax.scipy.linalg.lu_solve` runs that loop on
every solve (about half the cost of a BDF step on a 100-species network).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.lax.linalg import lu, triangular_solve


@jax.custom_jvp
def factor(M):
    """``(lu, perm)``: the LU factors of ``M`` and its row permutation. Their tangent is
    not needed (see `solve`) and given as zero, which spares forward-mode sensitivities
    the LU's own derivative (triangular solves with matrix right-hand sides, slow on the
    CPU when batched over tangents)."""
    factors, _, perm = lu(M)
    return factors, perm


@factor.defjvp
def _factor_jvp(primals, tangents):
    factors, perm = factor(primals[0])
    return (factors, perm), (jnp.zeros_like(factors),
                             np.zeros(perm.shape, dtype=jax.dtypes.float0))


def lu_solve(factors, perm, b):
    """``M^-1 b`` from the factors of ``M`` (`factor`), for factors held constant under
    differentiation (`solve` carries the derivative with respect to ``M``)."""
    y = b[perm][:, None]
    y = triangular_solve(factors, y, left_side=True, lower=True, unit_diagonal=True)
    return triangular_solve(factors, y, left_side=True, lower=False)[:, 0]


@jax.custom_jvp
def solve(M, factors, perm, b):
    """``M^-1 b`` from the factors of ``M`` (`factor`)."""
    return lu_solve(factors, perm, b)


@solve.defjvp
def _solve_jvp(primals, tangents):
    M, factors, perm, b = primals
    dM, _, _, db = tangents
    x = lu_solve(factors, perm, b)
    # d(M^-1 b) = M^-1 (db - dM x): linear in the tangents, so reverse mode transposes it
    return x, lu_solve(factors, perm, db - dM @ x)
