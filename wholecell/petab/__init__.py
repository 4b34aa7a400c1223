"""PEtab parameter estimation problems: ``wc.petab.load(yaml)`` builds a JAX objective."""

from ._errors import PetabError as PetabError
from ._errors import UnsupportedPetabError as UnsupportedPetabError
from ._load import load as load
from ._problem import PetabProblem as PetabProblem
from ._pypesto import to_pypesto as to_pypesto
