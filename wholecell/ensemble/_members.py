"""Members in lock step: the loop for a method, from parameter rows to states."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..compiler._tolerances import state_atol
from ._lockstep import METHODS, batch_rhs_for, lockstep_integrate
from ._lockstep_bdf import batch_jacobian_for, lockstep_bdf


def solve_members(structure, ts, P, t0, method: str, *, rtol: float, atol, max_steps: int):
    """Solve one member per row of ``P`` in lock step: ``ys (B, n_out, n)`` and `Stats`
    with the members on the leading axis, as `jax.vmap` of a solve gives them."""
    x0, c = jax.vmap(lambda p: structure.initial(p, t0))(P)
    # each member's absolute tolerances (state units, `_tolerances`), as columns
    atol = jax.vmap(lambda p, x: state_atol(structure, p, t0, x, atol))(P, x0).T
    rtol = rtol if isinstance(rtol, float) else jnp.asarray(rtol, P.dtype)[:, None]
    if method == "bdf":
        ys, stats = lockstep_bdf(batch_jacobian_for(structure), x0.T, c.T, t0, ts,
                                 rtol=rtol, atol=atol, max_steps=max_steps)
    else:
        ys, stats = lockstep_integrate(
            METHODS[method](), batch_rhs_for(structure), x0.T, c.T, t0, ts,
            rtol=rtol, atol=atol, max_steps=max_steps,
        )
    return ys, stats._replace(x_last=stats.x_last.T)
