"""Named ODE methods: which solver a method name means, and the stiffness measure the
solve plan (`wholecell.solve._plan`) chooses by."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import SimulationError
from .._now import evaluate_now

if TYPE_CHECKING:  # the solvers load when one is made, not with wholecell
    import diffrax

#: stiff when the fastest mode times the time span exceeds this (an explicit method
#: would then need thousands of stability-limited steps)
STIFFNESS_THRESHOLD = 1e4

#: methods that need no Jacobian
EXPLICIT = ("tsit5", "dopri5", "dopri8", "bosh3")
#: implicit / linearly implicit methods for stiff problems
STIFF = ("bdf", "rodas5", "rodas5p", "rodas4", "kvaerno5", "kvaerno3")


#: from this many states on, a solve that is not differentiated in reverse mode runs the
#: stages in a loop (`roll_stages_for`). Measured on this 2-core CPU, alternating, each
#: process compiling afresh: Schoeberl (100 states, rodas5, 0-3600 s) first simulation
#: 3.17 / 2.58 s rolled against 4.21 / 3.58 s unrolled, later runs the same (0.101-0.106
#: against 0.103-0.113 s); Boehm (8 states, forward sensitivities) first gradient 4.5 s
#: against 6.6 s but each later one 4-13 % slower (7.5-8.2 against 7.1-7.3 ms);
#: Bachmann (25 states, reverse mode) first gradient 43 s against 58 s, later ones 26 %
#: slower (2.21 against 1.75 s). The coupled minimal cell (hybrid, ~150 metabolites by
#: rodas5; `python -m benchmarks.syn3a_coupled --minutes 2`, one after the other)
#: compiles its run in 140 s against 170 s, with the same steps, firings and states.
ROLL_STAGES_FROM = 50


def roll_stages_for(n_state: int, adjoint: str) -> bool:
    """Whether a Rosenbrock solve of ``n_state`` states differentiated as ``adjoint``
    says runs its stages in a loop: XLA then compiles one copy of the right-hand side
    instead of one per stage (s = 6-8), which on large models takes a quarter off the
    compile and nothing off the run; on small models, and through a reverse pass, the
    unrolled stages run faster."""
    return adjoint != "checkpointed" and n_state >= ROLL_STAGES_FROM


def make_solver(
    name: str, rtol: float, atol: float, jacobian=None, *, roll_stages: bool = False
) -> diffrax.AbstractSolver:
    """The diffrax solver called ``name`` (case-insensitive).

    ``jacobian`` (``jac(t, y, args) -> (J, f_t)``) replaces dense `jax.jacfwd` in the
    Rosenbrock methods; ``roll_stages`` runs their stages in a loop
    (`roll_stages_for`).
    """
    import diffrax

    from ._explicit import Tsit5
    from ._rosenbrock import TABLEAUS, Rosenbrock

    key = name.lower()
    if key == "tsit5":
        # the same method as diffrax.Tsit5, its stages unrolled (see _explicit.py)
        return Tsit5()
    if key == "dopri5":
        return diffrax.Dopri5()
    if key == "dopri8":
        return diffrax.Dopri8()
    if key == "bosh3":
        return diffrax.Bosh3()
    if key in ("kvaerno5", "kvaerno3"):
        cls = diffrax.Kvaerno5 if key == "kvaerno5" else diffrax.Kvaerno3
        return cls(root_finder=diffrax.VeryChord(rtol=rtol, atol=atol))
    if key == "bdf":
        raise SimulationError("'bdf' is not a diffrax solver: it runs in its own loop (_bdf)")
    if key in ("rodas5", "rodas5p", "rodas4"):
        return Rosenbrock(TABLEAUS[key], jacobian, roll_stages)
    raise SimulationError(
        f"unknown ODE solver '{name}'; choose one of {', '.join(EXPLICIT + STIFF)} or 'auto'"
    )


@jax.jit(static_argnums=0)
def _jacobian_at_start(structure, p, t0):
    x0, c = structure.initial(p, t0)
    return jax.jacfwd(lambda x: structure.rhs(t0, x, c))(x0)


#: above this many states the spectral radius is estimated by power iteration
DENSE_EIG_LIMIT = 400
POWER_ITERATIONS = 60


@jax.jit(static_argnums=0)
def _power_radius(structure, p, t0):
    """Spectral radius estimate by power iteration on Jacobian-vector products.

    The growth factor of ``J^k v`` averaged (geometrically) over the last iterations tends
    to ``max |eigenvalue|``, also when the dominant eigenvalues are a complex pair.
    """
    x0, c = structure.initial(p, t0)
    _, jvp = jax.linearize(lambda x: structure.rhs(t0, x, c), x0)
    v = jax.random.normal(jax.random.PRNGKey(0), x0.shape, x0.dtype)
    v = v / jnp.linalg.norm(v)

    def body(i, carry):
        v, acc = carry
        w = jvp(v)
        g = jnp.linalg.norm(w)
        late = i >= POWER_ITERATIONS // 2
        acc = acc + jnp.where(late, jnp.log(jnp.maximum(g, 1e-300)), 0.0)
        return w / jnp.where(g > 0, g, 1.0), acc

    _, acc = jax.lax.fori_loop(0, POWER_ITERATIONS, body, (v, jnp.zeros((), x0.dtype)))
    return jnp.exp(acc / (POWER_ITERATIONS - POWER_ITERATIONS // 2))


def stiffness(sim, p, t0: float, evaluate=evaluate_now) -> float:
    """The spectral radius of the Jacobian at the initial state (``max |eigenvalue|``).

    Exact eigenvalues for small models; for large ones (more than `DENSE_EIG_LIMIT`
    states) a power-iteration estimate, which costs a few dozen Jacobian-vector products
    instead of a dense Jacobian and its O(n^3) eigen-decomposition. ``evaluate(fn,
    structure, p, t0)`` runs the compiled step (`wholecell.solve._registry.
    stored_evaluator` reads it from disk in a new process).
    """
    if not sim.state_ids:
        return 0.0
    p = jax.device_put(np.asarray(p, np.float64))  # transfers: jnp.asarray compiles
    t0 = jax.device_put(np.float64(t0))
    # Evaluated now, even when called while tracing a solve (p and t0 are concrete).
    if len(sim.state_ids) > DENSE_EIG_LIMIT:
        rho = float(evaluate(_power_radius, sim.structure, p, t0))
        return rho if np.isfinite(rho) else np.inf
    J = evaluate(_jacobian_at_start, sim.structure, p, t0)
    return spectral_radius(J)


def spectral_radius(J) -> float:
    """``max |eigenvalue|`` of a dense Jacobian: 0 for an empty one, inf for one with a
    non-finite entry (a model that cannot be judged is treated as stiff)."""
    J = np.asarray(J)
    if J.size == 0:
        return 0.0
    if not np.all(np.isfinite(J)):
        return np.inf
    return float(np.max(np.abs(np.linalg.eigvals(J))))


def bdf_applies(structure) -> bool:
    """Whether the BDF loop can run the model (it has no events, delays or fast reactions)."""
    return structure.events is None and not structure.delays and not structure.fast.size
