"""SED-ML simulation experiments and COMBINE archives: read (libsedml), run as written,
and their reports and plots written out.

``wc.load`` gives an `Experiment` for a SED-ML file or an archive whose master file is
SED-ML; ``wholecell run experiment.sedml`` runs one from the command line. What runs:
uniform time courses of SBML models, with ``changeAttribute`` model changes, ODE and
stochastic algorithms (by KiSAO id, with the tolerance and seed parameters), data
generators with arithmetic and elementary functions, reports and 2D plots. What does not
(repeated tasks, steady-state and one-step simulations, XML and computed changes, other
model languages) is refused by name, with `UnsupportedSedmlError`; a 3D plot is skipped
with a warning.
"""

from ._archive import Archive as Archive
from ._archive import read_archive as read_archive
from ._experiment import Experiment as Experiment
from ._experiment import ExperimentResult as ExperimentResult
from ._load import load as load

__all__ = ["Archive", "Experiment", "ExperimentResult", "load", "read_archive"]
