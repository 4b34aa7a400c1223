"""Pre-equilibration: the steady state a condition's dynamics run into."""

from __future__ import annotations

import jax.numpy as jnp

from ..compiler._tolerances import state_atol
from ..solve._compiled import CompiledModel

#: how far (in model time) pre-equilibration integrates; adaptive steps grow quickly once
#: the state settles, so a long horizon costs few steps
PREEQ_TIME = 1e6
#: a state whose weighted rate of change (dx/dt / (atol + rtol |x|), RMS) is below this
#: counts as steady (AMICI's convergence criterion)
STEADY_TOL = 1.0


def steady_state(
    sim: CompiledModel, p, x0, *, solver: str, rtol: float, atol: float, max_steps: int,
    adjoint: str, t_end: float = PREEQ_TIME,
):
    """The state reached from ``x0`` under parameters ``p`` after ``t_end``.

    Returns:
        (x, wrms): the state and its weighted RMS rate of change, below `STEADY_TOL`
        where the state is steady.
    """
    ts = jnp.asarray([t_end], dtype=jnp.float64)
    x = sim.solve(
        ts, p, t0=0.0, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
        adjoint=adjoint, throw=False, x0=x0,
    )[0]
    dx = sim.rhs(x, p, t_end)
    # the solve's own per-state tolerances (`_tolerances`: atol in the user's units)
    x_start = sim.initial_state(p)[0] if x0 is None else jnp.asarray(x0)
    a = state_atol(sim.structure, jnp.asarray(p), jnp.asarray(0.0), x_start, atol)
    wrms = jnp.sqrt(jnp.mean((dx / (a + rtol * jnp.abs(x))) ** 2))
    return x, wrms
