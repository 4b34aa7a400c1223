"""Read a PEtab problem: the YAML file and its tab-separated tables (v1 here, v2 through
`_v2`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from ._errors import PetabError, UnsupportedPetabError
from ._files import Tables, read_table, read_v2_files
from ._v2 import tables_from_v2

_REQUIRED = {
    "parameters": ("parameterId", "parameterScale", "lowerBound", "upperBound", "nominalValue",
                   "estimate"),
    "measurements": ("observableId", "simulationConditionId", "measurement", "time"),
    "observables": ("observableId", "observableFormula", "noiseFormula"),
    "conditions": ("conditionId",),
}


def _concat(dirname: Path, files, kind: str) -> pd.DataFrame:
    if not files:
        raise PetabError(f"the PEtab problem lists no {kind} file")
    if isinstance(files, str):
        files = [files]
    frames = [read_table(dirname / f) for f in files]
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    missing = [c for c in _REQUIRED[kind] if c not in df.columns]
    if missing:
        raise PetabError(f"the {kind} table lacks column(s) {', '.join(missing)}")
    return df


def read_tables(problem: str | Path) -> Tables:
    """Read the PEtab problem whose YAML file is ``problem``.

    Arguments:
        problem: path of the PEtab YAML file (format version 1 or 2), or of a folder
            holding one (``<folder>/<folder name>.yaml``, then ``problem.yaml``, preferred).

    Returns:
        The `Tables`, in v1 form also for a v2 problem (see `_v2.tables_from_v2`).

    Raises:
        PetabError: a file is missing or unreadable, or a required column is absent.
        UnsupportedPetabError: neither PEtab v1 nor v2, several models or sub-problems,
            or a v2 construct that has no v1 form (`_v2.tables_from_v2`).
    """
    path = Path(problem)
    if path.is_dir():
        named = [path / f"{path.name}.yaml", path / "problem.yaml"]  # v1's and v2's names
        found = [f for f in named if f.exists()] or sorted(path.glob("*.yaml"))
        if not found:
            raise PetabError(f"no PEtab YAML file in '{path}'")
        path = found[0]
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise PetabError(f"cannot read PEtab YAML '{path}': {err}") from err
    if not isinstance(spec, dict):
        raise PetabError(f"PEtab YAML '{path}' is not a mapping of keys to values")
    version = str(spec.get("format_version", ""))
    if version.startswith("2"):
        return tables_from_v2(read_v2_files(path, spec))
    if not version.startswith("1"):
        raise UnsupportedPetabError(f"PEtab format version {version}",
                                    "versions 1 and 2 are supported")
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
