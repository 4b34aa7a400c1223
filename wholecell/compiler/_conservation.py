"""Conservation laws of the state: linear combinations ``w . x`` that no reaction changes.

With conserved moieties (an enzyme free or bound, a species cycling between forms) the
Jacobian of the right-hand side is singular, and a steady state is only determined
together with the totals. The laws are the left null space of the state's stoichiometry
(the matrix with one column per reaction, `Structure.apply_stoichiometry` of a unit
rate, plus a unit column for each rate-rule state, whose derivative may be anything).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

#: singular values below this fraction of the largest count as zero
RANK_RTOL = 1e-10


class Conservation(NamedTuple):
    """``k`` laws ``C[:, j] . (x - x0) = 0``, each solved for its pivot state.

    ``C`` (n_state, k) has ``C[pivots] = I``: row ``pivots[j]`` of ``dx/dt`` is implied by
    the others, and a root finder can replace it by law ``j``.
    """

    C: np.ndarray
    pivots: np.ndarray


def conservation_laws(structure) -> Conservation:
    """The conservation laws of ``structure`` (made once per structure).

    The stoichiometry is taken at the nominal parameters and initial state: where it
    depends on them (species-reference ids, conversion factors) the laws hold there and
    a caller must check the result (`wholecell.petab._steady` checks ``dx/dt``).
    """
    return structure.cached("conservation", _make)


def _make(structure) -> Conservation:
    st = structure
    n = st.n_state
    S = _stoichiometry(st)
    if S.shape[1]:
        U, sv, _ = np.linalg.svd(S, full_matrices=True)
        rank = int(np.sum(sv > RANK_RTOL * sv.max())) if sv.size and sv.max() > 0 else 0
        W = U[:, rank:]
    else:
        W = np.eye(n)
    k = W.shape[1]
    if k == 0:
        return Conservation(np.zeros((n, 0)), np.zeros(0, dtype=np.int64))
    # pivots where the laws are best conditioned (QR with column pivoting of W^T)
    _, _, perm = scipy.linalg.qr(W.T, pivoting=True)
    pivots = np.sort(perm[:k])
    C = W @ np.linalg.inv(W[pivots])
    C[np.abs(C) < 1e-12] = 0.0
    return Conservation(C, pivots.astype(np.int64))


def _stoichiometry(st) -> np.ndarray:
    """(n_state, n_reactions + n_rate_rules) at the nominal parameters and state."""
    n, n_r = st.n_state, st.n_reactions
    if st.dense:
        S = np.asarray(st.N, dtype=np.float64).reshape(n, n_r).copy()
    else:
        # evaluated now, also when first asked for while a jitted function is traced
        with jax.ensure_compile_time_eval():
            p = jnp.asarray(st.nominal_params)
            x0, c = st.initial(p, jnp.asarray(0.0, p.dtype), project=False)
            out = st.rhs_prog(st.base(jnp.asarray(0.0, p.dtype), x0, c))
            unit = jnp.eye(n_r, dtype=p.dtype)
            S = np.asarray(jax.vmap(lambda e: st.apply_stoichiometry(out, e, x0))(unit)).T
        S = S.reshape(n, n_r).copy()
    rr = np.asarray(st.rr_state, dtype=np.int64)
    S[rr] = 0.0
    E = np.zeros((n, rr.size))
    E[rr, np.arange(rr.size)] = 1.0
    S = np.concatenate([S, E], axis=1)
    S[~np.isfinite(S)] = 0.0
    return S
