"""Read SBML with libsbml and build the `Model` IR."""

from __future__ import annotations

import math
import os
import time
import warnings
from pathlib import Path

import libsbml
import sympy as sp

from .._errors import SBMLError, SBMLWarning, UnsupportedSBMLError
from . import _symbolic as S
from ._mathml import MathConverter, function_definitions
from ._model import (
    AlgebraicRule,
    AssignmentRule,
    Compartment,
    Event,
    EventAssignment,
    FluxBalance,
    FluxBounds,
    InitialAssignment,
    Model,
    Objective,
    Parameter,
    RateRule,
    Reaction,
    Species,
    SpeciesReference,
)

_SEVERE = (libsbml.LIBSBML_SEV_ERROR, libsbml.LIBSBML_SEV_FATAL)
#: packages whose constructs do not change a time course and can be ignored
_IGNORABLE_PACKAGES = {"layout", "render", "groups", "annot", "req", "l3v2extendedmath"}


def load_sbml(source: str | os.PathLike, *, check: bool = True) -> Model:
    """Load an SBML model from a file path or an SBML string.

    Any SBML Level/Version is accepted and converted to Level 3 Version 2. Hierarchical
    models (``comp``) are flattened.

    Arguments:
        source: path to an SBML file, or the SBML document itself as a string.
        check: run libsbml's consistency checks (units checks excluded).

    Returns:
        The immutable `Model`.

    Raises:
        SBMLError: the file is missing, the XML is malformed, or the model is invalid;
            the message lists each problem with its line and element.
        UnsupportedSBMLError: the model uses a construct wholecell does not simulate.
    """
    t0 = time.perf_counter()
    doc, origin = _read(source)
    doc = _prepare(doc, origin, check)
    model = _Builder(doc.getModel(), origin).build()
    object.__setattr__(model, "source", origin)
    # The document as read (Level 3, comp flattened), for `Model.to_sbml`: an attribute
    # outside the dataclass fields, so a `dataclasses.replace` copy does not carry it.
    object.__setattr__(model, "_sbml", libsbml.writeSBMLToString(doc))
    _ = time.perf_counter() - t0
    return model


def _read(source) -> tuple[libsbml.SBMLDocument, str]:
    if isinstance(source, os.PathLike) or (
        isinstance(source, str) and not source.lstrip().startswith("<")
    ):
        path = Path(source)
        if not path.is_file():
            raise SBMLError(f"SBML file not found: '{path}'")
        # An absolute path lets libsbml resolve external model definitions (comp).
        doc = libsbml.readSBMLFromFile(str(path.resolve()))
        origin = str(path)
    elif isinstance(source, str):
        doc = libsbml.readSBMLFromString(source)
        origin = "<string>"
    else:
        raise SBMLError(f"load_sbml takes a path or an SBML string, not {type(source).__name__}")
    ignored = _problems(doc, _SEVERE, packages=_IGNORABLE_PACKAGES)
    problems = [p for p in _problems(doc, _SEVERE) if p not in ignored]
    if problems:
        raise SBMLError(f"cannot read SBML from {origin}", problems)
    if ignored:
        # layout and render draw the model; a flaw there changes no number
        warnings.warn(
            f"{origin}: ignored problems of drawing-only SBML packages: " + "; ".join(ignored),
            SBMLWarning, stacklevel=3,
        )
        doc.getErrorLog().clearLog()
    if doc.getModel() is None:
        raise SBMLError(f"SBML document {origin} holds no model")
    return doc, origin


def _problems(doc: libsbml.SBMLDocument, severities, skip_units: bool = False,
              packages=None) -> list[str]:
    """The problems of ``severities`` (only those of SBML ``packages``, if given)."""
    out = []
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        if packages is not None and e.getPackage() not in packages:
            continue
        if skip_units and "unit" in e.getShortMessage().lower():
            continue  # units never change a simulation
        if e.getSeverity() in severities:
            msg = " ".join(e.getMessage().split())
            out.append(f"line {e.getLine()}: {e.getShortMessage()}: {msg}")
    return out


