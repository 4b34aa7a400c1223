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


def build_layout(model: Model) -> Layout:  # noqa: C901
    """Decide where each symbol of ``model`` lives and write its definitions."""
    model = reduce_algebraic_rules(model)
    L = Layout(model)
    sym = S.symbol
    comps = model.compartment_by_id()
    species = model.species_by_id()
    assigned = {r.variable: r.math for r in model.assignment_rules}
    rated = {r.variable: r.math for r in model.rate_rules}
    inits = {ia.symbol: ia.math for ia in model.initial_assignments}
    L.event_targets = {a.variable for ev in model.events for a in ev.assignments}

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

    # -- event assignments -------------------------------------------------------------
    state_index = {name: i for i, name in enumerate(L.state_ids)}
    for k, ev in enumerate(model.events):
        seen = set()
        for a in ev.assignments:
            if a.variable in seen:
                raise SBMLError(f"event '{ev.id}' assigns '{a.variable}' twice")
            seen.add(a.variable)
            if a.variable in assigned:
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

    # -- definitions at t0 -----------------------------------------------------------
    undefined: list[str] = []
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
                L.init_defs[v] = (p_sym(name) if s.has_only_substance_units
                                  else S.ratio(p_sym(name), C))
            elif s.initial_concentration is not None:
                L.init_defs[v] = (S.product((p_sym(name), C)) if s.has_only_substance_units
                                  else p_sym(name))
            else:
                raise SBMLError(
                    f"species '{name}' has no initial amount, concentration or assignment"
                )
        else:
            if math.isnan(L.param_values[k]) and (
                info is None or info.kind != "parameter"
            ) and name not in rated:
                undefined.append(name)
            L.init_defs[v] = p_sym(name)
    for r in model.reactions:
        L.init_defs[sym(r.id)] = r.kinetic_law
    if undefined:
        # An undefined size or stoichiometry is an error only where something uses it.
        used = set()
        for expr in list(L.run_defs.values()) + list(L.init_defs.values()):
            used |= {str(x) for x in expr.free_symbols}
        used |= {str(e.coefficient) for e in L.stoich if isinstance(e.coefficient, sp.Symbol)}
        for name in undefined:
            if name in used:
                info = L.info.get(name)
                what = info.kind if info else "local parameter"
                raise SBMLError(f"{what} '{name}' has no value and no initial assignment")

    # -- delay: each distinct Delay(expr, tau) becomes a symbol the loop supplies --------
    collect = DelayCollector(L)
    L.run_defs = {k: collect(v) for k, v in L.run_defs.items()}
    L.event_assignments = [(*a[:4], collect(a[4])) for a in L.event_assignments]
    event_exprs = [
        tuple(collect(e) if e is not None else None for e in (ev.trigger, ev.delay, ev.priority))
        for ev in model.events
    ]
    # at t0 the past is the initial state: delay(e, tau) = e
    L.init_defs = {
        k: v.replace(lambda e: isinstance(e, S.Delay), lambda e: e.args[0])
        if v.has(S.Delay) else v
        for k, v in L.init_defs.items()
    }

    # -- rateOf: replace each RateOf(x) by an expression of the model's symbols --------
    rewrite = RateOfRewriter(
        L, {k: collect(v) for k, v in assigned.items()}, {k: collect(v) for k, v in rated.items()}
    )
    L.rewrite = rewrite
    L.run_defs = {k: rewrite(v) for k, v in L.run_defs.items()}
    L.init_defs = {k: rewrite(v) for k, v in L.init_defs.items()}
    L.event_assignments = [(*a[:4], rewrite(a[4])) for a in L.event_assignments]
    L.event_exprs = [tuple(rewrite(e) if e is not None else None for e in ev) for ev in event_exprs]
    # delayed expressions: now (rateOf as the dynamics say) and before t0 (rateOf as the
    # time derivative of the initial assignments, which may depend on time)
    past = PastRateOf(L)
    L.delays = []
    k = 0
    while k < len(collect.items):  # nested delays append items as they are collected
        e, tau = collect.items[k]
        L.delays.append((rewrite(collect(e)), rewrite(collect(tau)), past(e)))
        k += 1
    L.collect_delays = collect
    return L


