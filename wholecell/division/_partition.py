"""How a dividing cell's state is shared between its two daughters."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import SimulationError
from ..compiler._layout import amount_sym

KEEP, HALF, BINOMIAL, CUSTOM, COPIES, INITIAL = 0, 1, 2, 3, 4, 5
#: the named rules: ``"copies"`` shares whole copies (a replicated gene: 2 -> 1 + 1; an
#: odd count gives the extra copy to a daughter at random); ``"initial"`` gives both
#: daughters the model's initial value (a state machine that starts over each cycle,
#: such as a replication origin)
_NAMES = {"keep": KEEP, "half": HALF, "binomial": BINOMIAL, "copies": COPIES,
          "initial": INITIAL}

#: a custom rule: (PRNG key, amount) -> the first daughter's share (the other gets the rest)
Rule = str | Callable


def partition_rules(
    structure, stochastic: tuple[bool, ...], partition: Mapping[str, Rule] | None
) -> tuple[tuple[int, ...], tuple[tuple[int, Callable], ...]]:
    """The rule of each state variable, and the custom rules by state index.

    Defaults: molecule counts changed by stochastic reactions split binomially; other
    species amounts and compartment sizes halve (so concentrations are kept); constant
    and boundary species, parameters and concentration-valued states are kept.

    Raises:
        SimulationError: an id that is not a state variable, or an unknown rule.
    """
    L = structure.layout
    m = L.model
    species = m.species_by_id()
    stoch_rxn = {r.id for r, s in zip(m.reactions, stochastic, strict=True) if s}
    discrete = {L.state_ids[i] for (i, rid, *_) in L.stoich if rid in stoch_rxn}
    codes = []
    for name, s in zip(L.state_ids, L.state_syms, strict=True):
        info = L.info.get(name)
        kind = info.kind if info is not None else "parameter"
        if kind == "species":
            sp = species[name]
            is_amount = s == amount_sym(name) or sp.has_only_substance_units
            if sp.constant or sp.boundary_condition or not is_amount:
                codes.append(KEEP)
            else:
                codes.append(BINOMIAL if name in discrete else HALF)
        elif kind == "compartment":
            codes.append(HALF)
        else:
            codes.append(KEEP)
    custom = []
    index = {n: i for i, n in enumerate(L.state_ids)}
    for name, rule in (partition or {}).items():
        if name not in index:
            what = "is computed by a rule or constant" if name in L.info else "is not an id"
            raise SimulationError(
                f"partition: '{name}' {what} of model '{m.id}'; state variables are "
                f"{', '.join(L.state_ids)}"
            )
        if callable(rule):
            codes[index[name]] = CUSTOM
            custom.append((index[name], rule))
        elif rule in _NAMES:
            codes[index[name]] = _NAMES[rule]
        else:
            raise SimulationError(
                f"partition of '{name}': unknown rule {rule!r}; use 'binomial', 'half', "
                "'copies', 'initial', 'keep' or a callable (key, amount) -> first "
                "daughter's amount"
            )
    return tuple(codes), tuple(custom)


def split(x, key, codes: tuple[int, ...], custom: tuple[tuple[int, Callable], ...],
          x_init=None):
    """The two daughters' states from the mother's state ``x`` at division (``x_init``:
    the model's initial state, for the ``"initial"`` rule)."""
    code = jnp.asarray(np.array(codes, dtype=np.int32).reshape(len(codes)))
    k_bin, k_custom = jax.random.split(key)
    k_coin = jax.random.fold_in(k_custom, 1)  # leaves the binomial and custom draws as they were
    n = jnp.round(jnp.maximum(x, 0.0))
    first = jnp.where(code == BINOMIAL, jax.random.binomial(k_bin, n, 0.5), 0.5 * x)
    odd = jnp.mod(n, 2.0)
    coin = jax.random.bernoulli(k_coin, 0.5, n.shape).astype(x.dtype)
    first = jnp.where(code == COPIES, jnp.floor(n / 2) + odd * coin, first)
    for (i, fn), k in zip(custom, jax.random.split(k_custom, max(len(custom), 1)), strict=False):
        first = first.at[i].set(jnp.asarray(fn(k, x[i]), x.dtype))
    first = first.astype(x.dtype)
    counted = (code == BINOMIAL) | (code == COPIES)
    a = jnp.where(code == KEEP, x, first)
    b = jnp.where(code == KEEP, x, jnp.where(counted, n - first, x - first))
    if x_init is not None:
        a = jnp.where(code == INITIAL, x_init, a)
        b = jnp.where(code == INITIAL, x_init, b)
    elif any(c == INITIAL for c in codes):
        raise ValueError("split: the 'initial' rule needs the model's initial state")
    return a, b