def _prepare(doc: libsbml.SBMLDocument, origin: str, check: bool) -> libsbml.SBMLDocument:
    for i in range(doc.getNumPlugins()):
        uri = doc.getPlugin(i).getURI()
        name = doc.getPlugin(i).getPackageName()
        if name in _IGNORABLE_PACKAGES or name in ("comp", "fbc", "distrib"):
            continue
        if doc.getPkgRequired(name):
            raise UnsupportedSBMLError(f"SBML package '{name}' ({uri})", doc.getModel().getId())
    if doc.isPackageEnabled("comp"):
        props = libsbml.ConversionProperties()
        props.addOption("flatten comp", True)
        props.addOption("leavePorts", False)
        props.addOption("performValidation", False)
        rc = doc.convert(props)
        if rc != libsbml.LIBSBML_OPERATION_SUCCESS:
            problems = _problems(doc, _SEVERE)
            raise SBMLError(f"cannot flatten the hierarchical (comp) model in {origin}", problems)
    if doc.getLevel() < 3:
        doc = _to_level3(doc, origin)
    if check:
        doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
        doc.setConsistencyChecks(libsbml.LIBSBML_CAT_MODELING_PRACTICE, False)
        doc.checkConsistency()
        problems = _problems(doc, _SEVERE, skip_units=True)
        if problems:
            raise SBMLError(f"invalid SBML in {origin}", problems)
    return doc


def _compartment_size(c: libsbml.Compartment) -> float | None:
    if c.isSetSize():
        return c.getSize()
    if c.isSetSpatialDimensions() and c.getSpatialDimensionsAsDouble() == 0:
        return 1.0  # a 0-D compartment has no size: its species' values are amounts
    return None


def _to_level3(doc: libsbml.SBMLDocument, origin: str) -> libsbml.SBMLDocument:
    """Level 1/2 -> Level 3 Version 2, or Version 1 where V2 cannot say what the model does
    (fast reactions, a local parameter named like a species)."""
    removed = _strip_units_only(doc)
    if removed:
        warnings.warn(
            f"{origin}: set aside units-only attributes that SBML Level 3 removed (they "
            f"change no number): {', '.join(removed)}",
            SBMLWarning, stacklevel=4,
        )
    trial = doc.clone()
    if trial.setLevelAndVersion(3, 2, False) and not _problems(trial, _SEVERE):
        return trial
    doc.getErrorLog().clearLog()
    doc.setLevelAndVersion(3, 1, False)
    problems = _problems(doc, _SEVERE)
    if problems:
        raise SBMLError(f"cannot convert {origin} to SBML Level 3", problems)
    return doc


def _strip_units_only(doc: libsbml.SBMLDocument) -> list[str]:
    """Unset the Level 1/2 attributes that only name units and that later levels removed
    (a species' ``spatialSizeUnits``, a kinetic law's ``timeUnits`` and
    ``substanceUnits``, an event's ``timeUnits``), which block the conversion to Level 3;
    returns what was removed, as "kind 'id' attribute"."""
    m = doc.getModel()
    removed = []
    for sp_ in m.getListOfSpecies():
        if sp_.isSetSpatialSizeUnits():
            sp_.unsetSpatialSizeUnits()
            removed.append(f"species '{sp_.getId()}' spatialSizeUnits")
    for r in m.getListOfReactions():
        kl = r.getKineticLaw()
        for attr in ("TimeUnits", "SubstanceUnits"):
            if kl is not None and getattr(kl, f"isSet{attr}")():
                getattr(kl, f"unset{attr}")()
                removed.append(f"kinetic law of '{r.getId()}' {attr[0].lower()}{attr[1:]}")
    for ev in m.getListOfEvents():
        if ev.isSetTimeUnits():
            ev.unsetTimeUnits()
            removed.append(f"event '{ev.getId()}' timeUnits")
    return removed


def _value(el, getter: str, isset: str) -> float | None:
    return getattr(el, getter)() if getattr(el, isset)() else None


