"""Find, describe and load the models of the library.

The library is the repository's top-level ``models/`` folder: one folder per model, with
``model.yaml`` (its metadata: SBML file, default time span, species worth plotting,
source, licence, reference) and ``README.md`` (its card). The SBML files themselves are in
the repository's ``sbml/``. In a source checkout (or an editable install) both are read
where they are; a wheel carries a copy of the two folders under
``wholecell/models/_files/`` (``setup.py`` adds it at build time). Files are read only
when a function here is called, never at import.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._errors import WholecellError
from ..sbml._model import Model
from ..sbml._sbml_import import load_sbml

#: where a wheel puts the library (models/ and sbml/ side by side, as in the repository)
PACKAGED = Path(__file__).resolve().parent / "_files"
#: the repository root of a source checkout
CHECKOUT = Path(__file__).resolve().parents[2]

_REQUIRED = ("title", "sbml", "source", "licence", "time", "plot", "reference")
_OPTIONAL = ("aliases", "method")


class UnknownModelError(WholecellError, LookupError):
    """No model of the library has this name."""


@dataclass(frozen=True)
class ModelInfo:
    """A model of the library: where its SBML is and how to run and plot it.

    Attributes:
        name: the library name (its folder under ``models/``).
        title: one line saying what the model is.
        sbml: the SBML file.
        aliases: other names `load` accepts (e.g. the BioModels id).
        source: where the SBML comes from.
        licence: the licence of the SBML file.
        t_start, t_end, points: the default output times (``times()``).
        plot: the ids worth plotting.
        method: the default ``wc.simulate`` method.
        reference: the reference the model is checked against, with its tolerance.
        folder: the model's folder (``model.yaml``, ``README.md``).
    """

    name: str
    title: str
    sbml: Path
    source: str
    licence: str
    t_start: float
    t_end: float
    points: int
    plot: tuple[str, ...]
    reference: Mapping[str, object]
    folder: Path
    aliases: tuple[str, ...] = ()
    method: str = "ode"

    @property
    def card(self) -> str:
        """The model card (``README.md``) as Markdown text."""
        return (self.folder / "README.md").read_text(encoding="utf-8")

    def times(self) -> np.ndarray:
        """The default output times: ``points`` from ``t_start`` to ``t_end``."""
        return np.linspace(self.t_start, self.t_end, self.points)

    def load(self) -> Model:
        """The model, read from its SBML file."""
        return load_sbml(self.sbml)


def root() -> Path:
    """The folder that holds the library's ``models/`` and ``sbml/``.

    Raises:
        WholecellError: neither an installed copy nor a source checkout has them.
    """
    for base in (PACKAGED, CHECKOUT):
        if (base / "models").is_dir() and (base / "sbml").is_dir():
            return base
    raise WholecellError(
        f"the model library is missing: neither {PACKAGED} nor {CHECKOUT / 'models'} "
        "exists (install wholecell from its repository with `pip install .`)"
    )


def list() -> builtins.list[str]:
    """The names of the library's models, sorted."""
    folder = root() / "models"
    return sorted(p.name for p in folder.iterdir() if (p / "model.yaml").is_file())


def info(name: str) -> ModelInfo:
    """The metadata of model ``name`` (a library name or one of its aliases).

    Raises:
        UnknownModelError: no model has this name; the message lists the names.
        WholecellError: the model's ``model.yaml`` is malformed.
    """
    names = list()
    if name in names:
        return _read(name)
    for other in names:
        if name in _read(other).aliases:
            return _read(other)
    raise UnknownModelError(
        f"no model named '{name}' in the library; the models are: {', '.join(names)}"
        + (f" (and, built from published tables: {', '.join(BUILT)})" if BUILT else "")
    )


#: models the library builds from published tables at first use (the tables' licence
#: does not allow shipping them): name -> its card's folder under models/
BUILT = {"syn3a": "syn3a"}


def load(name: str, **options) -> Model:
    """Load model ``name`` of the library (see `list`) as a `Model`.

    ``"syn3a"`` (JCVI-syn3A, the minimal cell) is built from the published tables at
    first use and cached; ``options`` go to `wholecell.models.syn3a.load_model` (``data=``
    the tables' folder, ``genes=``, ``choices=``, ``stage="metabolism"`` for metabolism
    alone).

    Raises:
        UnknownModelError: no model has this name; the message lists the names.
    """
    if name in BUILT:
        from .syn3a import load_model

        return load_model(**options)
    if options:
        raise WholecellError(f"model '{name}' takes no build options ({', '.join(options)})")
    return info(name).load()


def _read(name: str) -> ModelInfo:
    import yaml

    base = root()
    folder = base / "models" / name
    path = folder / "model.yaml"
    meta = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise WholecellError(f"{path}: expected a mapping of metadata")
    missing = [k for k in _REQUIRED if k not in meta]
    unknown = sorted(set(meta) - set(_REQUIRED) - set(_OPTIONAL))
    if missing or unknown:
        raise WholecellError(
            f"{path}: missing keys {missing or 'none'}, unknown keys {unknown or 'none'}"
        )
    span = meta["time"]
    try:
        t_start, t_end = float(span.get("start", 0.0)), float(span["end"])
        points = int(span["points"])
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise WholecellError(f"{path}: time must be {{start, end, points}}: {err}") from err
    if not (t_end > t_start and points >= 2):
        raise WholecellError(f"{path}: time needs end > start and at least 2 points")
    return ModelInfo(
        name=name,
        title=str(meta["title"]),
        sbml=base / meta["sbml"],
        source=str(meta["source"]),
        licence=str(meta["licence"]),
        t_start=t_start,
        t_end=t_end,
        points=points,
        plot=tuple(str(s) for s in meta["plot"]),
        reference=dict(meta["reference"]),
        folder=folder,
        aliases=tuple(str(a) for a in meta.get("aliases", ())),
        method=str(meta.get("method", "ode")),
    )
