"""`wc.petab.load`: read a PEtab problem, lint it with the petab library, build its
objective."""

from __future__ import annotations

from pathlib import Path

from ._errors import PetabError
from ._lint import (
    clean_marker,
    lint_messages,
    petab_available,
    petab_installed,
    remember_clean,
)
from ._problem import PetabProblem
from ._steady import PREEQ_TIME
from ._tables import read_tables


def load(
    problem: str | Path,
    *,
    solver: str = "auto",
    rtol: float = 1e-8,
    atol: float = 1e-12,
    max_steps: int = 100_000,
    preeq_time: float = PREEQ_TIME,
    batch: str = "auto",
    lint: bool | None = None,
    sensitivities: str = "auto",
    preeq_method: str = "newton",
) -> PetabProblem:
    """Load a PEtab problem (format version 1 or 2) and build its objective.

    A v2 problem is translated into the v1 form the objective reads: an experiment of one
    period at time 0, optionally after a pre-equilibration at ``-inf``; its parameters on
    the linear scale, priors truncated to the bounds (`_v2` lists what is refused).

    Arguments:
        problem: the PEtab YAML file, or a folder holding one.
        solver: the ODE method (``"auto"``: ``rodas5`` where the problem is stiff at the
            start under the nominal parameters, or where the explicit ``tsit5`` fails at
            them (e.g. a problem that turns stiff later), else ``tsit5``).
        rtol, atol: the ODE solver's tolerances.
        max_steps: the most steps one simulation may take (more: the objective is NaN).
            For fits from random starts a smaller limit (e.g. 10,000) makes a start that
            drives a simulation into an extremely stiff region fail fast (`wholecell.fit`
            treats the NaN as a rejected step) instead of taking minutes.
        preeq_time: how long pre-equilibration integrates towards the steady state
            (``preeq_method="integrate"``, and where Newton fails).
        batch: how simulations are batched (vmap): ``"end"`` by end time, ``"all"`` in
            one batch on the union of output times, ``"auto"`` by end time unless that
            makes more than three batches (each batch compiles separately).
        lint: check the problem with the ``petab`` library first (its
            ``lint_problem``), so that a malformed problem is refused with the library's
            messages (its v2 linter for a v2 problem). None (the default): when the
            library is installed (``pip install 'wholecell[petab]'``). A clean verdict
            is kept with the compilation cache, keyed by the library's version and the
            content of every file the YAML names, so the same files are not linted
            again.
        sensitivities: how ``prob.value_and_grad`` (and so ``wc.fit``) differentiates:
            ``"forward"`` (one tangent per parameter, batched through the plain solves),
            ``"adjoint"`` (reverse mode through checkpointed solves, for many
            parameters), or ``"auto"``: forward for up to 12 parameters (Boehm's 9: 2.1x
            faster per gradient; Fujita's 19: adjoint 1.6x faster).
        preeq_method: how the pre-equilibration conditions' steady states are found:
            ``"newton"`` (Newton's method on dx/dt with the conservation laws' totals
            held, gradients by the implicit function theorem; integration to
            ``preeq_time`` for a condition where Newton fails or lands on a state that
            is not steady, non-finite or negative) or ``"integrate"`` (integration to
            ``preeq_time`` only, the method before Newton).

    Returns:
        A `PetabProblem`: ``prob.objective(theta)`` is the negative log-likelihood (plus
        objective priors) at the estimated parameters ``theta`` on their PEtab scales.

    Raises:
        PetabError: the problem is unreadable or inconsistent.
        UnsupportedPetabError: it uses a PEtab feature wholecell does not support.
        SBMLError: the model is invalid (`UnsupportedSBMLError`: not simulable).
    """
    tables = read_tables(problem)
    # a clean verdict on the same files and petab version is kept (`clean_marker`):
    # importing the library alone takes about 2 s
    wanted = lint or (lint is None and petab_installed())
    marker = clean_marker(tables.yaml) if wanted else None
    if wanted and not (marker is not None and marker.is_file()) and (
            lint or petab_available()):
        messages = lint_messages(tables.yaml, tables.version)
        if messages:
            shown = "; ".join(messages[:5]) + (f"; … ({len(messages)} in all)"
                                               if len(messages) > 5 else "")
            raise PetabError(f"the petab library finds the problem '{tables.name}' "
                             f"malformed: {shown} (lint=False skips this check)")
        remember_clean(marker)
    return PetabProblem(
        tables, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
        preeq_time=preeq_time, batch=batch, sensitivities=sensitivities,
        preeq_method=preeq_method,
    )
