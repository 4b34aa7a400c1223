"""The PEtab parameter table: scales, bounds, nominal values and objective priors."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ._errors import PetabError, UnsupportedPetabError

SCALES = ("lin", "log", "log10")
_PRIORS = (
    "uniform", "normal", "laplace", "logNormal", "logLaplace",
    "parameterScaleUniform", "parameterScaleNormal", "parameterScaleLaplace",
)


def _float(text: str, where: str, default: float | None = None) -> float:
    if text == "" and default is not None:
        return default
    try:
        return float(text)
    except ValueError as err:
        raise PetabError(f"{where}: '{text}' is not a number") from err


def to_scale(x, scale: str):
    """A value on its PEtab scale (``lin``, ``log`` or ``log10``)."""
    if scale == "log":
        return jnp.log(x)
    if scale == "log10":
        return jnp.log10(x)
    return x


def from_scale(x, scale: str):
    """The linear value of ``x`` given on ``scale``."""
    if scale == "log":
        return jnp.exp(x)
    if scale == "log10":
        return jnp.power(10.0, x)
    return x


@dataclass(frozen=True)
class Prior:
    """An objective prior: its PEtab type, parameters and the index of its parameter."""

    kind: str
    a: float
    b: float
    index: int  # position among the estimated parameters
    log_mass: float = 0.0  # log of its mass within the bounds (PEtab v2 truncates there)


@dataclass(frozen=True)
class ParameterTable:
    """Every id of the parameter table, with what the objective needs of it."""

    ids: tuple[str, ...]
    scales: tuple[str, ...]
    lower: np.ndarray  # linear scale
    upper: np.ndarray
    nominal: np.ndarray  # linear scale
    estimated: np.ndarray  # bool
    priors: tuple[Prior, ...]

    @property
    def estimated_index(self) -> np.ndarray:
        return np.flatnonzero(self.estimated)

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.ids)}

    def values(self, theta) -> jnp.ndarray:
        """Linear values of every id, ``theta`` (estimated ones, on their scales) inserted."""
        est = self.estimated_index
        v = jnp.asarray(self.nominal)
        lin = jnp.stack([from_scale(theta[k], self.scales[i]) for k, i in enumerate(est)])
        return v.at[est].set(lin) if len(est) else v

    def prior_nll(self, theta) -> jnp.ndarray:
        """The negative log-density of the objective priors at ``theta``."""
        total = jnp.zeros((), dtype=jnp.float64)
        est = self.estimated_index
        for pr in self.priors:
            s = theta[pr.index]
            x = from_scale(s, self.scales[est[pr.index]])
            total = total + _prior_nll(pr, s, x) + pr.log_mass
        return total


def _cdf(kind: str, a: float, b: float, x: float) -> float:
    """The cumulative distribution of a (log-)normal or (log-)Laplace prior at ``x``."""
    if kind in ("logNormal", "logLaplace"):
        if x <= 0:
            return 0.0
        kind, x = kind[3:].lower(), math.log(x)
    if kind == "normal":
        return 0.5 * math.erfc(-(x - a) / (b * math.sqrt(2.0)))
    z = (x - a) / b
    return 0.5 * math.exp(z) if z < 0 else 1.0 - 0.5 * math.exp(-z)


def truncated(kind: str, a: float, b: float, lower: float, upper: float
              ) -> tuple[float, float, float]:
    """(a, b, log mass) of a prior truncated to [lower, upper], as PEtab v2 defines its
    priors: a uniform prior's interval is cut to the bounds; another prior keeps its
    parameters and is divided by its mass within them.

    Raises:
        PetabError: the prior has no mass within the bounds.
    """
    if kind == "uniform":
        a, b = max(a, lower), min(b, upper)
        mass = 1.0 if b > a else 0.0
    else:
        mass = _cdf(kind, a, b, upper) - _cdf(kind, a, b, lower)
    if not mass > 0:
        raise PetabError(f"a {kind} prior ({a}, {b}) has no mass between the bounds "
                         f"{lower} and {upper}")
    return a, b, math.log(mass)


def _prior_nll(pr: Prior, s, x):
    a, b = pr.a, pr.b
    if pr.kind.startswith("parameterScale"):
        kind, u = pr.kind[len("parameterScale"):].lower(), s
    else:
        kind, u = pr.kind, x
    if kind == "uniform":
        return jnp.where((u >= a) & (u <= b), math.log(b - a), jnp.inf)
    if kind == "normal":
        return 0.5 * math.log(2 * math.pi * b * b) + 0.5 * ((u - a) / b) ** 2
    if kind == "laplace":
        return math.log(2 * b) + jnp.abs(u - a) / b
    if kind == "logNormal":
        return 0.5 * math.log(2 * math.pi * b * b) + jnp.log(u) + 0.5 * ((jnp.log(u) - a) / b) ** 2
    if kind == "logLaplace":
        return math.log(2 * b) + jnp.log(u) + jnp.abs(jnp.log(u) - a) / b
    raise UnsupportedPetabError(f"objective prior '{pr.kind}'")


def read_parameters(df: pd.DataFrame, truncate: bool = False) -> ParameterTable:
    """The `ParameterTable` of a PEtab parameter table.

    Arguments:
        df: the table (v1 columns).
        truncate: whether the objective priors are truncated to the bounds (PEtab v2,
            see `truncated`; only linear-scale priors, the ones v2 has).

    Raises:
        PetabError: a malformed row (unknown scale, bad number, duplicate id).
        UnsupportedPetabError: an objective prior PEtab v1 does not define.
    """
    ids, scales, lo, hi, nom, est = [], [], [], [], [], []
    priors = []
    if df["parameterId"].duplicated().any():
        dup = df["parameterId"][df["parameterId"].duplicated()].iloc[0]
        raise PetabError(f"parameter table: id '{dup}' appears twice")
    for _, row in df.iterrows():
        pid = row["parameterId"]
        where = f"parameter table, '{pid}'"
        scale = row["parameterScale"] or "lin"
        if scale not in SCALES:
            raise PetabError(f"{where}: unknown parameterScale '{scale}'")
        estimate = row["estimate"] in ("1", "1.0", "true", "True")
        nominal = _float(row["nominalValue"], where, math.nan)
        if math.isnan(nominal) and not estimate:
            raise PetabError(f"{where}: a fixed parameter needs a nominalValue")
        ids.append(pid)
        scales.append(scale)
        lo.append(_float(row["lowerBound"], where, -math.inf))
        hi.append(_float(row["upperBound"], where, math.inf))
        nom.append(nominal)
        est.append(estimate)
        kind = row.get("objectivePriorType", "") or ""
        if kind and estimate:
            if kind not in _PRIORS:
                raise UnsupportedPetabError(f"objective prior '{kind}'", where)
            pars = (row.get("objectivePriorParameters", "") or "").split(";")
            if len(pars) != 2:
                raise PetabError(f"{where}: objectivePriorParameters needs two numbers")
            a, b = (_float(x, where) for x in pars)
            log_mass = 0.0
            if truncate:
                if kind.startswith("parameterScale"):
                    raise UnsupportedPetabError(f"a truncated {kind} prior", where)
                try:
                    a, b, log_mass = truncated(kind, a, b, lo[-1], hi[-1])
                except PetabError as err:
                    raise PetabError(f"{where}: {err}") from None
            priors.append(Prior(kind, a, b, sum(est) - 1, log_mass))
    return ParameterTable(
        ids=tuple(ids),
        scales=tuple(scales),
        lower=np.asarray(lo, dtype=np.float64),
        upper=np.asarray(hi, dtype=np.float64),
        nominal=np.asarray(nom, dtype=np.float64),
        estimated=np.asarray(est, dtype=bool),
        priors=tuple(priors),
    )
