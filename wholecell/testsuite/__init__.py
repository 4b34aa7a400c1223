"""The SBML Test Suite runner: ``python -m wholecell.testsuite [CASES_DIR]``; curated
models against libRoadRunner: ``--biomodels DIR`` (`_biomodels`)."""

from ._cases import Case as Case
from ._cases import read_case as read_case
from ._runner import Outcome as Outcome
from ._runner import run_case as run_case
from ._runner import run_cases as run_cases
from ._runner import summary as summary
from ._runner import tag_table as tag_table
