"""The adaptive time-stepping loop that drives diffrax solvers.

diffrax provides the methods (a solver's `step` and its dense interpolation); this
loop adds what SBML simulation needs on top: output exactly at requested times,
discontinuities the solver must stop at, and (through `Hooks`) event detection by
root finding on the dense output and state changes between steps. It is a pure
function of arrays, so it runs under `jit`, `vmap` and (checkpointed) `grad`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp

from .._status import MESSAGES as MESSAGES
from .._status import Status
from ._tsit5 import check_stiffness, stiffness_checks_active

if TYPE_CHECKING:  # diffrax loads when a solve is traced, not with wholecell
    import diffrax

# Result codes (per trajectory, so one failure does not abort a batch): `Status`.
SUCCESS = Status.SUCCESS.value
MAX_STEPS = Status.MAX_STEPS.value
DT_UNDERFLOW = Status.DT_UNDERFLOW.value
NONFINITE = Status.NONFINITE.value
EVENT_OVERFLOW = Status.EVENT_OVERFLOW.value
STIFF = Status.STIFF.value


class Stats(NamedTuple):
    steps: jnp.ndarray
    rejected: jnp.ndarray
    status: jnp.ndarray
    t_last: jnp.ndarray
    x_last: jnp.ndarray


class Hooks(eqx.Module):
    """What a model adds to the loop (events, delays); the default adds nothing.

    - `init(t0, x0, args, template)`: the hooks' own state (``template`` is the
      interpolation of one step, for shapes).
    - `at_start(t0, x0, args, hstate)`: (x0, hstate, status) after what happens at t0.
    - `step_args(args, hstate)`: the ``args`` the vector field sees (e.g. with history).
    - `next_stop(t, hstate)`: a time the next step must end at (a delayed event).
    - `max_step(hstate)`: the largest step allowed.
    - `after_step(interp, t0, t1, x1, args, hstate, accept, at_stop)`: (t_end, x,
      hstate, jumped, status) after a step; it may cut the step at a trigger time and
      change the state there. Its result is kept only where ``accept`` (a traced bool, or
      None: accepted) holds; a hook may skip its work elsewhere. ``at_stop``: the step
      ended on a stop (`next_stop`, an output time with ``stop_at_outputs``, the end).
    - `save(t, x, args, hstate)`: the vector stored at an output time.
    - `final(x, hstate)`: the state reported as ``Stats.x_last``.
    """

    def init(self, t0, x0, args, template):
        return ()

    def at_start(self, t0, x0, args, hstate):
        return x0, hstate, jnp.array(SUCCESS)

    def step_args(self, args, hstate):
        return args

    def next_stop(self, t, hstate):
        return jnp.inf

    def max_step(self, hstate):
        return jnp.inf

    def after_step(self, interp, t0, t1, x1, args, hstate, accept=None, at_stop=None):
        return t1, x1, hstate, jnp.array(False), jnp.array(SUCCESS)

    def save(self, t, x, args, hstate):
        return x

    def final(self, x, hstate):
        return x


class _State(NamedTuple):
    t: Any
    x: Any
    dt: Any
    solver_state: Any
    made_jump: Any
    interp: Any  # the dense output of the last accepted step
    steps: Any
    rejected: Any
    status: Any
    estate: Any
    stiff: Any  # steps at the stability limit, calm steps (`_tsit5.count_stiff`)


#: Memory for the states saved by reverse-mode (checkpointed) loops, all outputs together.
#: Writing the saved states costs time too: BIOMD0000000019's BDF gradient, when it ran a
#: loop per output interval (13 states saved in each), took 0.33 s with 96 MiB and
#: 0.43 s with 256.
CHECKPOINT_BYTES = 96 * 2**20


def checkpoints_for(carry, n_outputs: int, max_steps: int) -> int:
    """How many states each output interval's checkpointed loop saves.

    equinox's default, O(sqrt(max_steps)) (446 for 100,000 steps), is kept while the saved
    states of all ``n_outputs`` intervals fit in `CHECKPOINT_BYTES`; a large carry (BDF's
    LU factors) gets fewer, down to 2, at the price of recomputed steps. On
    BIOMD0000000019 (101 outputs) BDF's gradient took 9.3 s with 446 and 0.65-0.8 s with
    10-20 checkpoints, when its carry also held the Jacobian.
    """
    size = sum(leaf.size * leaf.dtype.itemsize for leaf in jax.tree_util.tree_leaves(carry))
    default = int(math.floor(-1.5 + math.sqrt(2 * max_steps + 0.25))) + 1
    fitting = CHECKPOINT_BYTES // max(n_outputs * size, 1)
    return int(min(max(fitting, 2), default, max(max_steps, 1)))


def _rms(x):
    """Root mean square; its derivative at zero is taken as zero (not 0 / 0)."""
    if not x.size:
        return jnp.zeros((), x.dtype)
    ms = jnp.mean(x * x)
    pos = ms > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, ms, 1.0)), 0.0)


def step_factor(err, finite, accept, exponent):
    """The next step size over this one, from the error norm ``err`` (elementwise, so
    for one trajectory or a batch): ``0.9 err^-exponent`` within [0.2, 10], at most 0.9
    after a rejected step, 0.2 after a non-finite one. Differentiable where it is
    smooth: the guarded branches (zero or non-finite error) get no derivative, not NaN."""
    usable = finite & (err > 0)
    safe = jnp.where(usable, err, 1.0)
    factor = jnp.clip(0.9 * safe**-exponent, 0.2, 10.0)
    factor = jnp.where(usable, factor, jnp.where(finite, 10.0, 0.2))
    return jnp.where(accept, factor, jnp.minimum(factor, 0.9))


def initial_step(rhs, t0, x0, args, order, rtol, atol, t_span):
    """Hairer, Norsett & Wanner's starting step size (Solving ODEs I, II.4)."""
    scale = atol + rtol * jnp.abs(x0)
    f0 = rhs(t0, x0, args)
    d0 = _rms(x0 / scale)
    d1 = _rms(f0 / scale)
    # every guarded quotient and power takes a safe argument in its unused branch, so that
    # the step size is differentiable (it is part of the computed solution) without NaN
    small = (d0 < 1e-5) | (d1 < 1e-5)
    h0 = jnp.where(small, 1e-6, 0.01 * d0 / jnp.where(small, 1.0, d1))
    h0 = jnp.minimum(h0, t_span)
    x1 = x0 + h0 * f0
    f1 = rhs(t0 + h0, x1, args)
    d2 = _rms((f1 - f0) / scale) / h0
    d12 = jnp.maximum(d1, d2)
    flat = ~(d12 > 1e-15)
    h1 = jnp.where(
        flat,
        jnp.maximum(1e-6, h0 * 1e-3),
        (0.01 / jnp.where(flat, 1.0, d12)) ** (1.0 / (order + 1)),
    )
    h = jnp.minimum(100 * h0, h1)
    h = jnp.where(jnp.isfinite(h) & (h > 0), h, 1e-6 * jnp.maximum(t_span, 1.0))
    return jnp.minimum(h, t_span)


