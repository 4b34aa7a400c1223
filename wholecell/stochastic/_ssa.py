"""Exact stochastic simulation (Gillespie's direct method) on the compiled model.

The propensity of each reaction is its kinetic law evaluated on molecule amounts, as
the SBML stochastic interpretation prescribes (the same `rates` the ODE uses).

An ensemble runs in `run_lanes`: a fixed number of *lanes* advance side by side, one
action per lane and iteration (fire a reaction, move to an event or an output time, or
record an output), and a lane whose trajectory is finished takes the next one. So the
batch does not idle while the longest trajectories finish, and the outputs are written
by a scatter into one buffer instead of being carried (and `select`ed) per trajectory.
Each trajectory draws only from its own key, so its numbers do not depend on the lane
it ran in, the lane count or the chunking. Without events, each step first tries a few
reactions that pass no output (`ssa_fire`), so the costs of a step (recording,
selecting, counting) are shared by several reactions, with the same numbers.

Memorylessness keeps this exact: the time to the next reaction is redrawn whenever a
lane stops short of it (at an output time or an event), which has the same law as
keeping the old draw. Events are exact too: with the state constant between reactions,
a trigger's firing time is found by bisection in time alone.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._status import Status
from ..ode._integrate import EVENT_OVERFLOW, MAX_STEPS, NONFINITE, SUCCESS

#: status: a propensity was negative or NaN
BAD_PROPENSITY = Status.BAD_PROPENSITY.value
#: trajectories in flight at once in `run_lanes` (at most the chunk)
LANES = 512
#: the narrowest batch the lanes are packed into at the end of an ensemble
MIN_LANES = 32
#: up to this many reactions, propensity sums are unrolled into scalar operations
UNROLL_REACTIONS = 32
#: outputs one SSA step may pass (and record) before it must stop and redraw
OUTPUTS_PER_STEP = 4
#: steps each lane takes between two turn-overs (a finished lane waits for the next)
STEPS_PER_TURN = 16
#: reactions an SSA step may fire (without events): the first ones by `ssa_fire`, which
#: only fires, then the general `ssa_step`
FIRES_PER_STEP = 6
#: the share of the lanes that must be done before they turn over (each turn-over
#: gathers and scatters whole lanes)
TURN_SHARE = 1 / 32


class SSAStats(NamedTuple):
    events: Any  # reactions fired
    status: Any
    t_last: Any
    x_last: Any


class ConstantInterpolation(eqx.Module):
    """The state between two reactions: constant."""

    x: jax.Array

    def evaluate(self, t0, t1=None, left: bool = True):
        return self.x if t1 is None else jnp.zeros_like(self.x)


class Lane(NamedTuple):
    """One trajectory in flight (a batch of them in `run_lanes`)."""

    t: Any
    x: Any
    key: Any
    i_out: Any  # the next output to record
    n: Any  # reactions (or leaps) so far
    status: Any
    aux: Any  # method-specific (constants, event state, ...)


def _select(pred, a, b):
    """``a`` where ``pred`` (one bool per lane, leading axis), else ``b``, leaf by leaf."""

    def pick(u, v):
        return jnp.where(jnp.reshape(pred, pred.shape + (1,) * (u.ndim - pred.ndim)), u, v)

    return jax.tree_util.tree_map(pick, a, b)


def run_lanes(
    init: Lane,
    step: Callable[[Lane], tuple[Lane, Any]],
    ts,
    n_valid,
    max_steps: int,
    lanes: int | None = None,
    refill: Callable[[Lane], Lane] | None = None,
    fire: Callable[[Lane, Any, int], Lane] | None = None,
    batched_step: bool = False,
) -> tuple[jax.Array, SSAStats]:
    """Run every trajectory of ``init`` (a batch of `Lane`s) to its last output time.

    ``step(lane) -> (lane, values)`` advances one trajectory by one action and counts
    the outputs it passed in ``lane.i_out`` (at most k); ``values`` (k, n_state) holds
    the values of the outputs ``lane.i_out + range(k)`` (the old ``i_out``), of which
    those passed are recorded. A trajectory ends when all outputs are recorded, its
    status is not SUCCESS, or ``max_steps`` steps are taken. Only the first ``n_valid``
    are run (the rest of a padded chunk stays NaN). Returns the outputs (N, n_out, n_state) and
    the per-trajectory `SSAStats`.

    The lanes take `STEPS_PER_TURN` steps between two turn-overs (a lane that finishes
    meanwhile waits); ``refill(lane)``, when given, prepares each lane for them (the
    SSA draws their uniforms in one batch). When no trajectory is left to start, the
    lanes still running are packed into a batch an eighth as wide, so the longest
    trajectories do not keep the whole batch busy.

    ``fire(lanes, ok, max_steps) -> lanes``, when given, runs before each ``step`` on
    the whole batch: cheaper actions that may only advance the lanes that are ``ok``
    (running), without passing an output or taking more than ``max_steps`` steps, so
    that the per-step costs (recording, selecting, counting) are shared by several
    reactions. With ``batched_step``, ``step`` takes and returns the whole batch (values
    (lanes, k, n_state)) instead of one lane.
    """
    ts = jnp.asarray(ts)
    N, n_out = init.t.shape[0], ts.shape[0]
    if lanes is None:
        lanes = LANES if jax.default_backend() == "cpu" else N
    n_valid = jnp.asarray(n_valid)
    ys = jnp.full((N * n_out,) + init.x.shape[1:], jnp.nan, init.x.dtype)  # flat rows
    stats = SSAStats(
        jnp.zeros(N, init.n.dtype), jnp.full(N, MAX_STEPS, init.status.dtype),
        jnp.zeros(N, init.t.dtype), jnp.zeros_like(init.x),
    )
    vstep = step if batched_step else jax.vmap(step)
    vrefill = jax.vmap(refill) if refill is not None else (lambda lane: lane)

    def finished(lane: Lane):
        return (lane.i_out >= n_out) | (lane.status != SUCCESS) | (lane.n >= max_steps)

    def turn_over(carry):
        """Finished lanes hand in their stats and take the next trajectories."""
        lane, idx, nxt, stats = carry
        done = (idx < N) & finished(lane)
        at = jnp.where(done, idx, N)
        status = jnp.where((lane.status == SUCCESS) & (lane.i_out < n_out), MAX_STEPS,
                           lane.status)
        stats = SSAStats(
            stats.events.at[at].set(lane.n, mode="drop"),
            stats.status.at[at].set(status, mode="drop"),
            stats.t_last.at[at].set(lane.t, mode="drop"),
            stats.x_last.at[at].set(lane.x, mode="drop"),
        )
        new = nxt + jnp.cumsum(done) - 1
        take = done & (new < n_valid)
        fresh = jax.tree_util.tree_map(lambda a: a[jnp.clip(new, 0, N - 1)], init)
        lane = _select(take, fresh, lane)
        idx = jnp.where(done, jnp.where(take, new, N), idx)
        return lane, idx, jnp.minimum(nxt + jnp.sum(done), n_valid), stats

    def maybe_turn_over(lane, idx, nxt, stats):
        """`turn_over` once `TURN_SHARE` of the lanes (or all still running) are done."""
        running = idx < N
        done = jnp.sum(running & finished(lane))
        least = jnp.minimum(max(1, int(TURN_SHARE * idx.shape[0])), jnp.sum(running))
        return jax.lax.cond((done > 0) & (done >= least), turn_over, lambda c: c,
                            (lane, idx, nxt, stats))

    def advance(idx, lane, ys):
        """One step of every running lane; a finished one waits for its turn-over."""
        if fire is not None:
            lane = fire(lane, (idx < N) & ~finished(lane), max_steps)
        active = (idx < N) & ~finished(lane)
        new, vals = vstep(lane)
        new = _select(active, new, lane)
        k = jnp.arange(vals.shape[1])[None, :]
        row = idx[:, None] * n_out + lane.i_out[:, None] + k
        at = jnp.where(k < (new.i_out - lane.i_out)[:, None], row, N * n_out)
        return new, ys.at[at].set(vals, mode="drop")

    def body(carry):
        lane, idx, nxt, ys, stats = carry
        lane, ys = jax.lax.fori_loop(
            0, STEPS_PER_TURN, lambda _, c: advance(idx, *c), (vrefill(lane), ys))
        lane, idx, nxt, stats = maybe_turn_over(lane, idx, nxt, stats)
        return lane, idx, nxt, ys, stats

    W = min(lanes, N)
    first = jnp.arange(W)
    lane = jax.tree_util.tree_map(lambda a: a[:W], init)
    idx = jnp.where(first < n_valid, first, N)  # N: an idle lane
    lane, idx, nxt, stats = maybe_turn_over(lane, idx, jnp.minimum(W, n_valid), stats)
    carry = (lane, idx, nxt, ys, stats)
    for narrower in (W // 8 if W >= 8 * MIN_LANES else 0, 0):

        def cond(carry, narrower=narrower):
            _, idx, nxt, _, _ = carry
            running = jnp.sum(idx < N)
            return (running > 0) & ((nxt < n_valid) | (running > narrower))

        carry = jax.lax.while_loop(cond, body, carry)
        if not narrower:
            break
        lane, idx, nxt, ys, stats = carry
        keep = jnp.argsort(idx)[:narrower]  # the running lanes first
        lane = jax.tree_util.tree_map(lambda a, keep=keep: a[keep], lane)
        carry = (lane, idx[keep], nxt, ys, stats)
    return carry[3].reshape((N, n_out) + init.x.shape[1:]), carry[4]


# -- the direct method --------------------------------------------------------------


def _threefry2x32(key, x0, x1):
    """The Threefry-2x32 hash (20 rounds, as `jax.random`), unrolled into one kernel."""
    k0, k1 = key[0], key[1]
    ks = (k0, k1, k0 ^ k1 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in ((13, 15, 26, 6), (17, 29, 16, 24))[i % 2]:
            x0 = x0 + x1
            x1 = (x1 << jnp.uint32(r)) | (x1 >> jnp.uint32(32 - r))
            x1 = x1 ^ x0
        x0 = x0 + ks[(i + 1) % 3]
        x1 = x1 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    return x0, x1


def _uniform2(key, counter):
    """Two uniforms in [0, 1) from the trajectory's key and its draw counter."""
    block = counter.astype(jnp.uint32)

    def unit(hi, lo):  # 52 random bits as a double in [0, 1)
        word = (hi.astype(jnp.uint64) << jnp.uint64(32)) | lo.astype(jnp.uint64)
        mant = (word >> jnp.uint64(12)) | jnp.uint64(0x3FF0000000000000)
        return jax.lax.bitcast_convert_type(mant, jnp.float64) - 1.0

    u0 = unit(*_threefry2x32(key, block, jnp.uint32(0)))
    u1 = unit(*_threefry2x32(key, block, jnp.uint32(1)))
    return u0, u1


