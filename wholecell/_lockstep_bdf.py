"""Stiff ensembles in lock step: `_bdf`'s method for many members on batch-last arrays.

`_bdf.bdf_integrate` steps one trajectory; its branches (a new Jacobian, new factors)
would become selects that always run under `vmap`, so BDF ensembles ran their members
one after another, at about 50 us per attempt on BIOMD0000000019, nearly all of it XLA's
per-operation dispatch. Here every operation of an attempt covers all members, as in
`_lockstep` for Tsit5:

- the state of a batch is the difference table ``D (order + 3, n, B)`` and one order,
  step size, Newton rate, ... per member; each member takes the attempts (orders, step
  sizes, Newton iterations, refreshes) of `bdf_integrate`;
- ``I - c J`` is factorised on the Jacobian's sparsity pattern (`_sparselu.SparseLU`),
  and the Jacobian comes from one forward derivative per column colour, on rows, so
  that only the expressions that depend on a colour's states are differentiated;
- a new Jacobian and factors are made only for the members that need them: up to
  ``refresh_slots`` members per iteration are gathered into a small batch (about one
  attempt in ten needs one); a member that needs one and finds no free slot waits for
  the next iteration, so its own attempts are unchanged;
- Newton iterates while any member has not converged (at most three times), members
  that have converged keep their values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._bdf import (
    _ALPHA,
    _ERROR_CONST,
    _GAMMA,
    _ROWS,
    MAX_C_CHANGE,
    MAX_FACTOR,
    MAX_ORDER,
    MIN_FACTOR,
    NEWTON_MAXITER,
    NEWTON_TOL,
)
from ._integrate import DT_UNDERFLOW, MAX_STEPS, SUCCESS, Stats, initial_step
from ._jacobian import colour_columns, sparsity_pattern
from ._lockstep import _where, batch_rhs_for
from ._sparselu import SparseLU

#: share of a batch whose Jacobian and factors can be renewed in one iteration
REFRESH_SHARE = 0.12


class BatchJacobian:
    """The entries of ``I - c J`` on the model's Jacobian pattern, batch-last, and the
    sparse LU that factorises them."""

    def __init__(self, structure):
        self.rhs = batch_rhs_for(structure)
        pattern = sparsity_pattern(structure)
        self.n = pattern.shape[0]
        self.rows, self.cols = np.nonzero(pattern)
        self.diagonal = (self.rows == self.cols).astype(np.float64)
        colours = colour_columns(pattern)
        self.groups = [np.flatnonzero(colours == k) for k in range(int(colours.max()) + 1)]
        self.colour_of = colours[self.cols]
        self.lu = SparseLU(pattern)

    def jacobian(self, t, x, c):
        """``J``'s entries ``(nnz, B)`` at ``t (B,)``, ``x (n, B)``, ``c (n_c, B)``."""
        x_rows = [x[i] for i in range(self.n)]
        values: list[Any] = [None] * len(self.rows)
        for k, group in enumerate(self.groups):
            members = group.tolist()

            def f(u, members=members):
                rows = list(x_rows)
                for j, row in zip(members, u, strict=True):
                    rows[j] = row
                return tuple(self.rhs.state_rows(t, rows, c))

            primals = tuple(x_rows[j] for j in members)
            _, tangent = jax.jvp(f, (primals,), (tuple(jnp.ones_like(p) for p in primals),))
            for e in np.flatnonzero(self.colour_of == k).tolist():
                values[e] = tangent[int(self.rows[e])]
        return jnp.stack(values)

    def factors(self, t, x, c, cc):
        """The factors of ``I - cc J(t, x)`` for each member (`SparseLU.factor`)."""
        J = self.jacobian(t, x, c)
        return self.lu.factor(jnp.asarray(self.diagonal, J.dtype)[:, None] - cc[None, :] * J)

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def batch_jacobian_for(structure) -> BatchJacobian:
    cached = getattr(structure, "_batch_jacobian", None)
    if cached is None:
        cached = BatchJacobian(structure)
        structure._batch_jacobian = cached
    return cached


