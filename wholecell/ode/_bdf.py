"""Variable-order BDF (orders 1-5) with Jacobian and LU reuse, for stiff models.

The method is the quasi-constant step size numerical differentiation formula (NDF)
family of Shampine & Reichelt (MATLAB's ode15s, SciPy's ``BDF``): the state is a table
``D`` of backward differences, a step solves the implicit formula by a simplified
Newton iteration with the matrix ``I - c J``, and order and step size are chosen after
every ``order + 1`` steps of equal size. Unlike a Rosenbrock step, a BDF step needs no
fresh Jacobian nor factorisation: ``J`` is re-evaluated and ``I - c J`` refactorised
only when Newton fails to converge or ``c`` has moved by more than 30% (CVODE's rule;
the Newton corrections are scaled for the older ``c`` meanwhile). The
Newton tests are CVODE's: converged when the correction times its convergence rate
(carried over between steps) is small against the error tolerance, at most three
iterations. On a stiff network of a hundred species a step costs about a fifth of a
Rodas5 step, where a dense LU costs more than twenty right-hand sides.

The loop is written for one trajectory: its branches (new Jacobian, new factors) are
``lax.cond``s, which stay branches under `jit`; under `vmap` each member would pay for
both, so batches of 16 or more run in lock step (`_lockstep_bdf`, the same method on
batch-last arrays with sparse factors), or else members one after the other.
Output at requested times comes from the interpolating polynomial of the last step.

Derivatives: the iteration matrix is a choice of the method, like the step size, so no
derivative flows through ``J`` or its factors; reverse mode differentiates the Newton
iterations with the matrix held fixed. The terms this drops are proportional to Newton's
residual: on BIOMD0000000019 the gradient agrees with Rodas5's to 3e-6, and it costs
0.25-0.27 s against Rodas5's 0.45-0.49 s. Only the factors are carried between steps
(the Jacobian is evaluated afresh with them), which halves what a reverse-mode loop
checkpoints; in reverse mode the Newton iterations are unrolled and one loop runs over
all steps (`_one_loop`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np

from ._bdf_tables import (
    ALPHA,
    ERROR_CONST,
    GAMMA,
    MAX_C_CHANGE,
    MAX_FACTOR,
    MAX_ORDER,
    MIN_FACTOR,
    NEWTON_MAXITER,
    NEWTON_TOL,
    ROWS,
    change_step,
    interpolate,
)
from ._integrate import (
    DT_UNDERFLOW,
    MAX_STEPS,
    SUCCESS,
    Stats,
    _rms,
    checkpoints_for,
    initial_step,
)
from ._linsolve import factor, lu_solve

#: outputs the reverse-mode loop writes per iteration (see `_one_loop`)
OUTPUTS_PER_ITERATION = 4


class _State(NamedTuple):
    t: Any
    D: Any
    order: Any
    h: Any
    n_equal: Any
    lu: Any
    perm: Any
    c_lu: Any  # lu, perm: the factors of I - c_lu J
    rate: Any  # Newton's convergence rate with the current factors
    need_jac: Any  # Newton failed with an old Jacobian: evaluate a new one
    jac_current: Any  # J was evaluated in this step
    steps: Any
    rejected: Any
    status: Any


class _Decisions(NamedTuple):
    """What one attempt's tests decided. Reverse mode records them in a forward pass and
    replays them in the differentiated one (`_record_and_replay`)."""

    refresh: Any  # a new Jacobian and factors for this attempt
    n_apply: Any  # the Newton corrections applied
    accept: Any
    rescale: Any  # the differences re-expressed for a new step size (and order)
    order: Any  # the order of the next attempt
    ratio: Any  # the next step size over this one


def bdf_integrate(rhs, jac, x0, t0, ts, args, *, rtol: float, atol, max_steps: int,
                  adjoint: str = "lax", max_order: int = MAX_ORDER):
    """Integrate dx/dt = rhs(t, x, args) from (t0, x0) by BDF; x at each of ``ts``.

    ``jac(t, x, args) -> (J, f_t)`` gives the Jacobian (None: dense `jax.jacfwd`); no
    derivative flows through it (see the module's docstring).
    ``max_order`` (1-5) caps the order. Returns (ys, `Stats`) like `integrate`;
    ``steps`` counts attempts.
    """
    if not 1 <= max_order <= MAX_ORDER:
        raise ValueError(f"max_order must be between 1 and {MAX_ORDER}, got {max_order}")
    dtype = x0.dtype
    ts = jnp.asarray(ts, dtype)
    t0 = jnp.asarray(t0, dtype)
    t_end = ts[-1]
    n = x0.shape[0]
    kind = "checkpointed" if adjoint == "checkpointed" else "lax"
    run = _BDF(rhs, jac, t_end, rtol, atol, max_order, dtype, n)
    h0 = initial_step(rhs, t0, x0, args, 1, rtol, atol, jnp.maximum(t_end - t0, 1e-12))
    h0 = jax.lax.stop_gradient(h0)
    D0 = jnp.zeros((ROWS, n), dtype).at[0].set(x0).at[1].set(rhs(t0, x0, args) * h0)
    lu0, perm0 = run.iteration_factors(t0, x0, h0, args)
    init = _State(
        t=t0, D=D0, order=jnp.array(1), h=h0, n_equal=jnp.array(0), lu=lu0, perm=perm0,
        c_lu=h0, rate=jnp.ones((), dtype), need_jac=jnp.array(False),
        jac_current=jnp.array(True), steps=jnp.array(0), rejected=jnp.array(0),
        status=jnp.array(SUCCESS),
    )

    if kind == "checkpointed":
        final, ys = _record_and_replay(run.attempt, init, args, ts, max_steps)
    else:
        final, ys = _loop_per_output(lambda s: run.attempt(s, args)[1], init, ts, max_steps)
    status = jnp.where((final.status == SUCCESS) & (final.t < t_end), MAX_STEPS, final.status)
    return ys, Stats(final.steps, final.rejected, status, final.t, final.D[0])


class _BDF:
    """One BDF solve's settings (set once) and the parts of its step: the iteration
    matrix's factors, the Newton corrector, an attempt and its decisions."""

    def __init__(self, rhs, jac, t_end, rtol, atol, max_order: int, dtype, n: int):
        eye = jnp.eye(n, dtype=dtype)
        gamma = jnp.asarray(GAMMA, dtype)
        alpha = jnp.asarray(ALPHA, dtype)
        error_const = jnp.asarray(ERROR_CONST, dtype)
        rows = jnp.arange(ROWS)
        self.rhs, self.jac, self.rtol, self.atol = rhs, jac, rtol, atol
        self.max_order, self.dtype, self.t_end = max_order, dtype, t_end
        self.eye, self.gamma, self.alpha, self.error_const = eye, gamma, alpha, error_const
        self.rows = rows

    def iteration_factors(self, t, x, c, args):
        """The factors of ``I - c J(t, x)``, held constant under differentiation."""
        rhs, jac, eye = self.rhs, self.jac, self.eye
        x, a, c = jax.lax.stop_gradient((x, args, c))
        if jac is not None:
            J = jac(t, x, a)[0]
        else:
            J = jax.jacfwd(lambda y: rhs(t, y, a))(x)
        return factor(eye - c * J)

    def newton(self, t_new, y_pred, c, psi, lu, perm, scale, relax, rate0, args, n_apply=None):
        """Simplified Newton on ``d - c f(y_pred + d) + psi = 0`` with CVODE's tests: it has
        converged when the correction times the convergence rate (carried over from the
        last steps while the factors are unchanged) is below the tolerance, and diverges
        when a correction doubles. ``relax`` scales the corrections when the factors are
        those of an older ``c``. With ``n_apply`` (a replay, see `_replay`) no test is
        made: the first ``n_apply`` corrections are applied.

        Returns (converged, iterations, corrections applied, y, d, rate)."""
        rhs, dtype = self.rhs, self.dtype
        if n_apply is not None:
            y, d = y_pred, jnp.zeros_like(y_pred)
            for k in range(NEWTON_MAXITER):
                dy = relax * lu_solve(lu, perm, c * rhs(t_new, y, args) - psi - d)
                y = jnp.where(k < n_apply, y + dy, y)
                d = jnp.where(k < n_apply, d + dy, d)
            return None, None, n_apply, y, d, rate0

        def cond(s):
            k, _, _, _, _, converged, stopped = s
            return (k < NEWTON_MAXITER) & ~converged & ~stopped

        def body(s):
            k, y, d, old_norm, rate, _, _ = s
            f = rhs(t_new, y, args)
            dy = relax * lu_solve(lu, perm, c * f - psi - d)
            dy_norm = _rms(dy / scale)
            has_old = k > 0
            ratio = dy_norm / jnp.where(has_old, old_norm, 1.0)
            rate = jnp.where(has_old, jnp.maximum(0.3 * rate, ratio), rate)
            stop = ~jnp.all(jnp.isfinite(dy)) | (has_old & (dy_norm > 2.0 * old_norm))
            y = jnp.where(stop, y, y + dy)
            d = jnp.where(stop, d, d + dy)
            converged = ~stop & (dy_norm * jnp.minimum(1.0, rate) <= NEWTON_TOL)
            return k + 1, y, d, dy_norm, rate, converged, stop

        init = (jnp.array(0), y_pred, jnp.zeros_like(y_pred), jnp.zeros((), dtype), rate0,
                jnp.array(False), jnp.array(False))
        k, y, d, _, rate, converged, stopped = jax.lax.while_loop(cond, body, init)
        return converged, k, k - jnp.where(stopped, 1, 0), y, d, rate

    def attempt(self, s: _State, args, decided: _Decisions | None = None):
        """One step attempt from ``s``: the new state and the decisions it took. Given
        ``decided`` (a replay), it takes those instead of testing."""
        rtol, atol, t_end, gamma = self.rtol, self.atol, self.t_end, self.gamma
        alpha, rows = self.alpha, self.rows
        order = s.order
        h, D = s.h, s.D
        # the last step ends on t_end
        over = s.t + h > t_end
        D = jnp.where(over, change_step(D, order, (t_end - s.t) / h), D)
        h = jnp.where(over, t_end - s.t, h)
        n_equal = jnp.where(over, 0, s.n_equal)
        t_new = jnp.where(over, t_end, s.t + h)

        upto = rows <= order
        y_pred = jnp.where(upto[:, None], D, 0.0).sum(axis=0)
        scale = atol + rtol * jnp.abs(y_pred)
        g = jnp.where((rows[1 : MAX_ORDER + 1] <= order), gamma[1:], 0.0)
        psi = (g @ D[1 : MAX_ORDER + 1]) / alpha[order]
        c = h / alpha[order]
        # A new Jacobian and factors when the last attempt's Newton failed with an old one,
        # or when c has moved more than 30% from the factors' c (CVODE's rule).
        if decided is None:
            refresh = s.need_jac | (jnp.abs(c / s.c_lu - 1.0) > MAX_C_CHANGE)
        else:
            refresh = decided.refresh
        lu, perm = jax.lax.cond(refresh, lambda: self.iteration_factors(t_new, y_pred, c, args),
                                lambda: (s.lu, s.perm))
        c_lu = jnp.where(refresh, c, s.c_lu)
        converged, n_iter, n_apply, y_new, d, rate = self.newton(
            t_new, y_pred, c, psi, lu, perm, scale, 2.0 / (1.0 + c / c_lu),
            jnp.where(refresh, 1.0, s.rate), args,
            None if decided is None else decided.n_apply,
        )
        # accepted: update the differences (d = D^(order+1) of the new point)
        E = jnp.where(upto[:, None], D, 0.0).at[order + 1].set(d)
        D_acc = jnp.where((rows <= order + 1)[:, None], jnp.cumsum(E[::-1], axis=0)[::-1], D)
        D_acc = D_acc.at[order + 2].set(d - D[order + 1])
        if decided is None:
            decided, control = self.decide(s, order, h, n_equal, refresh, converged, n_iter,
                                      n_apply, y_new, d, D_acc)
        else:
            rate = s.rate  # the Newton tests' state: not used in a replay
            control = (s.n_equal, s.need_jac, s.jac_current, s.rejected, s.status)
        n_equal, need_jac, jac_current, rejected, status = control
        D = jnp.where(decided.accept, D_acc, D)
        D = jnp.where(decided.rescale, change_step(D, decided.order, decided.ratio), D)
        return decided, _State(
            t=jnp.where(decided.accept, t_new, s.t),
            D=D,
            order=decided.order,
            h=h * decided.ratio,
            n_equal=n_equal,
            lu=lu,
            perm=perm,
            c_lu=c_lu,
            rate=rate,
            need_jac=need_jac,
            jac_current=jac_current,
            steps=s.steps + 1,
            rejected=rejected,
            status=status,
        )

    def decide(self, s, order, h, n_equal, refresh, converged, n_iter, n_apply, y_new, d, D_acc):
        """The attempt's tests: accept, the next order and step ratio, a new Jacobian."""
        rtol, atol, max_order, error_const = self.rtol, self.atol, self.max_order, self.error_const
        jac_current = s.jac_current | refresh
        # not converged: a new Jacobian for the same step, or if it was new, half the step
        need_jac = ~converged & ~jac_current
        halve = ~converged & jac_current

        safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
        scale_new = atol + rtol * jnp.abs(y_new)
        # step sizes are chosen, not differentiated (as in `integrate`)
        err = jax.lax.stop_gradient(_rms(error_const[order] * d / scale_new))
        too_big = converged & (err > 1)
        accept = converged & ~too_big
        shrink = jnp.where(
            halve, 0.5, jnp.maximum(MIN_FACTOR, safety * err ** (-1.0 / (order + 1.0)))
        )
        n_equal_acc = n_equal + 1
        # order and step size after order + 1 equal steps
        err_m = jnp.where(order > 1, _rms(error_const[order - 1] * D_acc[order] / scale_new),
                          jnp.inf)
        err_p = jnp.where(order < max_order,
                          _rms(error_const[order + 1] * D_acc[order + 2] / scale_new), jnp.inf)
        factors = jnp.stack([err_m, err, err_p]) ** (-1.0 / (order + np.arange(3.0)))
        factors = jax.lax.stop_gradient(factors)
        adapt = accept & (n_equal_acc >= order + 1)
        grow = jnp.minimum(MAX_FACTOR, safety * jnp.max(factors))

        rejected = halve | too_big
        order_next = jnp.where(adapt, order + jnp.argmax(factors) - 1, order)
        ratio = jnp.where(adapt, grow, jnp.where(rejected, shrink, 1.0))
        n_equal = jnp.where(accept & ~adapt, n_equal_acc, jnp.where(need_jac, n_equal, 0))
        t_now = jax.lax.stop_gradient(s.t)
        tiny = 10 * jnp.abs(jnp.nextafter(t_now, jnp.inf) - t_now)
        status = jnp.where(rejected & (h * ratio < tiny), DT_UNDERFLOW, s.status)
        decided = _Decisions(refresh=refresh, n_apply=n_apply, accept=accept,
                             rescale=adapt | rejected, order=order_next, ratio=ratio)
        control = (n_equal, need_jac, ~accept & jac_current,
                   s.rejected + jnp.where(accept, 0, 1), status)
        return decided, control


def _output(t_out, s: _State):
    """The solution at ``t_out`` from the state's polynomial."""
    return interpolate(t_out, s.t, s.h, s.order, s.D)


def _loop_per_output(attempt, init: _State, ts, max_steps: int):
    """Forward solves: a loop per output time, inside a scan over them (no output buffer
    is carried through the steps)."""

    def advance(s: _State, t_out):
        s = jax.lax.while_loop(
            lambda s: (s.t < t_out) & (s.status == SUCCESS) & (s.steps < max_steps),
            attempt, s)
        return s, jnp.where(s.t >= t_out, _output(t_out, s), jnp.nan)

    return jax.lax.scan(advance, init, ts)


def _record_and_replay(attempt, init: _State, args, ts, max_steps: int):
    """Reverse mode: the steps are taken twice. A forward loop, with no derivatives,
    records what each attempt decided (`_Decisions`); then one checkpointed loop replays
    those attempts, making no test, and writes the outputs into a buffer (not
    checkpointed), as diffrax does. Its gradient is therefore the derivative of the
    computation that gave the values.

    Without the record, the backward pass recomputed steps from the nearest checkpoint in
    a differently compiled program, where a Newton or error test within rounding of its
    threshold could decide otherwise than the forward pass had: on Robertson's problem at
    rtol 1e-10 (529 steps, 446 checkpoints) the gradient then differed from forward mode
    and from the sensitivity equations by 6e-5 on one machine and 5e-4 on another.

    One loop over all steps spends its checkpoints where the steps are, where a loop per
    output time gives each interval the same number: BIOMD0000000019 takes 656 of its
    950 steps before its first output. Each iteration first writes up to
    `OUTPUTS_PER_ITERATION` outputs that the state has passed, then takes a step unless
    more are waiting; so the steps are those of `_loop_per_output`.
    """
    n_out = ts.shape[0]
    last = n_out - 1
    t_end = ts[-1]
    init_fixed, args_fixed = jax.lax.stop_gradient((init, args))

    def record(c):
        s, log = c
        decided, s_next = attempt(s, args_fixed)
        log = jax.tree_util.tree_map(lambda buf, v: buf.at[s.steps].set(v), log, decided)
        return s_next, log

    blank = _Decisions(
        refresh=jnp.zeros(max_steps, bool), n_apply=jnp.zeros(max_steps, init.steps.dtype),
        accept=jnp.zeros(max_steps, bool), rescale=jnp.zeros(max_steps, bool),
        order=jnp.zeros(max_steps, init.order.dtype), ratio=jnp.zeros(max_steps, init.h.dtype),
    )
    final, log = jax.lax.while_loop(
        lambda c: (c[0].t < t_end) & (c[0].status == SUCCESS) & (c[0].steps < max_steps),
        record, (init_fixed, blank))
    n_steps = final.steps

    def passed(s, i):
        return (i < n_out) & (ts[jnp.minimum(i, last)] <= s.t)

    def running(c):
        s, i, _ = c
        return passed(s, i) | ((i < n_out) & (s.steps < n_steps))

    def replay(s):
        decided = jax.tree_util.tree_map(lambda buf: buf[s.steps], log)
        return attempt(s, args, decided)[1]

    def step(c):
        s, i, ys = c
        for _ in range(OUTPUTS_PER_ITERATION):
            write = passed(s, i)
            j = jnp.minimum(i, last)
            ys = ys.at[j].set(_output(ts[j], s), pred=write)
            i = i + jnp.where(write, 1, 0)
        # a step only where no output waits and the record goes on (after the last output
        # a step of length zero would divide by it)
        go = ~passed(s, i) & (i < n_out) & (s.steps < n_steps)
        s = jax.lax.cond(go, replay, lambda s: s, s)
        return s, i, ys

    ys = jnp.full((n_out,) + init.D.shape[1:], jnp.nan, init.D.dtype)  # NaN: not reached
    # iterations that only write outputs (four or more each) come on top of the steps
    bound = max_steps + n_out
    _, _, ys = eqxi.while_loop(running, step, (init, jnp.array(0), ys), max_steps=bound,
                               kind="checkpointed", checkpoints=checkpoints_for(init, 1, bound),
                               buffers=lambda c: c[2])
    return final, ys
