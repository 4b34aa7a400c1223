"""Delays and rateOf, rewritten into symbols the compiled programs can evaluate.

`resolve_delays_and_rates` is the last step of `build_layout`: each distinct
``Delay(e, tau)`` becomes a symbol the integration loop supplies (`DelayCollector`), each
``RateOf(x)`` the time derivative of ``x`` as the model defines it (`RateOfRewriter`), and
expressions needed before t0 are taken from the initial assignments (`PastRateOf`).
The layout ``L`` is `wholecell.compiler._layout.Layout`.
"""

from __future__ import annotations

import sympy as sp

from .._errors import SBMLError, UnsupportedSBMLError
from ..sbml import _symbolic as S
from ..sbml._model import Model


def resolve_delays_and_rates(L, model: Model, assigned: dict, rated: dict) -> None:
    """Each distinct Delay(expr, tau) becomes a symbol the loop supplies; each RateOf(x)
    an expression of the model's symbols."""
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


class PastRateOf:
    """Expressions evaluated before t0: values and rates from the initial assignments."""

    def __init__(self, L):
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

    def __init__(self, L):
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

    def __init__(self, L, assigned: dict, rated: dict):
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
