"""Where every SBML symbol lives at run time: parameter vector, constants, state, or rule.

This is the bookkeeping half of compilation, free of JAX: it decides the parameter
vector ``p`` (every number the SBML file declares), the state vector ``x`` and the
time-constant vector ``c``, and writes the definitions (sympy) from which the
programs of `wholecell._compile` are built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from . import _symbolic as S
from ._errors import SBMLError, UnsupportedSBMLError
from ._model import Model


def p_sym(name: str) -> sp.Symbol:
    """The symbol of a declared value in the parameter vector."""
    return S.symbol(f"@p:{name}")


def amount_sym(species: str) -> sp.Symbol:
    """The state symbol holding the amount of a reaction-driven species."""
    return S.symbol(f"@amount:{species}")


def x0_sym(name: str) -> sp.Symbol:
    return S.symbol(f"@x0:{name}")


def rate_sym(name: str) -> sp.Symbol:
    """The symbol of a rate rule's right-hand side."""
    return S.symbol(f"@rate:{name}")


@dataclass
class SymbolInfo:
    """What an SBML id is and how to read it."""

    kind: str  # "species", "compartment", "parameter", "reaction", "speciesReference"
    compartment: str | None = None
    only_substance_units: bool = False


@dataclass
class Layout:
    model: Model
    param_ids: list[str] = field(default_factory=list)
    param_values: list[float] = field(default_factory=list)
    state_ids: list[str] = field(default_factory=list)
    state_syms: list[sp.Symbol] = field(default_factory=list)
    const_ids: list[str] = field(default_factory=list)
    info: dict[str, SymbolInfo] = field(default_factory=dict)
    # definitions valid at t0 (initial assignments, rules, declarations)
    init_defs: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    # definitions valid at any t (assignment rules, species values, reaction rates)
    run_defs: dict[sp.Symbol, sp.Expr] = field(default_factory=dict)
    # state index -> rate-rule symbol
    rate_rules: dict[int, sp.Symbol] = field(default_factory=dict)
    # (state index, reaction id, sign, stoichiometry value or symbol, conversion factor)
    stoich: list[tuple[int, str, float, float | sp.Symbol, sp.Symbol | None]] = field(
        default_factory=list
    )
    event_targets: set[str] = field(default_factory=set)


