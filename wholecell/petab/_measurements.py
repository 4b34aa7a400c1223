"""Measurements grouped for batched simulation, and per-observable evaluation plans."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sympy as sp

from ._errors import PetabError, UnsupportedPetabError
from ._math import names_in, parse
from ._noise import DISTRIBUTIONS, TRANSFORMS


@dataclass(frozen=True)
class Group:
    """Simulations solved together (vmap): same end time, union of their output times."""

    ts: np.ndarray
    members: np.ndarray  # indices into the simulation list
    offset: int  # first row of this group in the flattened (member, time) rows


@dataclass(frozen=True)
class Placeholders:
    """Values of ``observableParameterK_<id>`` / ``noiseParameterK_<id>`` per measurement."""

    names: tuple[str, ...]
    const: np.ndarray  # (n_meas, n_names)
    index: np.ndarray  # (n_meas, n_names) parameter table index, -1 for a constant


@dataclass(frozen=True)
class ObservablePlan:
    """Everything needed to evaluate one observable's measurements."""

    id: str
    formula: sp.Expr
    noise: sp.Expr
    transform: str
    distribution: str
    rows: np.ndarray  # indices into the measurement table
    flat_rows: np.ndarray  # rows of the flattened simulation output
    times: np.ndarray
    y: np.ndarray
    placeholders: Placeholders


@dataclass(frozen=True)
class Simulations:
    """The distinct (pre-equilibration, simulation) condition pairs and their groups."""

    pairs: tuple[tuple[str, str], ...]
    preeq_ids: tuple[str, ...]  # distinct pre-equilibration conditions
    preeq_of: np.ndarray  # per pair: index into preeq_ids, or -1
    groups: tuple[Group, ...]
    n_rows: int
    #: pairs with measurements at steady state (time ``inf``): their rows follow the
    #: groups' in this order, one per pair
    steady: np.ndarray


#: ``batch="auto"`` batches by end time up to this many batches, else all together
MAX_AUTO_GROUPS = 3


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series([""] * len(df), index=df.index)


def plan_simulations(meas: pd.DataFrame, batch: str = "auto") -> tuple[Simulations, np.ndarray]:
    """Pairs, groups and, per measurement, its row of the flattened simulation output.

    ``batch`` is ``"end"`` (one vmapped batch per distinct end time), ``"all"`` (one
    batch on the union of all output times) or ``"auto"`` (``"end"`` while that makes
    at most `MAX_AUTO_GROUPS` batches: each batch is compiled separately).

    Measurements at time ``inf`` (at steady state: post-equilibration) are not in the
    groups; their pairs are `Simulations.steady`, one row each after the groups' rows.

    Raises:
        PetabError: a time that is not a number, or minus infinity.
    """
    times = np.array([_time(t) for t in meas["time"]])
    if np.any(np.isneginf(times)):
        raise PetabError("measurement table: a time of -inf (steady state is time inf)")
    steady = np.isinf(times)
    pre = _col(meas, "preequilibrationConditionId").tolist()
    sim = meas["simulationConditionId"].tolist()
    pairs = list(dict.fromkeys(zip(pre, sim, strict=True)))
    pair_index = {p: i for i, p in enumerate(pairs)}
    preeq_ids = list(dict.fromkeys(p for p, _ in pairs if p))
    preeq_of = np.array([preeq_ids.index(p) if p else -1 for p, _ in pairs], dtype=np.int64)
    which = np.array([pair_index[p] for p in zip(pre, sim, strict=True)], dtype=np.int64)
    # group by end time: the end time sets the cost, extra output times are nearly free
    ends: dict[float, list[int]] = {}
    for q in range(len(pairs)):
        finite = (which == q) & ~steady
        if finite.any():
            ends.setdefault(float(times[finite].max()), []).append(q)
    if batch not in ("auto", "end", "all"):
        raise PetabError(f"batch must be 'auto', 'end' or 'all', not '{batch}'")
    if ends and (batch == "all" or (batch == "auto" and len(ends) > MAX_AUTO_GROUPS)):
        ends = {max(ends): [q for qs in ends.values() for q in qs]}
    groups, flat, offset = [], np.zeros(len(meas), dtype=np.int64), 0
    for _, members in sorted(ends.items()):
        mask = np.isin(which, members) & ~steady
        ts = np.unique(np.concatenate([[0.0], times[mask]]))
        pos = {q: k for k, q in enumerate(members)}
        for m in np.flatnonzero(mask):
            flat[m] = offset + pos[which[m]] * len(ts) + np.searchsorted(ts, times[m])
        groups.append(Group(ts, np.asarray(members, dtype=np.int64), offset))
        offset += len(members) * len(ts)
    at_steady = np.unique(which[steady])
    for m in np.flatnonzero(steady):
        flat[m] = offset + np.searchsorted(at_steady, which[m])
    offset += len(at_steady)
    sims = Simulations(tuple(pairs), tuple(preeq_ids), preeq_of, tuple(groups), offset,
                       at_steady.astype(np.int64))
    return sims, flat