class PastRateOf:
    """Expressions evaluated before t0: values and rates from the initial assignments."""

    def __init__(self, L: Layout):
        self.L = L
        self.cache: dict[sp.Symbol, sp.Expr] = {}

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        expr = expr.replace(lambda e: isinstance(e, S.Delay), lambda e: e.args[0])
        if not expr.has(S.RateOf):
            return expr
        return expr.replace(
            lambda e: isinstance(e, S.RateOf), lambda e: self.time_derivative(e.args[0])
        )

    def time_derivative(self, x: sp.Symbol, trail: tuple = ()) -> sp.Expr:
        if x in self.cache:
            return self.cache[x]
        if x in trail:
            raise SBMLError(f"initial values of '{x}' depend on themselves")
        f = self.L.init_defs.get(x)
        if f is None or f.has(S.RateOf):
            d = sp.Integer(0)
        else:
            d = sp.diff(f, S.TIME)
            for y in f.free_symbols - {S.TIME}:
                if y in self.L.init_defs:
                    dy = self.time_derivative(y, trail + (x,))
                    if dy != 0:
                        d = d + sp.diff(f, y) * dy
        self.cache[x] = d
        return d


def delayed_sym(k: int) -> sp.Symbol:
    return S.symbol(f"@delayed:{k}")


class DelayCollector:
    """Replaces each distinct ``Delay(e, tau)`` by a symbol ``@delayed:k``."""

    def __init__(self, L: Layout):
        self.L = L
        self.index: dict[sp.Expr, int] = {}
        self.items: list[tuple[sp.Expr, sp.Expr]] = []

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        if not expr.has(S.Delay):
            return expr
        return expr.replace(lambda e: isinstance(e, S.Delay), self._symbol)

    def _symbol(self, node):
        e, tau = node.args
        if node not in self.index:
            self.index[node] = len(self.items)
            self.items.append((e, tau))
        return delayed_sym(self.index[node])


class RateOfRewriter:
    """Replaces ``RateOf(x)`` by the time derivative of ``x`` as the model defines it."""

    def __init__(self, L: Layout, assigned: dict, rated: dict):
        self.L = L
        self.assigned = assigned
        self.rated = rated
        self.cache: dict[str, sp.Expr] = {}
        self.by_state: dict[int, list] = {}
        for e in L.stoich:
            self.by_state.setdefault(e.state, []).append(e)
        self.state_index = {n: i for i, n in enumerate(L.state_ids)}

    def __call__(self, expr: sp.Expr) -> sp.Expr:
        if not expr.has(S.RateOf):
            return expr
        return expr.replace(lambda e: isinstance(e, S.RateOf), lambda e: self.rate_of(e.args[0]))

    def rate_of(self, x: sp.Expr, trail: tuple = ()) -> sp.Expr:
        if not isinstance(x, sp.Symbol):
            raise UnsupportedSBMLError("rateOf of an expression", None, str(x))
        name = x.name
        if name in self.cache:
            return self.cache[name]
        if name in trail:
            raise SBMLError(f"rateOf('{name}') depends on itself")
        trail = trail + (name,)
        L = self.L
        info = L.info.get(name)
        if name in self.rated:
            d = self._resolve(self.rated[name], trail)
        elif name in self.assigned:
            f = self._resolve(self.assigned[name], trail)
            d = sp.diff(f, S.TIME)
            for y in f.free_symbols - {S.TIME}:
                dy = self.rate_of(y, trail)
                if dy != 0:
                    d = d + sp.diff(f, y) * dy
            if d.has(sp.Derivative, sp.Subs):
                raise UnsupportedSBMLError(
                    "rateOf of an assignment rule that cannot be differentiated", name
                )
        elif info is not None and info.kind == "species" and name in self.state_index:
            i = self.state_index[name]
            dn = sp.Integer(0)
            for (_, rid, sign, coef, cf) in self.by_state.get(i, []):
                term = sign * (coef if isinstance(coef, sp.Symbol) else sp.Float(coef))
                term = term * S.symbol(rid)
                dn = dn + (term * cf if cf is not None else term)
            if info.only_substance_units:
                d = dn
            else:
                C = S.symbol(info.compartment)
                d = dn / C - x * self.rate_of(C, trail) / C
        else:
            d = sp.Integer(0)
        self.cache[name] = d
        return d

    def _resolve(self, expr, trail):
        if not expr.has(S.RateOf):
            return expr
        return expr.replace(
            lambda e: isinstance(e, S.RateOf), lambda e: self.rate_of(e.args[0], trail)
        )


def values_array(layout: Layout) -> np.ndarray:
    return np.asarray(layout.param_values, dtype=np.float64)
