"""Test configuration: float64, strict dtype promotion, raising rank promotion."""

import gc
import os
import shutil
import tempfile
from pathlib import Path

# The tests share one persistent compilation cache, in a new folder per run: the
# controller makes it, its pytest-xdist workers and the notebooks' kernels inherit it,
# and it is deleted when the run ends. A program compiled twice in a run (the same model
# in several tests or modules; the in-memory caches are cleared after every module) is
# then compiled once. `WHOLECELL_TEST_CACHE=0` compiles every program in memory instead.
# The cache itself is tested in subprocesses with their own folders (test_cache.py).
_RUN_CACHE: str | None = None
if os.environ.get("WHOLECELL_TEST_CACHE", "").strip() == "0":
    os.environ["WHOLECELL_NO_CACHE"] = "1"
else:
    if not os.environ.get("WHOLECELL_TEST_CACHE_DIR"):
        _RUN_CACHE = tempfile.mkdtemp(prefix="wholecell-test-cache-")
        os.environ["WHOLECELL_TEST_CACHE_DIR"] = _RUN_CACHE
    os.environ["WHOLECELL_CACHE_DIR"] = os.environ["WHOLECELL_TEST_CACHE_DIR"]
    os.environ.pop("WHOLECELL_NO_CACHE", None)

import jax  # noqa: E402
import pytest  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_dtype_promotion", "strict")
jax.config.update("jax_numpy_rank_promotion", "raise")

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def pytest_unconfigure(config):
    """The process that made the run's cache folder deletes it."""
    if _RUN_CACHE is not None:
        shutil.rmtree(_RUN_CACHE, ignore_errors=True)


def _clear_compiled_programs() -> None:
    jax.clear_caches()
    gc.collect()


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_programs():
    """Free each module's compiled programs when it ends. Every XLA executable holds a few
    memory mappings, and a worker that keeps all of a run's programs (thousands of small
    ones from eager gradients) reaches the kernel's limit on mappings (vm.max_map_count,
    65530 by default): the next compilation then fails inside XLA with a segmentation
    fault. Measured: 15,961 mappings after 25 tests of test_syn3a, test_time_switch and
    test_events in one process; a clear after a test returns a worker to about 1,150."""
    yield
    _clear_compiled_programs()


#: a module of many tests (the semantic suite's cases) is also cleared within it, at
#: half the kernel's default limit
MAPPINGS_LIMIT = 32_000


@pytest.fixture(autouse=True)
def _keep_mappings_below_the_limit():
    yield
    try:
        with open("/proc/self/maps") as f:
            n = sum(1 for _ in f)
    except OSError:  # not Linux
        return
    if n > MAPPINGS_LIMIT:
        _clear_compiled_programs()


@pytest.fixture
def data_dir() -> Path:
    return DATA


def sbml_model(species: str, reactions: str, parameters: str = "", extra: str = "",
               compartments: str = '<compartment id="C" size="1" constant="true"/>') -> str:
    """A small SBML Level 3 Version 2 document for tests."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
  <model id="test_model">
    <listOfCompartments>{compartments}</listOfCompartments>
    <listOfSpecies>{species}</listOfSpecies>
    <listOfParameters>{parameters}</listOfParameters>
    {extra}
    <listOfReactions>{reactions}</listOfReactions>
  </model>
</sbml>"""


def mass_action(rid: str, reactant: str, product: str, k: str, compartment: str = "C") -> str:
    products = (
        f'<listOfProducts><speciesReference species="{product}" stoichiometry="1" '
        f'constant="true"/></listOfProducts>'
        if product
        else ""
    )
    return f"""<reaction id="{rid}" reversible="false">
  <listOfReactants><speciesReference species="{reactant}" stoichiometry="1" constant="true"/>
  </listOfReactants>{products}
  <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
    <apply><times/><ci>{k}</ci><ci>{reactant}</ci><ci>{compartment}</ci></apply>
  </math></kineticLaw>
</reaction>"""


def species(sid: str, amount: float, compartment: str = "C", hosu: bool = False) -> str:
    return (
        f'<species id="{sid}" compartment="{compartment}" initialAmount="{amount}" '
        f'hasOnlySubstanceUnits="{str(hosu).lower()}" boundaryCondition="false" '
        f'constant="false"/>'
    )


def parameter(pid: str, value: float, constant: bool = True) -> str:
    return f'<parameter id="{pid}" value="{value}" constant="{str(constant).lower()}"/>'


#: A -> B at k A (k = 0.7, A(0) = 3) in a compartment of size 2: A(t) = 3 exp(-0.7 t)
DECAY = sbml_model(
    species("A", 3.0) + species("B", 0.0),
    mass_action("r1", "A", "B", "k"),
    parameter("k", 0.7),
    compartments='<compartment id="C" size="2" constant="true"/>',
)
