"""Pre-equilibration: the steady state a condition's dynamics run into.

``method="newton"`` (the default) finds the root of ``dx/dt`` by Newton's method from the
condition's initial state (`optimistix.root_find`, dense LU solves through lineax), its
gradient by the implicit function theorem (`optimistix.ImplicitAdjoint`: one linear solve
with the Jacobian at the root, no solver step differentiated). Conserved moieties make
that Jacobian singular, so each conservation law (`compiler._conservation`) replaces the
row of ``dx/dt`` it implies, with its total fixed by the initial state: the root keeps
the initial state's totals, as integration does.

Where Newton does not reach a root of the kind integration would (a non-finite state, a
negative one where the start was not, or a weighted rate of change or deviation from a
conserved total, each entry, not below `STEADY_TOL`), the condition is integrated to
`PREEQ_TIME` as ``method="integrate"`` always does; so is every condition of a model with
events or delays. The batch is integrated only when one of its conditions needs it
(`jax.lax.cond`), so later calls skip the integration, while the first compiles both.
The right-hand side is taken at `PREEQ_TIME` (as the steadiness test always was), so a
model whose inputs switch in time is solved for their values there. Limit: where several
stable steady states share the totals, Newton from the start may reach another one than
integration would; nothing here detects that (measured on the collection's problems with
pre-equilibration: Brannmark, Weber, Zheng agree with integration to 1e-12 relative).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Bool, Float

from ..compiler._conservation import conservation_laws
from ..compiler._tolerances import state_atol
from ..solve._compiled import CompiledModel

#: how far (in model time) pre-equilibration integrates; adaptive steps grow quickly once
#: the state settles, so a long horizon costs few steps
PREEQ_TIME = 1e6
#: a state whose weighted rate of change (dx/dt / (atol + rtol |x|), RMS) is below this
#: counts as steady (AMICI's convergence criterion)
STEADY_TOL = 1.0
#: pre-equilibration methods: Newton with integration where it fails, or integration only
PREEQ_METHODS = ("newton", "integrate")
#: Newton stops when its step is below this fraction of every state's tolerance
#: (``atol + rtol |x0|`` at the start) and ``dx/dt`` below the tolerance itself
NEWTON_TOL = 1e-3
#: Newton iterations per condition before it counts as failed
NEWTON_STEPS = 50
#: the residual cannot be computed closer to 0 than rounding leaves it: this many units
#: of roundoff of what makes each entry up (a state's fluxes, a conserved total's
#: amounts; `_rounding_scale`). A root whose residual is below that is accepted even where
#: the tolerance is smaller (AMICI's atol 1e-16 gives a state at 1e-9 a tolerance of
#: ~1e-17; on Brannmark rounding left 4.4e-16 in a conserved total of ~10, and whether
#: Newton passed depended on the CPU)
ROUNDING_ULPS = 64


def newton_applies(sim: CompiledModel) -> bool:
    """Whether Newton may stand for integration: not for events (they change the
    state on the way) or delays (the right-hand side then needs the past)."""
    st = sim.structure
    return st.events is None and not st.delays


def _weights(sim: CompiledModel, p, x_start, rtol: float, atol: float):
    """The solve's per-state absolute tolerances (`_tolerances`: atol in user units)."""
    return state_atol(sim.structure, jnp.asarray(p), jnp.asarray(0.0), x_start, atol)


def _residual(sim: CompiledModel, x, p, x0, scale, t: float):
    """``dx/dt / scale`` with each conservation law's pivot row replaced by the law's
    deviation from the total of ``x0`` (also over ``scale``)."""
    cons = conservation_laws(sim.structure)
    r = sim.rhs(x, p, t)
    if cons.pivots.size:
        r = r.at[cons.pivots].set(jnp.asarray(cons.C).T @ (x - x0))
    return r / scale