class _Builder:
    def __init__(self, m: libsbml.Model, origin: str):
        self.m = m
        self.origin = origin
        symbols: dict[str, sp.Symbol] = {}
        for lst in (
            m.getListOfCompartments(),
            m.getListOfSpecies(),
            m.getListOfParameters(),
            m.getListOfReactions(),
        ):
            for el in lst:
                symbols[el.getId()] = S.symbol(el.getId())
        for rx in m.getListOfReactions():
            for sr in list(rx.getListOfReactants()) + list(rx.getListOfProducts()):
                if sr.isSetId():
                    symbols[sr.getId()] = S.symbol(sr.getId())
        self.symbols = symbols
        self.conv = MathConverter(symbols, function_definitions(m))

    def math(self, el, owner: str, local=None) -> sp.Expr:
        return self.conv.convert(el.getMath(), owner, local)

    def build(self) -> Model:
        m = self.m
        if m.getNumConstraints():
            pass  # constraints only check a run; they do not change it
        compartments = tuple(
            Compartment(
                c.getId(),
                _compartment_size(c),
                c.getConstant(),
                c.getSpatialDimensionsAsDouble() if c.isSetSpatialDimensions() else 3.0,
            )
            for c in m.getListOfCompartments()
        )
        species = tuple(
            Species(
                s.getId(),
                s.getCompartment(),
                _value(s, "getInitialAmount", "isSetInitialAmount"),
                _value(s, "getInitialConcentration", "isSetInitialConcentration"),
                s.getHasOnlySubstanceUnits(),
                s.getBoundaryCondition(),
                s.getConstant(),
                s.getConversionFactor() if s.isSetConversionFactor() else None,
            )
            for s in m.getListOfSpecies()
        )
        parameters = tuple(
            Parameter(p.getId(), _value(p, "getValue", "isSetValue"), p.getConstant())
            for p in m.getListOfParameters()
        )
        reactions = tuple(self._reaction(r) for r in m.getListOfReactions())
        assignment, rate, algebraic = [], [], []
        for i, r in enumerate(m.getListOfRules()):
            if r.getMath() is None:
                continue  # L3V2: a rule without math has no effect
            if r.isAssignment():
                assignment.append(AssignmentRule(r.getVariable(), self.math(r, r.getVariable())))
            elif r.isRate():
                rate.append(RateRule(r.getVariable(), self.math(r, r.getVariable())))
            else:
                rid = r.getId() if r.isSetId() else f"algebraicRule{i}"
                algebraic.append(AlgebraicRule(self.math(r, rid), rid))
        inits = tuple(
            InitialAssignment(ia.getSymbol(), self.math(ia, ia.getSymbol()))
            for ia in m.getListOfInitialAssignments()
            if ia.getMath() is not None
        )
        events = tuple(self._event(i, e) for i, e in enumerate(m.getListOfEvents()))
        model = Model(
            id=m.getId() or "model",
            compartments=compartments,
            species=species,
            parameters=parameters,
            reactions=reactions,
            assignment_rules=tuple(assignment),
            rate_rules=tuple(rate),
            algebraic_rules=tuple(algebraic),
            initial_assignments=inits,
            events=events,
            conversion_factor=m.getConversionFactor() if m.isSetConversionFactor() else None,
            name=m.getName() or "",
            flux_balance=_flux_balance(m),
        )
        _check_values(model)
        return model

    def _reaction(self, r: libsbml.Reaction) -> Reaction:
        rid = r.getId()
        kl = r.getKineticLaw()
        law = None
        local_values: list[tuple[str, float]] = []
        if kl is not None and kl.getMath() is not None:
            local = {}
            for lp in kl.getListOfLocalParameters():
                v = lp.getValue() if lp.isSetValue() else math.nan
                local_values.append((lp.getId(), v))
                local[lp.getId()] = S.symbol(f"{rid}.{lp.getId()}")
            law = self.math(kl, rid, local)

        def refs(lst):
            return tuple(
                SpeciesReference(
                    sr.getSpecies(),
                    sr.getStoichiometry() if sr.isSetStoichiometry() else None,
                    sr.getId() if sr.isSetId() else None,
                    sr.getConstant() if sr.isSetConstant() else False,
                )
                for sr in lst
            )

        return Reaction(
            rid,
            refs(r.getListOfReactants()),
            refs(r.getListOfProducts()),
            tuple(m.getSpecies() for m in r.getListOfModifiers()),
            law,
            tuple(local_values),
            r.getReversible(),
            r.isSetFast() and r.getFast(),
        )

    def _event(self, i: int, e: libsbml.Event) -> Event:
        eid = e.getId() if e.isSetId() else f"event{i}"
        trig = e.getTrigger()
        if trig is None or trig.getMath() is None:
            trigger = sp.Integer(0)
            init_value, persistent = True, True
        else:
            trigger = self.math(trig, eid)
            init_value = trig.getInitialValue() if trig.isSetInitialValue() else True
            persistent = trig.getPersistent() if trig.isSetPersistent() else True
        delay = None
        if e.isSetDelay() and e.getDelay().getMath() is not None:
            delay = self.math(e.getDelay(), eid)
        priority = None
        if e.isSetPriority() and e.getPriority().getMath() is not None:
            priority = self.math(e.getPriority(), eid)
        assigns = tuple(
            EventAssignment(a.getVariable(), self.math(a, f"{eid}: {a.getVariable()}"))
            for a in e.getListOfEventAssignments()
            if a.getMath() is not None
        )
        return Event(
            eid,
            trigger,
            assigns,
            init_value,
            persistent,
            delay,
            priority,
            e.getUseValuesFromTriggerTime() if e.isSetUseValuesFromTriggerTime() else True,
        )