class _SSAAux(NamedTuple):
    c: Any  # time-constant values
    estate: Any  # event state, or ()
    draws: Any  # random draws so far (the counter of the trajectory's stream)
    first: Any  # the draw counter when ``u`` was drawn
    u: Any  # (draws per turn, 2): the uniforms of draws ``first``, ``first + 1``, ...
    current: Any  # (2,): the uniforms of draw ``draws``, where `_fire_rows` left them


def ssa_init(structure, hooks, p, t0, key) -> Lane:
    """The `Lane` of one SSA trajectory at ``t0`` (events at the start applied)."""
    t0 = jnp.asarray(t0, jnp.float64)
    x0, c = structure.initial(p, t0)
    status = jnp.array(SUCCESS)
    estate: Any = ()
    if hooks is not None:
        estate = hooks.init(t0, x0, c, ConstantInterpolation(x0))
        x0, estate, status = hooks.at_start(t0, x0, c, estate)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return Lane(t0, x0, key, jnp.array(0), jnp.array(0), status,
                _SSAAux(c, estate, jnp.array(0, jnp.uint32), jnp.array(0, jnp.uint32),
                        jnp.zeros((_draws_per_turn(hooks), 2), t0.dtype),
                        jnp.zeros(2, t0.dtype)))


def _fires(hooks) -> int:
    """Reactions one step may fire: `FIRES_PER_STEP` without events, else one."""
    return FIRES_PER_STEP if hooks is None else 1


