"""PEtab v2 problems translated into the v1 `Tables` the objective reads.

What changes from v1, and its v1 form here:

- experiments (``experimentId, time, conditionId``) replace the measurements'
  ``simulationConditionId`` / ``preequilibrationConditionId``: an experiment of one
  period at time 0, optionally after a pre-equilibration period at ``-inf``, becomes one
  simulation condition (named by the experiment) and one pre-equilibration condition.
  Conditions persist across periods in v2, so the simulation condition also carries the
  pre-equilibration's changes to parameters and compartments that it does not change
  itself (species restart only where the simulation condition sets them, as in v1);
- the long conditions table (``conditionId, targetId, targetValue``) becomes v1's wide one;
- ``noiseDistribution`` ``log-normal`` / ``log-laplace`` becomes ``observableTransformation``
  ``log`` with ``normal`` / ``laplace``; placeholders named in ``observablePlaceholders`` /
  ``noisePlaceholders`` become ``observableParameter<k>_<id>`` / ``noiseParameter<k>_<id>``;
  observable ids inside formulas are replaced by their formulas;
- parameters have no ``parameterScale`` (``lin``, unless a draft's column gives one);
  ``priorDistribution`` / ``priorParameters`` become objective priors on the linear scale;
- mapping-table aliases (``petabEntityId`` -> ``modelEntityId``) are replaced by the model's
  ids throughout.

Whatever has no v1 form is refused by name (`UnsupportedPetabError`).
"""

from __future__ import annotations

import math
import re

import libsbml
import pandas as pd

from ._errors import PetabError, UnsupportedPetabError
from ._files import Tables, V2Files

#: v2 noise distribution -> v1 (observableTransformation, noiseDistribution)
NOISE_MODELS = {
    "normal": ("lin", "normal"),
    "laplace": ("lin", "laplace"),
    "log-normal": ("log", "normal"),
    "log-laplace": ("log", "laplace"),
}
#: v2 prior distribution -> v1 objectivePriorType (both on the linear scale)
PRIORS = {
    "normal": "normal",
    "laplace": "laplace",
    "uniform": "uniform",
    "log-normal": "logNormal",
    "log-laplace": "logLaplace",
}
#: the v1 condition id of the pre-equilibration of the conditions ``c1+c2``; the prefix
#: holds a character no PEtab id has, so it never meets an experiment's id
PREEQ_PREFIX = "preequilibration:"

_ID = re.compile(r"(?<![\w.])[A-Za-z_]\w*")
_VALID_ID = re.compile(r"^[A-Za-z_]\w*$")


def noise_model(distribution: str, transformation: str, where: str) -> tuple[str, str]:
    """The v1 (observableTransformation, noiseDistribution) of a v2 ``noiseDistribution``
    (a draft's ``observableTransformation`` column may add ``log`` / ``log10`` to a
    ``normal`` or ``laplace`` one).

    Raises:
        UnsupportedPetabError: a distribution other than (log-)normal and (log-)Laplace.
        PetabError: an unknown transformation, or a log distribution transformed again.
    """
    dist = distribution or "normal"
    if dist not in NOISE_MODELS:
        raise UnsupportedPetabError(f"noise distribution '{dist}'", where)
    transform, base = NOISE_MODELS[dist]
    if transformation and transformation != "lin":
        if transformation not in ("log", "log10"):
            raise PetabError(f"{where}: unknown observableTransformation '{transformation}'")
        if transform != "lin":
            raise PetabError(f"{where}: noise distribution '{dist}' and observable"
                             f"Transformation '{transformation}' both transform")
        transform = transformation
    return transform, base


def _rename(text: str, names: dict[str, str]) -> str:
    """``text`` with every identifier in ``names`` replaced (numbers' exponents kept)."""
    if not names or not text:
        return text
    return _ID.sub(lambda m: names.get(m.group(0), m.group(0)), text)


