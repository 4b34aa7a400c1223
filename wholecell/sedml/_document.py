"""A SED-ML document read into plain records, with every construct wholecell cannot run
refused by name (libsedml reads the XML)."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from .._errors import SedmlError, UnsupportedSedmlError

#: KiSAO algorithm -> wc.simulate method. Deterministic integrators all map to "ode" (the
#: solver is chosen by the plan), stochastic ones to the exact SSA or tau-leaping.
_ODE_KISAO = {
    "0000019", "0000496", "0000560", "0000088", "0000094", "0000535", "0000071",
    "0000086", "0000087", "0000435", "0000436", "0000032", "0000033", "0000030", "0000407",
    "0000280", "0000064",
}
_SSA_KISAO = {"0000029", "0000027", "0000241", "0000319"}
_TAU_KISAO = {"0000039", "0000040", "0000045", "0000084"}
#: KiSAO algorithm parameter -> the simulate option it sets
_ALGORITHM_PARAMETERS = {
    "0000209": "rtol", "0000211": "atol", "0000488": "seed", "0000415": "max_steps",
}
#: the SBML attribute a change may set, per element kind
CHANGEABLE = {
    "parameter": ("value",),
    "species": ("initialAmount", "initialConcentration"),
    "compartment": ("size",),
}
_XPATH = re.compile(
    r"^/sbml:sbml/sbml:model/sbml:listOf\w+/sbml:(?P<kind>\w+)"
    r"\[@id=(?P<q>['\"])(?P<id>[^'\"]+)(?P=q)\](?:/@(?P<attr>\w+))?$"
)
_TIME = "urn:sedml:symbol:time"


@dataclass(frozen=True)
class Change:
    kind: str  # the SBML element: parameter, species or compartment
    id: str
    attribute: str
    value: float


@dataclass(frozen=True)
class ModelSpec:
    id: str
    source: str  # a file, or the id of another model of the document
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class TimeCourse:
    id: str
    initial: float
    start: float
    end: float
    steps: int
    method: str
    options: tuple[tuple[str, float], ...]  # (rtol|atol|seed|max_steps, value)

    @property
    def times(self) -> np.ndarray:
        """The output times: ``steps`` intervals from ``start`` to ``end``."""
        return np.linspace(self.start, self.end, self.steps + 1)


@dataclass(frozen=True)
class TaskSpec:
    id: str
    model: str
    simulation: str


@dataclass(frozen=True)
class Variable:
    id: str
    task: str
    kind: str  # "time", or the SBML element kind of the target
    target: str | None  # the SBML id (None for time)


@dataclass(frozen=True)
class DataGenerator:
    id: str
    name: str
    variables: tuple[Variable, ...]
    parameters: tuple[tuple[str, float], ...]
    math: str  # MathML


@dataclass(frozen=True)
class Curve:
    x: str
    y: str
    name: str
    log_x: bool
    log_y: bool


@dataclass(frozen=True)
class Output:
    id: str
    name: str
    kind: str  # "report" or "plot2D"
    columns: tuple[tuple[str, str], ...] = ()  # report: (label, data generator id)
    curves: tuple[Curve, ...] = ()  # plot2D


@dataclass(frozen=True)
class Document:
    """What a SED-ML file asks for, checked: every id it refers to exists."""

    level: int
    version: int
    models: dict[str, ModelSpec]
    simulations: dict[str, TimeCourse]
    tasks: dict[str, TaskSpec]
    data_generators: dict[str, DataGenerator]
    outputs: dict[str, Output]


def parse_sedml(text: str, origin: str) -> Document:
    """Read and check a SED-ML document (the XML text; ``origin`` names it in errors).

    The XML is read with the standard library (libsedml's Python module, loaded beside
    libsbml's, breaks libsbml's math enums in the same process). Every level and version
    of SED-ML 1 is read; namespaces are ignored.

    Raises:
        SedmlError: malformed XML, a missing required attribute, or an id that is
            referred to but not defined.
        UnsupportedSedmlError: a construct that would change the numbers and that
            wholecell does not run (repeated tasks, steady-state or one-step simulations,
            XML changes, computed changes, unknown algorithms), by name.
    """
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError as err:
        raise SedmlError(f"{origin}: not a valid SED-ML document (malformed XML: {err})") \
            from None
    if _local(root.tag) != "sedML":
        raise SedmlError(f"{origin}: not SED-ML (its root element is <{_local(root.tag)}>)")
    models = {_id(m): _model(m) for m in _children(root, "listOfModels")}
    sims = {_id(s): _simulation(s) for s in _children(root, "listOfSimulations")}
    tasks = {_id(t): _task(t) for t in _children(root, "listOfTasks")}
    dgs = {_id(d): _data_generator(d) for d in _children(root, "listOfDataGenerators")}
    outputs = {}
    for o in _children(root, "listOfOutputs"):
        out = _output(o)
        if out is not None:
            outputs[out.id] = out
    document = Document(int(root.get("level", "1")), int(root.get("version", "1")), models,
                        sims, tasks, dgs, outputs)
    _check_references(document, origin)
    return document


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _children(element, list_name: str) -> list:
    """The elements inside ``element``'s child ``list_name`` (a listOf...)."""
    out = []
    for child in element:
        if _local(child.tag) == list_name:
            out.extend(c for c in child if isinstance(c.tag, str))
    return out


