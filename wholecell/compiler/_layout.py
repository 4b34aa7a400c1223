"""Where every SBML symbol lives at run time: parameter vector, constants, state, or rule.

This is the bookkeeping half of compilation, free of JAX: it decides the parameter
vector ``p`` (every number the SBML file declares), the state vector ``x`` and the
time-constant vector ``c``, and writes the definitions (sympy) from which the
programs of `wholecell.compiler._structure` are built.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import sympy as sp

from .._errors import SBMLError, UnsupportedSBMLError
from ..sbml import _symbolic as S
from ..sbml._algebraic import reduce_algebraic_rules
from ..sbml._model import Model
from ._rewrites import resolve_delays_and_rates


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


class StoichEntry(NamedTuple):
    """How one reaction changes one state: ``sign * coefficient * rate`` (times the
    species' conversion factor, when it has one)."""

    state: int  # the state's index
    reaction: str  # the reaction's id
    sign: float  # -1 for a reactant, +1 for a product
    coefficient: float | sp.Symbol  # the stoichiometry, or the symbol of a variable one
    factor: sp.Symbol | None  # the conversion factor's symbol


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
    # one `StoichEntry` per (species, reaction) pair
    stoich: list[StoichEntry] = field(default_factory=list)
    event_targets: set[str] = field(default_factory=set)
    rewrite: object = None
    collect_delays: object = None
    # per event: (trigger, delay, priority) with rateOf and delay resolved
    event_exprs: list = field(default_factory=list)
    # per delay(e, tau): (e now, tau now, e before t0)
    delays: list = field(default_factory=list)
    # per event assignment: (event index, target state index, True if value * compartment,
    # compartment id or None, math)
    event_assignments: list[tuple[int, int, bool, str | None, sp.Expr]] = field(
        default_factory=list
    )


class _Rules(NamedTuple):
    """The model's rules and initial assignments, by the id they set."""

    assigned: dict[str, sp.Expr]  # assignment rules
    rated: dict[str, sp.Expr]  # rate rules
    inits: dict[str, sp.Expr]  # initial assignments

    @classmethod
    def of(cls, model: Model) -> _Rules:
        return cls({r.variable: r.math for r in model.assignment_rules},
                   {r.variable: r.math for r in model.rate_rules},
                   {ia.symbol: ia.math for ia in model.initial_assignments})


def build_layout(model: Model) -> Layout:
    """Decide where each symbol of ``model`` lives and write its definitions."""
    model = reduce_algebraic_rules(model)
    L = Layout(model)
    rules = _Rules.of(model)
    L.event_targets = {a.variable for ev in model.events for a in ev.assignments}
    sref_ids = _declare_parameters(L, model)
    _describe_symbols(L, model, sref_ids)
    _check_rule_targets(L, rules)
    _place_species(L, model, rules, _species_in_reactions(model))
    _place_the_rest(L, model, rules, sref_ids)
    _event_assignments(L, model, rules)
    _initial_definitions(L, model, rules)
    resolve_delays_and_rates(L, model, rules.assigned, rules.rated)
    return L


def _declare(L: Layout, name: str, value: float | None) -> None:
    L.param_ids.append(name)
    L.param_values.append(math.nan if value is None else float(value))


def _declare_parameters(L: Layout, model: Model) -> list[str]:
    """The parameter vector: every declared number. Returns the ids of the species
    references that have one."""
    for p in model.parameters:
        _declare(L, p.id, p.value)
    for r in model.reactions:
        for lid, v in r.local_parameters:
            _declare(L, f"{r.id}.{lid}", v)
    for c in model.compartments:
        _declare(L, c.id, c.size)
    for s in model.species:
        _declare(L, s.id,
                 s.initial_amount if s.initial_amount is not None else s.initial_concentration)
    sref_ids = []
    for r in model.reactions:
        for sr in r.reactants + r.products:
            if sr.id:
                _declare(L, sr.id, sr.stoichiometry)
                sref_ids.append(sr.id)
    return sref_ids


def _describe_symbols(L: Layout, model: Model, sref_ids: list[str]) -> None:
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


def _check_rule_targets(L: Layout, rules: _Rules) -> None:
    for target in set(rules.rated) & set(rules.assigned):
        raise SBMLError(f"'{target}' has both a rate rule and an assignment rule")
    for target in list(rules.rated) + list(rules.assigned) + list(rules.inits) + list(
            L.event_targets):
        if target not in L.info:
            raise SBMLError(f"a rule, initial assignment or event sets unknown id '{target}'")
        if L.info[target].kind == "reaction":
            raise SBMLError(f"a rule, initial assignment or event sets reaction '{target}'")


def _species_in_reactions(model: Model) -> dict[str, list]:
    """species id -> [(reaction, sign, species reference)], checking every reference."""
    species = model.species_by_id()
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
    return in_reactions


def _add_state(L: Layout, name: str, s: sp.Symbol) -> int:
    L.state_ids.append(name)
    L.state_syms.append(s)
    return len(L.state_ids) - 1


def _place_species(L: Layout, model: Model, rules: _Rules, in_reactions: dict) -> None:
    """Species: set by a rule, a rate rule's state, or an amount the reactions change."""
    sym = S.symbol
    comps = model.compartment_by_id()
    for s in model.species:
        if s.compartment not in comps:
            raise SBMLError(f"species '{s.id}' is in undefined compartment '{s.compartment}'")
        v = sym(s.id)
        C = sym(s.compartment)
        if s.id in rules.assigned:
            L.run_defs[v] = rules.assigned[s.id]
            continue
        if s.id in rules.rated:
            i = _add_state(L, s.id, v)
            L.run_defs[rate_sym(s.id)] = rules.rated[s.id]
            L.rate_rules[i] = rate_sym(s.id)
            L.init_defs[x0_sym(s.id)] = v
            continue
        a = amount_sym(s.id)
        i = _add_state(L, s.id, a)
        L.run_defs[v] = a if s.has_only_substance_units else S.ratio(a, C)
        L.init_defs[x0_sym(s.id)] = v if s.has_only_substance_units else S.product((v, C))
        if not (s.boundary_condition or s.constant):
            cf = s.conversion_factor or model.conversion_factor
            for r, sign, sr in in_reactions.get(s.id, []):
                if sr.id:
                    coef = sym(sr.id)
                elif sr.stoichiometry is None:
                    coef = 1.0
                else:
                    coef = float(sr.stoichiometry)
                L.stoich.append(StoichEntry(i, r.id, sign, coef, sym(cf) if cf else None))


def _place_the_rest(L: Layout, model: Model, rules: _Rules, sref_ids: list[str]) -> None:
    """Compartments, parameters and stoichiometries: a rule, a state (rate rule or event
    target) or a constant; local parameters are constants; reactions are rates."""

    def place(name: str) -> None:
        v = S.symbol(name)
        if name in rules.assigned:
            L.run_defs[v] = rules.assigned[name]
        elif name in rules.rated or name in L.event_targets:
            i = _add_state(L, name, v)
            L.init_defs[x0_sym(name)] = v
            if name in rules.rated:
                L.run_defs[rate_sym(name)] = rules.rated[name]
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
        L.run_defs[S.symbol(r.id)] = r.kinetic_law


def _event_assignments(L: Layout, model: Model, rules: _Rules) -> None:
    state_index = {name: i for i, name in enumerate(L.state_ids)}
    for k, ev in enumerate(model.events):
        seen = set()
        for a in ev.assignments:
            if a.variable in seen:
                raise SBMLError(f"event '{ev.id}' assigns '{a.variable}' twice")
            seen.add(a.variable)
            if a.variable in rules.assigned:
                raise SBMLError(
                    f"event '{ev.id}' assigns '{a.variable}', which has an assignment rule"
                )
            if a.variable not in state_index:
                raise SBMLError(f"event '{ev.id}' assigns '{a.variable}', which cannot change")
            i = state_index[a.variable]
            info = L.info[a.variable]
            by_amount = (
                info.kind == "species"
                and L.state_syms[i] == amount_sym(a.variable)
                and not info.only_substance_units
            )
            L.event_assignments.append(
                (k, i, by_amount, info.compartment if by_amount else None, a.math)
            )


def _initial_definitions(L: Layout, model: Model, rules: _Rules) -> None:
    """Definitions at t0; an undefined size or stoichiometry is an error only where
    something uses it."""
    species = model.species_by_id()
    undefined: list[str] = []
    for k, name in enumerate(L.param_ids):
        info = L.info.get(name)
        v = S.symbol(name)
        if name in rules.assigned:
            L.init_defs[v] = rules.assigned[name]
        elif name in rules.inits:
            L.init_defs[v] = rules.inits[name]
        elif info is not None and info.kind == "species":
            L.init_defs[v] = _initial_species_value(species[name])
        else:
            if math.isnan(L.param_values[k]) and (
                info is None or info.kind != "parameter"
            ) and name not in rules.rated:
                undefined.append(name)
            L.init_defs[v] = p_sym(name)
    for r in model.reactions:
        L.init_defs[S.symbol(r.id)] = r.kinetic_law
    if undefined:
        used = set()
        for expr in list(L.run_defs.values()) + list(L.init_defs.values()):
            used |= {str(x) for x in expr.free_symbols}
        used |= {str(e.coefficient) for e in L.stoich if isinstance(e.coefficient, sp.Symbol)}
        for name in undefined:
            if name in used:
                info = L.info.get(name)
                what = info.kind if info else "local parameter"
                raise SBMLError(f"{what} '{name}' has no value and no initial assignment")


def _initial_species_value(s) -> sp.Expr:
    """A species' value at t0 (its concentration, or its amount where it has only
    substance units) from its declared amount or concentration."""
    C = S.symbol(s.compartment)
    p = p_sym(s.id)
    if s.initial_amount is not None:
        return p if s.has_only_substance_units else S.ratio(p, C)
    if s.initial_concentration is not None:
        return S.product((p, C)) if s.has_only_substance_units else p
    raise SBMLError(f"species '{s.id}' has no initial amount, concentration or assignment")


def values_array(layout: Layout) -> np.ndarray:
    return np.asarray(layout.param_values, dtype=np.float64)