# -- the difference table, member by member ------------------------------------------

_K = MAX_ORDER + 1


def _r_matrix(order, factor):
    """`_bdf._r_matrix` for each member: ``(K, K, B)``."""
    i = np.arange(1.0, _K)[:, None, None]
    j = np.arange(1.0, _K)[None, :, None]
    B = order.shape[0]
    m = jnp.ones((_K, _K, B), factor.dtype)
    m = m.at[1:, 1:].set((i - 1 - factor[None, None, :] * j) / i).at[1:, 0].set(0.0)
    r = jnp.stack(_cumprod([m[k] for k in range(_K)]))
    idx = np.arange(_K)
    keep = (idx[:, None, None] <= order) & (idx[None, :, None] <= order)
    return jnp.where(keep, r, 0.0)


def _apart(when, compute, otherwise):
    """``compute()`` where ``when`` (else ``otherwise()``), as a computation of its own.

    XLA on a CPU fuses cheap elementwise producers into every consumer, and drops
    `jax.lax.optimization_barrier`: values that many rows of the table read (the
    rescaling matrix, the partial sums of a new table) were recomputed for each state of
    each row, which made a table update 5-10 times slower. A conditional's results are
    materialised.
    """
    return jax.lax.cond(when, compute, otherwise)


def change_step(D, order, factor):
    """`_bdf.change_step` for each member: ``D``, rows ``(n, B)``."""

    def matrix():
        R, U = _r_matrix(order, factor), _r_matrix(order, jnp.ones_like(factor))
        ru = sum(R[:, j, None, :] * U[None, j, :, :] for j in range(_K))  # (K, K, B)
        return ru + np.eye(_K)[:, :, None] * (np.arange(_K)[:, None] > order)[:, None, :]

    # (a traced test: XLA folds a constant one; step ratios are positive)
    ru = _apart(jnp.any(factor > 0), matrix, lambda: jnp.zeros((_K, _K) + factor.shape,
                                                               factor.dtype))
    # row 0 stays (ru[0, j] = 0 for j >= 1: the columns of R(1) sum to zero)
    rows = [sum(ru[i, j] * D[i] for i in range(1, _K)) for j in range(1, _K)]
    return (D[0], *rows, *D[_K:])


# Sums over the table's rows are written out row by row: XLA's reductions over a leading
# axis of (rows, n, B) arrays cost 10-30 times more than these elementwise sums.


def _cumprod(rows):
    out = [rows[0]]
    for r in rows[1:]:
        out.append(out[-1] * r)
    return out


def _rms(x):
    """The root mean square of each column of ``x (n, B)`` (a product with ones: XLA's
    reductions over the leading axis cost several times more)."""
    return jnp.sqrt(jnp.ones(x.shape[0], x.dtype) @ (x * x) / x.shape[0])


def _rows_where(mask, a, b):
    """`_where` row by row of two tables."""
    return tuple(_where(mask, u, v) for u, v in zip(a, b, strict=True))


def _pick(D, k):
    """``D[k_b, :, b]`` for each member: ``(n, B)``."""
    return sum(jnp.where(k == r, D[r], 0.0) for r in range(len(D)))


def _weighted(weights, D, first: int = 0):
    """``sum_j weights[j] * D[first + j]`` with one weight ``(B,)`` per row."""
    return sum(weights[j] * D[first + j] for j in range(len(weights)))


def interpolate(t_out, t, h, order, D):
    """`_bdf.interpolate` for each member."""
    j = np.arange(MAX_ORDER, dtype=np.float64)[:, None]
    p = _cumprod(list((t_out - (t - h * j)) / (h * (1.0 + j))))
    p = [jnp.where(k < order, v, 0.0) for k, v in enumerate(p)]
    return D[0] + _weighted(p, D, 1)


# -- the loop ------------------------------------------------------------------------


