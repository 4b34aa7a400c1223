"""The BDF method's numbers and difference-table arithmetic, shared by the loop for one
trajectory (`_bdf`) and the lock-step loop (`wholecell.ensemble._lockstep_bdf`).

The NDF family of L. F. Shampine and M. W. Reichelt, The MATLAB ODE suite, SIAM J. Sci.
Comput. 18 (1997) 1-22, in the form of SciPy's ``BDF``; the Newton and step-change
limits are CVODE's.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

MAX_ORDER = 5
NEWTON_MAXITER = 3  # CVODE's maxcor
MIN_FACTOR = 0.2
MAX_FACTOR = 10.0
MAX_C_CHANGE = 0.3  # CVODE's dgmax
#: converged when the scaled correction times its rate is below this (err <= 1 passes)
NEWTON_TOL = 0.03
ROWS = MAX_ORDER + 3  # the differences D^0 .. D^(order + 2)

#: the NDF coefficients kappa_k (Shampine & Reichelt 1997, as SciPy's ``BDF`` has them)
KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
#: gamma_k = sum_{j<=k} 1/j, alpha_k = (1 - kappa_k) gamma_k, and the error constants
GAMMA = np.hstack((0.0, np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))))
ALPHA = (1.0 - KAPPA) * GAMMA
ERROR_CONST = np.hstack((KAPPA * GAMMA + 1.0 / np.arange(1, MAX_ORDER + 2), np.inf))


def r_matrix(order, factor):
    """SciPy's ``compute_R`` for a traced order: zero outside the leading block."""
    k = MAX_ORDER + 1
    i = np.arange(1.0, k)[:, None]
    j = np.arange(1.0, k)[None, :]
    m = jnp.ones((k, k), dtype=jnp.result_type(factor))
    m = m.at[1:, 1:].set((i - 1 - factor * j) / i).at[1:, 0].set(0.0)
    r = jnp.cumprod(m, axis=0)
    idx = jnp.arange(k)
    return jnp.where((idx[:, None] <= order) & (idx[None, :] <= order), r, 0.0)


def change_step(D, order, factor):
    """Re-express the differences ``D`` for a step ``factor`` times the current one."""
    ru = r_matrix(order, factor) @ r_matrix(order, jnp.ones_like(factor))
    k = MAX_ORDER + 1
    ru = ru + jnp.diag(jnp.where(jnp.arange(k) <= order, 0.0, 1.0))
    return D.at[:k].set(ru.T @ D[:k])


def interpolate(t_out, t, h, order, D):
    """The solution at ``t_out`` from the polynomial of the last step (ending at ``t``)."""
    j = np.arange(MAX_ORDER)
    p = jnp.cumprod((t_out - (t - h * j.astype(float))) / (h * (1.0 + j)))
    p = jnp.where(j < order, p, 0.0)
    return D[0] + p @ D[1 : MAX_ORDER + 1]
