"""Steady states of a perturbation model for all conditions at once, differentiated
implicitly.

The steady state ``x*(theta, u)`` solves ``f(x*, u; theta) = 0``; its gradient follows
from the implicit function theorem, ``dx*/dtheta = -(df/dx)^-1 df/dtheta``, so no solver
step is differentiated (Blondel et al. 2022, "Efficient and modular implicit
differentiation", NeurIPS). Each condition is solved by Newton's method from the control
state ``x = 0`` (`optimistix.root_find` with `optimistix.ImplicitAdjoint`, dense LU
solves through lineax; CellBox networks have ~100 nodes, where dense LU costs less than
an iterative solve). If Newton fails for any condition of the batch (a far root, a
singular Jacobian), the batch is integrated to steady state (diffrax, Tsit5, steady-state
event) and Newton restarts from there, so the gradient is always the implicit one.
"""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import optimistix as optx
from jaxtyping import Array, Float

Rhs = Callable[[Array, Array], Array]


def _root(model: Rhs, u: Array, x0: Array, rtol: float, atol: float, max_steps: int):
    solver = optx.Newton(rtol=rtol, atol=atol, linear_solver=lx.LU())
    adjoint = optx.ImplicitAdjoint(linear_solver=lx.LU())

    def one(ui, x0i):
        sol = optx.root_find(lambda x, args: args[0](x, args[1]), solver, x0i,
                             args=(model, ui), adjoint=adjoint, throw=False,
                             max_steps=max_steps)
        ok = (sol.result == optx.RESULTS.successful) & jnp.all(jnp.isfinite(sol.value))
        return sol.value, ok

    return jax.vmap(one)(u, x0)


def integrate_to_steady_state(model: Rhs, u: Float[Array, "c n"], t1: float = 1e4,
                              max_steps: int = 100_000) -> Float[Array, "c n"]:
    """Integrate every condition from ``x = 0`` until ``dx/dt`` is about 0 (or ``t1``)."""
    term = diffrax.ODETerm(lambda t, x, ui: model(x, ui))
    event = diffrax.Event(diffrax.steady_state_event(rtol=1e-8, atol=1e-8))

    def one(ui):
        sol = diffrax.diffeqsolve(
            term, diffrax.Tsit5(), 0.0, t1, 0.01, jnp.zeros_like(ui), args=ui,
            stepsize_controller=diffrax.PIDController(rtol=1e-8, atol=1e-10),
            event=event, max_steps=max_steps, throw=False,
            saveat=diffrax.SaveAt(t1=True))
        return sol.ys[-1]

    return jax.vmap(one)(u)


def _steady_state(model: Rhs, u: Float[Array, "c n"], *, rtol: float = 1e-10,
                 atol: float = 1e-10, max_steps: int = 64,
                 fallback: bool | int = True) -> Float[Array, "c n"]:
    """The steady state of ``dx/dt = model(x, u_c)`` for every condition ``c``.

    Differentiable in ``model`` (any pytree of arrays) and ``u`` by implicit
    differentiation. Conditions where neither Newton from 0 nor Newton from the
    integrated state converges come back as NaN.

    Arguments:
        model: the right-hand side, ``model(x, u) -> dx/dt`` for one condition (e.g. a
            `CellBox`).
        u: inputs, shape (conditions, nodes).
        rtol, atol: Newton's tolerances on the step.
        max_steps: Newton iterations per attempt.
        fallback: integrate and retry when Newton fails (False: NaN at once, and no
            integrator to compile); an int bounds the integration's steps (default
            100,000). A network whose dynamics oscillate never settles, and then every
            fallback runs to its bound: in training, a bound such as 4,096 makes such
            batches cheap (their loss is NaN and `train` skips them).

    Returns:
        ``x*``, shape (conditions, nodes).
    """
    x, ok = _root(model, u, jnp.zeros_like(u), rtol, atol, max_steps)

    def retry(_):
        steps = 100_000 if fallback is True else int(fallback)
        x0 = jax.lax.stop_gradient(integrate_to_steady_state(model, u, max_steps=steps))
        return _root(model, u, x0, rtol, atol, max_steps)

    if fallback:
        x, ok = jax.lax.cond(jnp.all(ok), lambda _: (x, ok), retry, None)
    return jnp.where(ok[:, None], x, jnp.nan)


#: the public entry point, compiled once per model structure and input shape
steady_state = eqx.filter_jit(_steady_state)
