"""`fit`: multi-start local optimisation of an objective on its JAX gradient."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from .._errors import WholecellError
from .._executor import check_executor, map_calls
from .._progress import progress_bar

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from distributed import Client

METHODS = ("L-BFGS-B", "trust-constr", "least_squares", "optax")


class FitError(WholecellError, ValueError):
    """The fit cannot start: no bounds to draw starts in, a bad method or bad bounds."""


@dataclass(frozen=True)
class FitResult:
    """The outcome of a multi-start fit, starts ordered best first.

    Attributes:
        x: the best parameters found (on the objective's scale).
        fun: the objective there.
        parameter_ids: names of the parameters (if the objective has them).
        xs: every start's final parameters, best first: (n_starts, n_params).
        fvals: every start's final objective value, sorted: the waterfall.
        x0s: the starting points, in the same order as ``xs``.
        n_iter, n_fev: iterations and objective evaluations of each start.
        times: wall time of each start (seconds).
        messages: the optimiser's message for each start.
        wall_time: the wall time of the whole fit (seconds, compilation included).
        n_failed: failed evaluations (objective or gradient not finite) of each start.
        n_redrawn: random starts redrawn because the objective was not finite there.
        start_index: each start's position in the order the starts ran (0 ran first).
        problem: the fitted problem (for `plot_fit`), if it was one.
    """

    x: np.ndarray
    fun: float
    parameter_ids: tuple[str, ...]
    xs: np.ndarray
    fvals: np.ndarray
    x0s: np.ndarray
    n_iter: np.ndarray
    n_fev: np.ndarray
    times: np.ndarray
    messages: tuple[str, ...]
    wall_time: float
    method: str
    n_failed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    n_redrawn: int = 0
    start_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    problem: object = field(default=None, repr=False)

    @property
    def n_starts(self) -> int:
        return len(self.fvals)

    def n_converged(self, tol: float = 0.1) -> int:
        """How many starts ended within ``tol`` of the best objective value."""
        return int(np.sum(self.fvals <= self.fun + tol))

    def starts_to_reach(self, target: float, tol: float = 0.1) -> tuple[int, float] | None:
        """(starts run, their summed wall time in seconds) until the first start that ended
        within ``tol`` of ``target``, in the order the starts ran; None if none did."""
        if len(self.start_index) != self.n_starts:
            return None
        run = np.argsort(self.start_index)  # sorted positions in running order
        for n, i in enumerate(run, start=1):
            if self.fvals[i] <= target + tol:
                return n, float(np.sum(self.times[run[:n]]))
        return None

    def as_dict(self) -> dict[str, float]:
        """The best parameters by id."""
        return dict(zip(self.parameter_ids, map(float, self.x), strict=True))

    def plot_waterfall(self, ax=None):
        """The sorted final objective values of all starts (a waterfall plot)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        finite = np.isfinite(self.fvals)
        ax.plot(np.flatnonzero(finite) + 1, self.fvals[finite], "o-", ms=4)
        ax.set_xlabel("start (sorted)")
        ax.set_ylabel("final objective value")
        ax.set_title(f"waterfall: {self.n_converged()} of {self.n_starts} starts within 0.1")
        return ax.figure

    def plot_fit(self, **kwargs):
        """Data against the simulation at the best parameters (needs a PEtab problem)."""
        if self.problem is None or not hasattr(self.problem, "plot_fit"):
            raise FitError("plot_fit needs a fit of a problem with plot_fit (a PEtab problem)")
        return self.problem.plot_fit(self.x, **kwargs)

    def _repr_html_(self) -> str:
        from .._html import html_table

        rows = [("best objective", f"{self.fun:.8g}"),
                ("starts", f"{self.n_starts} ({self.n_converged()} within 0.1 of the best"
                 + (f", {self.n_redrawn} redrawn" if self.n_redrawn else "") + ")"),
                ("method", self.method), ("wall time", f"{self.wall_time:.1f} s")]
        shown = list(zip(self.parameter_ids, self.x, strict=False))[:12]
        body = [[pid, f"{v:.6g}"] for pid, v in shown]
        if len(self.parameter_ids) > len(shown):
            body.append([f"… ({len(self.parameter_ids)} in all)", ""])
        return html_table("FitResult", rows, (["parameter", "best value"], body))

    def __repr__(self) -> str:
        return (
            f"FitResult(best={self.fun:.6g}, {self.n_converged()}/{self.n_starts} starts "
            f"within 0.1, method='{self.method}', wall_time={self.wall_time:.1f}s)"
        )


def _value_and_grad(objective) -> Callable:
    """``x -> (value, gradient)`` in NumPy; a failed simulation gives a non-finite value."""
    vg = getattr(objective, "value_and_grad", None)
    if vg is None:
        vg = jax.jit(jax.value_and_grad(objective))

    def f(x):
        with np.errstate(all="ignore"):
            val, grad = vg(jnp.asarray(x, dtype=jnp.float64))
            return float(val), np.asarray(grad, dtype=np.float64)

    return f


class _Guarded:
    """The objective as a local optimiser sees it: a failed evaluation is a rejected step.

    A simulation can fail at some parameters (too stiff, too many steps: the objective is
    NaN or inf). scipy's L-BFGS-B ends a run at the first non-finite value, so here such a
    point gets a finite value far above every value seen in this start (with a zero
    gradient): the line search sees an increase and backs off towards the last good point.
    The best finite point seen is kept, and a run that ended after failures is restarted
    from it (see `fit`).
    """

    def __init__(self, f):
        self.f = f
        self.n_eval = 0
        self.n_fail = 0
        self.best_x: np.ndarray | None = None
        self.best_f = np.inf
        self.f_max = -np.inf
        self.anchor: np.ndarray | None = None  # the optimiser's current iterate
        self.max_step: np.ndarray | None = None  # per parameter, or None: no limit
        self.n_capped = 0
        self._last: tuple[np.ndarray, float, np.ndarray] | None = None

    def raw(self, x) -> tuple[float, np.ndarray]:
        """Value and gradient, non-finite where the evaluation failed (cached for one x)."""
        x = np.asarray(x, dtype=np.float64)
        if self._last is not None and np.array_equal(self._last[0], x):
            return self._last[1], self._last[2]
        self.n_eval += 1
        val, grad = self.f(x)
        if not (np.isfinite(val) and np.all(np.isfinite(grad))):
            self.n_fail += 1
            val = np.inf
        else:
            self.f_max = max(self.f_max, val)
            if val < self.best_f:
                self.best_f, self.best_x = val, x.copy()
        self._last = (x.copy(), val, grad)
        return val, grad

    def record(self, x, val: float) -> None:
        """Count an evaluation made outside `raw` (value only) and keep the best point."""
        self.n_eval += 1
        if not np.isfinite(val):
            self.n_fail += 1
            return
        self.f_max = max(self.f_max, val)
        if val < self.best_f:
            self.best_f, self.best_x = val, np.array(x, dtype=np.float64)

    def penalty(self) -> float:
        """A finite value above every finite value this start has seen."""
        top = self.f_max if np.isfinite(self.f_max) else 0.0
        return top + 10.0 * max(abs(top), 1.0) + 1e6

    def step_to(self, intermediate_result) -> None:
        """scipy's callback after each iteration: steps are measured from here."""
        self.anchor = np.array(intermediate_result.x, dtype=np.float64)

    def __call__(self, x) -> tuple[float, np.ndarray]:
        x = np.asarray(x, dtype=np.float64)
        if (
            self.max_step is not None and self.anchor is not None
            and np.any(np.abs(x - self.anchor) > self.max_step)
        ):
            # a step longer than max_step from the current iterate is rejected unevaluated:
            # the line search shortens it (a crude trust region)
            self.n_capped += 1
            return self.penalty(), np.zeros_like(x)
        val, grad = self.raw(x)
        if not np.isfinite(val):
            return self.penalty(), np.zeros_like(np.asarray(x, dtype=np.float64))
        return val, grad


class _Residuals:
    """A least-squares objective seen by `_Guarded` and scipy's ``least_squares``.

    The objective gives ``residuals(x) -> (r, value)`` and ``residuals_jacobian(x) ->
    (J, r, value)``, with value = 0.5 * sum(r**2) + a constant; trial points need only the
    residuals, the Jacobian is computed where the optimiser asks for it (and cached)."""

    def __init__(self, objective):
        self.r_only = getattr(objective, "residuals", None)
        self.rj = getattr(objective, "residuals_jacobian", None)
        if self.r_only is None or self.rj is None:
            raise FitError(
                "method='least_squares' needs an objective with residuals and "
                "residuals_jacobian (a PEtab problem or its hierarchical() objective)"
            )
        self._x: np.ndarray | None = None
        self._J: np.ndarray | None = None
        self._r = np.zeros(0)
        self._val = np.inf

    def _eval(self, x, jacobian: bool) -> None:
        x = np.asarray(x, dtype=np.float64)
        same = self._x is not None and np.array_equal(self._x, x)
        if same and (self._J is not None or not jacobian):
            return
        with np.errstate(all="ignore"):
            if jacobian:
                self._J, r, val = self.rj(x)
            else:
                self._J = None
                r, val = self.r_only(x)
        self._x, self._r, self._val = x.copy(), np.asarray(r), float(val)

    def __call__(self, x) -> tuple[float, np.ndarray]:
        """Value and gradient J^T r (for `_Guarded`)."""
        self._eval(x, jacobian=True)
        with np.errstate(all="ignore"):
            return self._val, self._J.T @ self._r

    def value(self, x) -> float:
        self._eval(x, jacobian=False)
        return self._val if np.all(np.isfinite(self._r)) else np.inf

    def residuals(self, x) -> np.ndarray:
        self._eval(x, jacobian=False)
        if np.isfinite(self._val) and np.all(np.isfinite(self._r)):
            return self._r
        return np.full_like(self._r, np.inf)  # scipy's trf shrinks its trust region

    def jacobian(self, x) -> np.ndarray:
        self._eval(x, jacobian=True)
        J = self._J
        return J if np.all(np.isfinite(J)) else np.nan_to_num(J, nan=0.0, posinf=0.0, neginf=0.0)


def _lsq_minimize(g: _Guarded, res: _Residuals, x0, lo, hi, maxiter, tol):
    """One trust-region reflective Gauss-Newton run (scipy ``least_squares``, bounded)."""

    def fun(x):
        g.record(x, res.value(x))
        return res.residuals(x)

    x0 = np.clip(np.asarray(x0, dtype=np.float64), lo, hi)
    with np.errstate(all="ignore"):
        out = scipy.optimize.least_squares(
            fun, x0, jac=res.jacobian, bounds=(lo, hi), method="trf", x_scale="jac",
            ftol=tol, xtol=tol, gtol=tol, max_nfev=maxiter,
        )
    return int(out.njev), f"{out.message} ({out.nfev} residual evaluations)"


def _bounds(objective, bounds) -> tuple[np.ndarray, np.ndarray]:
    if bounds is None:
        if not hasattr(objective, "lower_bounds"):
            raise FitError("give bounds=(lower, upper) for an objective without bounds")
        bounds = (objective.lower_bounds, objective.upper_bounds)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    if lo.shape != hi.shape or np.any(lo > hi):
        raise FitError("bounds must be two arrays of the same shape with lower <= upper")
    return lo, hi


def _optax_minimize(g: _Guarded, x0, lo, hi, maxiter, learning_rate):
    import optax

    opt = optax.adam(learning_rate)
    state = opt.init(jnp.asarray(x0))
    x = np.asarray(x0, dtype=np.float64)
    scale, n = 1.0, 0
    for it in range(1, maxiter + 1):
        n = it
        val, grad = g.raw(x)
        if not np.isfinite(val):
            # a failed simulation: step back to the best point with a shorter step
            if g.best_x is None or scale < 1e-6:
                break
            x, scale = g.best_x, scale * 0.5
            continue
        with jax.numpy_dtype_promotion("standard"):  # optax mixes int32 counts and floats
            upd, state = opt.update(jnp.asarray(grad), state)
        x = np.clip(x + scale * np.asarray(upd), lo, hi)
    return n, "optax adam: maximum iterations reached"


def _scipy_minimize(g: _Guarded, x0, lo, hi, method, maxiter, tol, max_restarts, max_step):
    """One local optimisation; a run that ended after rejected steps restarts from the
    best point found (fresh quasi-Newton memory), at most ``max_restarts`` times."""
    opts: dict = {"maxiter": maxiter}
    kw: dict = {}
    if method == "L-BFGS-B":
        opts.update(ftol=tol, gtol=1e-8)
    else:
        opts.update(gtol=1e-8, xtol=tol)
        kw["hess"] = scipy.optimize.BFGS()
    x, nit, msg, restarts = np.asarray(x0, dtype=np.float64), 0, "", 0
    for attempt in range(max_restarts + 1):
        fails, capped, best = g.n_fail, g.n_capped, g.best_f
        opts["maxiter"] = max(maxiter - nit, 1)
        if max_step is not None:
            g.max_step, g.anchor = max_step, np.array(x)
            kw["callback"] = g.step_to
        with np.errstate(all="ignore"):
            res = scipy.optimize.minimize(
                g, x, jac=True, method=method, bounds=scipy.optimize.Bounds(lo, hi),
                options=opts, **kw,
            )
        nit += int(res.nit)
        msg = str(res.message)
        if g.best_x is None:
            break
        x = g.best_x
        improved = g.best_f < best - 1e-9 * max(abs(best), 1.0) if np.isfinite(best) else True
        # rejected steps (failed or too long) can end scipy's line search ("ABNORMAL"):
        # go on from the best point while that still improves it
        rejected = g.n_fail > fails or g.n_capped > capped or msg.startswith("ABNORMAL")
        if not rejected or not improved or nit >= maxiter:
            break
        restarts = attempt + 1
    if restarts:
        msg += f" (restarted {restarts}x after rejected steps)"
    return nit, msg


@dataclass(frozen=True)
class _StartRecord:
    """What one local optimisation gives."""

    x: np.ndarray
    fval: float
    n_iter: int
    n_fev: int
    n_fail: int
    seconds: float
    message: str


class _Starts:
    """Local optimisations of one objective with one set of options, a start at a time.

    Picklable (the objective's compiled functions are made again where it is unpickled),
    so that the starts of a fit can run on Dask workers: ``self("value", x)`` is the
    objective at a starting point, ``self("run", x)`` the `_StartRecord` of a start.
    """

    def __init__(self, objective, method, lo, hi, maxiter, tol, learning_rate,
                 max_restarts, step_cap, screen):
        self.objective, self.method = objective, method
        self.lo, self.hi, self.maxiter, self.tol = lo, hi, maxiter, tol
        self.learning_rate, self.max_restarts = learning_rate, max_restarts
        self.step_cap, self.screen = step_cap, screen
        self._evaluators()

    def _evaluators(self) -> None:
        self.lsq = _Residuals(self.objective) if self.method == "least_squares" else None
        self.f = self.lsq if self.lsq is not None else _value_and_grad(self.objective)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["lsq"], state["f"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._evaluators()

    def __call__(self, what: str, x):
        g, val0 = self.begin(x)
        return val0 if what == "value" else self.finish(g, x, val0)

    def begin(self, x) -> tuple[_Guarded, float]:
        """A fresh guard and the objective at the start ``x``."""
        g = _Guarded(self.f)
        val0, _ = g.raw(x)
        return g, val0

    def _local(self, g: _Guarded, x, n: int):
        if self.lsq is not None:
            return _lsq_minimize(g, self.lsq, x, self.lo, self.hi, n, self.tol)
        if self.method == "optax":
            return _optax_minimize(g, x, self.lo, self.hi, n, self.learning_rate)
        return _scipy_minimize(g, x, self.lo, self.hi, self.method, n, self.tol,
                               self.max_restarts, self.step_cap)

    def finish(self, g: _Guarded, s, val0: float) -> _StartRecord:
        """The local optimisation from ``s``, whose value ``begin`` gave."""
        t = time.perf_counter()
        screen = self.screen
        if not np.isfinite(val0):
            nit, msg = 0, "the objective is not finite at the start"
        elif screen is None:
            nit, msg = self._local(g, s, self.maxiter)
        else:
            nit, msg = self._local(g, s, int(screen[0]))
            if g.best_f < float(screen[1]) and g.best_x is not None:
                more, msg = self._local(g, g.best_x, self.maxiter)
                nit += more
            else:
                msg = f"screened out at {g.best_f:.6g} (threshold {screen[1]:g}): {msg}"
        x = g.best_x if g.best_x is not None else s
        if hasattr(self.objective, "complete") and np.isfinite(g.best_f):
            x = self.objective.complete(x)  # fill in the parameters computed in closed form
        return _StartRecord(np.asarray(x), float(g.best_f), nit, g.n_eval, g.n_fail,
                            time.perf_counter() - t, msg)


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
    rng = None
    if x0 is None:
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise FitError("random starts need finite bounds; give x0 instead")
        rng = np.random.default_rng(seed)
        starts = lo + rng.uniform(size=(n_starts, lo.size)) * (hi - lo)
    else:
        starts = np.atleast_2d(np.asarray(x0, dtype=np.float64))
        if starts.shape[1] != lo.size:
            raise FitError(f"x0 has {starts.shape[1]} columns, the problem {lo.size} parameters")
        n_starts = starts.shape[0]
    step_cap = None if max_step is None else float(max_step) * (hi - lo)
    starts_runner = _Starts(objective, method, lo, hi, maxiter, tol, learning_rate,
                            max_restarts, step_cap, screen)
    t_all = time.perf_counter()
    bar = progress_bar(n_starts, "fit", "start", progress)
    best = np.inf

    def done(r: _StartRecord) -> None:
        nonlocal best
        best = min(best, r.fval)
        bar.set_postfix_str(f"f = {r.fval:.6g} ({r.n_iter} it), best {best:.6g}",
                            refresh=False)
        bar.update(1)
    n_redrawn = 0

    def redraw(values: list[float], evaluate) -> int:
        # a start where the simulation fails is drawn again (in start order: the same
        # seed, the same draws, wherever the values were computed)
        n = 0
        for k in range(n_starts):
            while not np.isfinite(values[k]) and rng is not None and n < max_redraws:
                n += 1
                starts[k] = lo + rng.uniform(size=lo.size) * (hi - lo)
                values[k] = evaluate(starts[k])
        return n

    if executor is None:
        records = []
        for k in range(n_starts):
            g, val0 = starts_runner.begin(starts[k])
            while not np.isfinite(val0) and rng is not None and n_redrawn < max_redraws:
                n_redrawn += 1
                starts[k] = lo + rng.uniform(size=lo.size) * (hi - lo)
                g, val0 = starts_runner.begin(starts[k])
            records.append(starts_runner.finish(g, starts[k], val0))
            done(records[-1])
    else:
        check_executor(executor)

        def remote(what: str, points) -> list:
            return map_calls(executor, starts_runner, [(what, x) for x in points],
                             label="fit")

        values = remote("value", starts) if rng is not None else [0.0] * n_starts
        n_redrawn = redraw(values, lambda x: remote("value", [x])[0])
        records = remote("run", starts)
        for r in records:
            done(r)
    bar.close()
    xs = [r.x for r in records]
    fvals = [r.fval for r in records]
    its = [r.n_iter for r in records]
    fevs = [r.n_fev for r in records]
    fails = [r.n_fail for r in records]
    times = [r.seconds for r in records]
    msgs = [r.message for r in records]
    order = np.argsort(fvals, kind="stable")
    ids = tuple(getattr(objective, "parameter_ids", ())) or tuple(
        f"x{i}" for i in range(lo.size)
    )
    return FitResult(
        x=xs[order[0]],
        fun=float(fvals[order[0]]),
        parameter_ids=ids,
        xs=np.asarray(xs)[order],
        fvals=np.asarray(fvals)[order],
        x0s=starts[order],
        n_iter=np.asarray(its)[order],
        n_fev=np.asarray(fevs)[order],
        times=np.asarray(times)[order],
        messages=tuple(msgs[i] for i in order),
        wall_time=time.perf_counter() - t_all,
        method=method,
        n_failed=np.asarray(fails)[order],
        n_redrawn=n_redrawn,
        start_index=order,
        problem=objective if hasattr(objective, "plot_fit") else None,
    )