def _newton(sim: CompiledModel, p, x0, guess, rtol: float, atol: float, t: float,
            use: bool | Array = True):
    """Newton's root from ``guess`` for the totals of ``x0``; whether it is acceptable.

    ``use`` False: solve ``y = guess`` instead (a condition whose Newton failed, kept
    out of the implicit gradient's linear solves, which raise on a singular Jacobian).
    """
    a = _weights(sim, p, x0, rtol, atol)
    # Newton in units of the tolerances at the start: fixed, so the steps are Newton's on
    # dx/dt itself (weights that follow x, as `STEADY_TOL`'s, made it diverge on Zheng
    # 2012). It stops when the step is below NEWTON_TOL of each state's tolerance and
    # dx/dt below the tolerance (the residual is scaled by NEWTON_TOL, which leaves the
    # steps as they are): asking NEWTON_TOL of dx/dt as well, rounding kept it above that
    # for states that start at 0, and Newton ran to NEWTON_STEPS on 13 of 20 random
    # Brannmark parameter sets, 3 of 20 for Zheng and Weber (now 1, 0, 0). Its result code
    # is not used: the test below decides
    s = jax.lax.stop_gradient(a + rtol * jnp.abs(x0))
    solver = optx.Newton(rtol=NEWTON_TOL * rtol, atol=NEWTON_TOL, linear_solver=lx.LU())

    def fn(y, args):
        return jnp.where(use, NEWTON_TOL * _residual(sim, y * s, *args, t), y - guess / s)

    sol = optx.root_find(
        fn, solver, guess / s, args=(p, x0, s),
        adjoint=optx.ImplicitAdjoint(linear_solver=lx.LU()), max_steps=NEWTON_STEPS,
        throw=False,
    )
    x = sol.value * s
    w = a + rtol * jnp.abs(x)
    res = _residual(sim, x, p, x0, w, t)
    floor = ROUNDING_ULPS * jnp.finfo(x.dtype).eps * _rounding_scale(sim, x, p, x0, t) / w
    ok = (
        jnp.all(jnp.isfinite(x))
        & jnp.all((x0 < 0) | (x >= -w))
        & jnp.all(jnp.abs(res) < jnp.maximum(STEADY_TOL, floor))
    )
    return x, ok


def _rounding_scale(sim: CompiledModel, x, p, x0, t: float):
    """The scale of the rounding in each entry of `_residual` (unweighted): a state's sum
    of |stoichiometry x flux| over the reactions, and for a conservation law's pivot
    row the sum of |coefficient x amount| over its species, at ``x`` and ``x0``."""
    st = sim.structure
    scale = jnp.zeros_like(x)
    if st.n_reactions:
        _, c = st.initial(p, jnp.asarray(0.0, p.dtype))
        out = st.rhs_prog(st.base(jnp.asarray(t, x.dtype), x, c))
        v = jnp.abs(out[: st.n_reactions])
        parts = jax.vmap(lambda e: st.apply_stoichiometry(out, e, x))(jnp.diag(v))
        scale = jnp.sum(jnp.abs(parts), axis=0)
    cons = conservation_laws(st)
    if cons.pivots.size:
        C = jnp.abs(jnp.asarray(cons.C, x.dtype))
        scale = scale.at[cons.pivots].set(C.T @ (jnp.abs(x) + jnp.abs(x0)))
    return scale


def newton_steady_states(
    sim: CompiledModel, P: Float[Array, "c params"], X0: Float[Array, "c state"], *,
    rtol: float, atol: float, t: float = PREEQ_TIME,
) -> tuple[Float[Array, "c state"], Bool[Array, " c"]]:
    """Newton's steady state of every condition (rows of ``P``, ``X0``) and whether it
    is acceptable (finite, non-negative where ``X0`` is, every weighted rate of change
    and deviation from a conserved total below `STEADY_TOL`). Differentiable by the
    implicit function theorem where acceptable.
    """
    # first pass undifferentiated: which conditions succeed, and their roots
    X1, ok = jax.vmap(lambda p, x0: _newton(sim, p, x0, x0, rtol, atol, t))(
        *jax.lax.stop_gradient((P, X0)))
    # second pass from those roots (one or two iterations) differentiates only the
    # successful conditions: a failed one's inputs are held constant and its root
    # replaced by a trivial one, so that neither its NaN nor a singular Jacobian reach
    # the gradient
    keep = ok[:, None]
    Pm = jnp.where(keep, P, jax.lax.stop_gradient(P))
    Xm = jnp.where(keep, X0, jax.lax.stop_gradient(X0))
    guess = jnp.where(keep & jnp.isfinite(X1), X1, jax.lax.stop_gradient(X0))
    X, ok2 = jax.vmap(lambda p, x0, g, u: _newton(sim, p, x0, g, rtol, atol, t, u))(
        Pm, Xm, jax.lax.stop_gradient(guess), ok)
    return X, ok & ok2


