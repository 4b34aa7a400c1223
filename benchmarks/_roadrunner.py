"""libRoadRunner (LLVM-compiled model, CVODE) driven the fastest way its Python API allows."""

from __future__ import annotations

import libsbml
import numpy as np

from ._common import ATOL, RTOL


class RR:
    """One loaded model with CVODE at the benchmark tolerances, reporting concentrations."""

    def __init__(self, path, params: list[str], species: list[str] | None = None):
        import roadrunner

        roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
        self.r = roadrunner.RoadRunner(str(path))
        integ = self.r.integrator
        integ.relative_tolerance = RTOL
        integ.absolute_tolerance = ATOL
        integ.maximum_num_steps = 100_000
        self.species = species or list(self.r.model.getFloatingSpeciesIds())
        self.r.timeCourseSelections = [f"[{s}]" for s in self.species]
        self.params = list(params)
        self.nominal = np.array([self.r.getValue(p) for p in self.params], dtype=float)
        m = libsbml.readSBMLFromFile(str(path)).getModel()
        self.compartment = {s: m.getSpecies(s).getCompartment() for s in self.species}
        #: whether timeSeriesSensitivities differentiates amounts (checked against FD)
        self.sens_in_amounts = True

    def simulate(self, t_end: float, points: int, values: np.ndarray | None = None) -> np.ndarray:
        """Concentrations (points, species) from t = 0, with ``values`` for ``params``."""
        r = self.r
        if values is not None:
            r.setValues(self.params, values)
        r.reset()  # species back to their initial values (initial assignments re-run)
        return np.asarray(r.simulate(0.0, t_end, points))

    def ensemble(self, t_end: float, points: int, P: np.ndarray, keep: int = 0):
        """The Python loop over parameter sets: setValues, reset, simulate."""
        r, ids, kept = self.r, self.params, []
        for i in range(P.shape[0]):
            r.setValues(ids, P[i])
            r.reset()
            out = r.simulate(0.0, t_end, points)
            if i < keep:
                kept.append(np.asarray(out))
        r.setValues(ids, self.nominal)
        return np.stack(kept) if kept else None

    def loss(self, t_end: float, points: int, values: np.ndarray, data: np.ndarray) -> float:
        return float(np.sum((self.simulate(t_end, points, values) - data) ** 2))

    def fd_gradient(self, t_end, points, values, data, rel_step: float = 1e-3) -> np.ndarray:
        """Forward finite differences: n + 1 simulations."""
        base = self.loss(t_end, points, values, data)
        g = np.empty(values.size)
        for i in range(values.size):
            h = rel_step * max(abs(values[i]), 1e-12)
            v = values.copy()
            v[i] += h
            g[i] = (self.loss(t_end, points, v, data) - base) / h
        return g

    def sens_gradient(self, t_end, points, values, data) -> np.ndarray:
        """Forward sensitivities (CVODES through `timeSeriesSensitivities`).

        roadrunner computes them at the parameter values of the SBML file whatever was set
        before (it resets them), so ``values`` must be those (`nominal`).

        The sensitivities are of the species amounts; concentrations are amounts over the
        (constant) compartment volumes, so each column is scaled by its volume.
        """
        if not np.array_equal(values, self.nominal):
            raise ValueError("roadrunner's sensitivities run at the nominal values only")
        r = self.r
        y = self.simulate(t_end, points, values)
        r.reset()
        solver = r.getSensitivitySolver()
        for key, val in (("relative_tolerance", RTOL), ("absolute_tolerance", ATOL),
                         ("maximum_num_steps", 100_000)):
            try:
                solver.setValue(key, val)
            except Exception:  # noqa: BLE001 - not every version names every setting
                pass
        _, S, rows, cols = r.timeSeriesSensitivities(0.0, t_end, points, self.params,
                                                     self.species)
        S = np.asarray(S)  # (points, params, species)
        if self.sens_in_amounts:
            vol = np.array([r.getValue(self.compartment[s]) for s in self.species])
            S = S / vol[None, None, :]
        return np.einsum("tps,ts->p", S, 2.0 * (y - data))

