"""Tsitouras' 5(4) Runge-Kutta pair: its tableau and its 5th-order dense output.

The numbers are the published coefficients, written out as the float64 values they round
to, so that no solver depends on another library's private tables:

Ch. Tsitouras, Runge-Kutta pairs of order 5(4) satisfying only the first column
simplifying assumption, Comput. Math. Appl. 62 (2011) 770-775: the coefficients
a_ij, b_i, c_i, the embedded weights b_i - b^_i and the dense-output polynomials
b_i(theta). They are the values diffrax 0.7 uses (`diffrax.Tsit5`), to the last bit;
`tests/test_explicit.py` checks a solve with them against `diffrax.Tsit5`.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import jax
import jax.numpy as jnp

from .._status import Status

#: stage couplings a_ij: row i holds the i couplings of stage i + 2 to stages 1..i + 1
A: tuple[tuple[float, ...], ...] = (
    (0.161,),
    (-0.008480655492356989, 0.335480655492357),
    (2.8971530571054935, -6.359448489975075, 4.3622954328695815),
    (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
    (5.86145544294642, -12.92096931784711, 8.159367898576159, -0.071584973281401,
     -0.028269050394068383),
    (0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081,
     2.324710524099774),
)
#: stage times c_i (stage 1 at the start of the step)
C: tuple[float, ...] = (0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0)
#: 5th-order solution weights b_i: the last row of `A` (first same as last)
B_SOL: tuple[float, ...] = (
    0.09646076681806523, 0.01, 0.4798896504144996, 1.379008574103742, -3.290069515436081,
    2.324710524099774, 0.0,
)
#: error weights b_i - b^_i (5th-order solution minus the embedded 4th-order one)
B_ERR: tuple[float, ...] = (
    0.0017800110522257773, 0.0008164344596567463, -0.007880878010261994,
    0.1447110071732629, -0.5823571654525552, 0.45808210592918686, -0.015151515151515152,
)


def dense_weights(theta):
    """The weights b_i(theta) of the seven stage increments at ``theta`` in [0, 1]."""
    t = theta
    b1 = (-1.0530884977290216 * t * (t - 1.3299890189751412)
          * (t**2 - 1.4364028541716351 * t + 0.7139816917074209))
    b2 = 0.1017 * t**2 * (t**2 - 2.1966568338249754 * t + 1.2949852507374631)
    b3 = 2.490627285651252793 * t**2 * (t**2 - 2.38535645472061657 * t + 1.57803468208092486)
    b4 = -16.54810288924490272 * (t - 1.21712927295533244) * (t - 0.61620406037800089) * t**2
    b5 = 47.37952196281928122 * (t - 1.203071208372362603) * (t - 0.658047292653547382) * t**2
    b6 = -34.87065786149660974 * (t - 1.2) * (t - 0.666666666666666667) * t**2
    b7 = 2.5 * (t - 1) * (t - 0.6) * t**2
    return jnp.stack([b1, b2, b3, b4, b5, b6, b7])


def dense_output(y0, k, theta):
    """The Tsit5 dense output ``y0 + sum_i b_i(theta) k_i`` at ``theta`` in [0, 1] of a
    step with stage increments ``k`` (7, ...)."""
    with jax.numpy_dtype_promotion("standard"):
        return y0 + jnp.tensordot(dense_weights(theta), k, axes=1,
                                  precision=jax.lax.Precision.HIGHEST)


# -- stiffness detection ---------------------------------------------------------------
#
# Hairer & Wanner's test for DOPRI5 (Solving ODEs II, IV.2; their code's ``iasti``):
# stages 6 and 7 are both at the end of the step, so ``|k7 - k6| / |y7 - y6|`` estimates
# ``h |lambda|`` of the dominant mode. When it stays near the edge of the stability region
# (the real interval [-3.51, 0] for this pair) the step size is held there by stability,
# not accuracy. The solution is then slow to get and, in the fast modes, only loosely
# accurate: errors there are not damped from step to step (BIOMD0000000415's species_7
# came out 4.4x the curated check's allowance off at rtol 1e-8 / atol 1e-12; a BDF solve
# at the same tolerances is right, as CVODE is).

#: h |lambda| above this counts as a step at the stability limit (Hairer's 3.25)
STABILITY_LIMIT = 3.25
#: this many such accepted steps, without `CALM_STEPS` others in a row between them,
#: declare the problem stiff
STIFF_STEPS = 15
#: accepted steps below the limit, in a row, that clear the count
CALM_STEPS = 6
#: a state carries the step's difference ``y7 - y6`` when its share (in the error
#: test's units) is at least this fraction of the largest; states below it are left out
#: of the per-state estimate, where a near-zero difference would inflate the ratio
CARRIERS = 0.3

_CHECK = contextvars.ContextVar("wholecell_stiffness_checks", default=False)


@contextlib.contextmanager
def stiffness_checks(on: bool = True) -> Iterator[None]:
    """Stop Tsit5 loops traced in this context with ``Status.STIFF`` once stiffness is
    detected (for ``solver="auto"``, which then reruns with a stiff method). Jitted
    callers take `stiffness_checks_active` as a static argument."""
    token = _CHECK.set(on)
    try:
        yield
    finally:
        _CHECK.reset(token)


def stiffness_checks_active() -> bool:
    """Whether `stiffness_checks` is on here."""
    return _CHECK.get()


def h_lambda(y0, y1, k, scale):
    """``h |lambda|`` of a step from ``y0`` to ``y1`` with stage increments ``k`` (7, n,
    ...): one value per trailing column (per member of a batch-last state). The larger
    of two estimates:

    - in the plain norm (Hairer's): it sees a fast mode in large states
      (BIOMD0000000415);
    - per state, in the error test's units (each over its ``scale``, atol + rtol |y|),
      the largest ratio among the states that carry the step's difference
      (`CARRIERS`): a fast mode confined to a few small states (BIOMD0000000407's Casp3,
      a pM species that tsit5 left swinging by +-4 atol) is diluted in any norm over
      the whole state, but not there.
    """
    y6 = y0 + jnp.tensordot(jnp.asarray(A[4], y0.dtype), k[:5], axes=1)
    dk, dy = k[6] - k[5], y1 - y6
    num = jnp.sum(dk**2, axis=0)
    den = jnp.sum(dy**2, axis=0)
    pos = den > 0
    plain = jnp.where(pos, jnp.sqrt(num / jnp.where(pos, den, 1.0)), 0.0)
    dk, dy = jnp.abs(dk / scale), jnp.abs(dy / scale)
    carries = (dy > 0) & (dy >= CARRIERS * jnp.max(dy, axis=0, keepdims=True, initial=0.0))
    per_state = jnp.max(jnp.where(carries, dk / jnp.where(carries, dy, 1.0), 0.0), axis=0,
                        initial=0.0)  # a model without states: 0
    return jnp.maximum(plain, per_state)


def check_stiffness(counts, y0, y1, k, scale, accepted, status):
    """One step of the test, for both loops (`_integrate`, `_lockstep`): the counts after
    the step from ``y0`` to ``y1`` (`h_lambda`, `count_stiff`), and ``status`` set to
    ``STIFF`` where an accepted step brings the count to `STIFF_STEPS`."""
    counts = count_stiff(counts, h_lambda(y0, y1, k, scale), accepted)
    return counts, jnp.where(accepted & (counts[0] >= STIFF_STEPS), Status.STIFF.value, status)


def count_stiff(counts, hl, accepted):
    """The counts (steps at the limit, calm steps in a row) after a step: only accepted
    steps count (Hairer's rule). Stiff when the first reaches `STIFF_STEPS`."""
    at_limit, calm = counts
    hot = hl > STABILITY_LIMIT
    new_calm = jnp.where(hot, 0, calm + 1)
    new_limit = jnp.where(hot, at_limit + 1, jnp.where(new_calm >= CALM_STEPS, 0, at_limit))
    return (jnp.where(accepted, new_limit, at_limit), jnp.where(accepted, new_calm, calm))
