"""Model formats in and out: `load` (SBML or Antimony, detected) and SBML / Antimony
export of a loaded `Model` with changed values (`to_sbml`, `to_antimony`, `write_sbml`).

Antimony goes through the ``antimony`` package (the ``formats`` extra), imported only when
Antimony is read or written. SED-ML and COMBINE archives are recognised and refused.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from pathlib import Path

import libsbml

from .._errors import SBMLError, UnsupportedSBMLError
from ._model import Model
from ._sbml_import import load_sbml

#: file suffixes read as Antimony; other suffixes are recognised by their content
ANTIMONY_SUFFIXES = (".ant", ".antimony", ".txt")
_COMBINE_SUFFIXES = (".omex", ".sedx", ".zip")
#: libantimony keeps its models in one global store: one caller at a time
_ANTIMONY_LOCK = threading.Lock()


class AntimonyError(SBMLError):
    """Antimony text that the ``antimony`` package could not read or write.

    The message quotes antimony's own."""


def load(source: str | os.PathLike) -> Model:
    """Load a model from SBML or Antimony: a file path or the text itself.

    What ``source`` is comes from its form: a path ending in ``.ant``, ``.antimony`` or
    ``.txt`` is Antimony; any other file, and a string, by its content (XML with an
    ``<sbml>`` root is SBML, other text is Antimony). SBML goes to `load_sbml`; Antimony is
    converted to SBML by the ``antimony`` package (``pip install wholecell[formats]``) first.

    Raises:
        SBMLError: the file is missing or the model is invalid.
        AntimonyError: antimony could not read the text (its message is quoted).
        UnsupportedSBMLError: a SED-ML document or a COMBINE archive (not supported yet),
            or XML that is not SBML.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _is_path(source)):
        return _load_file(Path(source))
    if not isinstance(source, str):
        raise SBMLError(f"wc.load takes a path or model text, not {type(source).__name__}")
    text = source.lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        return _load_xml(text, "<string>")
    return load_sbml(_antimony_to_sbml(source, "<string>"))


def _is_path(s: str) -> bool:
    """A string is a path when it names a file, or is one line with none of Antimony's
    statement marks (``;``, ``=``, ``->``) and no XML."""
    if "\n" in s or s.lstrip().startswith("<"):
        return False
    try:
        if Path(s).is_file():
            return True
    except OSError:  # a name too long for the file system is text
        return False
    return not any(mark in s for mark in (";", "=", "->"))


def _load_file(path: Path) -> Model:
    if not path.is_file():
        raise SBMLError(f"model file not found: '{path}'")
    suffix = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(4096)
    if suffix in _COMBINE_SUFFIXES or head.startswith(b"PK\x03\x04"):
        raise UnsupportedSBMLError(
            "COMBINE archive", None, f"'{path}': COMBINE/OMEX archives are not supported yet; "
            "extract the SBML file and load it"
        )
    if suffix in ANTIMONY_SUFFIXES:
        return load_sbml(_antimony_to_sbml(path, str(path)))
    start = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if start.startswith("<"):
        root = _xml_root(head.decode("utf-8", errors="replace"))
        if root == "sbml":
            return load_sbml(path)
        return _load_xml(path.read_text(encoding="utf-8", errors="replace"), str(path))
    return load_sbml(_antimony_to_sbml(path, str(path)))


def _xml_root(text: str) -> str | None:
    """The local name of the first element of an XML text (None if none is found)."""
    i = 0
    while True:
        i = text.find("<", i)
        if i < 0 or i + 1 >= len(text):
            return None
        if text[i + 1] in "?!":  # declaration, comment, doctype
            i += 1
            continue
        name = text[i + 1:].split(None, 1)[0].split(">", 1)[0].split("/", 1)[0]
        return name.split(":")[-1]


def _load_xml(text: str, origin: str) -> Model:
    root = _xml_root(text)
    if root == "sbml":
        return load_sbml(text) if origin == "<string>" else load_sbml(origin)
    if root == "sedML":
        raise UnsupportedSBMLError(
            "SED-ML", None, f"{origin}: SED-ML is not supported yet; load the SBML model the "
            "simulation experiment names, and run it with wc.simulate"
        )
    raise UnsupportedSBMLError(
        f"XML document <{root}>", None, f"{origin}: not SBML (its root element is <{root}>)"
    )


def _antimony():
    try:
        import antimony
    except ImportError as err:
        raise SBMLError(
            "reading or writing Antimony needs the 'antimony' package: "
            "pip install 'wholecell[formats]' (or pip install antimony)"
        ) from err
    return antimony


def _antimony_to_sbml(source: str | Path, origin: str) -> str:
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


def to_sbml(model: Model, params: Mapping[str, float] | None = None) -> str:
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


def _set_value(m: libsbml.Model, model: Model, pid: str, v: float, rules: set) -> None:
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


def _unknown(model: Model, pid: str) -> SBMLError:
    names = [c.id for c in model.compartments] + [s.id for s in model.species]
    names += [p.id for p in model.parameters]
    names += [f"{r.id}.{lid}" for r in model.reactions for lid, _ in r.local_parameters]
    shown = ", ".join(names[:30]) + (f", ... ({len(names)} in all)" if len(names) > 30 else "")
    return SBMLError(f"'{pid}' is not a value of model '{model.id}'; its values are {shown}")


def write_sbml(model: Model, path: str | os.PathLike,
               params: Mapping[str, float] | None = None) -> Path:
    """Write `to_sbml` ``(model, params)`` to the file ``path``; returns the path."""
    path = Path(path)
    path.write_text(to_sbml(model, params), encoding="utf-8")
    return path


def to_antimony(model: Model, params: Mapping[str, float] | None = None) -> str:
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
