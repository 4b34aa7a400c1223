"""Model formats in: `load` (SBML or Antimony, detected; a SED-ML document or a COMBINE
archive is refused here: ``wc.load``, in `wholecell.sedml`, reads those) and `write_sbml`
(`_export.to_sbml` to a file)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .._errors import SBMLError, UnsupportedSBMLError
from ._export import antimony_to_sbml, to_sbml
from ._model import Model
from ._sbml_import import load_sbml

#: file suffixes read as Antimony; other suffixes are recognised by their content
ANTIMONY_SUFFIXES = (".ant", ".antimony", ".txt")
_COMBINE_SUFFIXES = (".omex", ".sedx", ".zip")


def load(source: str | os.PathLike) -> Model:
    """Load a model from SBML or Antimony: a file path or the text itself.

    What ``source`` is comes from its form: a path ending in ``.ant``, ``.antimony`` or
    ``.txt`` is Antimony; any other file, and a string, by its content (XML with an
    ``<sbml>`` root is SBML, other text is Antimony). SBML goes to `load_sbml`; Antimony is
    converted to SBML by the ``antimony`` package (``pip install wholecell[formats]``) first.

    Raises:
        SBMLError: the file is missing or the model is invalid.
        AntimonyError: antimony could not read the text (its message is quoted).
        UnsupportedSBMLError: a SED-ML document or a COMBINE archive (``wc.load`` reads
            them), or XML that is not SBML.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and is_path(source)):
        return _load_file(Path(source))
    if not isinstance(source, str):
        raise SBMLError(f"wc.load takes a path or model text, not {type(source).__name__}")
    text = source.lstrip("\ufeff \t\r\n")
    if text.startswith("<"):
        return _load_xml(text, "<string>")
    return load_sbml(antimony_to_sbml(source, "<string>"))


def is_path(s: str) -> bool:
    """Whether `load` reads ``s`` as a path: it names a file, or is one line with none
    of Antimony's statement marks (``;``, ``=``, ``->``) and no XML."""
    if "\n" in s or s.lstrip().startswith("<"):
        return False
    try:
        if Path(s).is_file():
            return True
    except OSError:  # a name too long for the file system is text
        return False
    return not any(mark in s for mark in (";", "=", "->"))


def _load_file(path: Path) -> Model:
    if not path.is_file():
        raise SBMLError(f"model file not found: '{path}'")
    suffix = path.suffix.lower()
    with open(path, "rb") as f:
        head = f.read(4096)
    if suffix in _COMBINE_SUFFIXES or head.startswith(b"PK\x03\x04"):
        raise UnsupportedSBMLError(
            "COMBINE archive", None, f"'{path}': an archive, not a model; wc.load reads "
            "COMBINE/OMEX archives"
        )
    if suffix in ANTIMONY_SUFFIXES:
        return load_sbml(antimony_to_sbml(path, str(path)))
    start = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if start.startswith("<"):
        root = xml_root(head.decode("utf-8", errors="replace"))
        if root == "sbml":
            return load_sbml(path)
        return _load_xml(path.read_text(encoding="utf-8", errors="replace"), str(path))
    return load_sbml(antimony_to_sbml(path, str(path)))


def xml_root(text: str) -> str | None:
    """The local name of the first element of an XML text (None if none is found)."""
    i = 0
    while True:
        i = text.find("<", i)
        if i < 0 or i + 1 >= len(text):
            return None
        if text[i + 1] in "?!":  # declaration, comment, doctype
            i += 1
            continue
        name = text[i + 1:].split(None, 1)[0].split(">", 1)[0].split("/", 1)[0]
        return name.split(":")[-1]


def _load_xml(text: str, origin: str) -> Model:
    root = xml_root(text)
    if root == "sbml":
        return load_sbml(text) if origin == "<string>" else load_sbml(origin)
    if root == "sedML":
        raise UnsupportedSBMLError(
            "SED-ML", None, f"{origin}: a simulation experiment, not a model; "
            "wc.load reads SED-ML (into a wc.sedml.Experiment)"
        )
    raise UnsupportedSBMLError(
        f"XML document <{root}>", None, f"{origin}: not SBML (its root element is <{root}>)"
    )


def write_sbml(model: Model, path: str | os.PathLike,
               params: Mapping[str, float] | None = None) -> Path:
    """Write `to_sbml` ``(model, params)`` to the file ``path``; returns the path."""
    path = Path(path)
    path.write_text(to_sbml(model, params), encoding="utf-8")
    return path