class _State(NamedTuple):
    t: Any  # (B,)
    D: Any  # the difference table: rows (n, B), kept apart (a stacked table is rewritten
    # whole by XLA's concatenations, about 1 ms a pass for 1,000 members of 94 states)
    order: Any
    h: Any
    last: Any  # (B,) the next step ends on t_end
    n_equal: Any
    lu: Any  # (n_factors + 2, B): the factors of I - c_lu J
    c_lu: Any
    rate: Any
    need_jac: Any
    jac_current: Any
    steps: Any
    rejected: Any
    status: Any
    i_out: Any  # (B,) the next output to write
    ys: Any  # (B * (n_out + 1), n), as in `_lockstep._State`
    turn: Any  # () iterations so far: where the search for refresh slots starts


def lockstep_bdf(jac: BatchJacobian, x0, c, t0, ts, *, rtol: float, atol, max_steps: int,
                 refresh_slots: int | None = None):
    """Integrate ``B`` members from ``x0 (n, B)`` with constants ``c (n_c, B)`` by BDF.

    Returns ``ys (B, n_out, n)`` (NaN where a member never reached an output) and
    `Stats` with one entry (or column) per member; ``steps`` counts attempts.
    """
    f = jac.rhs
    lu = jac.lu
    dtype = x0.dtype
    n, B = x0.shape
    ts = jnp.asarray(ts, dtype)
    n_out = ts.shape[0]
    t0 = jnp.broadcast_to(jnp.asarray(t0, dtype), (B,))
    t_end = ts[-1]
    atol_col = jnp.asarray(atol, dtype)
    atol_col = atol_col[:, None] if atol_col.ndim == 1 else atol_col
    slots = refresh_slots or max(1, min(B, int(np.ceil(REFRESH_SHARE * B))))
    gamma = jnp.asarray(_GAMMA, dtype)
    alpha = jnp.asarray(_ALPHA, dtype)
    error_const = jnp.asarray(_ERROR_CONST, dtype)
    rows = np.arange(_ROWS)[:, None]  # against (B,) member values
    cols = jnp.arange(B)

    def h0_of(x, cc, t):
        return initial_step(lambda tt, xx, a: f(tt[None], xx[:, None], a[:, None])[:, 0],
                            t, x, cc, 1, rtol, atol, jnp.maximum(t_end - t, 1e-12))

    h0 = jax.vmap(h0_of, in_axes=(1, 1, 0))(x0, c, t0)
    last0 = t0 + h0 > t_end
    h0 = jnp.where(last0, t_end - t0, h0)
    zero = jnp.zeros((n, B), dtype)
    D0 = (x0, f(t0, x0, c) * h0) + (zero,) * (_ROWS - 2)
    init = _State(
        t=t0, D=D0, order=jnp.ones(B, int), h=h0, last=last0, n_equal=jnp.zeros(B, int),
        lu=jac.factors(t0, x0, c, h0), c_lu=h0, rate=jnp.ones(B, dtype),
        need_jac=jnp.zeros(B, bool), jac_current=jnp.ones(B, bool),
        steps=jnp.zeros(B, int), rejected=jnp.zeros(B, int),
        status=jnp.full(B, SUCCESS, int), i_out=jnp.zeros(B, int),
        ys=jnp.full((B * (n_out + 1), n), jnp.nan, dtype), turn=jnp.zeros((), int),
    )

    def running(s):
        return (s.t < t_end) & (s.status == SUCCESS) & (s.steps < max_steps)

    def due(s):
        t_next = ts[jnp.minimum(s.i_out, n_out - 1)]
        return (s.i_out < n_out) & (t_next <= s.t)

    def write(s):
        pending = due(s)
        t_out = ts[jnp.minimum(s.i_out, n_out - 1)]
        value = interpolate(t_out, s.t, s.h, s.order, s.D)
        row = cols * (n_out + 1) + jnp.where(pending, s.i_out, n_out)
        ys = s.ys.at[row].set(value.T, indices_are_sorted=True, unique_indices=True)
        return s._replace(ys=ys, i_out=s.i_out + pending.astype(int))

    def refresh_some(s, want, t_new, y_pred, cc):
        """New factors for up to ``slots`` members of ``want``, taken in turn from
        ``s.turn``: the state's factors and ``c_lu`` with theirs, and who got them."""
        shift = (s.turn * slots) % B
        idx = (jnp.nonzero(jnp.roll(want, -shift), size=slots, fill_value=B)[0] + shift)
        idx = jnp.where(idx >= B + shift, B, idx % B)  # B: no member (dropped below)
        served = jnp.zeros(B, bool).at[idx].set(True, mode="drop")
        take = jnp.minimum(idx, B - 1)

        def renew():
            Z = jac.factors(t_new[take], y_pred[:, take], c[:, take], cc[take])
            return (s.lu.at[:, idx].set(Z, mode="drop"),
                    s.c_lu.at[idx].set(cc[take], mode="drop"))

        lu_new, c_lu = jax.lax.cond(jnp.any(want), renew, lambda: (s.lu, s.c_lu))
        return lu_new, c_lu, served

    def attempt(s, go):
        order = s.order
        D, h, n_equal = s.D, s.h, s.n_equal
        t_new = jnp.where(s.last, t_end, s.t + h)

        upto = rows <= order  # (rows, B)
        y_pred = _weighted(upto.astype(dtype)[:_K], D)
        scale = atol_col + rtol * jnp.abs(y_pred)
        g = jnp.where(rows[1 : MAX_ORDER + 1] <= order, gamma[1:, None], 0.0)
        alpha_o = alpha[order]
        psi = _weighted(g, D, 1) / alpha_o
        cc = h / alpha_o
        refresh = s.need_jac | (jnp.abs(cc / s.c_lu - 1.0) > MAX_C_CHANGE)
        lu_new, c_lu, served = refresh_some(s, go & refresh, t_new, y_pred, cc)
        go = go & (~refresh | served)  # the others wait for a slot

        relax = 2.0 / (1.0 + cc / c_lu)

        def newton_cond(v):
            k, _, _, _, _, converged, stopped, _ = v
            return (k < NEWTON_MAXITER) & jnp.any(go & ~converged & ~stopped)

        def newton_body(v):
            k, y, d, old_norm, rate, converged, stopped, n_iter = v
            active = go & ~converged & ~stopped
            dy = relax * lu.solve(lu_new, cc * f(t_new, y, c) - psi - d)
            dy_norm = _rms(dy / scale)
            has_old = k > 0
            ratio = dy_norm / jnp.where(has_old, old_norm, 1.0)
            rate_k = jnp.where(has_old, jnp.maximum(0.3 * rate, ratio), rate)
            stop = ~jnp.all(jnp.isfinite(dy), axis=0) | (has_old & (dy_norm > 2.0 * old_norm))
            move = active & ~stop
            return (
                k + 1,
                _where(move, y + dy, y),
                _where(move, d + dy, d),
                jnp.where(active, dy_norm, old_norm),
                jnp.where(active, rate_k, rate),
                jnp.where(active, ~stop & (dy_norm * jnp.minimum(1.0, rate_k) <= NEWTON_TOL),
                          converged),
                jnp.where(active, stop, stopped),
                n_iter + active.astype(int),
            )

        newton0 = (jnp.zeros((), int), y_pred, jnp.zeros_like(y_pred), jnp.zeros(B, dtype),
                   jnp.where(refresh, 1.0, s.rate), jnp.zeros(B, bool), jnp.zeros(B, bool),
                   jnp.zeros(B, int))
        _, y_new, d, _, rate, converged, _, n_iter = jax.lax.while_loop(
            newton_cond, newton_body, newton0)

        jac_current = s.jac_current | refresh
        need_jac = ~converged & ~jac_current
        halve = ~converged & jac_current
        safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
        scale_new = atol_col + rtol * jnp.abs(y_new)
        err = _rms(error_const[order] * d / scale_new)
        too_big = converged & (err > 1)
        accept = converged & ~too_big
        shrink = jnp.where(halve, 0.5,
                           jnp.maximum(MIN_FACTOR, safety * err ** (-1.0 / (order + 1.0))))

        def accepted_table():
            """The table, with the differences of the new point for accepted members
            (d = its D^(order + 1))."""
            top = d - _pick(D, order + 1)
            acc = None
            D_acc = [None] * _ROWS
            for r in reversed(range(_ROWS)):
                e = jnp.where(r == order + 1, d, jnp.where(r <= order, D[r], 0.0))
                acc = e if acc is None else acc + e
                D_acc[r] = jnp.where(r == order + 2, top,
                                     jnp.where(r <= order + 1, acc, D[r]))
            return _rows_where(accept, D_acc, D)

        D = _apart(jnp.any(accept), accepted_table, lambda: D)
        n_equal_acc = n_equal + 1
        err_m = jnp.where(order > 1, _rms(error_const[order - 1] * _pick(D, order)
                                           / scale_new), jnp.inf)
        err_p = jnp.where(order < MAX_ORDER, _rms(error_const[order + 1]
                                                   * _pick(D, order + 2) / scale_new),
                          jnp.inf)
        factors = jnp.stack([err_m, err, err_p]) ** (-1.0 / (order + np.arange(3.0)[:, None]))
        adapt = accept & (n_equal_acc >= order + 1)
        grow = jnp.minimum(MAX_FACTOR, safety * jnp.max(factors, axis=0))

        rejected = halve | too_big
        order_next = jnp.where(adapt, order + jnp.argmax(factors, axis=0) - 1, order)
        ratio = jnp.where(adapt, grow, jnp.where(rejected, shrink, 1.0))
        n_equal = jnp.where(accept & ~adapt, n_equal_acc, jnp.where(need_jac, n_equal, 0))
        h_next = h * ratio
        # a next step that would pass t_end ends on it (`bdf_integrate` shortens it when it
        # starts; one rescaling of the table does both)
        t_next = jnp.where(accept, t_new, s.t)
        last = (t_next < t_end) & (t_next + h_next > t_end)
        scaled = adapt | rejected | last
        ratio = jnp.where(last, (t_end - t_next) / h, ratio)
        D = _rows_where(scaled, change_step(D, order_next, ratio), D)
        n_equal = jnp.where(last, 0, n_equal)
        tiny = 10 * jnp.abs(jnp.nextafter(s.t, jnp.inf) - s.t)
        status = jnp.where(rejected & (h_next < tiny), DT_UNDERFLOW, s.status)

        def keep(new, old):
            return _where(go, new, old)

        return s._replace(
            t=keep(t_next, s.t),
            D=_rows_where(go, D, s.D),
            order=keep(order_next, s.order),
            h=keep(jnp.where(last, t_end - t_next, h_next), s.h),
            last=keep(last, s.last),
            n_equal=keep(n_equal, s.n_equal),
            lu=lu_new,
            c_lu=c_lu,
            rate=keep(rate, s.rate),
            need_jac=keep(need_jac, s.need_jac),
            jac_current=keep(~accept & jac_current, s.jac_current),
            steps=s.steps + go.astype(int),
            rejected=s.rejected + (go & ~accept).astype(int),
            status=keep(status, s.status),
            turn=s.turn + 1,
        )

    def body(s):
        s = write(s)
        return attempt(s, running(s) & ~due(s))

    def cond(s):
        return jnp.any(running(s) | due(s))

    final = jax.lax.while_loop(cond, body, init)
    status = jnp.where((final.status == SUCCESS) & (final.t < t_end), MAX_STEPS, final.status)
    ys = final.ys.reshape(B, n_out + 1, n)[:, :n_out]
    return ys, Stats(final.steps, final.rejected, status, final.t, final.D[0])
