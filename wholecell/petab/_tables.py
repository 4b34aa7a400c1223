"""Read a PEtab v1 problem: the YAML file and its tab-separated tables."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from ._errors import PetabError, UnsupportedPetabError

_REQUIRED = {
    "parameters": ("parameterId", "parameterScale", "lowerBound", "upperBound", "nominalValue",
                   "estimate"),
    "measurements": ("observableId", "simulationConditionId", "measurement", "time"),
    "observables": ("observableId", "observableFormula", "noiseFormula"),
    "conditions": ("conditionId",),
}


@dataclass(frozen=True)
class Tables:
    """The parsed tables of one PEtab problem (pandas frames, ids as strings)."""

    name: str
    sbml: Path
    parameters: pd.DataFrame
    measurements: pd.DataFrame
    observables: pd.DataFrame
    conditions: pd.DataFrame
    yaml: Path | None = None  # the problem's YAML file


def _read(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise PetabError(f"cannot read PEtab table '{path}': {err}") from err
    df.columns = [c.strip() for c in df.columns]
    return df.apply(lambda col: col.str.strip())


def _concat(dirname: Path, files, kind: str) -> pd.DataFrame:
    if not files:
        raise PetabError(f"the PEtab problem lists no {kind} file")
    if isinstance(files, str):
        files = [files]
    frames = [_read(dirname / f) for f in files]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    missing = [c for c in _REQUIRED[kind] if c not in df.columns]
    if missing:
        raise PetabError(f"the {kind} table lacks column(s) {', '.join(missing)}")
    return df


def read_tables(problem: str | Path) -> Tables:
    """Read the PEtab problem whose YAML file is ``problem``.

    Arguments:
        problem: path of the PEtab YAML file (format version 1), or of a folder holding
            one (``<folder>/<folder name>.yaml`` preferred).

    Returns:
        The `Tables`.

    Raises:
        PetabError: a file is missing or unreadable, or a required column is absent.
        UnsupportedPetabError: not PEtab v1, or several models or sub-problems.
    """
    path = Path(problem)
    if path.is_dir():
        named = path / f"{path.name}.yaml"
        found = [named] if named.exists() else sorted(path.glob("*.yaml"))
        if not found:
            raise PetabError(f"no PEtab YAML file in '{path}'")
        path = found[0]
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise PetabError(f"cannot read PEtab YAML '{path}': {err}") from err
    version = str(spec.get("format_version", ""))
    if not version.startswith("1"):
        raise UnsupportedPetabError(f"PEtab format version {version}", "only v1 is supported")
    probs = spec.get("problems") or []
    if len(probs) != 1:
        raise UnsupportedPetabError("several sub-problems in one YAML file", str(path))
    sub = probs[0]
    sbml_files = sub.get("sbml_files") or []
    if len(sbml_files) != 1:
        raise UnsupportedPetabError("several (or no) SBML models in one problem", str(path))
    d = path.parent
    sbml = d / sbml_files[0]
    if not sbml.exists():
        raise PetabError(f"SBML model '{sbml}' of the PEtab problem is missing")
    return Tables(
        name=path.parent.name if path.stem == path.parent.name else path.stem,
        sbml=sbml,
        parameters=_concat(d, spec.get("parameter_file"), "parameters"),
        measurements=_concat(d, sub.get("measurement_files"), "measurements"),
        observables=_concat(d, sub.get("observable_files"), "observables"),
        conditions=_concat(d, sub.get("condition_files"), "conditions"),
        yaml=path,
    )
