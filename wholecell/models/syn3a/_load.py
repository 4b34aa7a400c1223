"""The built syn3A model, cached on disk: the build reads ~11 MB of tables and writes
~10 MB of SBML, so `load_model` keeps the SBML in the user's cache, keyed by the data
files, the builder's code and the choices (a change to any of them rebuilds)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict
from pathlib import Path

from ...sbml._model import Model
from ...sbml._sbml_import import load_sbml
from ._build import BuildError, Choices, build_sbml
from ._charging import CHARGING_FILES
from ._metabolic_tables import METABOLISM_FILES, OPTIONAL_FILES
from ._metabolism import build_metabolism_sbml
from ._tables import FILES, MinimalCellDataError, default_folder

#: the model's stages (models/syn3a/README.md): gene expression, replication and growth
#: with fixed pools (step 1); metabolism alone with fixed enzymes (step 2); the two
#: coupled (step 3)
STAGES = ("gene_expression", "metabolism", "coupled")


def cache_dir() -> Path:
    """$WHOLECELL_CACHE_DIR/models, else $XDG_CACHE_HOME or ~/.cache, /wholecell/models."""
    if os.environ.get("WHOLECELL_CACHE_DIR"):
        return Path(os.environ["WHOLECELL_CACHE_DIR"]).expanduser() / "models"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "wholecell" / "models"


def _key(folder: Path, genes, choices: Choices, stage: str) -> str:
    if not folder.is_dir():
        raise MinimalCellDataError(
            f"minimal-cell data folder {folder} does not exist (give data= or set "
            "$WHOLECELL_MINIMAL_CELL_DATA)")
    h = hashlib.sha256()
    files = FILES if stage == "gene_expression" else {**FILES, **METABOLISM_FILES}
    optional = set(OPTIONAL_FILES)
    if stage == "coupled":  # tRNA charging, unless Choices(trna_charging=False)
        files = {**files, **CHARGING_FILES}
        optional.update(CHARGING_FILES.values())
    for rel in sorted(files.values()):
        p = folder / rel
        if rel in optional and not p.is_file():  # the build names it if it is needed
            h.update(f"{rel} absent".encode())
            continue
        if not p.is_file():
            raise MinimalCellDataError(
                f"minimal-cell data: {rel} not found under {folder} (give data= or set "
                "$WHOLECELL_MINIMAL_CELL_DATA)")
        h.update(rel.encode())
        h.update(p.read_bytes())
    for code in sorted(Path(__file__).parent.glob("_*.py")):
        h.update(code.read_bytes())
    h.update(repr((stage, sorted(genes) if genes else None,
                   sorted(asdict(choices).items()))).encode())
    return h.hexdigest()[:16]


def sbml_path(data: str | Path | None = None, *, genes=None,
              choices: Choices | None = None, stage: str = "gene_expression") -> Path:
    """The built model's SBML file (built now if the cache lacks it).

    ``stage``: ``"gene_expression"`` (`build_sbml`), ``"metabolism"``
    (`build_metabolism_sbml`, which takes no ``genes``) or ``"coupled"``
    (`build_sbml` with ``metabolism=True``).
    """
    if stage not in STAGES:
        raise BuildError(f"syn3a: unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    if stage == "metabolism" and genes is not None:
        raise BuildError("syn3a: the metabolism stage has no genes to choose")
    folder = Path(data) if data is not None else default_folder()
    choices = choices or Choices()
    name = {"gene_expression": "syn3a", "metabolism": "syn3a-metabolism",
            "coupled": "syn3a-coupled"}[stage]
    path = cache_dir() / f"{name}-{_key(folder, genes, choices, stage)}.xml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        text = (build_metabolism_sbml(folder, choices=choices) if stage == "metabolism" else
                build_sbml(folder, genes=genes, choices=choices,
                           metabolism=stage == "coupled"))
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return path


def load_model(data: str | Path | None = None, *, genes=None,
               choices: Choices | None = None, stage: str = "gene_expression") -> Model:
    """The syn3A model (see `sbml_path` for the arguments), from the cache or built."""
    return load_sbml(sbml_path(data, genes=genes, choices=choices, stage=stage))