def integrate(
    solver: diffrax.AbstractSolver,
    rhs,
    x0,
    t0,
    ts,
    args,
    *,
    rtol: float,
    atol,
    max_steps: int,
    hooks: Hooks | None = None,
    dt0=None,
    adjoint: str = "checkpointed",
    dt_max=jnp.inf,
    stop_at_outputs: bool = False,
    differentiate_steps: bool = True,
    jump_ts=None,
):
    """Integrate dx/dt = rhs(t, x, args) from (t0, x0), returning x at each of ``ts``.

    ``ts`` must be sorted and start at or after ``t0``. With ``stop_at_outputs`` every
    step ends at or before the next output time. ``differentiate_steps``: the step sizes
    (chosen from the error estimates) are differentiated with the solution; False holds
    them constant, for a right-hand side with switches, where the computed solution is
    not smooth in the parameters. ``jump_ts`` (an array, in any order) are times where
    the right-hand side switches: as diffrax's ``jump_ts``, a step ends on the float
    before each and the next starts on the float after it, with the solver's carried
    stage recomputed; the step's end follows the switch time in differentiation, so a
    switch time that depends on the parameters gets its derivative. Traced under
    `_tsit5.stiffness_checks`, a `Tsit5` solve whose steps stay at the stability limit
    stops with ``STIFF``. Returns (ys, Stats).
    """
    import diffrax

    from ._explicit import Tsit5

    hold = (lambda v: v) if differentiate_steps else jax.lax.stop_gradient
    hooks = hooks or Hooks()
    term = diffrax.ODETerm(rhs)
    ts = jnp.asarray(ts, dtype=x0.dtype)
    t0 = jnp.asarray(t0, dtype=x0.dtype)
    t_end = ts[-1]
    order = solver.order(term) or 4
    exponent = 1.0 / order
    check_stiff = stiffness_checks_active() and isinstance(solver, Tsit5)

    init = _initial_state(solver, term, hooks, rhs, x0, t0, t_end, args, order, rtol, atol,
                          dt0, dt_max, hold)

    def running(s: _State, t_out):
        return (s.t < t_out) & (s.status == SUCCESS) & (s.steps < max_steps)

    checkpoints = checkpoints_for(init, ts.shape[0], max_steps)

    def step(s: _State, t_out) -> _State:
        sargs = hooks.step_args(args, s.estate)
        dt_cap = jnp.minimum(dt_max, hooks.max_step(s.estate))
        t_stop = jnp.minimum(t_end, hooks.next_stop(s.t, s.estate))
        if stop_at_outputs:
            # Steps end on output times: events cannot hide between two outputs.
            t_stop = jnp.minimum(t_stop, t_out)
        t_jump, next_jump = _next_jump(s.t, jump_ts)
        t_stop = jnp.minimum(t_stop, t_jump)
        hits_stop = s.t + jnp.minimum(s.dt, dt_cap) >= t_stop
        t1 = jnp.where(hits_stop, t_stop, s.t + jnp.minimum(s.dt, dt_cap))
        # Under vmap the body also runs for trajectories that are done (their result is
        # discarded); a zero step there makes implicit methods divide by zero, and the
        # zero cotangent of the discarded result times that infinity is NaN in `grad`.
        done = ~running(s, t_out)
        t1 = jnp.where(done, s.t + 1e-6 * jnp.maximum(jnp.abs(s.t), 1.0), t1)
        dt = t1 - s.t
        x1, x_err, dense, sstate, _ = solver.step(
            term, s.t, t1, s.x, sargs, s.solver_state, s.made_jump
        )
        scale = atol + rtol * jnp.maximum(jnp.abs(s.x), jnp.abs(x1))
        err = hold(_rms(x_err / scale) if x_err is not None else jnp.zeros(()))
        finite = jnp.all(jnp.isfinite(x1)) & jnp.isfinite(err)
        accept = finite & (err <= 1.0)
        factor = step_factor(err, finite, accept, exponent)
        # A step cut short to land on a stop time must not shrink the next one.
        base_dt = jnp.where(accept & hits_stop, jnp.maximum(dt, s.dt), dt)
        new_dt = base_dt * factor

        interp = solver.interpolation_cls(t0=s.t, t1=t1, **dense)
        t_after, x_after, estate, jumped, ev_status = hooks.after_step(
            interp, s.t, t1, x1, sargs, s.estate, accept=accept & ~done, at_stop=hits_stop
        )

        def pick(a, b):
            return jax.tree_util.tree_map(lambda u, v: jnp.where(accept, u, v), a, b)

        tiny = 1e-14 * jnp.maximum(jnp.abs(s.t), 1.0)
        status = jnp.where(
            ~accept & (new_dt < tiny), jnp.where(finite, DT_UNDERFLOW, NONFINITE), s.status
        )
        status = jnp.where(accept & (ev_status != SUCCESS), ev_status, status)
        stiff = s.stiff
        if check_stiff:
            stiff, status = check_stiffness(s.stiff, s.x, x1, dense["k"], scale,
                                            accept & ~done, status)
        # A step that ended before a switch (and was not cut short by an event) is
        # followed by one from just after it, on the new branch: the solver's carried
        # stage (FSAL) is stale there.
        crossed = hits_stop & (t1 == t_jump) & (t_after == t1)
        t_after = jnp.where(crossed, eqxi.nextafter(next_jump), t_after)
        return _State(
            t=jnp.where(accept, t_after, s.t),
            x=pick(x_after, s.x),
            dt=new_dt,
            solver_state=pick(sstate, s.solver_state),
            made_jump=jnp.where(accept, jumped | crossed, s.made_jump),
            interp=pick(interp, s.interp),
            steps=s.steps + 1,
            rejected=s.rejected + jnp.where(accept, 0, 1),
            status=status,
            estate=pick(estate, s.estate),
            stiff=stiff,
        )

    def advance(s: _State, t_out):
        """Step until the solution reaches ``t_out``; the value there."""
        s = eqxi.while_loop(
            lambda s: running(s, t_out), lambda s: step(s, t_out), s,
            max_steps=max_steps, kind=_loop_kind(adjoint), checkpoints=checkpoints,
        )
        # The last accepted step spans t_out unless it ended exactly there, where the
        # state after what happened at that time (events) is the output.
        x_out = jnp.where(s.t == t_out, s.x, s.interp.evaluate(t_out))
        y = hooks.save(t_out, x_out, hooks.step_args(args, s.estate), s.estate)
        return s, jnp.where(s.t >= t_out, y, jnp.nan)

    # The outer loop is over output times: its carry holds no output buffer, which a
    # batched (vmapped) while loop would otherwise copy on every step.
    final, ys = jax.lax.scan(advance, init, ts)
    status = jnp.where((final.status == SUCCESS) & (final.t < t_end), MAX_STEPS, final.status)
    return ys, Stats(final.steps, final.rejected, status, final.t,
                     hooks.final(final.x, final.estate))


