"""A SED-ML simulation experiment: its models (with their changes), run as it asks, and
its reports and plots."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import SedmlError, UnsupportedSedmlError
from .._result import Result
from .._simulate import simulate
from ..models._library import UnknownModelError
from ..models._library import info as library_info
from ..sbml._model import Model
from ..sbml._sbml_import import load_sbml
from ._document import Change, Document, Output, TaskSpec, parse_sedml
from ._math import evaluate

#: reads a model source named in the document: source -> (where it was found, content)
Resolver = Callable[[str], tuple[str, bytes]]
_BIOMODELS_URN = re.compile(r"^urn:miriam:biomodels\.db:(?P<id>\w+)$")


class Experiment:
    """A SED-ML simulation experiment, read and checked; `run` runs it.

    Made by ``wc.load`` from a SED-ML file or a COMBINE archive. Each model of the
    document is loaded with its changes applied (``changeAttribute`` of a parameter's
    value, a species' initial amount or concentration, a compartment's size).

    Attributes:
        document: what the SED-ML asks for (models, simulations, tasks, data
            generators, outputs).
        models: SED-ML model id -> `Model`, its changes applied.
        origin: the file (or archive member) the document was read from.
    """

    def __init__(self, document: Document, models: dict[str, Model], origin: str):
        self.document = document
        self.models = models
        self.origin = origin

    @classmethod
    def from_text(cls, text: str, origin: str, resolve: Resolver) -> Experiment:
        """Read SED-ML text; ``resolve`` reads the model files it names."""
        doc = parse_sedml(text, origin)
        sbml: dict[str, str] = {}

        def model_text(mid: str) -> str:
            if mid not in sbml:
                spec = doc.models[mid]
                if spec.source in doc.models:
                    base = model_text(spec.source)
                else:
                    base = _read_source(spec.source, mid, resolve)
                sbml[mid] = _apply_changes(base, spec.changes, mid) if spec.changes else base
            return sbml[mid]

        models = {mid: load_sbml(model_text(mid)) for mid in doc.models}
        return cls(doc, models, origin)

    def run(self) -> ExperimentResult:
        """Run every task, then compute the data generators and the reports."""
        runs = {tid: self._run_task(t) for tid, t in self.document.tasks.items()}
        data = {}
        for dg in self.document.data_generators.values():
            values: dict[str, object] = dict(dg.parameters)
            for v in dg.variables:
                res, times = runs[v.task]
                values[v.id] = times if v.kind == "time" else _column(res, v.target, v.id,
                                                                      len(times))
            data[dg.id] = evaluate(dg.math, values, dg.id)
        return ExperimentResult(self, {t: r for t, (r, _) in runs.items()}, data)

    def _run_task(self, task: TaskSpec) -> tuple[Result, np.ndarray]:
        sim = self.document.simulations[task.simulation]
        times = sim.times
        t = times if sim.initial == sim.start else np.concatenate([[sim.initial], times])
        options = dict(sim.options)
        kwargs = {k: options[k] for k in ("rtol", "atol") if k in options}
        if "max_steps" in options:
            kwargs["max_steps"] = int(options["max_steps"])
        if sim.method != "ode":
            kwargs.update(n=1, seed=int(options.get("seed", 0)))
        res = simulate(self.models[task.model], t, method=sim.method, **kwargs)
        return res, times

    def _repr_html_(self) -> str:
        from .._html import html_table

        d = self.document
        rows = [("file", self.origin)]
        rows += [(f"task {t.id}", f"model {t.model} ({self.models[t.model].id}), "
                  f"{_describe(d.simulations[t.simulation])}") for t in d.tasks.values()]
        rows += [(f"{o.kind} {o.id}", o.name) for o in d.outputs.values()]
        return html_table("SED-ML experiment", rows)

    def __repr__(self) -> str:
        d = self.document
        kinds = [o.kind for o in d.outputs.values()]
        return (f"<Experiment {self.origin}: {len(d.models)} model(s), {len(d.tasks)} "
                f"task(s), {kinds.count('report')} report(s), {kinds.count('plot2D')} "
                "plot(s)>")


class ExperimentResult:
    """What a run of an `Experiment` gives.

    Attributes:
        experiment: the experiment that ran.
        results: task id -> `Result` (every id of the model over the task's times; a
            simulation whose output starts after its initial time has that start as an
            extra first time point).
        data: data generator id -> its values over time.
        reports: report id -> DataFrame, one column per data set, named by its label.
    """

    def __init__(self, experiment: Experiment, results: dict[str, Result],
                 data: dict[str, np.ndarray]):
        self.experiment = experiment
        self.results = results
        self.data = data
        self.reports = {
            o.id: pd.DataFrame({label: data[ref] for label, ref in o.columns})
            for o in experiment.document.outputs.values() if o.kind == "report"
        }

    @property
    def plots(self) -> tuple[str, ...]:
        """The ids of the 2D plots the document asks for."""
        return tuple(o.id for o in self.experiment.document.outputs.values()
                     if o.kind == "plot2D")

    def plot(self, plot_id: str):
        """Draw the 2D plot ``plot_id`` as the document asks; returns the figure."""
        import matplotlib.pyplot as plt

        out = self._output(plot_id, "plot2D")
        fig, ax = plt.subplots(figsize=(7, 4.5))
        dgs = self.experiment.document.data_generators
        for c in out.curves:
            ax.plot(self.data[c.x], self.data[c.y], label=c.name or dgs[c.y].name)
            if c.log_x:
                ax.set_xscale("log")
            if c.log_y:
                ax.set_yscale("log")
        if out.curves:
            ax.set_xlabel(dgs[out.curves[0].x].name)
        ax.set_title(out.name)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    def write(self, directory: str | Path) -> list[Path]:
        """Write each report as ``<id>.csv`` and each plot as ``<id>.png`` in
        ``directory`` (made if missing); returns the paths written."""
        import matplotlib.pyplot as plt

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        for rid, df in self.reports.items():
            path = directory / f"{rid}.csv"
            df.to_csv(path, index=False)
            written.append(path)
        for pid in self.plots:
            fig = self.plot(pid)
            path = directory / f"{pid}.png"
            fig.savefig(path, dpi=120)
            plt.close(fig)
            written.append(path)
        return written

    def _output(self, oid: str, kind: str) -> Output:
        out = self.experiment.document.outputs.get(oid)
        if out is None or out.kind != kind:
            have = [o.id for o in self.experiment.document.outputs.values() if o.kind == kind]
            raise KeyError(f"'{oid}' is not a {kind} of this experiment; it has "
                           f"{', '.join(have) or 'none'}")
        return out

    def _repr_html_(self) -> str:
        from .._html import html_table

        rows = [("experiment", self.experiment.origin),
                ("tasks run", ", ".join(self.results))]
        rows += [(f"report {rid}", f"{len(df)} rows × {len(df.columns)} columns")
                 for rid, df in self.reports.items()]
        rows += [(f"plot {pid}", self._output(pid, "plot2D").name) for pid in self.plots]
        return html_table("SED-ML results", rows)

    def __repr__(self) -> str:
        return (f"<ExperimentResult {self.experiment.origin}: reports "
                f"{', '.join(self.reports) or 'none'}; plots {', '.join(self.plots) or 'none'}>")


def _describe(sim) -> str:
    return (f"{sim.method}, {sim.steps + 1} points from {sim.start:g} to {sim.end:g}"
            + (f" (starting at {sim.initial:g})" if sim.initial != sim.start else ""))


def _column(res: Result, target: str, variable: str, n: int) -> np.ndarray:
    if target not in res:
        raise SedmlError(f"variable '{variable}' refers to '{target}', which the model "
                         "has no value for")
    return np.asarray(res[target]).reshape(-1)[-n:]


def _read_source(source: str, model_id: str, resolve: Resolver) -> str:
    urn = _BIOMODELS_URN.match(source)
    if urn is not None:  # a BioModels entry the library holds is read from it
        try:
            return library_info(urn["id"]).sbml.read_text(encoding="utf-8")
        except UnknownModelError:
            raise UnsupportedSedmlError(
                "model source URN", model_id, f"'{source}' is not in the model library "
                "(`wholecell models`) and nothing is downloaded; give a file instead"
            ) from None
    if re.match(r"^(urn|https?|ftp):", source):
        raise UnsupportedSedmlError("model source URI", model_id,
                                    f"'{source}': nothing is downloaded; give a file")
    _, content = resolve(source)
    return content.decode("utf-8", errors="replace")


def _apply_changes(sbml: str, changes: tuple[Change, ...], model_id: str) -> str:
    import libsbml

    doc = libsbml.readSBMLFromString(sbml)
    model = doc.getModel()
    if model is None:
        raise SedmlError(f"SED-ML model '{model_id}': its source is not an SBML model")
    get = {"parameter": model.getParameter, "species": model.getSpecies,
           "compartment": model.getCompartment}
    for ch in changes:
        element = get[ch.kind](ch.id)
        if element is None:
            raise SedmlError(f"SED-ML model '{model_id}' changes {ch.kind} '{ch.id}', which "
                             "its SBML model does not have")
        if ch.attribute == "initialAmount":
            element.unsetInitialConcentration()
            status = element.setInitialAmount(ch.value)
        elif ch.attribute == "initialConcentration":
            element.unsetInitialAmount()
            status = element.setInitialConcentration(ch.value)
        elif ch.attribute == "size":
            status = element.setSize(ch.value)
        else:
            status = element.setValue(ch.value)
        if status != libsbml.LIBSBML_OPERATION_SUCCESS:
            raise SedmlError(f"SED-ML model '{model_id}': could not set {ch.attribute} of "
                             f"{ch.kind} '{ch.id}' to {ch.value}")
        if model.getInitialAssignmentBySymbol(ch.id) is not None:
            warnings.warn(f"SED-ML model '{model_id}' changes the {ch.attribute} of "
                          f"'{ch.id}', but an initial assignment sets it", stacklevel=3)
    return libsbml.writeSBMLToString(doc)
