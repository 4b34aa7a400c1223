"""`PetabProblem.hierarchical`: the objective with the observables' scaling factors in
closed form (hierarchical optimisation, Loos et al. 2018)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class HierarchicalObjective:
    """`PetabProblem.hierarchical`: the objective over the same parameter vector, whose
    analytic scaling entries are ignored (set to their optimum by `complete`)."""

    def __init__(self, problem: Any):
        self._build(problem)

    def __getstate__(self) -> dict:
        return {"problem": self.problem}  # the jitted functions are made again

    def __setstate__(self, state: dict) -> None:
        self._build(state["problem"])

    def _build(self, problem: Any) -> None:
        self.problem = problem
        self.parameter_ids = problem.parameter_ids
        self.lower_bounds, self.upper_bounds = problem.lower_bounds, problem.upper_bounds
        self.nominal = problem.nominal
        self.analytic_parameter_ids = problem.analytic_parameter_ids

        def obj(theta):
            total, _ = problem._forward(theta, "checkpointed", analytic=True)
            return total + problem.table.prior_nll(jnp.asarray(theta, dtype=jnp.float64))

        self.objective = jax.jit(obj)
        self.value_and_grad = jax.jit(jax.value_and_grad(obj))
        self._complete = jax.jit(problem._optimal_scalings)

    def __call__(self, theta):
        return self.objective(theta)

    def complete(self, theta) -> np.ndarray:
        """``theta`` with the analytic scalings at their optimal values."""
        return np.asarray(self._complete(jnp.asarray(theta, dtype=jnp.float64)))

    def plot_fit(self, theta=None, **kwargs):
        return self.problem.plot_fit(theta, **kwargs)

    def residuals_jacobian(self, theta):
        """`PetabProblem.residuals_jacobian` with the scalings in closed form."""
        return self.problem.residuals_jacobian(theta, analytic=True)

    def residuals(self, theta):
        """`PetabProblem.residuals` with the scalings in closed form."""
        return self.problem.residuals(theta, analytic=True)
