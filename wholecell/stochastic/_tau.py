"""Explicit tau-leaping with Cao-Gillespie-Petzold step selection (J. Chem. Phys. 124,
044109, 2006), falling back to exact SSA steps when few molecules remain.

Each leap fires Poisson(a_j tau) of every non-critical reaction, with tau chosen so
that no propensity changes by more than a fraction ``epsilon``; a reaction that could
exhaust a reactant within ``n_critical`` firings is critical and fires at most once per
leap, at an exponentially distributed time, as in the exact method. When the leap would
be shorter than a few exact steps (tau < 10 / a0), an exact SSA step is taken instead.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import UnsupportedSBMLError
from ..ode._integrate import NONFINITE, SUCCESS
from ._ssa import BAD_PROPENSITY, Lane, run_lanes

EPSILON = 0.03
N_CRITICAL = 10
#: use an exact step when the leap would be shorter than this many mean SSA steps
SSA_FALLBACK = 10.0


class TauMatrices(NamedTuple):
    net: np.ndarray  # (n_state, n_reactions) net change per firing
    consumed: np.ndarray  # (n_state, n_reactions) molecules a firing consumes
    g: np.ndarray  # (n_state,) highest order of a reaction consuming the species


def tau_matrices(structure) -> TauMatrices:
    """Constant stoichiometry as dense matrices (tau-leaping needs them)."""
    if structure.any_var:
        raise UnsupportedSBMLError("variable stoichiometry in tau-leaping", None)
    n, r = structure.n_state, structure.n_reactions
    net = np.zeros((n, r))
    consumed = np.zeros((n, r))
    for i, j, sign, c in zip(
        structure.e_state, structure.e_rxn, structure.e_sign, structure.e_const, strict=True
    ):
        net[i, j] += sign * c
        if sign < 0:
            consumed[i, j] += c
    order = consumed.sum(axis=0)  # reaction order by its reactants
    g = np.ones(n)
    for i in range(n):
        js = consumed[i] > 0
        if js.any():
            g[i] = max(1.0, float(order[js].max()))
    return TauMatrices(net, consumed, g)


def tau_step(structure, mats: TauMatrices, ts, lane: Lane) -> tuple[Lane, Any]:
    """One leap (or exact step) of one trajectory, never past the next output time."""
    n_out = ts.shape[0]
    t, x, c = lane.t, lane.x, lane.aux
    net = jnp.asarray(mats.net)
    consumed = jnp.asarray(mats.consumed)
    g = jnp.asarray(mats.g)
    is_reactant = consumed > 0
    t_next_out = ts[jnp.minimum(lane.i_out, n_out - 1)]
    due = t_next_out <= t  # an output at the current time: record it, nothing else
    a = structure.propensities(t, x, c)
    bad = jnp.any((a < 0) | ~jnp.isfinite(a))
    a = jnp.where(bad, 0.0, a)
    a0 = jnp.sum(a)
    key, k1, k2, k3, k4 = jax.random.split(lane.key, 5)
    # critical reactions: could exhaust a reactant within N_CRITICAL firings
    can_fire = jnp.where(is_reactant, jnp.floor(x[:, None] / jnp.where(
        is_reactant, consumed, 1.0)), jnp.inf).min(axis=0)
    critical = (a > 0) & (can_fire < N_CRITICAL)
    a_nc = jnp.where(critical, 0.0, a)
    mu = net @ a_nc
    var = (net**2) @ a_nc
    bound = jnp.maximum(EPSILON * x / g, 1.0)
    # the bound covers every reactant species (CGP's I_rs), even one consumed only by
    # critical reactions: its propensities must not go stale either
    reactant_species = jnp.any(is_reactant, axis=1)
    t1 = jnp.where(reactant_species & (mu != 0), bound / jnp.abs(mu), jnp.inf)
    t2 = jnp.where(reactant_species & (var > 0), bound**2 / var, jnp.inf)
    tau1 = jnp.minimum(jnp.min(t1, initial=jnp.inf), jnp.min(t2, initial=jnp.inf))
    exact = tau1 < SSA_FALLBACK / jnp.where(a0 > 0, a0, 1.0)
    # -- an exact step --
    u = jax.random.uniform(k1, (), minval=jnp.finfo(jnp.float64).tiny)
    tau_ssa = jnp.where(a0 > 0, -jnp.log(u) / jnp.where(a0 > 0, a0, 1.0), jnp.inf)
    cum = jnp.cumsum(a)
    j = jnp.minimum(jnp.sum(cum <= jax.random.uniform(k2, ()) * a0), a.shape[0] - 1)
    # -- a leap --
    a_c = jnp.sum(jnp.where(critical, a, 0.0))
    uc = jax.random.uniform(k3, (), minval=jnp.finfo(jnp.float64).tiny)
    tau2 = jnp.where(a_c > 0, -jnp.log(uc) / jnp.where(a_c > 0, a_c, 1.0), jnp.inf)
    tau_leap = jnp.minimum(tau1, tau2)
    # one critical reaction fires when its time comes first
    cum_c = jnp.cumsum(jnp.where(critical, a, 0.0))
    jc = jnp.minimum(jnp.sum(cum_c <= jax.random.uniform(k4, ()) * a_c), a.shape[0] - 1)
    tau = jnp.where(exact, tau_ssa, tau_leap)
    # never step past the next output time: stop there (an exact step, or a critical
    # reaction, does not fire; the non-critical ones fire for the shortened leap)
    cut = t + tau > t_next_out
    tau = jnp.where(cut, t_next_out - t, tau)
    counts = jax.random.poisson(jax.random.fold_in(key, 1), a_nc * tau).astype(x.dtype)
    counts = jnp.where(exact, 0.0, counts)
    fire_one = jnp.where(exact, ~cut, (tau2 <= tau1) & ~cut)
    one = jnp.where(exact, j, jc)
    counts = counts.at[one].add(jnp.where(fire_one, 1.0, 0.0))
    x_new = x + net @ counts
    # a leap that overdraws a species is rejected (the next try is exact-limited)
    move = ~due & ~bad & (lane.status == SUCCESS) & ~jnp.any(x_new < 0)
    x = jnp.where(move, x_new, x)
    t = jnp.where(move, t + tau, t)
    status = jnp.where(bad, BAD_PROPENSITY, lane.status)
    status = jnp.where(jnp.all(jnp.isfinite(x)), status, NONFINITE)
    record = (t >= t_next_out) & (status == SUCCESS) & (lane.i_out < n_out)
    lane = Lane(t, x, jnp.where(due, lane.key, key),
                lane.i_out + record.astype(lane.i_out.dtype),
                lane.n + (~due).astype(lane.n.dtype), status, c)
    return lane, x[None]


def tau_ensemble(structure, mats: TauMatrices, ts, P, t0, keys, n_valid, max_steps: int):
    """Tau-leaping trajectories, one per row of ``P`` and key of ``keys``: (ys, SSAStats)."""
    ts = jnp.asarray(ts, jnp.float64)
    t0 = jnp.asarray(t0, jnp.float64)

    def init(p, key):
        k_run, _ = jax.random.split(key)
        x0, c = structure.initial(p, t0)
        return Lane(t0, x0, k_run, jnp.array(0), jnp.array(0), jnp.array(SUCCESS), c)

    return run_lanes(jax.vmap(init)(P, keys),
                     lambda lane: tau_step(structure, mats, ts, lane), ts, n_valid, max_steps)
