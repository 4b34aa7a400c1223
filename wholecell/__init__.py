"""wholecell: mechanistic whole-cell simulation with SBML, JAX and diffrax."""

import jax as _jax

# Biochemical networks span many orders of magnitude: simulate in float64.
_jax.config.update("jax_enable_x64", True)

from ._cache import enable_default_cache  # noqa: E402

enable_default_cache()  # the persistent compilation cache (see `wholecell._cache`)

from . import division as division  # noqa: E402
from . import models as models  # noqa: E402
from . import petab as petab  # noqa: E402
from . import sedml as sedml  # noqa: E402
from ._cache import clear_compilation_cache as clear_compilation_cache  # noqa: E402
from ._cache import compilation_cache as compilation_cache  # noqa: E402
from ._cache import compilation_cache_dir as compilation_cache_dir  # noqa: E402
from ._devices import use_cpu_cores as use_cpu_cores  # noqa: E402
from ._errors import CompileError as CompileError  # noqa: E402
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
from ._fba import FBAResult as FBAResult  # noqa: E402
from ._fba import fba as fba  # noqa: E402
from ._result import Result as Result  # noqa: E402
from ._simulate import simulate as simulate  # noqa: E402
from ._status import Status as Status  # noqa: E402
from .fitting._fit import fit as fit  # noqa: E402
from .fitting._result import FitError as FitError  # noqa: E402
from .fitting._result import FitResult as FitResult  # noqa: E402
from .sbml._export import AntimonyError as AntimonyError  # noqa: E402
from .sbml._formats import write_sbml as write_sbml  # noqa: E402
from .sbml._model import Model as Model  # noqa: E402
from .sbml._sbml_import import load_sbml as load_sbml  # noqa: E402
from .sedml._load import load as load  # noqa: E402
from .solve._compiled import CompiledModel as CompiledModel  # noqa: E402
from .solve._compiled import compile as compile  # noqa: E402
from .solve._plan import Plan as Plan  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name: str):
    # wc.neural (optax, optimistix, tqdm) loads on first use, keeping `import wholecell` light
    if name == "neural":
        import importlib

        return importlib.import_module(f"{__name__}.neural")
    raise AttributeError(f"module 'wholecell' has no attribute {name!r}")