def build_layout(model: Model) -> Layout:  # noqa: C901
    """Decide where each symbol of ``model`` lives and write its definitions."""
    L = Layout(model)
    sym = S.symbol
    comps = model.compartment_by_id()
    species = model.species_by_id()
    assigned = {r.variable: r.math for r in model.assignment_rules}
    rated = {r.variable: r.math for r in model.rate_rules}
    inits = {ia.symbol: ia.math for ia in model.initial_assignments}
    L.event_targets = {a.variable for ev in model.events for a in ev.assignments}
    if model.algebraic_rules:
        r = model.algebraic_rules[0]
        raise UnsupportedSBMLError("AlgebraicRule", r.id, "algebraic rules are not simulated yet")
    if model.events:
        raise UnsupportedSBMLError("Event", model.events[0].id, "events are not simulated yet")
    fast = [r.id for r in model.reactions if r.fast]
    if fast:
        raise UnsupportedSBMLError("fast reaction", fast[0])

    def declare(name: str, value: float | None) -> None:
        L.param_ids.append(name)
        L.param_values.append(math.nan if value is None else float(value))

    # -- the parameter vector: every declared number --------------------------------
    for p in model.parameters:
        declare(p.id, p.value)
    for r in model.reactions:
        for lid, v in r.local_parameters:
            declare(f"{r.id}.{lid}", v)
    for c in model.compartments:
        declare(c.id, c.size)
    for s in model.species:
        declare(s.id, s.initial_amount if s.initial_amount is not None else s.initial_concentration)
    sref_ids = []
    for r in model.reactions:
        for sr in r.reactants + r.products:
            if sr.id:
                declare(sr.id, sr.stoichiometry)
                sref_ids.append(sr.id)

    # -- symbol info -----------------------------------------------------------------
    for c in model.compartments:
        L.info[c.id] = SymbolInfo("compartment")
    for s in model.species:
        L.info[s.id] = SymbolInfo("species", s.compartment, s.has_only_substance_units)
    for p in model.parameters:
        L.info[p.id] = SymbolInfo("parameter")
    for r in model.reactions:
        L.info[r.id] = SymbolInfo("reaction")
    for sid in sref_ids:
        L.info[sid] = SymbolInfo("speciesReference")

    for target in set(rated) & set(assigned):
        raise SBMLError(f"'{target}' has both a rate rule and an assignment rule")
    for target in list(rated) + list(assigned) + list(inits) + list(L.event_targets):
        if target not in L.info:
            raise SBMLError(f"a rule, initial assignment or event sets unknown id '{target}'")
        if L.info[target].kind == "reaction":
            raise SBMLError(f"a rule, initial assignment or event sets reaction '{target}'")

    # -- reaction-driven species ---------------------------------------------------------
    in_reactions: dict[str, list] = {}
    for r in model.reactions:
        for sign, refs in ((-1.0, r.reactants), (1.0, r.products)):
            for sr in refs:
                if sr.species not in species:
                    raise SBMLError(
                        f"reaction '{r.id}' refers to undefined species '{sr.species}'"
                    )
                in_reactions.setdefault(sr.species, []).append((r, sign, sr))
        for m in r.modifiers:
            if m not in species:
                raise SBMLError(f"reaction '{r.id}' has undefined modifier '{m}'")
        if r.kinetic_law is None:
            raise UnsupportedSBMLError(
                "reaction without a kinetic law", r.id, "a rate is needed to simulate it"
            )

    # -- state and constants ---------------------------------------------------------
    def add_state(name: str, s: sp.Symbol) -> int:
        L.state_ids.append(name)
        L.state_syms.append(s)
        return len(L.state_ids) - 1

    for s in model.species:
        if s.compartment not in comps:
            raise SBMLError(f"species '{s.id}' is in undefined compartment '{s.compartment}'")
        v = sym(s.id)
        C = sym(s.compartment)
        if s.id in assigned:
            L.run_defs[v] = assigned[s.id]
            continue
        if s.id in rated:
            i = add_state(s.id, v)
            L.run_defs[rate_sym(s.id)] = rated[s.id]
            L.rate_rules[i] = rate_sym(s.id)
            L.init_defs[x0_sym(s.id)] = v
            continue
        a = amount_sym(s.id)
        i = add_state(s.id, a)
        L.run_defs[v] = a if s.has_only_substance_units else a / C
        L.init_defs[x0_sym(s.id)] = v if s.has_only_substance_units else v * C
        if not (s.boundary_condition or s.constant):
            cf = s.conversion_factor or model.conversion_factor
            for r, sign, sr in in_reactions.get(s.id, []):
                if sr.id:
                    coef = sym(sr.id)
                elif sr.stoichiometry is None:
                    coef = 1.0
                else:
                    coef = float(sr.stoichiometry)
                L.stoich.append((i, r.id, sign, coef, sym(cf) if cf else None))

    def place(name: str) -> None:
        v = sym(name)
        if name in assigned:
            L.run_defs[v] = assigned[name]
        elif name in rated or name in L.event_targets:
            i = add_state(name, v)
            L.init_defs[x0_sym(name)] = v
            if name in rated:
                L.run_defs[rate_sym(name)] = rated[name]
                L.rate_rules[i] = rate_sym(name)
        else:
            L.const_ids.append(name)

    for c in model.compartments:
        place(c.id)
    for p in model.parameters:
        place(p.id)
    for r in model.reactions:
        for lid, _ in r.local_parameters:
            L.const_ids.append(f"{r.id}.{lid}")
    for sid in sref_ids:
        place(sid)
    for r in model.reactions:
        L.run_defs[sym(r.id)] = r.kinetic_law

    # -- definitions at t0 -----------------------------------------------------------
    for k, name in enumerate(L.param_ids):
        info = L.info.get(name)
        v = sym(name)
        if name in assigned:
            L.init_defs[v] = assigned[name]
        elif name in inits:
            L.init_defs[v] = inits[name]
        elif info is not None and info.kind == "species":
            s = species[name]
            C = sym(s.compartment)
            if s.initial_amount is not None:
                L.init_defs[v] = p_sym(name) if s.has_only_substance_units else p_sym(name) / C
            elif s.initial_concentration is not None:
                L.init_defs[v] = p_sym(name) * C if s.has_only_substance_units else p_sym(name)
            else:
                raise SBMLError(
                    f"species '{name}' has no initial amount, concentration or assignment"
                )
        else:
            if math.isnan(L.param_values[k]) and (
                info is None or info.kind != "parameter"
            ) and name not in rated:
                what = info.kind if info else "local parameter"
                raise SBMLError(f"{what} '{name}' has no value and no initial assignment")
            L.init_defs[v] = p_sym(name)
    for r in model.reactions:
        L.init_defs[sym(r.id)] = r.kinetic_law
    return L


def values_array(layout: Layout) -> np.ndarray:
    return np.asarray(layout.param_values, dtype=np.float64)
