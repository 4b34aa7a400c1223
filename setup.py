"""Build hook: the wheel carries the model library.

Everything else is declared in pyproject.toml. The library lives at the top of the
repository (``models/``: cards and metadata; ``sbml/``: the SBML files they point at);
``build_py`` copies both folders into the package as ``wholecell/models/_files/``, where
``wc.models`` finds them in an installed wheel. An editable install reads them from the
checkout instead. ``MANIFEST.in`` puts the same folders in the source distribution.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: the repository folders the library is made of
LIBRARY = ("models", "sbml")
#: where they go in the package
TARGET = Path("wholecell", "models", "_files")


def library_files() -> list[Path]:
    """The files of the model library, relative to the repository root."""
    found = []
    for top in LIBRARY:
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.append(path.relative_to(ROOT))
    return found


class BuildPyWithLibrary(build_py):
    """``build_py`` that also copies the model library into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for rel in library_files():
            dest = Path(self.build_lib) / TARGET / rel
            self.mkpath(str(dest.parent))
            self.copy_file(str(ROOT / rel), str(dest), preserve_mode=False)


setup(cmdclass={"build_py": BuildPyWithLibrary})
