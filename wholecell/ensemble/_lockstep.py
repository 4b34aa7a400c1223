"""Parameter ensembles in lock step: one loop over all members, members on the last axis.

`jax.vmap` of a solve puts the batch on the leading axis and turns the model's gathers
into gathers of batch-strided columns. Here the state of a batch is ``(n_state, B)``:
every expression of the model, evaluated on rows of length ``B``, is one contiguous
elementwise loop over the members, which XLA fuses and vectorises (on a CPU the
right-hand side of BIOMD0000000019 costs 0.12-0.36 us per member against 0.9-1.5 us
vmapped; the repressilator's 24 ns against 49).

Each member keeps its own time, step size and output index; an iteration of the loop
writes the outputs each member has passed (from the last step's dense output), then
steps every member that has no output waiting. A member that is done still runs the
step (its result is discarded), as under `vmap`. The step-size control is `integrate`'s,
member by member, so a member's steps and outputs are those of a solve of its own (to
rounding).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..compiler._program import SCALAR_LIMIT, scalar_programs
from ..ode._integrate import (
    DT_UNDERFLOW,
    MAX_STEPS,
    NONFINITE,
    SUCCESS,
    Stats,
    initial_step,
    step_factor,
)
from ..ode._tsit5 import B_ERR, A, C, check_stiffness, dense_output, stiffness_checks_active

#: outputs each member may write per loop iteration (more wait for the next iteration);
#: each write interpolates every member, so one per step is cheapest where steps are
#: longer than output intervals only now and then
OUTPUTS_PER_ITERATION = 1
#: models with more derived values than this run vmapped (the trace grows with them;
#: `_program.SCALAR_LIMIT`, as for vmapped explicit solves)
MAX_DERIVED = SCALAR_LIMIT
#: the fewest members a BDF ensemble runs in lock step with (see `lockstep_applies`)
MIN_BDF_MEMBERS = 16


def lockstep_applies(structure, method: str, members: int = 2) -> bool:
    """Whether ``members`` solves of a model can run in lock step with ``method``: a
    method of `METHODS`, states, no events, delays or fast reactions, and a right-hand
    side of at most `MAX_DERIVED` expressions. BDF runs in lock step from
    `MIN_BDF_MEMBERS` members on (`_lockstep_bdf`): its sparse factors and straight-line
    substitutions take longer to compile (BIOMD0000000019: about 25 s against 6 s), which
    a few members one after another (`_bdf.bdf_integrate`, ~40 ms each) do not repay."""
    prog = structure.rhs_prog
    if method == "bdf" and members < MIN_BDF_MEMBERS:
        return False
    return (method in METHODS and structure.n_state > 0 and structure.events is None
            and not structure.delays and not structure.fast.size
            and prog.size - prog.n_base <= MAX_DERIVED)


class BatchRHS:
    """``rhs(t, x, c)`` on batch-last arrays: ``t (B,)``, ``x (n, B)``, ``c (n_c, B)``.

    The model's expressions are evaluated one by one on rows (`Program._scalar_values`)
    and the stoichiometry is summed per state, with the coefficients known at compile
    time folded in.
    """

    def __init__(self, structure):
        self.structure = st = structure
        coef = np.asarray(st.e_sign * st.e_const, dtype=np.float64)
        terms: list[list[tuple]] = [[] for _ in range(st.n_state)]
        for e, (i, r) in enumerate(zip(st.e_state.tolist(), st.e_rxn.tolist(), strict=True)):
            var = int(st.e_var_pos[e]) if st.any_var and st.e_var[e] else None
            fac = int(st.e_factor_pos[e]) if st.any_factor and st.e_has_factor[e] else None
            terms[i].append((float(coef[e]), float(st.e_sign[e]), int(r), var, fac))
        self.terms = terms
        self.rate_rules = dict(zip(st.rr_state.tolist(), st.rr_pos.tolist(), strict=True))

    def outputs_of_rows(self, t, x_rows, c):
        """The rhs program's outputs (reaction rates, then rate-rule values) as rows, for
        the state as a list of rows (a derivative with respect to some rows then skips
        the expressions that do not depend on them)."""
        B = c.shape[1]
        dtype = x_rows[0].dtype
        base = _Rows([c[i] for i in range(c.shape[0])] + list(x_rows)
                     + [jnp.broadcast_to(t, (B,))], dtype)
        with scalar_programs(True):
            vals = self.structure.rhs_prog._scalar_values(base)
        index = self.structure.rhs_prog.output_index.tolist()
        return [jnp.broadcast_to(vals[i], (B,)) for i in index]

    def __call__(self, t, x, c):
        return jnp.stack(self.state_rows(t, [x[i] for i in range(x.shape[0])], c))

    def state_rows(self, t, x_rows, c):
        """The right-hand side as a list of rows, for the state as a list of rows."""
        out = self.outputs_of_rows(t, x_rows, c)
        zero = jnp.zeros(x_rows[0].shape, x_rows[0].dtype)
        rows = []
        for i in range(self.structure.n_state):
            if i in self.rate_rules:
                rows.append(out[self.rate_rules[i]])
                continue
            acc = None
            for coef, sign, r, var, fac in self.terms[i]:
                v = out[r]
                if fac is not None:
                    v = v * out[fac]
                if var is not None:
                    term = sign * out[var] * v
                else:
                    term = v if coef == 1.0 else (-v if coef == -1.0 else coef * v)
                acc = term if acc is None else acc + term
            rows.append(zero if acc is None else acc)
        return rows

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


class _Rows(list):
    """Rows of a base vector, indexed like the array they stand for."""

    def __init__(self, rows, dtype):
        super().__init__(rows)
        self.dtype = dtype


def batch_rhs_for(structure) -> BatchRHS:
    return structure.cached("batch_rhs", BatchRHS)


# -- Tsitouras 5(4), batch-last ------------------------------------------------------

class Tsit5Batch:
    """Tsit5 (`_explicit.Tsit5`: same stages, error estimate and dense output) on
    batch-last arrays."""

    order = 5

    def init(self, f, t, x, c):
        return f(t, x, c)

    def step(self, f, t0, h, x0, c, f0):
        t1 = t0 + h
        hb = h[None, :]
        ks = [hb * f0]
        y1 = f1 = None
        for i, row in enumerate(A):
            u = x0 + jnp.tensordot(jnp.asarray(row, x0.dtype), jnp.stack(ks), axes=1)
            ci = C[i + 1]
            fi = f(t1 if ci == 1.0 else t0 + ci * h, u, c)
            ks.append(hb * fi)
            if i == len(A) - 1:
                y1, f1 = u, fi
        k = jnp.stack(ks)
        err = jnp.tensordot(jnp.asarray(B_ERR, x0.dtype), k, axes=1)
        return y1, err, (x0, k), f1

    @staticmethod
    def interpolate(dense, theta):
        """diffrax's Tsit5 interpolation (its own coefficients) at fractions
        ``theta (B,)`` of the step, member by member."""
        y0, k = dense

        return jax.vmap(dense_output, in_axes=(1, 2, 0), out_axes=1)(y0, k, theta)


def _where(mask, a, b):
    """``where`` with a member mask ``(B,)`` against arrays whose last axis is B."""
    return jnp.where(mask.reshape((1,) * (jnp.ndim(a) - 1) + mask.shape), a, b)


# -- the loop ------------------------------------------------------------------------


class _State(NamedTuple):
    t: Any  # (B,)
    x: Any  # (n, B)
    dt: Any  # (B,)
    fsal: Any  # the method's carried state (Tsit5: f(t, x))
    t_prev: Any  # (B,) start of the last accepted step
    dense: Any  # the last accepted step's dense output
    steps: Any
    rejected: Any
    status: Any
    i_out: Any  # (B,) the next output to write
    stiff: Any  # (B,) x 2: steps at the stability limit, calm steps (`_tsit5.count_stiff`)
    ys: Any  # (B * (n_out + 1), n): member b's outputs in rows b * (n_out + 1) + i; the
    # last of each member's rows takes its writes when none is due


def _rms0(x):
    return jnp.sqrt(jnp.mean(x * x, axis=0)) if x.shape[0] else jnp.zeros(x.shape[1:], x.dtype)


def lockstep_integrate(method, f, x0, c, t0, ts, *, rtol: float, atol, max_steps: int):
    """Integrate ``B`` members from ``x0 (n, B)`` with constants ``c (n_c, B)``.

    Returns ``ys (B, n_out, n)`` (NaN where a member never reached an output) and
    `Stats` with one entry (or column) per member. Traced under
    `_tsit5.stiffness_checks`, a member whose Tsit5 steps stay at the stability limit
    stops with ``STIFF``.
    """
    dtype = x0.dtype
    n, B = x0.shape
    ts = jnp.asarray(ts, dtype)
    n_out = ts.shape[0]
    t0 = jnp.broadcast_to(jnp.asarray(t0, dtype), (B,))
    t_end = ts[-1]
    exponent = 1.0 / method.order
    # a scalar, one per state, or one per state and member (n, B); rtol: a scalar or a
    # column (n, 1)
    atol_col = jnp.broadcast_to(jnp.asarray(atol, dtype).reshape(
        (-1, 1) if jnp.ndim(atol) == 1 else jnp.shape(atol)), (n, B))
    rtol_col = rtol if isinstance(rtol, float) else jnp.asarray(rtol, dtype).reshape(-1, 1)
    span = jnp.maximum(t_end - t0, 1e-12)
    check_stiff = stiffness_checks_active() and isinstance(method, Tsit5Batch)

    def dt0_of(x, cc, t, s, a):
        return initial_step(lambda tt, xx, a: f(tt[None], xx[:, None], a[:, None])[:, 0],
                            t, x, cc, method.order, rtol_col if isinstance(rtol, float)
                            else rtol_col[:, 0], a, s)

    dt0 = jax.vmap(dt0_of, in_axes=(1, 1, 0, 0, 1))(x0, c, t0, span, atol_col)
    fsal0 = method.init(f, t0, x0, c)
    _, _, dense0, _ = jax.eval_shape(lambda: method.step(f, t0, dt0, x0, c, fsal0))
    dense0 = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), dense0)
    cols = jnp.arange(B)
    init = _State(
        t=t0, x=x0, dt=dt0, fsal=fsal0, t_prev=t0, dense=dense0,
        steps=jnp.zeros(B, int), rejected=jnp.zeros(B, int),
        status=jnp.full(B, SUCCESS, int), i_out=jnp.zeros(B, int),
        stiff=(jnp.zeros(B, int), jnp.zeros(B, int)),
        ys=jnp.full((B * (n_out + 1), n), jnp.nan, dtype),
    )

    def running(s):
        return (s.t < t_end) & (s.status == SUCCESS) & (s.steps < max_steps)

    def due(s):
        """Members whose next output lies at or before their time."""
        t_next = ts[jnp.minimum(s.i_out, n_out - 1)]
        return (s.i_out < n_out) & (t_next <= s.t)

    def write(s):
        pending = due(s)
        t_out = ts[jnp.minimum(s.i_out, n_out - 1)]
        width = s.t - s.t_prev
        theta = jnp.where(width > 0, (t_out - s.t_prev) / jnp.where(width > 0, width, 1.0), 1.0)
        value = _where(t_out == s.t, s.x, method.interpolate(s.dense, theta))
        row = cols * (n_out + 1) + jnp.where(pending, s.i_out, n_out)
        ys = s.ys.at[row].set(value.T, indices_are_sorted=True, unique_indices=True)
        return s._replace(ys=ys, i_out=s.i_out + pending.astype(int))

    def step(s):
        go = running(s) & ~due(s)
        hits_end = s.t + s.dt >= t_end
        t1 = jnp.where(hits_end, t_end, s.t + s.dt)
        t1 = jnp.where(go, t1, s.t + 1e-6 * jnp.maximum(jnp.abs(s.t), 1.0))
        dt = t1 - s.t
        x1, x_err, dense, fsal1 = method.step(f, s.t, dt, s.x, c, s.fsal)
        scale = atol_col + rtol_col * jnp.maximum(jnp.abs(s.x), jnp.abs(x1))
        err = _rms0(x_err / scale)
        finite = jnp.all(jnp.isfinite(x1), axis=0) & jnp.isfinite(err)
        accept = finite & (err <= 1.0)
        factor = step_factor(err, finite, accept, exponent)
        base_dt = jnp.where(accept & hits_end, jnp.maximum(dt, s.dt), dt)
        new_dt = base_dt * factor
        tiny = 1e-14 * jnp.maximum(jnp.abs(s.t), 1.0)
        status = jnp.where(
            ~accept & (new_dt < tiny), jnp.where(finite, DT_UNDERFLOW, NONFINITE), s.status
        )
        take = go & accept
        stiff = s.stiff
        if check_stiff:
            stiff, status = check_stiffness(s.stiff, s.x, x1, dense[1], scale, take, status)

        def pick(a, b):
            return jax.tree_util.tree_map(lambda u, v: _where(take, u, v), a, b)

        return s._replace(
            t=jnp.where(take, t1, s.t),
            x=pick(x1, s.x),
            dt=jnp.where(go, new_dt, s.dt),
            fsal=pick(fsal1, s.fsal),
            t_prev=jnp.where(take, s.t, s.t_prev),
            dense=pick(dense, s.dense),
            steps=s.steps + go.astype(int),
            rejected=s.rejected + (go & ~accept).astype(int),
            status=jnp.where(go, status, s.status),
            stiff=stiff,
        )

    def body(s):
        for _ in range(OUTPUTS_PER_ITERATION):
            s = write(s)
        return step(s)

    def cond(s):
        return jnp.any(running(s) | due(s))

    final = jax.lax.while_loop(cond, body, init)
    status = jnp.where((final.status == SUCCESS) & (final.t < t_end), MAX_STEPS, final.status)
    ys = final.ys.reshape(B, n_out + 1, n)[:, :n_out]
    return ys, Stats(final.steps, final.rejected, status, final.t, final.x)


#: methods that run in lock step, by name (BDF's loop is `_lockstep_bdf.lockstep_bdf`;
#: `_members.solve_members` picks the loop)
METHODS = {"tsit5": Tsit5Batch, "bdf": None}