def _flux_balance(m: libsbml.Model) -> FluxBalance | None:
    """The fbc package's flux bounds and objectives; None where the model does not use fbc."""
    fbc = m.getPlugin("fbc")
    if fbc is None:
        return None
    version = fbc.getPackageVersion()
    unsupported: list[tuple[str, str]] = []
    bounds: list[FluxBounds] = []
    if version == 1:
        # <fbc:fluxBound reaction op value>: several may bound one reaction
        lower: dict[str, float] = {}
        upper: dict[str, float] = {}
        for b in fbc.getListOfFluxBounds():
            rid, op = b.getReaction(), b.getOperation()
            v = b.getValue() if b.isSetValue() else math.nan
            if op in ("greaterEqual", "equal"):
                lower[rid] = max(lower.get(rid, -math.inf), v)
            if op in ("lessEqual", "equal"):
                upper[rid] = min(upper.get(rid, math.inf), v)
            if op not in ("greaterEqual", "lessEqual", "equal"):
                unsupported.append((f"fbc fluxBound operation '{op}'", b.getId() or rid))
        for rid in dict.fromkeys(list(lower) + list(upper)):
            bounds.append(FluxBounds(rid, lower.get(rid), upper.get(rid)))
    else:
        for r in m.getListOfReactions():
            rp = r.getPlugin("fbc")
            if rp is None:
                continue
            lo = rp.getLowerFluxBound() if rp.isSetLowerFluxBound() else None
            hi = rp.getUpperFluxBound() if rp.isSetUpperFluxBound() else None
            if lo is not None or hi is not None:
                bounds.append(FluxBounds(r.getId(), lo, hi))
        if version >= 3:
            for c in fbc.getListOfUserDefinedConstraints():
                unsupported.append(("fbc userDefinedConstraint", c.getId()))
    objectives = []
    for o in fbc.getListOfObjectives():
        fluxes = []
        for fo in o.getListOfFluxObjectives():
            if fo.isSetVariableType() and fo.getVariableType() != libsbml.FBC_VARIABLE_TYPE_LINEAR:
                unsupported.append(("fbc quadratic fluxObjective", o.getId()))
            fluxes.append((fo.getReaction(), fo.getCoefficient()))
        objectives.append(Objective(o.getId(), o.getType(), tuple(fluxes)))
    return FluxBalance(
        version,
        tuple(bounds),
        tuple(objectives),
        fbc.getActiveObjectiveId() or None,
        tuple(unsupported),
    )


def _check_values(model: Model) -> None:
    """Reject NaN where it would silently become a wrong number."""
    overridden = {ia.symbol for ia in model.initial_assignments} | {
        r.variable for r in model.assignment_rules
    }
    problems = []
    for c in model.compartments:
        if c.size is not None and math.isnan(c.size) and c.id not in overridden:
            problems.append(f"compartment '{c.id}' has size NaN")
    for s in model.species:
        for what, v in (("initialAmount", s.initial_amount), ("initialConcentration",
                                                             s.initial_concentration)):
            if v is not None and math.isnan(v) and s.id not in overridden:
                problems.append(f"species '{s.id}' has {what} NaN")
    used: set[str] = set()
    exprs = [r.kinetic_law for r in model.reactions if r.kinetic_law is not None]
    exprs += [r.math for r in model.assignment_rules + model.rate_rules + model.algebraic_rules]
    exprs += [ia.math for ia in model.initial_assignments]
    for ev in model.events:
        exprs += [ev.trigger] + [a.math for a in ev.assignments]
        exprs += [x for x in (ev.delay, ev.priority) if x is not None]
    for ex in exprs:
        used |= {str(s) for s in ex.free_symbols}
    for p in model.parameters:
        if p.value is not None and math.isnan(p.value) and p.id in used and (
            p.id not in overridden
        ):
            problems.append(f"parameter '{p.id}' has value NaN and is used by the model")
    for r in model.reactions:
        for lid, v in r.local_parameters:
            if math.isnan(v):
                problems.append(f"local parameter '{lid}' of reaction '{r.id}' has no value")
    if problems:
        raise SBMLError(f"model '{model.id}' has undefined values", problems)