def _draws_per_turn(hooks) -> int:
    return STEPS_PER_TURN * _fires(hooks)


def ssa_refill(lane: Lane) -> Lane:
    """``lane`` with the uniforms of the draws its next `STEPS_PER_TURN` steps may take
    (one per reaction): drawn together, they vectorise far better than one pair per
    reaction."""
    n = lane.aux.u.shape[0]
    u0, u1 = _uniform2(lane.key, lane.aux.draws + jnp.arange(n, dtype=jnp.uint32))
    return lane._replace(aux=lane.aux._replace(first=lane.aux.draws,
                                               u=jnp.stack([u0, u1], axis=-1)))


def _reaction_change(structure, out, j, x):
    """The state change when reaction ``j`` fires (``out``: the rhs program's outputs)."""
    if structure.dense:
        dx = jnp.asarray(np.ascontiguousarray(structure.N.T))[j]
    else:
        unit = jnp.zeros(structure.n_reactions, x.dtype).at[j].set(1.0)
        dx = structure.apply_stoichiometry(out, unit, x)
    if len(structure.rr_state):
        dx = dx.at[structure.rr_state].set(0.0)
    return dx


def _propensity_sums(a):
    """(a0, bad, pick) for propensities ``a``: their sum, whether one is negative or
    not finite, and ``pick(r)``: the reaction j with cumsum(a)[j-1] <= r < cumsum(a)[j].

    Few reactions are unrolled into scalar operations: under vmap, XLA on a CPU runs
    reductions and prefix sums along a short minor axis several times slower.
    """
    n_r = a.shape[0]
    if n_r > UNROLL_REACTIONS:
        bad = jnp.any((a < 0) | ~jnp.isfinite(a))
        cum = jnp.cumsum(jnp.where(bad, 0.0, a))
        return cum[-1], bad, lambda r: jnp.minimum(jnp.sum(cum[:-1] <= r), n_r - 1)
    parts = [a[k] for k in range(n_r)]
    cum = list(itertools.accumulate(parts))
    lowest = functools.reduce(jnp.minimum, parts)
    bad = ~(lowest >= 0) | ~jnp.isfinite(cum[-1])  # NaN fails both comparisons

    def pick(r):  # the last reaction needs no test: r < a0
        return sum(((c <= r).astype(jnp.int32) for c in cum[:-1]), jnp.array(0, jnp.int32))

    return cum[-1], bad, pick


