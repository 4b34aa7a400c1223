"""Flux balance analysis of models that use the SBML ``fbc`` package.

Optimise the active objective over the fluxes ``v`` subject to steady state, ``N v = 0``
over the species without a boundary condition, and the flux bounds ``lb <= v <= ub``,
as a linear program solved by HiGHS (`scipy.optimize.linprog`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.optimize
import scipy.sparse
import sympy as sp

from ._errors import SBMLError, SimulationError, UnsupportedSBMLError
from .sbml._model import Model, Objective
from .solve._compiled import compile as compile_model


@dataclass(frozen=True)
class FBAResult:
    """The optimum of a flux balance problem.

    ``res[id]`` is the flux of reaction ``id``, or the objective value for the objective id.

    Attributes:
        fluxes: reaction id -> flux at the optimum (NaN where the LP has no optimum).
        objective_value: the optimal value of the objective (NaN if infeasible, +-inf
            if unbounded).
        objective_id: the id of the objective that was optimised.
        status: "optimal", "infeasible" or "unbounded".
    """

    fluxes: dict[str, float] = field(repr=False)
    objective_value: float
    objective_id: str
    status: str

    def __getitem__(self, key: str) -> float:
        if key == self.objective_id:
            return self.objective_value
        if key in self.fluxes:
            return self.fluxes[key]
        raise KeyError(f"'{key}' is neither a reaction nor the objective '{self.objective_id}'")


def fba(model: Model, *, on_failure: Literal["raise", "nan"] = "raise") -> FBAResult:
    """Flux balance analysis: optimise the model's active fbc objective at steady state.

    Bounds and stoichiometries take their values at the initial time, so initial
    assignments and assignment rules to them are honoured.

    Arguments:
        model: a `Model` with fbc data (from `wholecell.load_sbml`).
        on_failure: "raise" to raise on an infeasible or unbounded problem; "nan" to return
            a result with that status instead (the SBML Test Suite's convention: objective
            NaN when infeasible, +-inf when unbounded, fluxes NaN).

    Raises:
        SBMLError: the model has no fbc objective, or refers to undefined ids.
        UnsupportedSBMLError: the model uses an fbc construct a linear program cannot express.
        SimulationError: the problem is infeasible or unbounded (with ``on_failure="raise"``),
            or the solver failed.
    """
    if on_failure not in ("raise", "nan"):
        raise ValueError(f"on_failure must be 'raise' or 'nan', not {on_failure!r}")
    fb = model.flux_balance
    if fb is None:
        raise SBMLError(f"model '{model.id}' has no flux balance (fbc) data")
    if fb.unsupported:
        construct, element = fb.unsupported[0]
        raise UnsupportedSBMLError(construct, element, "FBA here solves linear programs only")
    objective = _active_objective(model)
    rxn_ids = [r.id for r in model.reactions]
    col = {rid: j for j, rid in enumerate(rxn_ids)}

    bound_params = {b for fbnd in fb.bounds for b in (fbnd.lower, fbnd.upper) if isinstance(b, str)}
    ref_ids = {sr.id for r in model.reactions for sr in r.reactants + r.products if sr.id}
    values = _values_at_t0(model, bound_params | ref_ids)

    lb = np.full(len(rxn_ids), -np.inf)
    ub = np.full(len(rxn_ids), np.inf)
    for fbnd in fb.bounds:
        if fbnd.reaction not in col:
            raise SBMLError(f"fbc flux bound refers to undefined reaction '{fbnd.reaction}'")
        j = col[fbnd.reaction]
        for side, bound, arr in (("lower", fbnd.lower, lb), ("upper", fbnd.upper, ub)):
            if bound is None:
                continue
            v = values[bound] if isinstance(bound, str) else float(bound)
            if math.isnan(v):
                raise SBMLError(f"the {side} flux bound of reaction '{fbnd.reaction}' is NaN")
            arr[j] = max(arr[j], v) if side == "lower" else min(arr[j], v)

    c = np.zeros(len(rxn_ids))
    for rid, coef in objective.fluxes:
        if rid not in col:
            raise SBMLError(f"objective '{objective.id}' refers to undefined reaction '{rid}'")
        c[col[rid]] += coef
    maximize = objective.type == "maximize"

    n_matrix = _stoichiometry(model, values)
    if np.any(lb > ub) or np.any(lb == np.inf) or np.any(ub == -np.inf):
        return _failure(objective, rxn_ids, "infeasible", maximize, on_failure)
    res = scipy.optimize.linprog(
        -c if maximize else c,
        A_eq=n_matrix if n_matrix.shape[0] else None,
        b_eq=np.zeros(n_matrix.shape[0]) if n_matrix.shape[0] else None,
        bounds=np.stack([lb, ub], axis=1),
        method="highs",
    )
    if res.status == 2:
        return _failure(objective, rxn_ids, "infeasible", maximize, on_failure)
    if res.status == 3:
        return _failure(objective, rxn_ids, "unbounded", maximize, on_failure)
    if res.status != 0:
        raise SimulationError(f"flux balance analysis of '{model.id}' failed: {res.message}")
    fluxes = {rid: float(v) for rid, v in zip(rxn_ids, res.x, strict=True)}
    return FBAResult(fluxes, float(c @ res.x), objective.id, "optimal")


def _active_objective(model: Model) -> Objective:
    fb = model.flux_balance
    assert fb is not None
    if not fb.objectives:
        raise SBMLError(f"model '{model.id}' defines no fbc objective")
    by_id = {o.id: o for o in fb.objectives}
    if fb.active_objective is None:
        if len(fb.objectives) > 1:
            raise SBMLError(f"model '{model.id}' has several fbc objectives and none is active")
        objective = fb.objectives[0]
    elif fb.active_objective in by_id:
        objective = by_id[fb.active_objective]
    else:
        raise SBMLError(f"the active fbc objective '{fb.active_objective}' is undefined")
    if objective.type not in ("maximize", "minimize"):
        raise UnsupportedSBMLError(f"fbc objective type '{objective.type}'", objective.id)
    return objective


def _values_at_t0(model: Model, ids: Iterable[str]) -> dict[str, float]:
    """Values of ``ids`` (parameters, species references) at the initial time."""
    ids = set(ids)
    if not ids:
        return {}
    assigned = {ia.symbol for ia in model.initial_assignments}
    assigned |= {r.variable for r in model.assignment_rules}
    static: dict[str, float | None] = {p.id: p.value for p in model.parameters}
    for r in model.reactions:
        for sr in r.reactants + r.products:
            if sr.id:
                static[sr.id] = sr.stoichiometry
    if not (ids & assigned) and not model.algebraic_rules and all(
        static.get(i) is not None for i in ids
    ):
        return {i: float(static[i]) for i in ids}  # type: ignore[arg-type]
    # Honour initial assignments and rules: evaluate the compiled model at t0. Reactions
    # without a kinetic law (the norm in FBA models) get rate 0, which t0 values ignore.
    zero = sp.Integer(0)
    runnable = dataclasses.replace(
        model,
        reactions=tuple(
            r if r.kinetic_law is not None else dataclasses.replace(r, kinetic_law=zero)
            for r in model.reactions
        ),
    )
    sim = compile_model(runnable)
    x0, _ = sim.initial_state()
    observed = np.asarray(sim.observe([0.0], x0[None, :])[0], dtype=np.float64)
    index = {name: k for k, name in enumerate(sim.observable_ids)}
    missing = sorted(i for i in ids if i not in index)
    if missing:
        raise SBMLError(f"fbc refers to undefined id(s): {', '.join(missing)}")
    return {i: float(observed[index[i]]) for i in ids}


def _stoichiometry(model: Model, values: dict[str, float]) -> scipy.sparse.csr_array:
    """N: species without a boundary condition x reactions, in amounts per unit flux."""
    balanced = {s.id for s in model.species if not s.boundary_condition}
    rows: dict[str, int] = {}
    i_idx, j_idx, data = [], [], []
    for j, r in enumerate(model.reactions):
        for sign, refs in ((-1.0, r.reactants), (1.0, r.products)):
            for sr in refs:
                if sr.species not in balanced:
                    continue
                stoich = values[sr.id] if sr.id else sr.stoichiometry
                if stoich is None or math.isnan(stoich):
                    raise SBMLError(
                        f"the stoichiometry of species '{sr.species}' in reaction '{r.id}' "
                        "is undefined"
                    )
                i_idx.append(rows.setdefault(sr.species, len(rows)))
                j_idx.append(j)
                data.append(sign * stoich)
    shape = (len(rows), len(model.reactions))
    return scipy.sparse.csr_array((data, (i_idx, j_idx)), shape=shape)


def _failure(
    objective: Objective, rxn_ids: list[str], status: str, maximize: bool, on_failure: str
) -> FBAResult:
    if on_failure == "raise":
        raise SimulationError(
            f"flux balance analysis: the linear program is {status} "
            f"({'maximizing' if maximize else 'minimizing'} objective '{objective.id}')"
        )
    value = math.nan if status == "infeasible" else (math.inf if maximize else -math.inf)
    return FBAResult({rid: math.nan for rid in rxn_ids}, value, objective.id, status)