def _child(element, name: str):
    return next((c for c in element if _local(c.tag) == name), None)


def _id(element) -> str:
    return _required(element, "id", None)


def _required(element, attribute: str, owner: str | None) -> str:
    value = element.get(attribute)
    if value is None or value == "":
        who = f"'{owner}'" if owner else f"<{_local(element.tag)}>"
        raise SedmlError(f"SED-ML {_local(element.tag)} {who} has no {attribute}")
    return value


def _number(element, attribute: str, owner: str, default: str | None = None) -> float:
    text = element.get(attribute, default)
    if text is None:
        raise SedmlError(f"SED-ML {_local(element.tag)} '{owner}' has no {attribute}")
    try:
        return float(text)
    except ValueError:
        raise SedmlError(f"SED-ML {_local(element.tag)} '{owner}': {attribute} is not a "
                         f"number: '{text}'") from None


def _model(m) -> ModelSpec:
    mid = _id(m)
    language = m.get("language", "")
    if language and "sbml" not in language.lower():
        raise UnsupportedSedmlError(f"model language '{language}'", mid,
                                    "only SBML models are simulated")
    changes = []
    for c in _children(m, "listOfChanges"):
        name = _local(c.tag)
        if name != "changeAttribute":
            raise UnsupportedSedmlError(name, mid, f"target {c.get('target')}; only "
                                        "changeAttribute of a value is applied")
        target = _required(c, "target", mid)
        kind, sid, attr = _parse_target(target, mid)
        if attr is None or attr not in CHANGEABLE.get(kind, ()):
            raise UnsupportedSedmlError(
                "changeAttribute target", mid,
                f"'{target}'; the attributes that can change are "
                + ", ".join(f"{k} @{a}" for k, attrs in CHANGEABLE.items() for a in attrs))
        changes.append(Change(kind, sid, attr, _number(c, "newValue", mid)))
    return ModelSpec(mid, _required(m, "source", mid), tuple(changes))


def _simulation(s) -> TimeCourse:
    sid = _id(s)
    if _local(s.tag) != "uniformTimeCourse":
        raise UnsupportedSedmlError(_local(s.tag), sid,
                                    "only uniformTimeCourse simulations are run")
    alg = _child(s, "algorithm")
    kisao = (alg.get("kisaoID") if alg is not None else None) or "KISAO:0000019"
    number = kisao.replace("KISAO_", "KISAO:").split(":")[-1]
    if number in _ODE_KISAO:
        method = "ode"
    elif number in _SSA_KISAO:
        method = "ssa"
    elif number in _TAU_KISAO:
        method = "tau"
    else:
        raise UnsupportedSedmlError(f"algorithm {kisao}", sid, "known are the ODE "
                                    "integrators (e.g. KISAO:0000019, CVODE), the exact SSA "
                                    "(KISAO:0000029) and tau-leaping (KISAO:0000039)")
    options = []
    for p in (_children(alg, "listOfAlgorithmParameters") if alg is not None else []):
        pid = p.get("kisaoID", "").replace("KISAO_", "KISAO:").split(":")[-1]
        if pid not in _ALGORITHM_PARAMETERS:
            warnings.warn(f"SED-ML simulation '{sid}': algorithm parameter KISAO:{pid} = "
                          f"{p.get('value')} is not used", stacklevel=4)
            continue
        options.append((_ALGORITHM_PARAMETERS[pid], _number(p, "value", sid)))
    steps_attr = "numberOfSteps" if s.get("numberOfSteps") is not None else "numberOfPoints"
    tc = TimeCourse(sid, _number(s, "initialTime", sid), _number(s, "outputStartTime", sid),
                    _number(s, "outputEndTime", sid), int(_number(s, steps_attr, sid)),
                    method, tuple(options))
    if tc.steps < 1 or not tc.initial <= tc.start < tc.end:
        raise SedmlError(f"SED-ML simulation '{tc.id}': needs initialTime <= "
                         "outputStartTime < outputEndTime and numberOfSteps >= 1, got "
                         f"{tc.initial}, {tc.start}, {tc.end}, {tc.steps}")
    return tc


