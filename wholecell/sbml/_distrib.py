"""Random draws of the SBML ``distrib`` package's distribution csymbols, in JAX.

Each call site of a distribution in a model's math is a `Distrib` node carrying the
distribution's name, a site number and its arguments; it is lowered to a draw from a
PRNG key folded with the site number, so different sites and different evaluations draw
independent values. Truncated forms (the optional ``min``, ``max`` arguments) are drawn
by rejection.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

#: distribution -> (required arguments, whether min/max truncation may follow)
ARITY = {
    "normal": (2, True),
    "uniform": (2, False),
    "bernoulli": (1, False),
    "binomial": (2, True),
    "cauchy": (2, True),
    "chisquare": (1, True),
    "exponential": (1, True),
    "gamma": (2, True),
    "laplace": (2, True),
    "lognormal": (2, True),
    "poisson": (1, True),
    "rayleigh": (1, True),
}
NAMES = tuple(ARITY)
#: rejection attempts for a truncated draw before giving NaN
MAX_TRIES = 10_000


def _one(name: str, key, args, shape, dtype):
    u = lambda k: jax.random.uniform(k, shape, dtype)
    if name == "normal":
        return args[0] + args[1] * jax.random.normal(key, shape, dtype)
    if name == "uniform":
        return args[0] + (args[1] - args[0]) * u(key)
    if name == "bernoulli":
        return jnp.where(u(key) < args[0], 1.0, 0.0).astype(dtype)
    if name == "binomial":
        n = jnp.broadcast_to(args[0], shape)
        p = jnp.broadcast_to(args[1], shape)
        return jax.random.binomial(key, n, p, shape, dtype)
    if name == "cauchy":
        return args[0] + args[1] * jax.random.cauchy(key, shape, dtype)
    if name == "chisquare":
        return 2.0 * jax.random.gamma(key, jnp.broadcast_to(args[0] / 2.0, shape), shape, dtype)
    if name == "exponential":
        return jax.random.exponential(key, shape, dtype) / args[0]
    if name == "gamma":
        return args[1] * jax.random.gamma(key, jnp.broadcast_to(args[0], shape), shape, dtype)
    if name == "laplace":
        return args[0] + args[1] * jax.random.laplace(key, shape, dtype)
    if name == "lognormal":
        return jnp.exp(args[0] + args[1] * jax.random.normal(key, shape, dtype))
    if name == "poisson":
        lam = jnp.broadcast_to(args[0], shape)
        return jax.random.poisson(key, lam, shape).astype(dtype)
    if name == "rayleigh":
        return args[0] * jnp.sqrt(-2.0 * jnp.log1p(-u(key)))
    raise ValueError(f"unknown distribution '{name}'")


def draw(name: str, key, args):
    """A draw from distribution ``name`` with (already evaluated) arguments ``args``."""
    need, _ = ARITY[name]
    args = [jnp.asarray(a, jnp.float64) for a in args]
    shape = jnp.broadcast_shapes(*(a.shape for a in args))
    dtype = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    if len(args) == need:
        return _one(name, key, args[:need], shape, dtype)
    lo, hi = args[need], args[need + 1]

    def cond(c):
        _, x, n = c
        return jnp.any(~((x >= lo) & (x <= hi))) & (n < MAX_TRIES)

    def body(c):
        k, x, n = c
        k, sub = jax.random.split(k)
        new = _one(name, sub, args[:need], shape, dtype)
        ok = (x >= lo) & (x <= hi)
        return k, jnp.where(ok, x, new), n + 1

    init = (key, jnp.full(shape, jnp.nan, dtype), jnp.array(0))
    _, x, _ = jax.lax.while_loop(cond, body, init)
    return jnp.where((x >= lo) & (x <= hi), x, jnp.nan)
