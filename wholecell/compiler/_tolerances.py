"""Tolerances in the units the user reads, whatever the compartment sizes.

The state vector holds amounts (species) and values (rate-rule and event targets). A
species in concentration units in a cell of 1e-15 L holds amounts near 1e-21 mol, so
one absolute tolerance on the raw state (1e-9, or even 1e-12) is larger than the state
and the error test never bites. Here every state gets its own absolute tolerance:

- ``atol`` is read in the user's units: a concentration species' tolerance is ``atol``
  times its compartment's size at the start (the state is its amount);
- as CVODE-based tools do (libRoadRunner's tolerance vector), a state whose initial
  magnitude (user units) is below 1 gets ``atol`` times that magnitude, so that a pM
  species in M units is solved to ``rtol``, not swamped by ``atol``; a state that starts
  at rounding level of the largest initial value (below `DUST` times it: 8e-34 beside 25
  after a pre-equilibration of Raimundez 2020's EGFR model) counts as starting at zero
  and gets ``atol``, since no step can make rounding accurate (with ``atol`` times
  8e-34 the solver's steps shrank until it gave up).

Both scales are computed inside the compiled solve from the parameters and the initial
state (inputs, never constants), so parameter sweeps do not recompile. `guard_small`
warns, by name, about states that stay below their tolerance for a whole run (those that
start at zero and stay tiny), where the error test cannot make them accurate.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import jax.numpy as jnp
import numpy as np

from .._errors import SimulationError, ToleranceWarning
from ..sbml import _symbolic as S
from ._layout import amount_sym, p_sym
from ._program import Program

#: relative to the run's largest value, the level below which a state is rounding dust
#: (a few units of double precision's epsilon, 2.2e-16)
DUST = 1e-15


def _scale_plan(structure):
    """(index per state into the program's outputs, -1 for 1; the program or None),
    made once per structure."""
    return structure.cached("tolerance_scale", _make_scale_plan)


def _make_scale_plan(structure):
    L = structure.layout
    species = L.model.species_by_id()
    comps: list[str] = []
    index = []
    for name, s in zip(L.state_ids, L.state_syms, strict=True):
        sp_ = species.get(name)
        if sp_ is not None and s == amount_sym(name) and not sp_.has_only_substance_units:
            if sp_.compartment not in comps:
                comps.append(sp_.compartment)
            index.append(comps.index(sp_.compartment))
        else:
            index.append(-1)
    prog = None
    if comps:
        defs = dict(L.init_defs)
        for n in L.param_ids:
            defs.setdefault(S.symbol(n), p_sym(n))
        base = [p_sym(n) for n in L.param_ids] + [S.TIME]
        prog = Program(base, defs, [S.symbol(c) for c in comps])
    return np.asarray(index, dtype=np.int32), prog


def state_scale(structure, p, t0):
    """Per state: the factor from the user's units to the state's (the compartment size
    at ``t0`` for a concentration species held as an amount, else 1)."""
    index, prog = _scale_plan(structure)
    ones = jnp.ones(index.shape[0], p.dtype)
    if prog is None:
        return ones
    sizes = jnp.abs(prog(jnp.concatenate([p, jnp.reshape(t0, (1,)).astype(p.dtype)])))
    sizes = jnp.where(jnp.isfinite(sizes) & (sizes > 0), sizes, 1.0)
    return jnp.where(index >= 0, sizes[np.maximum(index, 0)], ones)


def state_atol(structure, p, t0, x0, atol):
    """The absolute tolerance of every state (state units) for ``atol`` in user units
    (a scalar, or one per state): ``atol * scale * min(1, |x0| / scale)`` where the
    initial value is above rounding level (see the module's docstring)."""
    s = state_scale(structure, p, t0)
    u0 = jnp.abs(x0) / s
    finite = jnp.isfinite(u0)
    dust = DUST * jnp.max(jnp.where(finite, u0, 0.0), initial=0.0)
    mag = jnp.where((u0 > dust) & finite, jnp.minimum(u0, 1.0), 1.0)
    return jnp.asarray(atol, p.dtype) * s * mag


def user_atol(structure, p, t0, x0, atol) -> np.ndarray:
    """`state_atol` in user units (what `guard_small` compares values with)."""
    s = state_scale(structure, p, t0)
    return np.asarray(state_atol(structure, p, t0, x0, atol) / s)


def tolerance_values(state_ids, value, default: float, name: str):
    """``rtol`` or ``atol`` as given to `simulate`: a positive number, or a dict id ->
    number (ids of the state; the others get ``default``). Returns a float or a
    numpy vector (one per state)."""
    if not isinstance(value, Mapping):
        v = float(value)
        if not (np.isfinite(v) and v > 0):
            raise SimulationError(f"{name} must be a positive number, not {value!r}")
        return v
    index = {s: i for i, s in enumerate(state_ids)}
    out = np.full(len(state_ids), float(default))
    for k, v in value.items():
        if k not in index:
            raise SimulationError(
                f"{name} names '{k}', which is not a variable of the state; the state is "
                f"{', '.join(state_ids) or '(empty)'}"
            )
        v = float(v)
        if not (np.isfinite(v) and v > 0):
            raise SimulationError(f"{name} of '{k}' must be a positive number, not {v!r}")
        out[index[k]] = v
    return out


def as_input(tol):
    """A tolerance as it enters a compiled solve: a float stays static, a vector is an
    array (traced, so other values do not recompile)."""
    return tol if isinstance(tol, float) else jnp.asarray(tol)


def guard_small(state_ids, values: np.ndarray, atol_user: np.ndarray, what: str) -> None:
    """Warn about states whose magnitude stays below their absolute tolerance (user
    units) over the whole run without being zero: the error test never bites there.

    States that stay at rounding level of the run's largest value (below `DUST` times
    it: a species that starts at zero and only ever receives rounding errors, 1e-22 next
    to 1e9 in Chen 2009's ErbB model) are not named: no tolerance makes rounding
    accurate, and they are zero to the precision of the model.

    ``values`` (..., n_out, n_state) in user units; ``atol_user`` (..., n_state).
    """
    v = np.abs(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        return
    peak = np.nanmax(v.reshape(-1, v.shape[-2], v.shape[-1]), axis=1)  # (members, n)
    tol = np.broadcast_to(np.asarray(atol_user), peak.shape)
    largest = np.nanmax(peak, axis=1, keepdims=True)
    bad = (peak > DUST * largest) & (peak < tol)
    if not bad.any():
        return
    cols = np.flatnonzero(bad.any(axis=0))
    parts = [
        f"'{state_ids[i]}' (at most {np.max(peak[:, i]):.3g}, atol {np.min(tol[:, i]):.3g})"
        for i in cols[:10]
    ]
    more = f" and {len(cols) - 10} more" if len(cols) > 10 else ""
    warnings.warn(
        f"{what}: {', '.join(parts)}{more} stayed below the absolute tolerance over the "
        "whole run, so their values are not accurate; give a smaller atol for them "
        "(atol={id: value}, in the units of the value)",
        ToleranceWarning,
        stacklevel=3,
    )