_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10


def _exponential(u):
    """-log(1 - u) for uniforms ``u`` in [0, 1) on the 2^-52 grid (`_uniform2`): an
    exponential variate, to 2 ulp (relative error at most 4.3e-16 over all such ``u``).

    Written out (exponent and mantissa, then log(m) = 2 atanh(s) as a series in
    s^2, s <= 0.172) because XLA on a CPU calls the C library's scalar ``log`` once
    per element, which was the most expensive part of an SSA step; this vectorises.
    """
    y = 1.0 - u  # exact on the grid
    bits = jax.lax.bitcast_convert_type(y, jnp.uint64)
    e = (bits >> jnp.uint64(52)).astype(jnp.int64) - 1023
    m = jax.lax.bitcast_convert_type(
        (bits & jnp.uint64(0x000FFFFFFFFFFFFF)) | jnp.uint64(0x3FF0000000000000), jnp.float64)
    big = m > 1.4142135623730951  # m in [sqrt(1/2), sqrt(2)]
    m = jnp.where(big, 0.5 * m, m)
    e = (e + big.astype(e.dtype)).astype(jnp.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    series = jnp.full_like(z, 1.0 / 21)
    for k in range(9, -1, -1):  # sum of z^k / (2k + 1), k = 0..10
        series = series * z + 1.0 / (2 * k + 1)
    return -(e * _LN2_HI + (2.0 * s * series + e * _LN2_LO))


def _waiting_time(a0, u0):
    """The time to the next reaction at total propensity ``a0`` from the uniform ``u0``
    (infinite when nothing can fire)."""
    return jnp.where(a0 > 0, _exponential(u0) / jnp.where(a0 > 0, a0, 1.0), jnp.inf)


def _next_reaction(structure, lane: Lane):
    """(out, a0, bad, t_next, j): the rhs outputs, the total propensity, whether a
    propensity is bad, and the time and index of the next reaction from the lane's
    current draw."""
    out = structure.rhs_prog(structure.base(lane.t, lane.x, lane.aux.c))
    a0, bad, pick = _propensity_sums(out[: structure.n_reactions])
    u0, u1 = lane.aux.u[lane.aux.draws - lane.aux.first]
    return out, a0, bad, lane.t + _waiting_time(a0, u0), pick(u1 * a0)


def ssa_fire(structure, ts, lane: Lane, ok) -> Lane:
    """Fire the next reaction of a lane that is ``ok`` when it comes no later than the
    next output time (and none is due now); else leave the lane as it is, for
    `ssa_step`. Without events this is exactly what `ssa_step` would do, so a step
    of `FIRES_PER_STEP` reactions gives the same trajectory as that many steps."""
    n_out = ts.shape[0]
    t_out = ts[jnp.minimum(lane.i_out, n_out - 1)]
    out, _, bad, t_next, j = _next_reaction(structure, lane)
    fire = (ok & ~bad & (lane.status == SUCCESS) & (lane.i_out < n_out) & (t_out != lane.t)
            & (t_next <= t_out))
    x_new = jnp.where(fire, lane.x + _reaction_change(structure, out, j, lane.x), lane.x)
    return lane._replace(
        t=jnp.where(fire, t_next, lane.t), x=x_new, n=lane.n + fire.astype(lane.n.dtype),
        aux=lane.aux._replace(draws=lane.aux.draws + fire.astype(jnp.uint32)),
    )


def ssa_fires(structure, ts, fires: int) -> Callable[[Lane, Any, int], Lane] | None:
    """The batched ``fire`` of `run_lanes`: up to ``fires - 1`` reactions per lane (None
    for one or fewer), each as `ssa_fire` would take it.

    A rolled loop: unrolled, XLA fuses each reaction into every consumer of the next
    ones and computes it many times over. Models with a constant stoichiometry, few
    reactions and few expressions take them on the lanes' rows (`_fire_rows`), else
    `ssa_fire` runs under `vmap`.
    """
    if fires <= 1:
        return None
    if _rows_apply(structure):
        return functools.partial(_fire_rows, structure, ts, fires - 1)
    vfire = jax.vmap(lambda lane, ok: ssa_fire(structure, ts, lane, ok))

    def run(lane: Lane, ok, max_steps: int) -> Lane:
        return jax.lax.fori_loop(
            0, fires - 1, lambda _, lane: vfire(lane, ok & (lane.n < max_steps)), lane)

    return run


def _rows_apply(structure) -> bool:
    """Whether `_fire_rows` can take this model's reactions."""
    from ..ensemble._lockstep import MAX_DERIVED

    prog = structure.rhs_prog
    return (structure.dense and 0 < structure.n_reactions <= UNROLL_REACTIONS
            and not len(structure.rr_state) and not structure.delays
            and prog.size - prog.n_base <= MAX_DERIVED)


def _computed_once(i, values):
    """``values``, computed once for all their consumers: behind a branch, which XLA does
    not fuse across, where on a CPU it would fuse the whole chain that makes them into
    each consumer (the state's rows, the time, the counters) and compute it that many
    times over (an `optimization_barrier` is removed before fusion there). ``i``, a loop
    counter, is never negative, so the identity branch is the one taken. Elsewhere the
    values pass as they are: a branch on an accelerator waits for its predicate on the
    host, and recomputing there is cheap."""
    if jax.default_backend() != "cpu":
        return values
    return jax.lax.cond(i >= 0, lambda v: v,
                        lambda v: jax.tree_util.tree_map(jnp.zeros_like, v), values)


def _rows_next(structure, rhs, t, xT, cT, u):
    """(bad, tau, j) for a batch on rows (``xT`` (n_state, lanes), ``cT`` (n_c, lanes),
    ``u`` (lanes, 2) uniforms): whether a propensity is bad, the time to the next reaction
    and its index, as `_next_reaction` takes them lane by lane."""
    a = rhs.outputs_of_rows(t, [xT[s] for s in range(structure.n_state)],
                            cT)[: structure.n_reactions]
    a0, bad, pick = _propensity_sums(jnp.stack(a))  # unrolled: one row per reaction
    return bad, _waiting_time(a0, u[:, 0]), pick(u[:, 1] * a0)


def _rows_fired(structure, xT, j, fire) -> list:
    """The state's rows after reaction ``j`` fires where ``fire`` (a constant
    stoichiometry: one select per non-zero entry)."""
    N = np.asarray(structure.N, dtype=np.float64)  # (n_state, R)
    rows = []
    for s in range(structure.n_state):
        dx = [jnp.where(j == k, N[s, k], 0.0) for k in range(N.shape[1]) if N[s, k] != 0]
        rows.append(jnp.where(fire, xT[s] + functools.reduce(jnp.add, dx), xT[s]) if dx
                    else xT[s])
    return rows


def _step_rows(structure, ts, after_fire: bool, lane: Lane) -> tuple[Lane, Any]:
    """`ssa_step` without events on a batch of lanes, on rows (as `_fire_rows`): the
    same numbers. ``after_fire``: `_fire_rows` ran first and left the lanes' current
    uniforms in ``aux.current``."""
    from ..ensemble._lockstep import BatchRHS

    n_out, K = ts.shape[0], OUTPUTS_PER_STEP
    t, x, status0 = lane.t, lane.x, lane.status
    i_rec = lane.i_out[:, None] + jnp.arange(K)[None, :]
    t_rec = ts[jnp.minimum(i_rec, n_out - 1)]
    if after_fire:
        u = lane.aux.current
    else:
        u = lane.aux.u[jnp.arange(t.shape[0]), lane.aux.draws - lane.aux.first]
    xT = x.T
    bad, tau, j = _rows_next(structure, BatchRHS(structure), t, xT, lane.aux.c.T, u)
    t_next = t + tau
    move = ~bad & (status0 == SUCCESS)
    fire = move & (t_rec[:, -1] >= t_next)  # no later than the K-th output ahead
    # the output counter is never negative: the identity branch
    fire, j, bad = _computed_once(lane.i_out[0], (fire, j, bad))
    t_new = jnp.where(fire, t_next, jnp.where(move, jnp.minimum(t_next, t_rec[:, -1]), t))
    rows = _rows_fired(structure, xT, j, fire)
    x_new = jnp.stack(rows, axis=1)
    status = jnp.where(bad, BAD_PROPENSITY, status0)
    finite = functools.reduce(jnp.logical_and, [jnp.isfinite(row) for row in rows])
    status = jnp.where(finite, status, NONFINITE)
    passed = ((move[:, None] & (t_rec < t_new[:, None]))
              | ((t_rec == t[:, None]) & (status0 == SUCCESS)[:, None]))
    record = (i_rec < n_out) & passed
    values = jnp.broadcast_to(x[:, None, :], (x.shape[0], K) + x.shape[1:])
    lane = Lane(
        t_new, x_new, lane.key,
        lane.i_out + jnp.sum(record, axis=1).astype(lane.i_out.dtype),
        lane.n + fire.astype(lane.n.dtype), status,
        lane.aux._replace(draws=lane.aux.draws + move.astype(jnp.uint32)),
    )
    return lane, values


def _fire_rows(structure, ts, count: int, lane: Lane, ok, max_steps: int) -> Lane:
    """`ssa_fire` ``count`` times on a batch of lanes, on rows: the state and constants
    transposed to one row per component, so every expression and the reaction choice
    are loops over contiguous lanes (`BatchRHS`), where under `vmap` each fused kernel
    reads them strided. Same numbers as `ssa_fire`. The lanes' uniforms for the next
    step are left in ``aux.current``."""
    from ..ensemble._lockstep import BatchRHS

    rhs = BatchRHS(structure)
    n_out = ts.shape[0]
    t_out = ts[jnp.minimum(lane.i_out, n_out - 1)]
    go = ok & (lane.status == SUCCESS) & (lane.i_out < n_out) & (t_out != lane.t)
    cT = lane.aux.c.T
    # the draws these reactions may take, gathered once (a gather on a CPU goes lane by
    # lane); reaction i takes the one at its lane's offset, by selects
    start = (lane.aux.draws - lane.aux.first).astype(jnp.int32)
    window = jax.vmap(lambda u, k: jax.lax.dynamic_slice_in_dim(u, k, count + 1))(
        lane.aux.u, start)  # (lanes, count + 1, 2): one block per lane

    def pick(offset):
        return functools.reduce(
            lambda acc, k: jnp.where(offset == k, window[:, k], acc), range(1, count + 1),
            window[:, 0])

    def one(i, carry):
        t, xT, n, draws = carry
        bad, tau, j = _rows_next(structure, rhs, t, xT, cT,
                                 pick((draws - lane.aux.draws)[:, None]))
        fire = go & (n < max_steps) & ~bad & (t + tau <= t_out)
        fire, j, tau = _computed_once(i, (fire, j, tau))
        return (jnp.where(fire, t + tau, t), jnp.stack(_rows_fired(structure, xT, j, fire)),
                n + fire.astype(n.dtype), draws + fire.astype(draws.dtype))

    t, xT, n, draws = jax.lax.fori_loop(
        0, count, one, (lane.t, lane.x.T, lane.n, lane.aux.draws))
    return lane._replace(t=t, x=xT.T, n=n, aux=lane.aux._replace(
        draws=draws, current=pick((draws - lane.aux.draws)[:, None])))


def ssa_step(structure, hooks, ts, lane: Lane) -> tuple[Lane, Any]:
    """One action of one SSA trajectory (see `run_lanes`).

    Draws the next reaction; fires it if it comes before any event and no later than
    the ``OUTPUTS_PER_STEP``-th output time ahead, else moves to that event (firing it)
    or output time. The outputs from the current time up to, not including, the new
    time are recorded with the current state.
    """
    n_out, K = ts.shape[0], OUTPUTS_PER_STEP
    t, x, c, estate = lane.t, lane.x, lane.aux.c, lane.aux.estate
    i_rec = lane.i_out + jnp.arange(K)
    t_rec = ts[jnp.minimum(i_rec, n_out - 1)]
    t_cap = t_rec[-1]  # never step past the K-th output ahead (nor the last)
    out, a0, bad, t_next, j = _next_reaction(structure, lane)
    # An event before the next reaction pre-empts it (the state is constant until
    # then, so the trigger time is found by bisection in time alone).
    if hooks is not None:
        t1 = jnp.minimum(jnp.minimum(t_next, t_cap), hooks.next_stop(t, estate))
        t_stop, x_stop, estate_stop, _, _ = hooks.after_step(
            ConstantInterpolation(x), t, t1, x, c, estate
        )
    else:
        t_stop, x_stop, estate_stop = jnp.minimum(t_next, t_cap), x, estate
    move = ~bad & (lane.status == SUCCESS)
    fire = move & (t_stop >= t_next)
    x_new = jnp.where(fire, x + _reaction_change(structure, out, j, x),
                      jnp.where(move, x_stop, x))
    t_new = jnp.where(fire, t_next, jnp.where(move, t_stop, t))
    status = jnp.where(bad, BAD_PROPENSITY, lane.status)
    status = jnp.where(jnp.all(jnp.isfinite(x_new)), status, NONFINITE)
    if hooks is not None:
        estate = jax.tree_util.tree_map(
            lambda new, old: jnp.where(move, new, old), estate_stop, estate)
        status = jnp.where(estate.status != SUCCESS, EVENT_OVERFLOW, status)
    # all with the state the step starts from (an output at exactly the new time is
    # recorded by the next step): no value depends on this step's draws
    passed = (move & (t_rec < t_new)) | ((t_rec == t) & (lane.status == SUCCESS))
    record = (i_rec < n_out) & passed
    values = jnp.broadcast_to(x, (K,) + x.shape)
    lane = Lane(
        t_new, x_new, lane.key, lane.i_out + jnp.sum(record).astype(lane.i_out.dtype),
        lane.n + fire.astype(lane.n.dtype), status,
        lane.aux._replace(estate=estate, draws=lane.aux.draws + move.astype(jnp.uint32)),
    )
    return lane, values


def ssa_ensemble(structure, make_hooks, ts, P, t0, keys, n_valid, max_events: int):
    """SSA trajectories, one per row of ``P`` and key of ``keys``: (ys, SSAStats).

    ``make_hooks(key)`` builds one trajectory's event hooks from its key (None: no
    events); the key the direct method draws from is ``keys[i]`` itself.
    """
    ts = jnp.asarray(ts, jnp.float64)

    def init(p, key):
        k_run, k_events = jax.random.split(key)
        return ssa_init(structure, make_hooks(k_events), p, t0, k_run)

    lanes0 = jax.vmap(init)(P, keys)
    hooks = make_hooks(None)
    fire = ssa_fires(structure, ts, _fires(hooks))
    if hooks is None and _rows_apply(structure):
        step = functools.partial(_step_rows, structure, ts, fire is not None)
        return run_lanes(lanes0, step, ts, n_valid, max_events, refill=ssa_refill, fire=fire,
                         batched_step=True)
    return run_lanes(lanes0, lambda lane: ssa_step(structure, hooks, ts, lane), ts,
                     n_valid, max_events, refill=ssa_refill, fire=fire)
