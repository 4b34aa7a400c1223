"""Linting a PEtab problem with the `petab` library, so that a malformed problem gets the
library's own messages before wholecell builds its objective."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import warnings
from pathlib import Path

import yaml

from .._cache import compilation_cache_dir
from ._errors import PetabError

#: the subfolder of the compilation cache that holds the problems the linter passed
CLEAN = "petab-lint"


def petab_available() -> bool:
    """Whether the ``petab`` library is installed (``pip install 'wholecell[petab]'``)."""
    try:
        import petab.v1  # noqa: F401
    except ImportError:
        return False
    return True


def petab_installed() -> bool:
    """Whether a ``petab`` package is installed, without importing it (2 s here)."""
    return importlib.util.find_spec("petab") is not None


def remember_clean(marker: Path | None) -> None:
    """Note that the linter found nothing in the files of ``marker`` (`clean_marker`;
    kept beside the compilation cache, so it is turned off and cleared with it)."""
    if marker is None:
        return
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:  # a read-only cache: the problem is linted again next time
        pass


def clean_marker(yaml_file: Path) -> Path | None:
    """The marker of a clean verdict: a digest of the petab library's version, the YAML
    file and every file it names (tables, models, and any other), by name and content.
    None without a compilation cache, or when the files cannot all be read."""
    folder = compilation_cache_dir()
    if folder is None:
        return None
    yaml_file = Path(yaml_file)
    try:
        names = sorted(_named_files(yaml.safe_load(yaml_file.read_text()), yaml_file.parent))
        h = hashlib.sha256(importlib.metadata.version("petab").encode())
        for path in [yaml_file, *names]:
            h.update(f"\x00{path.name}\x00".encode())
            h.update(path.read_bytes())
    except (OSError, ValueError, yaml.YAMLError, importlib.metadata.PackageNotFoundError):
        return None
    return Path(folder) / CLEAN / h.hexdigest()


def _named_files(node, root: Path) -> set[Path]:
    """The existing files that string values anywhere in a YAML document name."""
    if isinstance(node, dict):
        return set().union(*(_named_files(v, root) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_named_files(v, root) for v in node))
    if isinstance(node, str) and node:
        path = root / node
        return {path} if path.is_file() else set()
    return set()


def lint_messages(yaml_file: Path, version: int = 1) -> list[str]:
    """The errors the ``petab`` library finds in the PEtab problem ``yaml_file`` (v1:
    reading it, then `petab.v1.lint.lint_problem`; v2: `petab.v2.lint.lint_problem`);
    empty when it finds none.

    Raises:
        PetabError: the ``petab`` library is not installed.
    """
    if not petab_available():
        raise PetabError("linting needs the petab library: pip install 'wholecell[petab]'")
    if version >= 2:
        return _lint_v2(yaml_file)
    import petab.v1 as petab
    from petab.v1.lint import lint_problem

    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:
                messages.append(record.getMessage())

    handler = Collect()
    logger = logging.getLogger("petab")
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False  # no echo on the root logger
    try:
        with warnings.catch_warnings():  # the library's own deprecation warnings
            warnings.simplefilter("ignore")
            problem = petab.Problem.from_yaml(str(yaml_file))
            failed = lint_problem(problem)
    except Exception as err:  # the library could not even read it: that is its verdict
        return [f"{type(err).__name__}: {err}"]
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    messages = list(dict.fromkeys(m for m in messages if m.strip() != "Not OK"))
    if failed and not messages:
        messages.append("petab.v1.lint.lint_problem reported errors")
    return messages


def _lint_v2(yaml_file: Path) -> list[str]:
    from petab.v2.lint import ValidationIssueSeverity, lint_problem

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            issues = lint_problem(str(yaml_file))
    except Exception as err:  # the library could not even read it: that is its verdict
        return [f"{type(err).__name__}: {err}"]
    return list(dict.fromkeys(i.message for i in issues
                              if i.level >= ValidationIssueSeverity.ERROR))