def _time(text: str) -> float:
    try:
        return float(text)
    except ValueError as err:
        raise PetabError(f"measurement table: time '{text}' is not a number") from err


def _overrides(text: str, n: int, table_index: dict[str, int], where: str):
    parts = [s.strip() for s in str(text).split(";")] if str(text).strip() else []
    if len(parts) == 1 and n > 1:
        parts = parts * n  # PEtab allows one value for all placeholders
    if len(parts) != n:
        raise PetabError(f"{where}: {len(parts)} override(s) given, {n} placeholder(s) used")
    const, index = np.full(n, math.nan), np.full(n, -1, dtype=np.int64)
    for k, s in enumerate(parts):
        try:
            const[k] = float(s)
        except ValueError:
            if s not in table_index:
                raise PetabError(f"{where}: '{s}' is not a parameter table id") from None
            index[k] = table_index[s]
    return const, index


def _placeholder_names(expr: sp.Expr, kind: str, obs_id: str) -> list[str]:
    pref = f"{kind}Parameter"
    found = []
    for n in names_in(expr):
        if n.startswith(pref) and n.endswith(f"_{obs_id}"):
            num = n[len(pref):-len(obs_id) - 1]
            if num.isdigit():
                found.append((int(num), n))
    return [n for _, n in sorted(found)]


def plan_observables(
    obs: pd.DataFrame, meas: pd.DataFrame, flat: np.ndarray, table_index: dict[str, int]
) -> list[ObservablePlan]:
    """One `ObservablePlan` per observable that has measurements.

    Raises:
        PetabError: unknown observable, unparsable formula, bad overrides or data.
    """
    obs = obs.set_index("observableId", drop=False)
    plans = []
    for oid, rows in meas.groupby("observableId", sort=False).indices.items():
        if oid not in obs.index:
            raise PetabError(f"measurement table: observable '{oid}' is not defined")
        row = obs.loc[oid]
        formula = parse(row["observableFormula"], f"observable '{oid}' (observableFormula)")
        noise = parse(row["noiseFormula"], f"observable '{oid}' (noiseFormula)")
        transform = row.get("observableTransformation", "") or "lin"
        dist = row.get("noiseDistribution", "") or "normal"
        if transform not in TRANSFORMS:
            raise PetabError(f"observable '{oid}': unknown observableTransformation '{transform}'")
        if dist not in DISTRIBUTIONS:
            raise UnsupportedPetabError(f"noise distribution '{dist}'", f"observable '{oid}'")
        o_names = _placeholder_names(formula, "observable", oid)
        o_names += [n for n in _placeholder_names(noise, "observable", oid) if n not in o_names]
        n_names = _placeholder_names(noise, "noise", oid)
        sub = meas.iloc[rows]
        consts, idxs = [], []
        for (_, m), r in zip(sub.iterrows(), rows, strict=True):
            where = f"measurement table row {r + 2}"
            c1, i1 = _overrides(m.get("observableParameters", ""), len(o_names), table_index,
                                where + " (observableParameters)")
            c2, i2 = _overrides(m.get("noiseParameters", ""), len(n_names), table_index,
                                where + " (noiseParameters)")
            consts.append(np.concatenate([c1, c2]))
            idxs.append(np.concatenate([i1, i2]))
        k = len(o_names) + len(n_names)
        ph = Placeholders(
            tuple(o_names + n_names),
            np.asarray(consts, dtype=np.float64).reshape(len(rows), k),
            np.asarray(idxs, dtype=np.int64).reshape(len(rows), k),
        )
        try:
            y = sub["measurement"].astype(float).to_numpy()
        except ValueError as err:
            raise PetabError(f"observable '{oid}': a measurement is not a number") from err
        plans.append(ObservablePlan(
            oid, formula, noise, transform, dist, np.asarray(rows), flat[rows],
            sub["time"].astype(float).to_numpy(), y, ph,
        ))
    return plans
