"""Stiff ensembles in lock step: `_bdf`'s method for many members on batch-last arrays.

`_bdf.bdf_integrate` steps one trajectory; its branches (a new Jacobian, new factors)
would become selects that always run under `vmap`, so BDF ensembles ran their members
one after another, at about 50 us per attempt on BIOMD0000000019, nearly all of it XLA's
per-operation dispatch. Here every operation of an attempt covers a batch of members
(lanes), as in `_lockstep` for Tsit5:

- a lane holds a member's difference table (rows ``(n, lanes)``) and its order, step
  size, Newton rate, ...; each member takes the attempts (orders, step sizes, Newton
  iterations, refreshes) of its own `bdf_integrate` solve, to rounding;
- a lane whose member has finished takes the next member, so that a batch does not wait
  for its slowest member with most lanes idle;
- ``I - c J`` is factorised on the Jacobian's sparsity pattern (`_sparselu.SparseLU`),
  and the Jacobian comes from one forward derivative per column colour, on rows, so
  that only the expressions that depend on a colour's states are differentiated;
- a new Jacobian and factors are made only for the lanes that need them: up to
  ``refresh_slots`` lanes per iteration are gathered into a small batch (about one
  attempt in ten needs one); a lane that needs one and finds no free slot waits for the
  next iteration, so its member's attempts are unchanged;
- Newton iterates while any lane has not converged (at most three times); lanes that
  have converged keep their values.

BIOMD0000000019 (94 states), 1,000 members on 2 CPU cores: 3.5-4.0 s against 23 s for
libRoadRunner's loop and 21 s for members one after another.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..compiler._jacobian import colour_columns, sparsity_pattern
from ..ode._bdf_tables import (
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
)
from ..ode._integrate import DT_UNDERFLOW, MAX_STEPS, SUCCESS, Stats, initial_step
from ._lockstep import _where, batch_rhs_for
from ._sparselu import SparseLU

#: share of a batch whose Jacobian and factors can be renewed in one iteration
REFRESH_SHARE = 0.12
#: members solved at a time (lanes) by default
LANES = 128


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
    return structure.cached("batch_jacobian", BatchJacobian)


# -- the difference table, member by member ------------------------------------------

_K = MAX_ORDER + 1


def _r_matrix(order, factor):
    """`_bdf_tables.r_matrix` for each member: ``(K, K, B)``."""
    i = np.arange(1.0, _K)[:, None, None]
    j = np.arange(1.0, _K)[None, :, None]
    B = order.shape[0]
    m = jnp.ones((_K, _K, B), factor.dtype)
    m = m.at[1:, 1:].set((i - 1 - factor[None, None, :] * j) / i).at[1:, 0].set(0.0)
    r = jnp.stack(_cumprod([m[k] for k in range(_K)]))
    idx = np.arange(_K)
    keep = (idx[:, None, None] <= order[None, None]) & (idx[None, :, None] <= order[None, None])
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
    """`_bdf_tables.change_step` for each member: ``D``, rows ``(n, B)``."""

    def matrix():
        R, U = _r_matrix(order, factor), _r_matrix(order, jnp.ones_like(factor))
        ru = sum(R[:, j, None, :] * U[None, j, :, :] for j in range(_K))  # (K, K, B)
        above = (np.arange(_K)[:, None] > order[None]).astype(factor.dtype)
        return ru + np.eye(_K)[:, :, None] * above[:, None, :]

    # (a traced test: XLA folds a constant one; step ratios are positive)
    ru = _apart(jnp.any(factor > 0), matrix, lambda: jnp.zeros((_K, _K) + factor.shape,
                                                               factor.dtype))
    # row 0 stays (ru[0, j] = 0 for j >= 1: the columns of R(1) sum to zero)
    rows = [sum(ru[i, j][None] * D[i] for i in range(1, _K)) for j in range(1, _K)]
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
    return sum(jnp.where((k == r)[None], D[r], 0.0) for r in range(len(D)))


def _weighted(weights, D, first: int = 0):
    """``sum_j weights[j] * D[first + j]`` with one weight ``(B,)`` per row."""
    return sum(weights[j][None] * D[first + j] for j in range(len(weights)))


def interpolate(t_out, t, h, order, D):
    """`_bdf_tables.interpolate` for each member."""
    p = _cumprod([(t_out - (t - h * j)) / (h * (1.0 + j)) for j in range(MAX_ORDER)])
    p = [jnp.where(k < order, v, 0.0) for k, v in enumerate(p)]
    return D[0] + _weighted(p, D, 1)


# -- the loop ------------------------------------------------------------------------


class _State(NamedTuple):
    # one entry (or column) per lane
    member: Any  # (L,) the member a lane solves (M: none)
    c: Any  # (n_c, L) its constants
    t: Any
    D: Any  # the difference table: rows (n, L), kept apart (a stacked table is rewritten
    # whole by XLA's concatenations, about 1 ms a pass for 1,000 members of 94 states)
    order: Any
    h: Any
    last: Any  # the next step ends on t_end
    n_equal: Any
    lu: Any  # (n_factors + 2, L): the factors of I - c_lu J
    c_lu: Any
    rate: Any
    need_jac: Any
    jac_current: Any
    fresh: Any  # a new member: its first factors are those of I - h0 J(t0, x0)
    steps: Any
    rejected: Any
    status: Any
    i_out: Any  # the next output to write
    # one entry per member
    ys: Any  # (M * (n_out + 1), n): member m's outputs in rows m * (n_out + 1) + i; the
    # last of each member's rows takes its writes when none is due
    done: Any  # Stats of the members that have finished
    # ()
    next_member: Any  # the first member not yet given a lane
    turn: Any  # iterations so far: where the search for refresh slots starts


def lockstep_bdf(jac: BatchJacobian, x0, c, t0, ts, *, rtol: float, atol, max_steps: int,
                 lanes: int | None = None, refresh_slots: int | None = None):
    """Integrate ``M`` members from ``x0 (n, M)`` with constants ``c (n_c, M)`` by BDF.

    ``lanes`` members (default: all, up to `LANES`) are solved at a time; a lane whose
    member has finished takes the next one, so that lanes do not idle while the members
    with the most steps finish. Returns ``ys (M, n_out, n)`` (NaN where a member never
    reached an output) and `Stats` with one entry (or column) per member; ``steps``
    counts attempts.
    """
    run = _Run(jac, x0, c, t0, ts, rtol, atol, max_steps, lanes, refresh_slots)
    out = jax.lax.while_loop(run.cond, run.body, run.initial_state())
    M, n, n_out, t_end = run.M, run.n, run.n_out, run.t_end
    done = out.done
    status = jnp.where((done.status == SUCCESS) & (done.t_last < t_end), MAX_STEPS, done.status)
    ys = out.ys.reshape(M, n_out + 1, n)[:, :n_out]
    return ys, done._replace(status=status)


class _Run:
    """One lock-step BDF solve: its settings and inputs (set once) and the parts of its
    loop's iteration (`body`: write the outputs that are due, give finished members'
    lanes to the next ones, then one attempt in every running lane)."""

    def __init__(self, jac: BatchJacobian, x0, c, t0, ts, rtol, atol, max_steps: int,
                 lanes: int | None, refresh_slots: int | None):
        f = jac.rhs
        lu = jac.lu
        dtype = x0.dtype
        n, M = x0.shape
        L = max(1, min(M, lanes or LANES))
        ts = jnp.asarray(ts, dtype)
        n_out = ts.shape[0]
        t0 = jnp.asarray(t0, dtype)
        t_end = ts[-1]
        # absolute tolerances per state and member (n, M); rtol a scalar or a column (n, 1)
        atol_mem = jnp.broadcast_to(jnp.asarray(atol, dtype).reshape(
            (-1, 1) if jnp.ndim(atol) == 1 else jnp.shape(atol)), (n, M))
        rtol_vec = None if isinstance(rtol, float) else jnp.asarray(rtol, dtype).reshape(-1)
        rtol_col = rtol if rtol_vec is None else rtol_vec[:, None]
        slots = refresh_slots or max(1, min(L, int(np.ceil(REFRESH_SHARE * L))))
        gamma = jnp.asarray(GAMMA, dtype)
        alpha = jnp.asarray(ALPHA, dtype)
        error_const = jnp.asarray(ERROR_CONST, dtype)
        lane = jnp.arange(L)

        # every member's start: its first step and derivative
        t0s = jnp.broadcast_to(t0, (M,))

        def h0_of(x, cc, t, a):
            return initial_step(lambda tt, xx, a: f(tt[None], xx[:, None], a[:, None])[:, 0],
                                t, x, cc, 1, rtol if rtol_vec is None else rtol_vec, a,
                                jnp.maximum(t_end - t, 1e-12))

        h0 = jax.vmap(h0_of, in_axes=(1, 1, 0, 1))(x0, c, t0s, atol_mem)
        last0 = t0s + h0 > t_end
        h0 = jnp.where(last0, t_end - t0s, h0)
        f0 = f(t0s, x0, c)
        self.jac, self.f, self.lu, self.dtype = jac, f, lu, dtype
        self.n, self.M, self.L, self.ts = n, M, L, ts
        self.n_out, self.t0, self.t_end, self.max_steps = n_out, t0, t_end, max_steps
        self.x0, self.c = x0, c
        self.h0, self.last0, self.f0, self.atol_mem = h0, last0, f0, atol_mem
        self.rtol_col, self.slots, self.lane, self.gamma = rtol_col, slots, lane, gamma
        self.alpha, self.error_const = alpha, error_const

    def start(self, s, new):
        """Lanes ``new`` take the next members (none once all have had one)."""
        M, L, t0, x0 = self.M, self.L, self.t0, self.x0
        c, h0, last0, f0 = self.c, self.h0, self.last0, self.f0
        member = jnp.where(new, s.next_member + jnp.cumsum(new) - 1, s.member)
        member = jnp.where(member < M, member, M)
        m = jnp.minimum(member, M - 1)
        x = x0[:, m]
        zero = jnp.zeros_like(x)
        D = (x, f0[:, m] * h0[m][None]) + (zero,) * (ROWS - 2)

        def put(a, b):
            return _where(new, a, b)

        return s._replace(
            member=member, c=put(c[:, m], s.c), t=put(jnp.broadcast_to(t0, (L,)), s.t),
            D=_rows_where(new, D, s.D), order=put(1, s.order), h=put(h0[m], s.h),
            last=put(last0[m], s.last), n_equal=put(0, s.n_equal), c_lu=put(h0[m], s.c_lu),
            rate=put(1.0, s.rate), need_jac=put(False, s.need_jac),
            jac_current=put(True, s.jac_current), fresh=put(True, s.fresh),
            steps=put(0, s.steps), rejected=put(0, s.rejected),
            status=put(SUCCESS, s.status), i_out=put(0, s.i_out),
            next_member=s.next_member + jnp.sum(new),
        )

    def initial_state(self) -> _State:
        """Every lane empty, then given the first members."""
        lu, dtype, n, M = self.lu, self.dtype, self.n, self.M
        L, n_out, c = self.L, self.n_out, self.c
        zl = jnp.zeros(L, dtype)
        empty = _State(
            member=jnp.full(L, M), c=jnp.zeros((c.shape[0], L), dtype), t=zl,
            D=(jnp.zeros((n, L), dtype),) * ROWS, order=jnp.ones(L, int), h=zl,
            last=jnp.zeros(L, bool), n_equal=jnp.zeros(L, int),
            lu=jnp.zeros((lu.n_factors + 2, L), dtype), c_lu=zl, rate=zl,
            need_jac=jnp.zeros(L, bool), jac_current=jnp.ones(L, bool), fresh=jnp.zeros(L, bool),
            steps=jnp.zeros(L, int), rejected=jnp.zeros(L, int), status=jnp.full(L, SUCCESS),
            i_out=jnp.zeros(L, int), ys=jnp.full((M * (n_out + 1), n), jnp.nan, dtype),
            done=Stats(jnp.zeros(M, int), jnp.zeros(M, int), jnp.full(M, SUCCESS),
                       jnp.zeros(M, dtype), jnp.full((n, M), jnp.nan, dtype)),
            next_member=jnp.zeros((), int), turn=jnp.zeros((), int),
        )
        return self.start(empty, jnp.ones(L, bool))

    def running(self, s):
        M, t_end, max_steps = self.M, self.t_end, self.max_steps
        return (s.member < M) & (s.t < t_end) & (s.status == SUCCESS) & (s.steps < max_steps)

    def due(self, s):
        M, ts, n_out = self.M, self.ts, self.n_out
        t_next = ts[jnp.minimum(s.i_out, n_out - 1)]
        return (s.member < M) & (s.i_out < n_out) & (t_next <= s.t)

    def write(self, s):
        M, ts, n_out, lane = self.M, self.ts, self.n_out, self.lane
        pending = self.due(s)
        t_out = ts[jnp.minimum(s.i_out, n_out - 1)]
        # (at the member's own time, its state: a step of length zero has no polynomial)
        value = _where(t_out == s.t, s.D[0], interpolate(t_out, s.t, s.h, s.order, s.D))
        # lanes without a member write past the end (dropped), each to a row of its own
        row = jnp.where(s.member < M, s.member * (n_out + 1) + jnp.where(pending, s.i_out, n_out),
                        M * (n_out + 1) + lane)
        ys = s.ys.at[row].set(value.T, mode="drop", unique_indices=True)
        return s._replace(ys=ys, i_out=s.i_out + pending.astype(int))

    def finish(self, s):
        """Record the members that have finished and give their lanes the next ones."""
        M = self.M
        over = (s.member < M) & ~self.running(s) & ~self.due(s)
        at = jnp.where(over, s.member, M)  # M: dropped
        d = s.done
        done = Stats(d.steps.at[at].set(s.steps, mode="drop"),
                     d.rejected.at[at].set(s.rejected, mode="drop"),
                     d.status.at[at].set(s.status, mode="drop"),
                     d.t_last.at[at].set(s.t, mode="drop"),
                     d.x_last.at[:, at].set(s.D[0], mode="drop"))
        # the conditional holds the lanes' values only (its results are copies)
        part = s._replace(ys=None, done=None, lu=None)
        part = jax.lax.cond(jnp.any(over), lambda: self.start(part, over), lambda: part)
        return part._replace(ys=s.ys, done=done, lu=s.lu)

    def refresh_some(self, s, want, t_new, y_pred, cc):
        """New factors for up to ``slots`` lanes of ``want``, taken in turn from
        ``s.turn``: the state's factors and ``c_lu`` with theirs, and who got them. A
        fresh lane gets those of its start, as `bdf_integrate` makes them."""
        jac, L, t0, slots = self.jac, self.L, self.t0, self.slots
        shift = (s.turn * slots) % L
        idx = (jnp.nonzero(jnp.roll(want, -shift), size=slots, fill_value=L)[0] + shift)
        idx = jnp.where(idx >= L + shift, L, idx % L)  # L: no lane (dropped below)
        served = jnp.zeros(L, bool).at[idx].set(True, mode="drop")
        take = jnp.minimum(idx, L - 1)

        def renew():
            fresh = s.fresh[take]
            at_t = jnp.where(fresh, t0, t_new[take])
            at_y = _where(fresh, s.D[0][:, take], y_pred[:, take])
            at_c = jnp.where(fresh, s.c_lu[take], cc[take])
            Z = jac.factors(at_t, at_y, s.c[:, take], at_c)
            return (s.lu.at[:, idx].set(Z, mode="drop"),
                    s.c_lu.at[idx].set(at_c, mode="drop"))

        lu_new, c_lu = jax.lax.cond(jnp.any(want), renew, lambda: (s.lu, s.c_lu))
        return lu_new, c_lu, served

    def newton(self, s, go, t_new, y_pred, psi, cc, lu_new, c_lu, scale, refresh):
        """The corrector's Newton iterations on the lanes ``go``, while any has not
        converged (at most `NEWTON_MAXITER`): the new point, its difference ``d`` from the
        prediction, the rate, whether it converged and the iterations it took."""
        f, lu, dtype, L = self.f, self.lu, self.dtype, self.L
        relax = 2.0 / (1.0 + cc / c_lu)

        def newton_cond(v):
            k, _, _, _, _, converged, stopped, _ = v
            return (k < NEWTON_MAXITER) & jnp.any(go & ~converged & ~stopped)

        def newton_body(v):
            k, y, d, old_norm, rate, converged, stopped, n_iter = v
            active = go & ~converged & ~stopped
            dy = relax[None] * lu.solve(lu_new, cc[None] * f(t_new, y, s.c) - psi - d)
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

        newton0 = (jnp.zeros((), int), y_pred, jnp.zeros_like(y_pred), jnp.zeros(L, dtype),
                   jnp.where(refresh, 1.0, s.rate), jnp.zeros(L, bool), jnp.zeros(L, bool),
                   jnp.zeros(L, int))
        _, y_new, d, _, rate, converged, _, n_iter = jax.lax.while_loop(
            newton_cond, newton_body, newton0)
        return y_new, d, rate, converged, n_iter


    def attempt(self, s, go):
        """One BDF attempt in each lane of ``go``: predict, renew factors where needed (up
        to `slots` lanes), correct by Newton, then accept or reject and choose the next
        order and step size."""
        dtype, M = self.dtype, self.M
        t_end, atol_mem, rtol_col = self.t_end, self.atol_mem, self.rtol_col
        gamma, alpha, error_const = self.gamma, self.alpha, self.error_const
        order = s.order
        D, h, n_equal = s.D, s.h, s.n_equal
        t_new = jnp.where(s.last, t_end, s.t + h)

        y_pred = _weighted([(j <= order).astype(dtype) for j in range(_K)], D)
        atol_col = atol_mem[:, jnp.minimum(s.member, M - 1)]  # the lanes' members'
        scale = atol_col + rtol_col * jnp.abs(y_pred)
        g = [jnp.where(j <= order, gamma[j], 0.0) for j in range(1, MAX_ORDER + 1)]
        alpha_o = alpha[order]
        psi = _weighted(g, D, 1) / alpha_o[None]
        cc = h / alpha_o
        refresh = s.fresh | s.need_jac | (jnp.abs(cc / s.c_lu - 1.0) > MAX_C_CHANGE)
        lu_new, c_lu, served = self.refresh_some(s, go & refresh, t_new, y_pred, cc)
        go = go & (~refresh | served)  # the others wait for a slot

        y_new, d, rate, converged, n_iter = self.newton(s, go, t_new, y_pred, psi, cc, lu_new,
                                                        c_lu, scale, refresh)

        jac_current = s.jac_current | refresh
        need_jac = ~converged & ~jac_current
        halve = ~converged & jac_current
        safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter.astype(dtype))
        scale_new = atol_col + rtol_col * jnp.abs(y_new)
        err = _rms(error_const[order][None] * d / scale_new)
        too_big = converged & (err > 1)
        accept = converged & ~too_big
        order_f = order.astype(dtype)
        shrink = jnp.where(halve, 0.5,
                           jnp.maximum(MIN_FACTOR, safety * err ** (-1.0 / (order_f + 1.0))))

        def accepted_table():
            """The table, with the differences of the new point for accepted members
            (d = its D^(order + 1))."""
            top = d - _pick(D, order + 1)
            acc = None
            D_acc = [None] * ROWS
            for r in reversed(range(ROWS)):
                e = _where(r == order + 1, d, _where(r <= order, D[r], 0.0))
                acc = e if acc is None else acc + e
                D_acc[r] = _where(r == order + 2, top, _where(r <= order + 1, acc, D[r]))
            return _rows_where(accept, D_acc, D)

        D = _apart(jnp.any(accept), accepted_table, lambda: D)
        n_equal_acc = n_equal + 1
        err_m = jnp.where(order > 1, _rms(error_const[order - 1][None] * _pick(D, order)
                                           / scale_new), jnp.inf)
        err_p = jnp.where(order < MAX_ORDER, _rms(error_const[order + 1][None]
                                                   * _pick(D, order + 2) / scale_new),
                          jnp.inf)
        exponents = -1.0 / (order_f[None] + np.arange(3.0)[:, None])
        factors = jnp.stack([err_m, err, err_p]) ** exponents
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
            fresh=s.fresh & ~served,
            turn=s.turn + 1,
        )

    def body(self, s):
        s = self.write(s)
        s = self.finish(s)
        return self.attempt(s, self.running(s) & ~self.due(s))

    def cond(self, s):
        return jnp.any(s.member < self.M)
