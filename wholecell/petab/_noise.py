"""Negative log-likelihoods of PEtab's noise models (PEtab v1 conventions)."""

from __future__ import annotations

import math

import jax.numpy as jnp

from ._errors import PetabError

TRANSFORMS = ("lin", "log", "log10")
DISTRIBUTIONS = ("normal", "laplace")
_LN10 = math.log(10.0)


def _transform(x, transform: str):
    if transform == "log":
        return jnp.log(x)
    if transform == "log10":
        return jnp.log10(x)
    return x


def nll(y, h, sigma, distribution: str, transform: str):
    """Per-measurement negative log-likelihood of data ``y`` given simulation ``h``.

    ``sigma`` is the noise parameter (standard deviation of the normal, scale of the
    Laplace) on the transformed scale. For ``log``/``log10`` the density is that of ``y``
    itself: the change of variables adds ``log(y)`` (``log(y ln 10)`` for log10), as
    PEtab v1 defines it.

    Raises:
        PetabError: an unknown distribution or transformation.
    """
    if transform not in TRANSFORMS:
        raise PetabError(f"unknown observableTransformation '{transform}'")
    r = _transform(y, transform) - _transform(h, transform)
    if distribution == "normal":
        out = 0.5 * jnp.log(2.0 * math.pi * sigma**2) + 0.5 * (r / sigma) ** 2
    elif distribution == "laplace":
        out = jnp.log(2.0 * sigma) + jnp.abs(r) / sigma
    else:
        raise PetabError(f"unknown noiseDistribution '{distribution}'")
    if transform == "log":
        out = out + jnp.log(y)
    elif transform == "log10":
        out = out + jnp.log(y * _LN10)
    return out


def weighted_residuals(y, h, sigma, transform: str):
    """``(T(y) - T(h)) / sigma`` on the transformed scale: for normal noise the
    negative log-likelihood is half their sum of squares plus terms free of ``h``."""
    if transform not in TRANSFORMS:
        raise PetabError(f"unknown observableTransformation '{transform}'")
    return (_transform(y, transform) - _transform(h, transform)) / sigma
