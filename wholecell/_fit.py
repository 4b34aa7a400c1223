"""`fit`: multi-start local optimisation of an objective on its JAX gradient."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from ._errors import WholecellError

METHODS = ("L-BFGS-B", "trust-constr", "optax")


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
    problem: object = field(default=None, repr=False)

    @property
    def n_starts(self) -> int:
        return len(self.fvals)

    def n_converged(self, tol: float = 0.1) -> int:
        """How many starts ended within ``tol`` of the best objective value."""
        return int(np.sum(self.fvals <= self.fun + tol))

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

    def __repr__(self) -> str:
        return (
            f"FitResult(best={self.fun:.6g}, {self.n_converged()}/{self.n_starts} starts "
            f"within 0.1, method='{self.method}', wall_time={self.wall_time:.1f}s)"
        )


def _value_and_grad(objective) -> Callable:
    vg = getattr(objective, "value_and_grad", None)
    if vg is None:
        vg = jax.jit(jax.value_and_grad(objective))

    def f(x):
        val, grad = vg(jnp.asarray(x, dtype=jnp.float64))
        val = float(val)
        grad = np.asarray(grad, dtype=np.float64)
        if not np.isfinite(val) or not np.all(np.isfinite(grad)):
            # a failed simulation: an infinite value makes the line search step back
            return np.inf, np.zeros_like(grad)
        return val, grad

    return f


def _bounds(objective, bounds) -> tuple[np.ndarray, np.ndarray]:
    if bounds is None:
        if not hasattr(objective, "lower_bounds"):
            raise FitError("give bounds=(lower, upper) for an objective without bounds")
        bounds = (objective.lower_bounds, objective.upper_bounds)
    lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
    if lo.shape != hi.shape or np.any(lo > hi):
        raise FitError("bounds must be two arrays of the same shape with lower <= upper")
    return lo, hi


class _Progress:
    """Plain progress lines (no dependency), written to stdout."""

    def __init__(self, n: int, enabled: bool):
        self.n, self.enabled, self.best = n, enabled, np.inf
        self.t0 = time.perf_counter()

    def update(self, k: int, fval: float, n_iter: int, seconds: float) -> None:
        self.best = min(self.best, fval)
        if self.enabled:
            done = int(20 * (k + 1) / self.n)
            bar = "#" * done + "." * (20 - done)
            print(
                f"[{bar}] start {k + 1}/{self.n}: f = {fval:.6g} ({n_iter} it, "
                f"{seconds:.1f}s), best {self.best:.6g}, {time.perf_counter() - self.t0:.0f}s",
                file=sys.stdout, flush=True,
            )


def _optax_minimize(f, x0, lo, hi, maxiter, learning_rate):
    import optax

    opt = optax.adam(learning_rate)
    state = opt.init(jnp.asarray(x0))
    x = np.asarray(x0, dtype=np.float64)
    best_x, best_f, n = x, np.inf, 0
    for it in range(1, maxiter + 1):
        n = it
        val, g = f(x)
        if val < best_f:
            best_x, best_f = x, val
        if not np.isfinite(val):
            break
        upd, state = opt.update(jnp.asarray(g), state)
        x = np.clip(x + np.asarray(upd), lo, hi)
    return best_x, best_f, n, n, "optax adam: maximum iterations reached"


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
    progress: bool = True,
) -> FitResult:
    """Minimise ``objective`` from ``n_starts`` starting points, each a local optimisation.

    Arguments:
        objective: a `wholecell.petab.PetabProblem` (its ``objective``, bounds and
            parameter ids are used) or a JAX-differentiable function of a 1-D array.
        n_starts: number of local optimisations.
        method: ``"L-BFGS-B"`` (scipy, bounded quasi-Newton), ``"trust-constr"`` (scipy's
            bounded trust-region method with BFGS Hessian updates) or ``"optax"`` (Adam
            steps clipped to the bounds).
        bounds: (lower, upper) arrays; default: the problem's bounds.
        x0: starting points (n_starts, n_params); default: uniform within the bounds,
            drawn with ``seed``.
        seed: the seed of the random starts (the same seed gives the same starts).
        maxiter: the most iterations of each local optimisation.
        tol: the optimiser's convergence tolerance (scipy's ``ftol``/``gtol``).
        learning_rate: the step size of ``"optax"``.
        progress: print a progress line after each start.

    Returns:
        A `FitResult`.

    Raises:
        FitError: an unknown method, bad bounds, or unbounded parameters without ``x0``.
    """
    if method not in METHODS:
        raise FitError(f"unknown method '{method}'; use one of {', '.join(METHODS)}")
    lo, hi = _bounds(objective, bounds)
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
    f = _value_and_grad(objective)
    t_all = time.perf_counter()
    bar = _Progress(n_starts, progress)
    xs, fvals, its, fevs, times, msgs = [], [], [], [], [], []
    for k, s in enumerate(starts):
        t = time.perf_counter()
        if method == "optax":
            x, val, nit, nfev, msg = _optax_minimize(f, s, lo, hi, maxiter, learning_rate)
        else:
            opts = {"maxiter": maxiter}
            kw = {}
            if method == "L-BFGS-B":
                opts.update(ftol=tol, gtol=1e-8)
            else:
                opts.update(gtol=1e-8, xtol=tol)
                kw["hess"] = scipy.optimize.BFGS()
            with np.errstate(all="ignore"):
                res = scipy.optimize.minimize(
                    f, s, jac=True, method=method, bounds=scipy.optimize.Bounds(lo, hi),
                    options=opts, **kw,
                )
            x, val, nit, nfev, msg = res.x, float(res.fun), res.nit, res.nfev, str(res.message)
        xs.append(np.asarray(x))
        fvals.append(val if np.isfinite(val) else np.inf)
        its.append(nit)
        fevs.append(nfev)
        times.append(time.perf_counter() - t)
        msgs.append(msg)
        bar.update(k, fvals[-1], nit, times[-1])
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
        problem=objective if hasattr(objective, "plot_fit") else None,
    )
