"""wholecell: mechanistic whole-cell simulation with SBML, JAX and diffrax.

``import wholecell`` loads what reading, compiling and simulating a model needs (JAX,
diffrax, sympy, libsbml). The rest (parameter fitting and FBA with scipy.optimize,
PEtab, SED-ML, cell division, the model library, the neural correction, and pandas for
tables) loads on first use of its name, so a fresh process reaches its first result
sooner.
"""

from typing import TYPE_CHECKING

import jax as _jax

# Biochemical networks span many orders of magnitude: simulate in float64.
_jax.config.update("jax_enable_x64", True)

from ._cache import enable_default_cache  # noqa: E402

enable_default_cache()  # the persistent compilation cache (see `wholecell._cache`)

from ._cache import clear_compilation_cache as clear_compilation_cache  # noqa: E402
from ._cache import compilation_cache as compilation_cache  # noqa: E402
from ._cache import compilation_cache_dir as compilation_cache_dir  # noqa: E402
from ._devices import use_cpu_cores as use_cpu_cores  # noqa: E402
from ._errors import CompileError as CompileError  # noqa: E402
from ._errors import OverdrawWarning as OverdrawWarning  # noqa: E402
from ._errors import SBMLError as SBMLError  # noqa: E402
from ._errors import SBMLWarning as SBMLWarning  # noqa: E402
from ._errors import SciMLError as SciMLError  # noqa: E402
from ._errors import SedmlError as SedmlError  # noqa: E402
from ._errors import SimulationError as SimulationError  # noqa: E402
from ._errors import ToleranceWarning as ToleranceWarning  # noqa: E402
from ._errors import UnsupportedSBMLError as UnsupportedSBMLError  # noqa: E402
from ._errors import UnsupportedSciMLError as UnsupportedSciMLError  # noqa: E402
from ._errors import UnsupportedSedmlError as UnsupportedSedmlError  # noqa: E402
from ._errors import WholecellError as WholecellError  # noqa: E402
from ._result import Result as Result  # noqa: E402
from ._simulate import simulate as simulate  # noqa: E402
from ._status import Status as Status  # noqa: E402
from .sbml._export import AntimonyError as AntimonyError  # noqa: E402
from .sbml._formats import write_sbml as write_sbml  # noqa: E402
from .sbml._model import Model as Model  # noqa: E402
from .sbml._sbml_import import load_sbml as load_sbml  # noqa: E402
from .solve._compiled import CompiledModel as CompiledModel  # noqa: E402
from .solve._compiled import compile as compile  # noqa: E402
from .solve._plan import Plan as Plan  # noqa: E402

if TYPE_CHECKING:  # the names below load on first use (`__getattr__`)
    from . import division as division
    from . import models as models
    from . import neural as neural
    from . import petab as petab
    from . import sedml as sedml
    from ._fba import FBAResult as FBAResult
    from ._fba import fba as fba
    from .fitting._fit import fit as fit
    from .fitting._result import FitError as FitError
    from .fitting._result import FitResult as FitResult
    from .sedml._load import load as load

__version__ = "0.1.0"

_SUBPACKAGES = ("division", "models", "neural", "petab", "sedml")
_LAZY = ("FBAResult", "fba", "fit", "FitError", "FitResult", "load")


def __getattr__(name: str):
    """The subpackages and functions that load on first use (PEP 562)."""
    if name in _SUBPACKAGES:
        import importlib

        module = importlib.import_module(f"{__name__}.{name}")
    elif name in ("FBAResult", "fba"):
        from . import _fba as module
    elif name == "fit":
        from .fitting import _fit as module
    elif name in ("FitError", "FitResult"):
        from .fitting import _result as module
    elif name == "load":
        from .sedml import _load as module
    else:
        raise AttributeError(f"module 'wholecell' has no attribute {name!r}")
    value = module if name in _SUBPACKAGES else getattr(module, name)
    globals()[name] = value  # later uses find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SUBPACKAGES) | set(_LAZY))
