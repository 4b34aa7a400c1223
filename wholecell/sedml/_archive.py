"""COMBINE/OMEX archives: a zip file whose ``manifest.xml`` names each file's format."""

from __future__ import annotations

import posixpath
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .._errors import SedmlError

_OMEX_NS = "{http://identifiers.org/combine.specifications/omex-manifest}"
#: the kinds of file this package reads, by the manifest's format URI
_FORMATS = (("sed-ml", "sedml"), ("sbml", "sbml"))


@dataclass(frozen=True)
class Archive:
    """The files of a COMBINE archive.

    Attributes:
        path: the archive file.
        files: location inside the archive (no leading ``./``) -> content.
        kinds: location -> ``"sedml"``, ``"sbml"`` or ``"other"``, from the manifest.
        master: the location the manifest marks as the master file, or None.
    """

    path: Path
    files: dict[str, bytes]
    kinds: dict[str, str]
    master: str | None

    def main_file(self) -> str:
        """The file to open: the master, else the only SED-ML file, else the only SBML
        file of the archive."""
        if self.master is not None:
            return self.master
        for kind in ("sedml", "sbml"):
            found = [loc for loc, k in self.kinds.items() if k == kind]
            if len(found) == 1:
                return found[0]
            if found:
                raise SedmlError(
                    f"COMBINE archive '{self.path}' has {len(found)} {kind} files and no "
                    f"master file: {', '.join(sorted(found))}; mark one master in its "
                    "manifest.xml"
                )
        raise SedmlError(f"COMBINE archive '{self.path}' holds no SED-ML or SBML file")

    def read(self, location: str, relative_to: str = "") -> tuple[str, bytes]:
        """(normalised location, content) of a file named relative to another file's
        folder inside the archive."""
        loc = _normalise(posixpath.join(posixpath.dirname(relative_to), location))
        if loc == ".." or loc.startswith("../"):
            raise SedmlError(f"'{location}' (named in '{relative_to}') lies outside COMBINE "
                             f"archive '{self.path}'")
        if loc not in self.files:
            raise SedmlError(f"COMBINE archive '{self.path}' has no file '{loc}'")
        return loc, self.files[loc]


def read_archive(path: str | Path) -> Archive:
    """Read a COMBINE archive into memory (its manifest says which file is which).

    Raises:
        SedmlError: not a zip file, no ``manifest.xml``, or a malformed manifest.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            files = {_normalise(n): z.read(n) for n in z.namelist() if not n.endswith("/")}
    except zipfile.BadZipFile as err:
        raise SedmlError(f"'{path}' is not a COMBINE archive (not a zip file: {err})") from err
    if "manifest.xml" not in files:
        raise SedmlError(f"COMBINE archive '{path}' has no manifest.xml")
    try:
        root = ET.fromstring(files["manifest.xml"])
    except ET.ParseError as err:
        raise SedmlError(f"manifest.xml of '{path}' is not XML: {err}") from err
    kinds: dict[str, str] = {}
    master = None
    for entry in root.iter(f"{_OMEX_NS}content"):
        loc = _normalise(entry.get("location", ""))
        if loc in ("", "manifest.xml") or loc not in files:
            continue
        fmt = entry.get("format", "")
        kinds[loc] = next((k for key, k in _FORMATS if key in fmt), "other")
        if entry.get("master", "false").lower() == "true":
            master = loc
    return Archive(path, files, kinds, master)


def _normalise(location: str) -> str:
    loc = posixpath.normpath(location.replace("\\", "/"))
    return loc[2:] if loc.startswith("./") else loc.lstrip("/")
