"""AMICI (CVODES with adjoint sensitivities), the peer for the gradient task.

Optional: `pip install -e '.[amici]'` builds it from source (a C++ compiler is needed;
about 15 minutes on two cores). Each model is converted to C++ and compiled once, into a
cache folder keyed by the SBML file's content.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
from pathlib import Path

import libsbml
import numpy as np

from ._common import ATOL, RTOL

CACHE = Path(tempfile.gettempdir()) / "wholecell_bench_amici"


def available() -> str | None:
    """None if AMICI can be imported, else why not."""
    if importlib.util.find_spec("amici") is None:
        return "AMICI is not installed (pip install -e '.[amici]')"
    return None


class Amici:
    """One compiled model: species concentrations at output times, and the gradient of a
    sum of squares over them by adjoint sensitivities."""

    def __init__(self, path, params: list[str], species: list[str]):
        import amici
        import amici.sim.sundials as asim

        self._asim = asim
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]
        name = f"m_{digest}"
        folder = CACHE / name
        try:
            module = amici.import_model_module(name, folder)
        except (ImportError, OSError, RuntimeError, ValueError):
            amici.SbmlImporter(str(path)).sbml2amici(name, folder, verbose=False)
            module = amici.import_model_module(name, folder)
        self.model = module.get_model()
        ids = list(self.model.get_free_parameter_ids())
        missing = [p for p in params if p not in ids]
        if missing:
            raise RuntimeError(f"parameters unknown to AMICI: {missing[:5]}")
        self.params = list(params)
        # without an observation model AMICI observes every species, as "y" + its id, in
        # amounts where the species has only substance units: [S] = amount / volume
        obs = list(self.model.get_observable_ids())
        unknown = [sp for sp in species if "y" + sp not in obs]
        if unknown:
            raise RuntimeError(f"species AMICI does not observe: {unknown[:5]}")
        self.cols = [obs.index("y" + sp) for sp in species]
        m = libsbml.readSBMLFromFile(str(path)).getModel()
        size = {c.getId(): c.getSize() for c in m.getListOfCompartments()}
        self.factor = np.array([
            1.0 / size[m.getSpecies(sp).getCompartment()]
            if m.getSpecies(sp).getHasOnlySubstanceUnits() else 1.0
            for sp in species
        ])
        self.solver = self.model.create_solver()
        self.solver.set_relative_tolerance(RTOL)
        self.solver.set_absolute_tolerance(ATOL)
        self.solver.set_max_steps(100_000)
        self.model.set_parameter_scale(asim.ParameterScaling_none)
        self.model.set_parameter_list([ids.index(p) for p in params])

    def _set(self, t_end: float, points: int, values: np.ndarray) -> None:
        self.model.set_timepoints(np.linspace(0.0, t_end, points))
        for p, v in zip(self.params, values, strict=True):
            self.model.set_free_parameter_by_id(p, float(v))

    def simulate(self, t_end: float, points: int, values: np.ndarray) -> np.ndarray:
        """The observed species (points, species) in the order given at construction."""
        self._set(t_end, points, values)
        self.solver.set_sensitivity_order(self._asim.SensitivityOrder_none)
        rdata = self._asim.run_simulation(self.model, self.solver)
        if rdata.status != self._asim.AMICI_SUCCESS:
            raise RuntimeError(f"AMICI simulation failed (status {rdata.status})")
        return np.asarray(rdata.y)[:, self.cols] * self.factor

    def gradient(self, t_end: float, points: int, values: np.ndarray, data: np.ndarray):
        """(loss, d loss / d values) for loss = sum((y - data)**2), by adjoints.

        With measurements ``data / factor`` and noise ``1 / factor`` (``factor`` turns
        AMICI's output into concentrations), AMICI's log-likelihood is -0.5 * loss - const,
        so the loss's gradient is -2 times its ``sllh``."""
        asim = self._asim
        self._set(t_end, points, values)
        edata = asim.ExpData(self.model)
        full = np.full((points, self.model.ny), np.nan)  # NaN: not measured
        full[:, self.cols] = data / self.factor
        noise = np.ones((points, self.model.ny))
        noise[:, self.cols] = 1.0 / self.factor
        edata.set_measurements(full.ravel())
        edata.set_noise_scales(noise.ravel())
        self.solver.set_sensitivity_order(asim.SensitivityOrder_first)
        self.solver.set_sensitivity_method(asim.SensitivityMethod_adjoint)
        rdata = asim.run_simulation(self.model, self.solver, edata)
        if rdata.status != asim.AMICI_SUCCESS:
            raise RuntimeError(f"AMICI adjoint failed (status {rdata.status})")
        loss = float(np.sum((np.asarray(rdata.y)[:, self.cols] * self.factor - data) ** 2))
        return loss, -2.0 * np.asarray(rdata.sllh)
