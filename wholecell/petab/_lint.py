"""Linting a PEtab problem with the `petab` library, so that a malformed problem gets the
library's own messages before wholecell builds its objective."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from ._errors import PetabError


def petab_available() -> bool:
    """Whether the ``petab`` library is installed (``pip install 'wholecell[petab]'``)."""
    try:
        import petab.v1  # noqa: F401
    except ImportError:
        return False
    return True


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
