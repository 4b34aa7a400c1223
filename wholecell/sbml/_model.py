"""The model IR: an immutable description of an SBML model, math held as sympy.

Nothing here knows about JAX; `wholecell.compile` turns a `Model` into arrays and
pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp


@dataclass(frozen=True)
class Compartment:
    id: str
    size: float | None
    constant: bool = True
    spatial_dimensions: float = 3.0


@dataclass(frozen=True)
class Species:
    id: str
    compartment: str
    initial_amount: float | None = None
    initial_concentration: float | None = None
    has_only_substance_units: bool = False
    boundary_condition: bool = False
    constant: bool = False
    conversion_factor: str | None = None


@dataclass(frozen=True)
class Parameter:
    id: str
    value: float | None
    constant: bool = True


@dataclass(frozen=True)
class SpeciesReference:
    species: str
    stoichiometry: float | None = 1.0
    id: str | None = None
    constant: bool = True


@dataclass(frozen=True)
class Reaction:
    id: str
    reactants: tuple[SpeciesReference, ...]
    products: tuple[SpeciesReference, ...]
    modifiers: tuple[str, ...]
    kinetic_law: sp.Expr | None
    #: local parameter id -> value; in ``kinetic_law`` they appear as ``"<reaction>.<id>"``
    local_parameters: tuple[tuple[str, float], ...] = ()
    reversible: bool = False
    fast: bool = False


@dataclass(frozen=True)
class AssignmentRule:
    variable: str
    math: sp.Expr


@dataclass(frozen=True)
class RateRule:
    variable: str
    math: sp.Expr


@dataclass(frozen=True)
class AlgebraicRule:
    math: sp.Expr
    id: str | None = None


@dataclass(frozen=True)
class InitialAssignment:
    symbol: str
    math: sp.Expr


@dataclass(frozen=True)
class EventAssignment:
    variable: str
    math: sp.Expr


@dataclass(frozen=True)
class Event:
    id: str
    trigger: sp.Expr
    assignments: tuple[EventAssignment, ...]
    initial_value: bool = True
    persistent: bool = True
    delay: sp.Expr | None = None
    priority: sp.Expr | None = None
    use_values_from_trigger_time: bool = True


@dataclass(frozen=True)
class FluxBounds:
    """Bounds of one reaction's flux in flux balance analysis: ``lower <= v <= upper``.

    Each bound is a number (fbc v1 ``fluxBound`` values), the id of a parameter holding it
    (fbc v2 ``lowerFluxBound``/``upperFluxBound``), or None for no bound.
    """

    reaction: str
    lower: float | str | None = None
    upper: float | str | None = None


@dataclass(frozen=True)
class Objective:
    """An fbc objective: ``type`` ("maximize" or "minimize") of sum(coefficient * flux)."""

    id: str
    type: str
    #: (reaction id, coefficient) of each flux objective
    fluxes: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class FluxBalance:
    """The flux balance (SBML ``fbc`` package) description of a model."""

    version: int
    bounds: tuple[FluxBounds, ...] = ()
    objectives: tuple[Objective, ...] = ()
    active_objective: str | None = None
    #: (construct, element id) of fbc constructs that a linear program cannot express
    unsupported: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Model:
    """An SBML model: the immutable IR between import and compile.

    Every id is the SBML id verbatim. Expressions are sympy, with every model id a
    `sympy.Symbol` of that name, ``wholecell.sbml._symbolic.TIME`` for time, and the
    unevaluated functions of `wholecell.sbml._symbolic` for logic and piecewise.
    """

    id: str
    compartments: tuple[Compartment, ...] = ()
    species: tuple[Species, ...] = ()
    parameters: tuple[Parameter, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    assignment_rules: tuple[AssignmentRule, ...] = ()
    rate_rules: tuple[RateRule, ...] = ()
    algebraic_rules: tuple[AlgebraicRule, ...] = ()
    initial_assignments: tuple[InitialAssignment, ...] = ()
    events: tuple[Event, ...] = ()
    conversion_factor: str | None = None
    name: str = ""
    source: str = field(default="", compare=False)
    #: flux balance analysis data (the ``fbc`` package), if the model has any
    flux_balance: FluxBalance | None = None

    def _repr_html_(self) -> str:
        from .._html import html_table, short_list

        counts = [("compartments", self.compartments), ("species", self.species),
                  ("parameters", self.parameters), ("reactions", self.reactions),
                  ("rules", self.assignment_rules + self.rate_rules + self.algebraic_rules),
                  ("events", self.events)]
        rows = [("id", self.id)] + ([("name", self.name)] if self.name else [])
        def name(x) -> str:
            return getattr(x, "id", None) or getattr(x, "variable", None) or "(no id)"

        rows += [(k, f"{len(v)}: {short_list([name(x) for x in v])}" if v else "0")
                 for k, v in counts]
        if self.flux_balance is not None:
            rows.append(("flux balance", "fbc objective and bounds"))
        return html_table("Model", rows)

    def to_sbml(self, params: Mapping[str, float] | None = None) -> str:
        """The SBML document this model was loaded from, as text, with the values of
        ``params`` (id -> number: parameters, compartment sizes, species' initial values,
        ``"reaction.id"`` local parameters) set; an initial assignment of a given id is
        removed so that the value holds. See `wholecell.sbml._export.to_sbml`."""
        from ._export import to_sbml

        return to_sbml(self, params)

    def to_antimony(self, params: Mapping[str, float] | None = None) -> str:
        """The model as Antimony text with the values of ``params`` set (see `to_sbml`);
        needs the ``antimony`` package (``pip install wholecell[formats]``)."""
        from ._export import to_antimony

        return to_antimony(self, params)

    def species_by_id(self) -> dict[str, Species]:
        return {s.id: s for s in self.species}

    def compartment_by_id(self) -> dict[str, Compartment]:
        return {c.id: c for c in self.compartments}

    def parameter_by_id(self) -> dict[str, Parameter]:
        return {p.id: p for p in self.parameters}

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id of the model that has a value (compartments, species, ...)."""
        refs = [
            r.id
            for rx in self.reactions
            for r in rx.reactants + rx.products
            if r.id
        ]
        return tuple(
            [c.id for c in self.compartments]
            + [s.id for s in self.species]
            + [p.id for p in self.parameters]
            + [r.id for r in self.reactions]
            + refs
        )

    def __repr__(self) -> str:
        return (
            f"Model(id={self.id!r}, compartments={len(self.compartments)}, "
            f"species={len(self.species)}, parameters={len(self.parameters)}, "
            f"reactions={len(self.reactions)}, rules="
            f"{len(self.assignment_rules) + len(self.rate_rules) + len(self.algebraic_rules)}, "
            f"events={len(self.events)})"
        )
