"""The files of a PEtab problem: one table, the tables the objective reads, and the files a
PEtab v2 YAML file lists (read here for `wc.petab` and for `wc.neural`'s SciML problems)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ._errors import PetabError, UnsupportedPetabError


@dataclass(frozen=True)
class Tables:
    """The parsed tables of one PEtab problem (pandas frames, ids as strings), in PEtab v1
    form: a v2 problem is translated into it (`_v2.tables_from_v2`)."""

    name: str
    sbml: Path
    parameters: pd.DataFrame
    measurements: pd.DataFrame
    observables: pd.DataFrame
    conditions: pd.DataFrame
    yaml: Path | None = None  # the problem's YAML file
    version: int = 1  # the PEtab major version of the files (2: priors truncated at bounds)


def read_table(path: Path) -> pd.DataFrame:
    """One tab-separated PEtab table, every cell a stripped string (empty where blank).

    Raises:
        PetabError: the file is missing or unreadable.
    """
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise PetabError(f"cannot read PEtab table '{path}': {err}") from err
    df.columns = [c.strip() for c in df.columns]
    return df.apply(lambda col: col.str.strip())


def read_listed(root: Path, files: list[str] | str | None) -> pd.DataFrame:
    """The tables ``files`` (relative to ``root``) one after the other; an empty frame
    where none is listed."""
    if not files:
        return pd.DataFrame()
    files = [files] if isinstance(files, str) else files
    frames = [read_table(root / f) for f in files]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


@dataclass(frozen=True)
class V2Files:
    """The files a PEtab v2 YAML file lists, read but not interpreted (empty frames for
    tables it does not list)."""

    yaml: Path
    spec: dict
    sbml: Path
    experiments: pd.DataFrame
    conditions: pd.DataFrame
    observables: pd.DataFrame
    measurements: pd.DataFrame
    parameters: pd.DataFrame
    mapping: pd.DataFrame


def read_v2_files(path: Path, spec: dict) -> V2Files:
    """Read the model path and the tables of the PEtab v2 problem whose YAML file is
    ``path`` (already parsed into ``spec``).

    Raises:
        PetabError: a table is missing or unreadable, or the model file is missing.
        UnsupportedPetabError: not exactly one model, or a model that is not SBML.
    """
    root = path.parent
    models = spec.get("model_files") or {}
    if len(models) != 1:
        raise UnsupportedPetabError(f"{len(models)} models in one problem (model_files: "
                                    f"{', '.join(models) or 'none'})",
                                    "one SBML model is supported")
    ((model_id, model),) = models.items()
    language = str(model.get("language", "sbml")).lower()
    if language != "sbml":
        raise UnsupportedPetabError(f"model language '{language}'", f"model '{model_id}'")
    sbml = root / str(model.get("location", ""))
    if not sbml.is_file():
        raise PetabError(f"model '{model_id}' of the PEtab problem: file '{sbml}' is missing")
    return V2Files(
        yaml=path, spec=spec, sbml=sbml,
        experiments=read_listed(root, spec.get("experiment_files")),
        conditions=read_listed(root, spec.get("condition_files")),
        observables=read_listed(root, spec.get("observable_files")),
        measurements=read_listed(root, spec.get("measurement_files")),
        parameters=read_listed(root, spec.get("parameter_files")),
        mapping=read_listed(root, spec.get("mapping_files")),
    )
