"""`fit`: multi-start local optimisation of an objective on its JAX gradient."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._executor import check_executor, map_calls
from .._progress import progress_bar
from ._local import _StartRecord, _Starts
from ._result import FitError, FitResult
from ._workers import local_workers

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from distributed import Client

METHODS = ("L-BFGS-B", "trust-constr", "least_squares", "optax")


def _bounds(objective, bounds) -> tuple[np.ndarray, np.ndarray]:
    if bounds is None:
        if not hasattr(objective, "lower_bounds"):
            raise FitError("give bounds=(lower, upper) for an objective without bounds")
        bounds = (objective.lower_bounds, objective.upper_bounds)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    if lo.shape != hi.shape or np.any(lo > hi):
        raise FitError("bounds must be two arrays of the same shape with lower <= upper")
    return lo, hi


def fit(
    objective,
    n_starts: int = 10,
    method: str = "L-BFGS-B",
    *,
    bounds: tuple[Sequence[float], Sequence[float]] | None = None,
    x0: Sequence[Sequence[float]] | None = None,
    seed: int = 0,
    maxiter: int = 1000,
    tol: float = 1e-10,
    learning_rate: float = 0.05,
    max_redraws: int = 100,
    max_restarts: int = 20,
    max_step: float | None = None,
    screen: tuple[int, float] | None = None,
    progress: bool = True,
    executor: Client | Executor | None = None,
    workers: int | None = None,
) -> FitResult:
    """Minimise ``objective`` from ``n_starts`` starting points, each a local optimisation.

    Failed simulations do not end a start: a point where the objective or its gradient is
    not finite is treated as a rejected step (the line search backs off), a run that ended
    after such failures restarts from the best point it found, and a random start whose
    objective is not finite is redrawn (``FitResult.n_redrawn`` counts them).

    Arguments:
        objective: a `wholecell.petab.PetabProblem` (its ``objective``, bounds and
            parameter ids are used), its ``hierarchical()`` objective (scaling factors in
            closed form; the results carry them filled in), or a JAX-differentiable
            function of a 1-D array.
        n_starts: number of local optimisations.
        method: ``"L-BFGS-B"`` (scipy, bounded quasi-Newton), ``"trust-constr"`` (scipy's
            bounded trust-region method with BFGS Hessian updates), ``"least_squares"``
            (scipy's trust-region reflective Gauss-Newton on the residuals and their
            forward-mode Jacobian: the method of choice for PEtab problems whose noise is
            normal with fixed standard deviations, see
            `PetabProblem.least_squares_refusal`) or ``"optax"`` (Adam steps clipped to
            the bounds).
        bounds: (lower, upper) arrays; default: the problem's bounds.
        x0: starting points (n_starts, n_params); default: uniform within the bounds,
            drawn with ``seed``. Given starts are never redrawn.
        seed: the seed of the random starts (the same seed gives the same starts).
        maxiter: the most iterations of each local optimisation.
        tol: the optimiser's convergence tolerance (scipy's ``ftol``/``gtol``).
        learning_rate: the step size of ``"optax"``.
        max_redraws: the most random starts redrawn in all because their objective was not
            finite (after that such starts are kept and end where they began).
        max_restarts: the most restarts of one local optimisation after rejected steps
            (failed evaluations, steps over ``max_step``, a failed line search); a start
            restarts only while that improves its best value.
        max_step: the longest step of ``"L-BFGS-B"`` / ``"trust-constr"`` in any
            parameter, as a fraction of its bound range (longer trial steps are rejected
            unevaluated, so the line search shortens them); None: no limit. Limiting the
            step keeps a start from jumping, in its first line search, to a far corner of
            the box where the simulation is flat (every output zero, a vanishing gradient).
        screen: ``(iterations, threshold)``: run each start for this many iterations
            (residual evaluations for ``"least_squares"``) first, and go on (from its best
            point, for up to ``maxiter`` more) only if its objective is then below
            ``threshold``. Most starts of a hard problem end far from the optimum within
            a few dozen iterations; screening spares them the rest of ``maxiter``.
            Screened-out starts say so in ``FitResult.messages``.
        progress: a progress bar over the starts (tqdm: a widget in Jupyter), with
            each start's value and the best so far.
        executor: ``None`` (this machine), a `dask.distributed.Client` or a
            `concurrent.futures.Executor`: the starts run on its workers, each worker
            unpickling the objective (and compiling it) once. The starting values (and
            the redraws of failed random starts, drawn in start order) are computed
            there too, so the same seed gives the same starts and results as a run on
            this machine; on Dask a lost worker's starts run again elsewhere.
        workers: run the starts in this many new processes on this machine, each on a
            core of its own (`local_workers`); the results equal those of a run in this
            process. None or 1: in this process. On a 2-core CPU the Fujita fit of
            ``benchmarks/fit_refine.py`` (seed 11) reached its best objective in 311 s on
            two workers, against 503 s in one process.

    Returns:
        A `FitResult`.

    Raises:
        FitError: an unknown method, bad bounds, or unbounded parameters without ``x0``.
    """
    if method not in METHODS:
        raise FitError(f"unknown method '{method}'; use one of {', '.join(METHODS)}")
    if screen is not None and (len(screen) != 2 or int(screen[0]) < 1
                               or not np.isfinite(float(screen[1]))):
        raise FitError(f"screen must be (iterations >= 1, a finite threshold), not {screen!r}")
    lo, hi = _bounds(objective, bounds)
    starts, draws = _starting_points(x0, n_starts, lo, hi, seed, max_redraws)
    step_cap = None if max_step is None else float(max_step) * (hi - lo)
    runner = _Starts(objective, method, lo, hi, maxiter, tol, learning_rate, max_restarts,
                     step_cap, screen)
    t_all = time.perf_counter()
    bar = progress_bar(len(starts), "fit", "start", progress)
    best = np.inf

    def done(r: _StartRecord) -> None:
        nonlocal best
        best = min(best, r.fval)
        bar.set_postfix_str(f"f = {r.fval:.6g} ({r.n_iter} it), best {best:.6g}",
                            refresh=False)
        bar.update(1)

    if workers is not None and workers != 1:
        if executor is not None:
            raise FitError("give workers= or executor=, not both")
        with local_workers(workers) as pool:
            records = _run_on(pool, runner, starts, draws, done)
    elif executor is None:
        records = _run_here(runner, starts, draws, done)
    else:
        records = _run_on(executor, runner, starts, draws, done)
    bar.close()
    return _result(objective, method, records, starts, draws.count, lo.size,
                   time.perf_counter() - t_all)


class _Redraws:
    """Random starts drawn again where the objective is not finite, while redraws are
    left (in start order: the same seed gives the same draws wherever the values were
    computed)."""

    def __init__(self, rng, lo, hi, limit: int):
        self.rng, self.lo, self.hi, self.limit = rng, lo, hi, limit
        self.count = 0

    def again(self, starts: np.ndarray, k: int, value: float) -> bool:
        """Draw start ``k`` again (in place) if ``value`` calls for it."""
        if np.isfinite(value) or self.rng is None or self.count >= self.limit:
            return False
        starts[k] = self.lo + self.rng.uniform(size=self.lo.size) * (self.hi - self.lo)
        self.count += 1
        return True


def _starting_points(x0, n_starts, lo, hi, seed, max_redraws) -> tuple[np.ndarray, _Redraws]:
    """The starts (n_starts, n_params): ``x0``, or uniform within the bounds (redrawable)."""
    if x0 is None:
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise FitError("random starts need finite bounds; give x0 instead")
        rng = np.random.default_rng(seed)
        return lo + rng.uniform(size=(n_starts, lo.size)) * (hi - lo), _Redraws(
            rng, lo, hi, max_redraws)
    starts = np.atleast_2d(np.asarray(x0, dtype=np.float64))
    if starts.shape[1] != lo.size:
        raise FitError(f"x0 has {starts.shape[1]} columns, the problem {lo.size} parameters")
    return starts, _Redraws(None, lo, hi, max_redraws)


def _run_here(runner: _Starts, starts, draws: _Redraws, done) -> list[_StartRecord]:
    records = []
    for k in range(len(starts)):
        g, val0 = runner.begin(starts[k])
        while draws.again(starts, k, val0):
            g, val0 = runner.begin(starts[k])
        records.append(runner.finish(g, starts[k], val0))
        done(records[-1])
    return records


def _run_on(executor, runner: _Starts, starts, draws: _Redraws, done) -> list[_StartRecord]:
    """The starts on ``executor``'s workers: first values (and redraws), then the runs."""
    check_executor(executor)

    def remote(what: str, points) -> list:
        return map_calls(executor, runner, [(what, x) for x in points], label="fit")

    values = remote("value", starts) if draws.rng is not None else [0.0] * len(starts)
    for k in range(len(starts)):
        while draws.again(starts, k, values[k]):
            values[k] = remote("value", [starts[k]])[0]
    records = remote("run", starts)
    for r in records:
        done(r)
    return records


def _result(objective, method, records, starts, n_redrawn, n_params, wall) -> FitResult:
    """The starts' records as a `FitResult`, best first."""
    fvals = [r.fval for r in records]
    order = np.argsort(fvals, kind="stable")

    def ranked(field):
        return np.asarray([getattr(r, field) for r in records])[order]

    ids = tuple(getattr(objective, "parameter_ids", ())) or tuple(
        f"x{i}" for i in range(n_params)
    )
    return FitResult(
        x=records[order[0]].x,
        fun=float(fvals[order[0]]),
        parameter_ids=ids,
        xs=ranked("x"),
        fvals=ranked("fval"),
        x0s=starts[order],
        n_iter=ranked("n_iter"),
        n_fev=ranked("n_fev"),
        times=ranked("seconds"),
        messages=tuple(records[i].message for i in order),
        wall_time=wall,
        method=method,
        n_failed=ranked("n_fail"),
        n_redrawn=n_redrawn,
        start_index=order,
        problem=objective if hasattr(objective, "plot_fit") else None,
    )
