"""`wc.load`: a model (SBML, Antimony) or a simulation experiment (SED-ML, a COMBINE
archive), told apart by the file's suffix and content."""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import SedmlError
from ..sbml._formats import is_path, xml_root
from ..sbml._formats import load as load_model
from ..sbml._model import Model
from ..sbml._sbml_import import load_sbml
from ._archive import read_archive
from ._experiment import Experiment

#: suffixes read as COMBINE archives (a zip file is recognised by its content as well)
COMBINE_SUFFIXES = (".omex", ".sedx", ".zip")


def load(source: str | os.PathLike) -> Model | Experiment:
    """Load a model or a simulation experiment: a file path or the text itself.

    - SBML and Antimony give a `Model` (see ``wholecell.sbml.load``: Antimony is told
      from SBML by the suffix ``.ant``/``.antimony``/``.txt`` or by its content).
    - A SED-ML document (XML with a ``<sedML>`` root) gives an `Experiment`: its models
      with their changes applied, and ``.run()`` for its reports and plots. Model files
      it names are read relative to its folder (to the working directory for text).
    - A COMBINE/OMEX archive (``.omex``, ``.sedx``, ``.zip``, or any zip file) gives
      what its master file is (else its only SED-ML file, else its only SBML file).

    Raises:
        SBMLError, AntimonyError: the model cannot be read.
        SedmlError: a malformed SED-ML document or archive, or a file it lacks.
        UnsupportedSedmlError: SED-ML that asks for what wholecell does not run, by name.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and is_path(source)):
        path = Path(source)
        if path.is_file():
            with open(path, "rb") as f:
                head = f.read(4096)
            if path.suffix.lower() in COMBINE_SUFFIXES or head.startswith(b"PK\x03\x04"):
                return _load_archive(path)
            if xml_root(head.decode("utf-8", errors="replace")) == "sedML":
                return Experiment.from_text(path.read_text(encoding="utf-8"), str(path),
                                            _folder(path.parent))
        return load_model(source)
    if isinstance(source, str) and source.lstrip("\ufeff \t\r\n").startswith("<") \
            and xml_root(source) == "sedML":
        return Experiment.from_text(source, "<string>", _folder(Path.cwd()))
    return load_model(source)


def _folder(base: Path):
    def resolve(source: str) -> tuple[str, bytes]:
        path = Path(source) if Path(source).is_absolute() else base / source
        if not path.is_file():
            raise SedmlError(f"model file '{source}' not found (looked for '{path}')")
        return str(path), path.read_bytes()

    return resolve


def _load_archive(path: Path) -> Model | Experiment:
    archive = read_archive(path)
    main = archive.main_file()
    _, content = archive.read(main)
    text = content.decode("utf-8", errors="replace")
    root = xml_root(text)
    if root == "sedML":
        return Experiment.from_text(text, f"{path}!{main}",
                                    lambda source: archive.read(source, relative_to=main))
    if root == "sbml":
        return load_sbml(text)
    raise SedmlError(f"the main file '{main}' of COMBINE archive '{path}' is neither SED-ML "
                     f"nor SBML (its root element is <{root}>)")
