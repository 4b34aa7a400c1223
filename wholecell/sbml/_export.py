"""SBML and Antimony out: the document a `Model` was loaded from, with changed values.

Imports nothing of the IR (`_model` calls it from ``Model.to_sbml``); a ``model`` here is
a `wholecell.sbml._model.Model`. Antimony goes through the ``antimony`` package (the
``formats`` extra), imported only when Antimony is read or written.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import libsbml

from .._errors import SBMLError

#: libantimony keeps its models in one global store: one caller at a time
_ANTIMONY_LOCK = threading.Lock()


class AntimonyError(SBMLError):
    """Antimony text that the ``antimony`` package could not read or write.

    The message quotes antimony's own."""


def _antimony():
    try:
        import antimony
    except ImportError as err:
        raise SBMLError(
            "reading or writing Antimony needs the 'antimony' package: "
            "pip install 'wholecell[formats]' (or pip install antimony)"
        ) from err
    return antimony


def antimony_to_sbml(source: str | Path, origin: str) -> str:
    """SBML text of the Antimony in file ``source`` (a Path) or text ``source``."""
    ant = _antimony()
    with _ANTIMONY_LOCK:
        ant.clearPreviousLoads()
        if isinstance(source, Path):
            rc = ant.loadAntimonyFile(str(source.resolve()))
        else:
            rc = ant.loadAntimonyString(source)
        if rc < 0:
            message = " ".join(ant.getLastError().split())
            ant.clearPreviousLoads()
            raise AntimonyError(f"cannot read Antimony from {origin}: {message}")
        name = ant.getMainModuleName()
        sbml = ant.getSBMLString(name) if name else ""
        ant.clearPreviousLoads()
    if not sbml:
        raise AntimonyError(f"Antimony from {origin} defines no model")
    return sbml


def to_sbml(model: Any, params: Mapping[str, float] | None = None) -> str:
    """The SBML document ``model`` was loaded from, with the values of ``params`` set.

    ``params`` maps ids to numbers, as in ``wc.simulate``: a parameter's value, a
    compartment's size, a species' initial value (an initial amount where the species
    declares one, else an initial concentration; a species with neither gets its
    concentration, or its amount when it has only substance units), a species
    reference's stoichiometry, or a reaction's local parameter as ``"reaction.id"``.
    An initial assignment of an id given here is removed, so that the written value
    holds (``wc.simulate(params=...)`` instead keeps the initial assignment).

    Raises:
        SBMLError: the model was not loaded from SBML (or was changed after loading), an
            id is unknown or set by an assignment rule, or a value is not a finite number.
    """
    text = getattr(model, "_sbml", None)
    if not text:
        raise SBMLError(
            f"model '{model.id}' was not loaded from SBML or Antimony (or was changed after "
            "loading): to_sbml writes the document a model was loaded from"
        )
    doc = libsbml.readSBMLFromString(text)
    m = doc.getModel()
    rules = {r.variable for r in model.assignment_rules}
    for pid, value in (params or {}).items():
        _set_value(m, model, str(pid), _number(pid, value), rules)
    _declare_annotation_namespaces(doc)
    return libsbml.writeSBMLToString(doc)


def _declare_annotation_namespaces(doc: libsbml.SBMLDocument) -> None:
    """Declare on each top-level element of an annotation the namespace that Level 2
    allowed on the ``<annotation>`` itself: Level 3 asks for it on the element, and a
    model converted from Level 2 would not read back without it."""
    every = doc.getListOfAllElements()
    for el in [doc, doc.getModel()] + [every.get(i) for i in range(every.getSize())]:
        if el is None or not el.isSetAnnotation():
            continue
        note = el.getAnnotation()
        outer = note.getNamespaces()
        changed = False
        for i in range(note.getNumChildren()):
            child = note.getChild(i)  # a reference into ``note``
            prefix = child.getPrefix()
            if (child.isElement() and child.getNamespaces().getIndexByPrefix(prefix) < 0
                    and outer.getIndexByPrefix(prefix) >= 0):
                child.addNamespace(outer.getURI(prefix), prefix)
                changed = True
        if changed:
            el.setAnnotation(note)


def _number(pid, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise SBMLError(f"the value of '{pid}' must be a number, not {value!r}") from None
    if not math.isfinite(v):
        raise SBMLError(f"the value of '{pid}' is {v}: it must be finite")
    return v


def _set_value(m: libsbml.Model, model: Any, pid: str, v: float, rules: set) -> None:
    if pid in rules:
        raise SBMLError(
            f"'{pid}' is set by an assignment rule in model '{model.id}': its value follows "
            "the rule and cannot be given; set the parameters the rule reads"
        )
    if m.getParameter(pid) is not None:
        _ok(m.getParameter(pid).setValue(v), pid)
    elif m.getCompartment(pid) is not None:
        _ok(m.getCompartment(pid).setSize(v), pid)
    elif m.getSpecies(pid) is not None:
        s = m.getSpecies(pid)
        amount = s.isSetInitialAmount() or (
            not s.isSetInitialConcentration() and s.getHasOnlySubstanceUnits()
        )
        _ok(s.setInitialAmount(v) if amount else s.setInitialConcentration(v), pid)
    elif m.getSpeciesReference(pid) is not None:
        _ok(m.getSpeciesReference(pid).setStoichiometry(v), pid)
    elif m.getReaction(pid) is not None:
        raise SBMLError(f"'{pid}' is a reaction: its rate is its kinetic law, not a value")
    elif "." in pid:
        rid, _, lid = pid.partition(".")
        r = m.getReaction(rid)
        law = r.getKineticLaw() if r is not None else None
        lp = law.getLocalParameter(lid) if law is not None else None
        if lp is None:
            raise _unknown(model, pid)
        _ok(lp.setValue(v), pid)
        return
    else:
        raise _unknown(model, pid)
    if m.getInitialAssignment(pid) is not None:
        m.removeInitialAssignment(pid)


def _ok(rc: int, pid: str) -> None:
    if rc != libsbml.LIBSBML_OPERATION_SUCCESS:
        why = libsbml.OperationReturnValue_toString(rc)
        raise SBMLError(f"libsbml could not set '{pid}': {why}")


def _unknown(model: Any, pid: str) -> SBMLError:
    names = [c.id for c in model.compartments] + [s.id for s in model.species]
    names += [p.id for p in model.parameters]
    names += [f"{r.id}.{lid}" for r in model.reactions for lid, _ in r.local_parameters]
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
    return SBMLError(f"'{pid}' is not a value of model '{model.id}'; its values are {shown}")


def to_antimony(model: Any, params: Mapping[str, float] | None = None) -> str:
    """The model as Antimony text, with the values of ``params`` set (see `to_sbml`).

    Converted by the ``antimony`` package from `to_sbml`'s document.

    Raises:
        SBMLError: as `to_sbml`; `AntimonyError` when antimony cannot convert the SBML.
    """
    sbml = to_sbml(model, params)
    ant = _antimony()
    with _ANTIMONY_LOCK:
        ant.clearPreviousLoads()
        if ant.loadSBMLString(sbml) < 0:
            message = " ".join(ant.getLastError().split())
            ant.clearPreviousLoads()
            raise AntimonyError(f"antimony cannot convert model '{model.id}': {message}")
        text = ant.getAntimonyString(ant.getMainModuleName())
        ant.clearPreviousLoads()
    return text