def integrate_steady_states(
    sim: CompiledModel, P: Float[Array, "c params"], X0: Float[Array, "c state"], *,
    solver: str, rtol: float, atol: float, max_steps: int, adjoint: str,
    t_end: float = PREEQ_TIME,
) -> Float[Array, "c state"]:
    """The state every condition reaches after integrating to ``t_end``."""
    ts = jnp.asarray([t_end], dtype=jnp.float64)

    def one(p, x0):
        return sim.solve(
            ts, p, t0=0.0, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
            adjoint=adjoint, throw=False, x0=x0,
        )[0]

    return jax.vmap(one)(P, X0)


def steady_states(
    sim: CompiledModel, P: Float[Array, "c params"], X0: Float[Array, "c state"], *,
    solver: str, rtol: float, atol: float, max_steps: int, adjoint: str,
    t_end: float = PREEQ_TIME, method: str = "newton",
) -> tuple[Float[Array, "c state"], Float[Array, " c"]]:
    """The steady states of a batch of conditions (rows of ``P`` and ``X0``).

    Arguments:
        method: ``"newton"`` (integration where Newton fails, see the module) or
            ``"integrate"`` (to ``t_end``, the state there).
        solver, rtol, atol, max_steps, adjoint, t_end: the integration's settings
            (``rtol``, ``atol`` also weight the steady-state test).

    Returns:
        (X, wrms): the states and their weighted RMS rates of change, below
        `STEADY_TOL` where a state is steady.
    """
    if method not in PREEQ_METHODS:
        raise ValueError(f"method must be one of {', '.join(PREEQ_METHODS)}, not {method!r}")
    P = jnp.asarray(P)
    X0 = jnp.asarray(X0, P.dtype)

    def integrate(P, X0):
        return integrate_steady_states(sim, P, X0, solver=solver, rtol=rtol, atol=atol,
                                       max_steps=max_steps, adjoint=adjoint, t_end=t_end)

    if method == "integrate" or not newton_applies(sim) or X0.shape[-1] == 0:
        X = integrate(P, X0)
    else:
        Xn, ok = newton_steady_states(sim, P, X0, rtol=rtol, atol=atol, t=t_end)

        def fallback():
            keep = ok[:, None]
            Xi = integrate(jnp.where(keep, jax.lax.stop_gradient(P), P),
                           jnp.where(keep, jax.lax.stop_gradient(X0), X0))
            return jnp.where(keep, Xn, Xi)

        X = jax.lax.cond(jnp.all(ok), lambda: Xn, fallback)
    wrms = jax.vmap(lambda p, x, x0: weighted_rms(sim, p, x, x0, rtol, atol, t_end))(P, X, X0)
    return X, wrms


def weighted_rms(sim: CompiledModel, p, x, x0, rtol: float, atol: float,
                 t: float = PREEQ_TIME):
    """AMICI's steady-state measure: the RMS of ``dx/dt / (a + rtol |x|)`` (``a``: the
    solve's absolute tolerances for the start ``x0``)."""
    dx = sim.rhs(x, p, t)
    a = _weights(sim, p, x0, rtol, atol)
    return jnp.sqrt(jnp.mean((dx / (a + rtol * jnp.abs(x))) ** 2))


def steady_state(
    sim: CompiledModel, p, x0, *, solver: str, rtol: float, atol: float, max_steps: int,
    adjoint: str, t_end: float = PREEQ_TIME, method: str = "newton",
):
    """The steady state reached from ``x0`` (None: the parameters' initial state) under
    parameters ``p``: `steady_states` of one condition.

    Returns:
        (x, wrms): the state and its weighted RMS rate of change, below `STEADY_TOL`
        where the state is steady.
    """
    p = jnp.asarray(p)
    x0 = sim.initial_state(p)[0] if x0 is None else jnp.asarray(x0, p.dtype)
    X, wrms = steady_states(sim, p[None], x0[None], solver=solver, rtol=rtol, atol=atol,
                            max_steps=max_steps, adjoint=adjoint, t_end=t_end, method=method)
    return X[0], wrms[0]