def _initial_state(solver, term, hooks: Hooks, rhs, x0, t0, t_end, args, order: int, rtol,
                   atol, dt0, dt_max, hold) -> _State:
    """The loop's state at ``t0``: the hooks' state (events), the first step size and the
    solver's state, with a placeholder dense output of the solver's shape."""

    def one_step(t, x, a):
        _, _, dense, _, _ = solver.step(term, t, t + 1.0, x, a, solver.init(term, t, t + 1.0, x, a),
                                        False)
        return solver.interpolation_cls(t0=t, t1=t + 1.0, **dense)

    template = jax.eval_shape(one_step, t0, x0, args)
    template = jax.tree_util.tree_map(lambda a: jnp.zeros(a.shape, a.dtype), template)
    estate = hooks.init(t0, x0, args, template)
    x0, estate, status0 = hooks.at_start(t0, x0, args, estate)
    args0 = hooks.step_args(args, estate)
    if dt0 is None:
        dt0 = initial_step(rhs, t0, x0, args0, order, rtol, atol, jnp.maximum(t_end - t0, 1e-12))
    # Step sizes depend smoothly on the parameters (through the error estimates) and are
    # differentiated with the rest: the gradient is then the derivative of the computed
    # solution, which finite differences of it converge to. Held constant, their part is
    # missing (2.3% of a component of Lucarelli_CellSystems2018's gradient at rtol 1e-8).
    # Not where the right-hand side switches (a piecewise rate): a step across a switch
    # makes the solution jump with the step sequence, and the derivative along one
    # sequence is then no derivative of the objective (Beer_MolBioSystems2014: 811
    # against central differences of order 1).
    dt0 = hold(jnp.minimum(jnp.minimum(dt0, dt_max), hooks.max_step(estate)))
    solver_state = solver.init(term, t0, t0 + dt0, x0, args0)
    # A placeholder dense output over [t0, t0 + 1] (never read before the first step;
    # a non-empty interval keeps its evaluation finite under `grad`).
    interp0 = eqx.tree_at(lambda i: (i.t0, i.t1), template, (t0, t0 + 1.0))

    return _State(
        t=t0,
        x=x0,
        dt=jnp.asarray(dt0, x0.dtype),
        solver_state=solver_state,
        made_jump=jnp.array(False),
        interp=interp0,
        steps=jnp.array(0),
        rejected=jnp.array(0),
        status=status0,
        estate=estate,
        stiff=(jnp.array(0), jnp.array(0)),
    )


def _next_jump(t, jump_ts):
    """(the float before the first switch after ``t``, that switch); (inf, inf) if none.

    A switch whose float before is ``t`` itself (a step ended there without crossing it,
    which only an event or output on that very float can cause) is passed over.
    """
    if jump_ts is None or jump_ts.shape[0] == 0:
        inf = jnp.asarray(jnp.inf, t.dtype)
        return inf, inf
    jump_ts = jnp.asarray(jump_ts, t.dtype)
    before = eqxi.prevbefore(jump_ts)  # its derivative is that of the switch time
    ahead = before > t
    k = jnp.argmin(jnp.where(ahead, jump_ts, jnp.inf))
    found = ahead[k]
    return (jnp.where(found, before[k], jnp.inf), jnp.where(found, jump_ts[k], jnp.inf))


def _loop_kind(adjoint: str) -> str:
    return "checkpointed" if adjoint == "checkpointed" else "lax"
