"""A PEtab problem as a `pypesto.Problem`: pyPESTO's optimisers, profiles, samplers and
plots on wholecell's objective and gradient."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._errors import PetabError, UnsupportedPetabError


def to_pypesto(problem: Any, *, residuals: bool | None = None):
    """The `pypesto.Problem` of ``problem`` (a `PetabProblem`): objective and gradient
    are wholecell's (jitted once, shared with ``problem.value_and_grad``), parameters on
    their PEtab scales with the problem's ids, bounds and scales.

    Arguments:
        residuals: also give pyPESTO the weighted residuals and their forward-mode
            Jacobian (for its least-squares optimisers, e.g. ``ScipyOptimizer(method=
            "ls_trf")``). Default: when the objective is a sum of squares (see
            `PetabProblem.least_squares_refusal`).

    A point where the simulation fails has the objective ``inf`` (and a gradient of
    NaN), which pyPESTO's optimisers treat as a rejected point.

    Raises:
        PetabError: pypesto is not installed (``pip install 'wholecell[pypesto]'``).
        UnsupportedPetabError: ``residuals=True`` for an objective that is not a sum of
            squares.
    """
    try:
        import pypesto
    except ImportError as err:
        raise PetabError("to_pypesto needs pypesto: pip install 'wholecell[pypesto]'") \
            from err
    refusal = problem.least_squares_refusal()
    if residuals is None:
        residuals = refusal is None
    elif residuals and refusal is not None:
        raise UnsupportedPetabError("least squares", f"{refusal}; pass residuals=False")

    def fun_grad(x):
        value, grad = problem.value_and_grad(np.asarray(x, dtype=np.float64))
        value, grad = float(value), np.asarray(grad, dtype=np.float64)
        if not np.isfinite(value):
            return np.inf, np.full_like(grad, np.nan)
        return value, grad

    extra = {}
    if residuals:
        extra = {
            "res": lambda x: problem.residuals(np.asarray(x, dtype=np.float64))[0],
            "sres": lambda x: problem.residuals_jacobian(np.asarray(x, dtype=np.float64))[0],
        }
    names = list(problem.parameter_ids)
    objective = pypesto.Objective(fun=fun_grad, grad=True, x_names=names, **extra)
    return pypesto.Problem(
        objective,
        lb=np.asarray(problem.lower_bounds, dtype=np.float64),
        ub=np.asarray(problem.upper_bounds, dtype=np.float64),
        x_names=names,
        x_scales=list(problem.scales),
        x_guesses=[np.asarray(problem.nominal, dtype=np.float64)],
    )