def _task(t) -> TaskSpec:
    tid = _id(t)
    if _local(t.tag) != "task":
        raise UnsupportedSedmlError(_local(t.tag), tid,
                                    "only plain tasks (one model, one simulation) are run")
    return TaskSpec(tid, _required(t, "modelReference", tid),
                    _required(t, "simulationReference", tid))


def _data_generator(d) -> DataGenerator:
    did = _id(d)
    variables = []
    for v in _children(d, "listOfVariables"):
        vid = _id(v)
        task = _required(v, "taskReference", vid)
        if v.get("symbol"):
            if v.get("symbol") != _TIME:
                raise UnsupportedSedmlError(f"variable symbol '{v.get('symbol')}'", vid)
            variables.append(Variable(vid, task, "time", None))
            continue
        if v.get("term"):
            raise UnsupportedSedmlError(f"variable term '{v.get('term')}'", vid)
        target = _required(v, "target", vid)
        kind, sid, attr = _parse_target(target, vid)
        if attr is not None:
            raise UnsupportedSedmlError("variable target of an attribute", vid, f"'{target}'")
        variables.append(Variable(vid, task, kind, sid))
    params = tuple((_id(p), _number(p, "value", did))
                   for p in _children(d, "listOfParameters"))
    math = _child(d, "math")
    if math is None:
        raise SedmlError(f"SED-ML data generator '{did}' has no math")
    return DataGenerator(did, d.get("name") or did, tuple(variables), params,
                         ET.tostring(math, encoding="unicode"))


def _output(o) -> Output | None:
    oid = _id(o)
    kind = _local(o.tag)
    name = o.get("name") or oid
    if kind == "report":
        cols = tuple((ds.get("label") or ds.get("name") or _id(ds),
                      _required(ds, "dataReference", oid))
                     for ds in _children(o, "listOfDataSets"))
        return Output(oid, name, "report", columns=cols)
    if kind == "plot2D":
        log_axes = {a: (_child(o, a) is not None and _child(o, a).get("type") == "log10")
                    for a in ("xAxis", "yAxis")}
        curves = tuple(
            Curve(_required(c, "xDataReference", oid), _required(c, "yDataReference", oid),
                  c.get("name", ""), c.get("logX") == "true" or log_axes["xAxis"],
                  c.get("logY") == "true" or log_axes["yAxis"])
            for c in _children(o, "listOfCurves")
        )
        return Output(oid, name, "plot2D", curves=curves)
    # a 3D plot changes no number: the rest of the experiment runs without it
    warnings.warn(f"SED-ML output '{oid}' ({kind}) is not drawn: only reports and 2D plots "
                  "are", stacklevel=4)
    return None


def _parse_target(target: str, owner: str) -> tuple[str, str, str | None]:
    match = _XPATH.match((target or "").strip())
    if match is None:
        raise UnsupportedSedmlError(
            "XPath target", owner, f"'{target}'; understood are "
            "/sbml:sbml/sbml:model/sbml:listOfX/sbml:x[@id='ID'] and that with /@attribute")
    return match["kind"], match["id"], match["attr"]


def _check_references(doc: Document, origin: str) -> None:
    def need(kind: str, ref: str, table: dict, owner: str) -> None:
        if ref not in table:
            raise SedmlError(f"{origin}: '{owner}' refers to {kind} '{ref}', which the "
                             "document does not define")

    for t in doc.tasks.values():
        need("model", t.model, doc.models, t.id)
        need("simulation", t.simulation, doc.simulations, t.id)
    for d in doc.data_generators.values():
        for v in d.variables:
            need("task", v.task, doc.tasks, v.id)
    for o in doc.outputs.values():
        for _, ref in o.columns:
            need("data generator", ref, doc.data_generators, o.id)
        for c in o.curves:
            need("data generator", c.x, doc.data_generators, o.id)
            need("data generator", c.y, doc.data_generators, o.id)
    for m in doc.models.values():  # a model built on another must not loop
        chain, cur = [m.id], m
        while cur.source in doc.models:
            cur = doc.models[cur.source]
            if cur.id in chain:
                raise SedmlError(f"{origin}: models {' -> '.join(chain + [cur.id])} form "
                                 "a cycle")
            chain.append(cur.id)
