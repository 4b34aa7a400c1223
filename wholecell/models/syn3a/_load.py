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
from ._build import Choices, build_sbml
from ._tables import FILES, MinimalCellDataError, default_folder


def cache_dir() -> Path:
    """$WHOLECELL_CACHE_DIR/models, else $XDG_CACHE_HOME or ~/.cache, /wholecell/models."""
    if os.environ.get("WHOLECELL_CACHE_DIR"):
        return Path(os.environ["WHOLECELL_CACHE_DIR"]).expanduser() / "models"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "wholecell" / "models"


def _key(folder: Path, genes, choices: Choices) -> str:
    if not folder.is_dir():
        raise MinimalCellDataError(
            f"minimal-cell data folder {folder} does not exist (give data= or set "
            "$WHOLECELL_MINIMAL_CELL_DATA)")
    h = hashlib.sha256()
    for rel in sorted(FILES.values()):
        p = folder / rel
        if not p.is_file():
            raise MinimalCellDataError(
                f"minimal-cell data: {rel} not found under {folder} (give data= or set "
                "$WHOLECELL_MINIMAL_CELL_DATA)")
        h.update(rel.encode())
        h.update(p.read_bytes())
    for code in sorted(Path(__file__).parent.glob("_*.py")):
        h.update(code.read_bytes())
    h.update(repr((sorted(genes) if genes else None, sorted(asdict(choices).items()))).encode())
    return h.hexdigest()[:16]


def sbml_path(data: str | Path | None = None, *, genes=None,
              choices: Choices | None = None) -> Path:
    """The built model's SBML file (built now if the cache lacks it)."""
    folder = Path(data) if data is not None else default_folder()
    choices = choices or Choices()
    path = cache_dir() / f"syn3a-{_key(folder, genes, choices)}.xml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(build_sbml(folder, genes=genes, choices=choices), encoding="utf-8")
        tmp.replace(path)
    return path


def load_model(data: str | Path | None = None, *, genes=None,
               choices: Choices | None = None) -> Model:
    """The syn3A model (see `build_sbml` for the arguments), from the cache or built."""
    return load_sbml(sbml_path(data, genes=genes, choices=choices))
