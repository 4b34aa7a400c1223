"""JCVI-syn3A, the minimal cell: a builder that writes the model as SBML Level 3.

    from wholecell.models.syn3a import build_sbml, Choices
    sbml = build_sbml("../shared/minimal-cell")   # or $WHOLECELL_MINIMAL_CELL_DATA
    model = wc.load_sbml(sbml)

The builder reads the published tables (genome, rates, counts) at build time and records
in annotations where each number came from; the model card is models/syn3a/README.md.
"""

from ._build import BuildError as BuildError
from ._build import Choices as Choices
from ._build import build_sbml as build_sbml
from ._load import load_model as load_model
from ._load import sbml_path as sbml_path
from ._metabolism import build_metabolism_sbml as build_metabolism_sbml
from ._tables import MinimalCellDataError as MinimalCellDataError
from ._tables import default_folder as default_folder
from ._writer import GLYCOLYSIS_EQUILIBRIA as GLYCOLYSIS_EQUILIBRIA
from ._writer import NUCLEOSIDE_UPTAKES as NUCLEOSIDE_UPTAKES
from ._writer import PHOSPHATE_UPTAKE as PHOSPHATE_UPTAKE
