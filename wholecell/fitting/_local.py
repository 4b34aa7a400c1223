"""One local optimisation of a `fit`: the guarded objective (a failed evaluation is a
rejected step), the optimisers (scipy's L-BFGS-B / trust-constr / least squares, optax),
and `_Starts`, the picklable runner of starts that a Dask worker or a pool can hold."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize

from ._result import FitError


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
