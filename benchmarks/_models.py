"""The benchmark models: three real BioModels (small, medium, largest) and generated
mass-action networks, with the end time each is simulated to and the parameters that the
ensemble and gradient tasks perturb."""

from __future__ import annotations

import functools
import tempfile
from dataclasses import dataclass
from pathlib import Path

import libsbml

import wholecell as wc
from wholecell.sbml._generate import mass_action_network

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Spec:
    name: str
    what: str
    file: str | None  # a file in the BioModels folder, or None for a generated network
    t_end: float
    reactions: int = 0  # generated networks only


SPECS = {
    s.name: s
    for s in (
        Spec("repressilator", "BIOMD0000000012, Elowitz 2000: 6 species, 12 reactions (small)",
             "BIOMD0000000012.xml", 1000.0),
        Spec("schoeberl", "BIOMD0000000019, Schoeberl 2002 EGF-MAPK: 100 species, "
             "125 reactions, stiff (medium)", "BIOMD0000000019.xml", 3600.0),
        Spec("chen2009", "Chen 2009 ErbB (BIOMD0000000255, PEtab encoding): 500 species, "
             "827 reactions (largest)", "Chen2009_ErbB_PEtab_from_BIOMD0000000255.xml", 3600.0),
        Spec("ma1000", "generated mass-action network, 1,000 reactions (+500 inflows)",
             None, 10.0, 1000),
        Spec("ma10000", "generated mass-action network, 10,000 reactions (+5,000 inflows)",
             None, 10.0, 10000),
    )
}
QUICK_MODELS = ("repressilator", "schoeberl", "ma1000")


def sbml_path(spec: Spec, folder: Path) -> Path:
    """The SBML file of ``spec``: from ``folder``, the model library (`wc.models`, whose
    aliases are these files' names), or generated (cached)."""
    if spec.file is None:
        return _generated(spec.reactions)
    if (folder / spec.file).exists():
        return folder / spec.file
    return wc.models.info(Path(spec.file).stem).sbml


@functools.cache
def _generated(n: int) -> Path:
    path = Path(tempfile.gettempdir()) / f"wholecell_bench_mass_action_{n}.xml"
    text = mass_action_network(n)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def free_parameters(path: Path) -> list[str]:
    """Global parameters that are constant and set by no rule or initial assignment.

    These are the numbers both simulators accept as inputs (roadrunner refuses to set a
    rule's target), so they are the ones perturbed and differentiated.
    """
    doc = libsbml.readSBMLFromFile(str(path))
    m = doc.getModel()
    targets = {r.getVariable() for r in m.getListOfRules()}
    targets |= {a.getSymbol() for a in m.getListOfInitialAssignments()}
    return [
        p.getId() for p in m.getListOfParameters()
        if p.getConstant() and p.getId() not in targets
    ]