def _split(text: str) -> list[str]:
    return [s.strip() for s in str(text).split(";") if s.strip()] if text else []


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _require(df: pd.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise PetabError(f"the {what} table lacks column(s) {', '.join(missing)}")


def _aliases(mapping: pd.DataFrame) -> dict[str, str]:
    """petabEntityId -> modelEntityId for the mapping rows that rename something."""
    if mapping.empty:
        return {}
    _require(mapping, ("petabEntityId", "modelEntityId"), "mapping")
    names = {}
    for pid, mid in zip(mapping["petabEntityId"], mapping["modelEntityId"], strict=True):
        if not mid or mid == pid:
            continue  # an annotation, or the model's own id
        if not _VALID_ID.match(mid):
            raise UnsupportedPetabError(
                f"a mapping to the model entity '{mid}', which is not an identifier",
                f"petabEntityId '{pid}' (only aliases of SBML ids are supported)")
        names[pid] = mid
    return names


def _parameters(df: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    _require(df, ("parameterId", "estimate"), "parameters")
    rows = []
    for _, row in df.iterrows():
        pid = names.get(row["parameterId"], row["parameterId"])
        where = f"parameter table, '{row['parameterId']}'"
        est = str(row["estimate"]).lower()
        if est not in ("true", "false", "1", "0"):
            raise PetabError(f"{where}: estimate '{row['estimate']}' is not true or false")
        estimate = est in ("true", "1")
        out = {"parameterId": pid, "parameterScale": row.get("parameterScale", "") or "lin",
               "lowerBound": row.get("lowerBound", ""), "upperBound": row.get("upperBound", ""),
               "nominalValue": row.get("nominalValue", ""), "estimate": "1" if estimate else "0",
               "objectivePriorType": "", "objectivePriorParameters": ""}
        dist = row.get("priorDistribution", "")
        if dist and estimate:
            if dist not in PRIORS:
                raise UnsupportedPetabError(f"prior distribution '{dist}'",
                                            f"{where} (supported: {', '.join(PRIORS)})")
            pars = row.get("priorParameters", "")
            if not pars and dist == "uniform":
                pars = f"{out['lowerBound']};{out['upperBound']}"
            out["objectivePriorType"], out["objectivePriorParameters"] = PRIORS[dist], pars
        rows.append(out)
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else ["parameterId"])


def _observables(df: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    _require(df, ("observableId", "observableFormula", "noiseFormula"), "observables")
    formulas, noises, models, placeheld = {}, {}, {}, set()
    for _, row in df.iterrows():
        oid = row["observableId"]
        local = dict(names)
        for col, kind in (("observablePlaceholders", "observable"),
                          ("noisePlaceholders", "noise")):
            for k, name in enumerate(_split(row.get(col, "")), start=1):
                local[name] = f"{kind}Parameter{k}_{oid}"
                placeheld.add(oid)
        formulas[oid] = _rename(row["observableFormula"], local)
        noises[oid] = _rename(row["noiseFormula"], local)
        models[oid] = noise_model(row.get("noiseDistribution", ""),
                                  row.get("observableTransformation", ""),
                                  f"observable '{oid}'")
    formulas = _expand(formulas, formulas, placeheld, "observableFormula")
    noises = _expand(noises, formulas, placeheld, "noiseFormula")
    return pd.DataFrame({
        "observableId": list(formulas), "observableFormula": list(formulas.values()),
        "noiseFormula": [noises[o] for o in formulas],
        "observableTransformation": [models[o][0] for o in formulas],
        "noiseDistribution": [models[o][1] for o in formulas],
    })


def _expand(texts: dict[str, str], formulas: dict[str, str], placeheld: set[str],
            column: str) -> dict[str, str]:
    """``texts`` with observable ids replaced by their (expanded) formulas."""
    out = {}
    for oid, text in texts.items():
        for _ in range(len(formulas) + 1):
            used = {m.group(0) for m in _ID.finditer(text)} & set(formulas)
            if not used:
                break
            held = sorted((used & placeheld) - {oid})  # its own: the same overrides
            if held:
                raise UnsupportedPetabError(
                    f"a {column} naming observable '{held[0]}', which has placeholders",
                    f"observable '{oid}'")
            text = _rename(text, {o: f"({formulas[o]})" for o in used})
        else:
            raise PetabError(f"observable '{oid}': its {column} refers to itself through "
                             "other observables")
        out[oid] = text
    return out


def _conditions(df: pd.DataFrame, names: dict[str, str],
                parameter_ids: set[str]) -> dict[str, dict[str, str]]:
    """conditionId -> {target: value} (a number or a parameter table id)."""
    if df.empty:
        return {}
    _require(df, ("conditionId", "targetId", "targetValue"), "conditions")
    if "operationType" in df.columns:
        other = set(df["operationType"]) - {"", "setCurrentValue"}
        if other:
            raise UnsupportedPetabError(f"condition operationType {sorted(other)[0]}")
    out: dict[str, dict[str, str]] = {}
    for _, row in df.iterrows():
        cid = row["conditionId"]
        changes = out.setdefault(cid, {})
        if not row["targetId"]:
            continue
        target = names.get(row["targetId"], row["targetId"])
        value = names.get(row["targetValue"], row["targetValue"])
        where = f"condition '{cid}', target '{row['targetId']}'"
        number = _number(value)
        if (number is None or math.isnan(number)) and value not in parameter_ids:
            raise UnsupportedPetabError(
                f"the condition value '{row['targetValue']}'",
                f"{where} (give a number or a parameter table id)")
        if target in changes:
            raise PetabError(f"{where}: the condition sets its target twice")
        changes[target] = value
    return out


def _periods(df: pd.DataFrame) -> dict[str, dict[float, list[str]]]:
    """experimentId -> {start time: condition ids}."""
    if df.empty:
        return {}
    _require(df, ("experimentId", "time", "conditionId"), "experiments")
    out: dict[str, dict[float, list[str]]] = {}
    for _, row in df.iterrows():
        eid = row["experimentId"]
        time = _number(row["time"])
        if time is None or math.isnan(time) or time == math.inf:
            raise PetabError(f"experiment '{eid}': time '{row['time']}' is neither a number "
                             "nor -inf")
        cids = out.setdefault(eid, {}).setdefault(time, [])
        if row["conditionId"]:
            cids.append(row["conditionId"])
    return out


def _merge(cids: list[str], conditions: dict[str, dict[str, str]], where: str
           ) -> dict[str, str]:
    merged: dict[str, str] = {}
    for cid in cids:
        if cid not in conditions:
            raise PetabError(f"{where}: condition '{cid}' is not in the conditions table")
        both = set(merged) & set(conditions[cid])
        if both:
            raise PetabError(f"{where}: two conditions set '{sorted(both)[0]}' at once")
        merged.update(conditions[cid])
    return merged


def _species_ids(files: V2Files) -> set[str]:
    doc = libsbml.readSBMLFromFile(str(files.sbml))
    model = doc.getModel()
    if model is None:
        raise PetabError(f"SBML model '{files.sbml}' has no model")
    return {s.getId() for s in model.getListOfSpecies()}


def tables_from_v2(files: V2Files) -> Tables:
    """The v1 `Tables` of a PEtab v2 problem (see the module's docstring).

    Raises:
        PetabError: a missing column, an unknown experiment or condition, a target set
            twice at once.
        UnsupportedPetabError: an extension; an experiment of more than one period after
            its pre-equilibration, or starting at a time other than 0; a condition value
            that is an expression or names a model entity; a noise or prior distribution
            without a v1 form; a mapping to an id that is not an identifier.
    """
    for name, ext in (files.spec.get("extensions") or {}).items():
        if ext:
            hint = ("; load it with wc.neural.load_sciml_problem" if name == "sciml" else "")
            raise UnsupportedPetabError(f"PEtab extension '{name}'", f"{files.yaml}{hint}")
    for what, df in (("parameter", files.parameters), ("measurement", files.measurements),
                     ("observable", files.observables)):
        if df.empty:
            raise PetabError(f"the PEtab problem '{files.yaml}' lists no {what} file")
    names = _aliases(files.mapping)
    parameters = _parameters(files.parameters, names)
    conditions = _conditions(files.conditions, names, set(parameters["parameterId"]))
    periods = _periods(files.experiments)
    meas = files.measurements.copy()
    _require(meas, ("observableId", "measurement", "time"), "measurements")
    if "experimentId" not in meas.columns:
        meas["experimentId"] = ""
    species: set[str] | None = None
    rows: dict[str, dict[str, str]] = {}   # v1 condition id -> its changes
    pairs: dict[str, tuple[str, str]] = {}  # experiment id -> (pre, simulation) condition
    for eid in dict.fromkeys(meas["experimentId"]):
        if not eid:
            rows[""], pairs[""] = {}, ("", "")
            continue
        if eid not in periods:
            raise PetabError(f"measurements name experiment '{eid}', which the experiments "
                             "table lacks")
        starts = sorted(periods[eid])
        pre = starts[0] == -math.inf
        main = starts[1:] if pre else starts
        if len(main) != 1:
            raise UnsupportedPetabError(
                f"an experiment of {len(main)} periods" + (" after pre-equilibration"
                                                           if pre else ""),
                f"experiment '{eid}' (one period, after an optional pre-equilibration "
                "at -inf, is supported)")
        if main[0] != 0.0:
            raise UnsupportedPetabError(f"an experiment starting at time {main[0]:g}",
                                        f"experiment '{eid}' (simulations start at 0)")
        sim = _merge(periods[eid][main[0]], conditions, f"experiment '{eid}'")
        pre_id = ""
        if pre:
            cids = periods[eid][-math.inf]
            pre_id = PREEQ_PREFIX + "+".join(cids)
            rows[pre_id] = _merge(cids, conditions, f"experiment '{eid}'")
            if rows[pre_id]:
                # v2 changes persist: parameters keep the pre-equilibration's values
                species = _species_ids(files) if species is None else species
                sim = {**{k: v for k, v in rows[pre_id].items() if k not in species}, **sim}
        rows[eid], pairs[eid] = sim, (pre_id, eid)
    meas["preequilibrationConditionId"] = [pairs[e][0] for e in meas["experimentId"]]
    meas["simulationConditionId"] = [pairs[e][1] for e in meas["experimentId"]]
    for col in ("observableParameters", "noiseParameters"):
        if col in meas.columns:
            meas[col] = [";".join(names.get(s, s) for s in _split(t)) if names else t
                         for t in meas[col]]
    targets = sorted({t for changes in rows.values() for t in changes})
    wide = pd.DataFrame({"conditionId": list(rows)}
                        | {t: [rows[c].get(t, "") for c in rows] for t in targets})
    path = files.yaml
    folder = path.parent.name
    return Tables(
        name=folder if path.stem in (folder, "problem") else path.stem,
        sbml=files.sbml,
        parameters=parameters,
        measurements=meas.reset_index(drop=True),
        observables=_observables(files.observables, names),
        conditions=wide,
        yaml=path,
        version=2,
    )
