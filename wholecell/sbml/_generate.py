"""Generated test networks (random mass-action systems) for scaling tests and benchmarks."""

from __future__ import annotations

import numpy as np


def mass_action_network(n_reactions: int, n_species: int | None = None, seed: int = 0) -> str:
    """SBML (L3V2) for a random mass-action network of ``n_reactions`` reactions.

    Reactions are unimolecular (A -> B), bimolecular (A + B -> C) or degradations
    (A -> ), each with its own rate constant, so compile time can be measured against
    the number of reactions while the network stays solvable (mass is bounded).
    """
    rng = np.random.default_rng(seed)
    n_species = n_species or max(2, n_reactions // 2)
    sp = [f"S{i}" for i in range(n_species)]
    species = "\n".join(
        f'<species id="{s}" compartment="cell" initialConcentration="{rng.uniform(0.5, 2):.6g}" '
        f'hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>'
        for s in sp
    )
    params, reactions = [], []
    for r in range(n_reactions):
        kind = rng.choice(3, p=[0.5, 0.3, 0.2])
        k = f"k{r}"
        params.append(f'<parameter id="{k}" value="{rng.uniform(0.05, 1.0):.6g}" constant="true"/>')
        a, b, c = (sp[i] for i in rng.choice(n_species, 3, replace=False))
        if kind == 0:
            reac, prod, law = [a], [b], f"<ci>{k}</ci><ci>{a}</ci>"
        elif kind == 1:
            reac, prod = [a, b], [c]
            law = f"<ci>{k}</ci><ci>{a}</ci><ci>{b}</ci>"
        else:
            reac, prod, law = [a], [], f"<ci>{k}</ci><ci>{a}</ci>"
        # a slow inflow keeps every species alive
        refs = "".join(
            f'<speciesReference species="{s}" stoichiometry="1" constant="true"/>' for s in reac
        )
        prods = "".join(
            f'<speciesReference species="{s}" stoichiometry="1" constant="true"/>' for s in prod
        )
        reactions.append(
            f'<reaction id="R{r}" reversible="false"><listOfReactants>{refs}</listOfReactants>'
            + (f"<listOfProducts>{prods}</listOfProducts>" if prods else "")
            + '<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/>'
            + f"<ci>cell</ci>{law}</apply></math></kineticLaw></reaction>"
        )
    for i, s in enumerate(sp):
        k = f"kin{i}"
        params.append(f'<parameter id="{k}" value="0.1" constant="true"/>')
        reactions.append(
            f'<reaction id="In{i}" reversible="false"><listOfProducts><speciesReference '
            f'species="{s}" stoichiometry="1" constant="true"/></listOfProducts><kineticLaw>'
            f'<math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>cell</ci>'
            f"<ci>{k}</ci></apply></math></kineticLaw></reaction>"
        )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="mass_action_{n_reactions}">
<listOfCompartments><compartment id="cell" size="1" constant="true"/></listOfCompartments>
<listOfSpecies>{species}</listOfSpecies>
<listOfParameters>{"".join(params)}</listOfParameters>
<listOfReactions>{"".join(reactions)}</listOfReactions>
</model></sbml>"""
