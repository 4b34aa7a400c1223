"""Algebraic rules: find the variable each rule determines and solve for it symbolically.

A model with algebraic rules is a DAE. Where sympy can solve the rules for the
variables they determine, the rules become assignment rules and the DAE an ODE; the
result is exact. What cannot be solved this way is refused with `UnsupportedSBMLError`.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from .._errors import UnsupportedSBMLError
from . import _symbolic as S
from ._model import AssignmentRule, Model


def determined_candidates(model: Model) -> set[str]:
    """Ids an algebraic rule may determine: values nothing else determines."""
    ruled = {r.variable for r in model.assignment_rules + model.rate_rules}
    driven = {
        sr.species
        for r in model.reactions
        for sr in r.reactants + r.products
    }
    species = model.species_by_id()
    out = set()
    for c in model.compartments:
        if not c.constant:
            out.add(c.id)
    for p in model.parameters:
        if not p.constant:
            out.add(p.id)
    for s in model.species:
        if s.constant:
            continue
        if s.id in driven and not s.boundary_condition:
            continue
        out.add(s.id)
    for r in model.reactions:
        for sr in r.reactants + r.products:
            if sr.id and not sr.constant:
                out.add(sr.id)
    del species
    return out - ruled


def _matching(rules: list[sp.Expr], candidates: set[str]) -> dict[int, str]:
    """Maximum bipartite matching rule -> variable (Kuhn's augmenting paths)."""
    options = [sorted(str(s) for s in r.free_symbols if str(s) in candidates) for r in rules]
    owner: dict[str, int] = {}

    def augment(i, seen):
        for v in options[i]:
            if v in seen:
                continue
            seen.add(v)
            if v not in owner or augment(owner[v], seen):
                owner[v] = i
                return True
        return False

    for i in range(len(rules)):
        augment(i, set())
    return {i: v for v, i in owner.items()}


def reduce_algebraic_rules(model: Model) -> Model:
    """``model`` with its algebraic rules turned into assignment rules.

    Raises:
        UnsupportedSBMLError: a rule determines no variable, or sympy cannot solve it.
    """
    if not model.algebraic_rules:
        return model
    rules = [r.math for r in model.algebraic_rules]
    candidates = determined_candidates(model)
    # Prefer variables no event changes: an event cannot move a variable a rule pins.
    targets = {a.variable for ev in model.events for a in ev.assignments}
    match = _matching(rules, candidates - targets)
    if len(match) < len(rules):
        match = _matching(rules, candidates)
    for i, r in enumerate(model.algebraic_rules):
        if i not in match:
            raise UnsupportedSBMLError(
                "AlgebraicRule", r.id, "no free variable for this rule to determine"
            )
    variables = [S.symbol(match[i]) for i in range(len(rules))]
    exprs = list(rules)
    opaque = S.RELATIONS + S.LOGICAL + (S.Piecewise, S.Max, S.Min, S.Delay, S.RateOf)
    for e, r in zip(exprs, model.algebraic_rules, strict=True):
        for node in sp.preorder_traversal(e):
            if isinstance(node, opaque) and any(node.has(v) for v in variables):
                raise UnsupportedSBMLError(
                    "AlgebraicRule", r.id,
                    f"the determined variable appears inside {type(node).__name__}",
                )
    try:
        solutions = sp.solve(exprs, variables, dict=True, rational=False)
    except (NotImplementedError, ValueError, TypeError) as err:
        raise UnsupportedSBMLError(
            "AlgebraicRule", model.algebraic_rules[0].id, f"sympy cannot solve it ({err})"
        ) from err
    solutions = [s for s in solutions if all(v in s for v in variables)]
    real = [s for s in solutions if not any(val.has(sp.I) for val in s.values())]
    if len(real) != 1:
        why = "no closed-form solution" if not real else f"{len(real)} solutions"
        raise UnsupportedSBMLError("AlgebraicRule", model.algebraic_rules[0].id, why)
    sol = real[0]
    new_rules = tuple(AssignmentRule(v.name, sol[v]) for v in variables)
    return dataclasses.replace(
        model,
        assignment_rules=model.assignment_rules + new_rules,
        algebraic_rules=(),
        # an initial assignment to a variable the rule now determines is overridden
        initial_assignments=tuple(
            ia for ia in model.initial_assignments if ia.symbol not in {v.name for v in variables}
        ),
    )
