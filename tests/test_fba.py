"""Flux balance analysis (the SBML fbc package): suite cases and a hand-solved LP."""

import math

import numpy as np
import pytest
from conftest import DATA

import wholecell as wc
from wholecell.sbml._model import FluxBounds

FBA_DATA = DATA / "fba"
SUITE_CASES = ["01186", "01625", "01619", "01623"]


def _case(number: str) -> tuple[dict[str, float], float, float]:
    """(expected values by id, absolute, relative tolerance) of a copied suite case."""
    d = FBA_DATA / number
    settings = {}
    for line in (d / f"{number}-settings.txt").read_text().splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            settings[key.strip()] = value.strip()
    header, row = (d / f"{number}-results.csv").read_text().strip().splitlines()[:2]
    names = [h.strip() for h in header.split(",")]
    values = [float(v) for v in row.split(",")]
    return dict(zip(names, values, strict=True)), float(settings["absolute"]), float(
        settings["relative"]
    )


@pytest.mark.parametrize("number", SUITE_CASES)
def test_suite_case(number):
    expected, atol, rtol = _case(number)
    res = wc.fba(wc.load_sbml(FBA_DATA / number / f"{number}-sbml-l3v2.xml"))
    assert res.status == "optimal"
    for name, e in expected.items():
        assert abs(res[name] - e) <= atol + rtol * abs(e), (name, res[name], e)


def test_import_fbc_v1_and_v2():
    m1 = wc.load_sbml(FBA_DATA / "01625" / "01625-sbml-l3v2.xml")
    fb1 = m1.flux_balance
    assert fb1 is not None and fb1.version == 1
    assert all(isinstance(b.lower, float) for b in fb1.bounds)
    assert fb1.active_objective == "OBJF"
    assert fb1.objectives[0].type == "minimize"
    m2 = wc.load_sbml(FBA_DATA / "01619" / "01619-sbml-l3v2.xml")
    fb2 = m2.flux_balance
    assert fb2 is not None and fb2.version == 2
    assert FluxBounds("R01", "fb_0", "fb_1") in fb2.bounds
    assert fb2.objectives[0].fluxes == (("R26", 1.0),)


# A linear pathway: X -> A (uptake, at most vmax), A -> 2 B, B -> Y. Maximising the export
# gives 2 * vmax. vmax is set to 10 by an initial assignment over its value of 1.
def _pathway(objective: str = "maximize", target: str = "R_out", export_min: float = 0.0) -> str:
    def reaction(rid, reactant, product, stoich, lo, hi):
        return (
            f'<reaction id="{rid}" reversible="false" fbc:lowerFluxBound="{lo}" '
            f'fbc:upperFluxBound="{hi}"><listOfReactants><speciesReference species='
            f'"{reactant}" stoichiometry="1" constant="true"/></listOfReactants>'
            f'<listOfProducts><speciesReference species="{product}" stoichiometry="{stoich}" '
            f'constant="true"/></listOfProducts></reaction>'
        )

    species = "".join(
        f'<species id="{s}" compartment="C" initialAmount="0" hasOnlySubstanceUnits="true" '
        f'boundaryCondition="{"true" if s in "XY" else "false"}" constant="false"/>'
        for s in "XABY"
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2"
      xmlns:fbc="http://www.sbml.org/sbml/level3/version1/fbc/version2" fbc:required="false">
  <model id="pathway" fbc:strict="false">
    <listOfCompartments><compartment id="C" size="1" constant="true"/></listOfCompartments>
    <listOfSpecies>{species}</listOfSpecies>
    <listOfParameters>
      <parameter id="zero" value="0" constant="true"/>
      <parameter id="inf" value="INF" constant="true"/>
      <parameter id="export_min" value="{export_min}" constant="true"/>
      <parameter id="vmax" value="1" constant="true"/>
    </listOfParameters>
    <listOfInitialAssignments>
      <initialAssignment symbol="vmax">
        <math xmlns="http://www.w3.org/1998/Math/MathML"><cn> 10 </cn></math>
      </initialAssignment>
    </listOfInitialAssignments>
    <listOfReactions>
      {reaction("R_in", "X", "A", 1, "zero", "vmax")}
      {reaction("R_conv", "A", "B", 2, "zero", "inf")}
      {reaction("R_out", "B", "Y", 1, "export_min", "inf")}
    </listOfReactions>
    <fbc:listOfObjectives fbc:activeObjective="obj">
      <fbc:objective fbc:id="obj" fbc:type="{objective}">
        <fbc:listOfFluxObjectives>
          <fbc:fluxObjective fbc:reaction="{target}" fbc:coefficient="1"/>
        </fbc:listOfFluxObjectives>
      </fbc:objective>
    </fbc:listOfObjectives>
  </model>
</sbml>"""


def test_pathway_maximum_is_analytic():
    res = wc.fba(wc.load_sbml(_pathway()))
    assert res.status == "optimal"
    assert res.objective_id == "obj"
    assert res["obj"] == pytest.approx(20.0, abs=1e-9)
    assert res.fluxes == pytest.approx({"R_in": 10.0, "R_conv": 10.0, "R_out": 20.0}, abs=1e-9)


def test_pathway_minimum_uptake_for_a_required_export():
    res = wc.fba(wc.load_sbml(_pathway("minimize", "R_in", export_min=4.0)))
    assert res["obj"] == pytest.approx(2.0, abs=1e-9)
    assert res["R_out"] == pytest.approx(4.0, abs=1e-9)


def test_infeasible_raises_or_gives_nan():
    model = wc.load_sbml(_pathway(export_min=30.0))  # needs 15 > vmax = 10
    with pytest.raises(wc.SimulationError, match="infeasible"):
        wc.fba(model)
    res = wc.fba(model, on_failure="nan")
    assert res.status == "infeasible" and math.isnan(res["obj"])
    assert np.isnan(list(res.fluxes.values())).all()


def test_unbounded_raises_or_gives_inf():
    unbounded = _pathway().replace('fbc:upperFluxBound="vmax"', 'fbc:upperFluxBound="inf"')
    model = wc.load_sbml(unbounded)
    with pytest.raises(wc.SimulationError, match="unbounded"):
        wc.fba(model)
    res = wc.fba(model, on_failure="nan")
    assert res.status == "unbounded" and res["obj"] == math.inf


def test_errors():
    res = wc.fba(wc.load_sbml(_pathway()))
    with pytest.raises(KeyError, match="nope"):
        res["nope"]
    plain = wc.load_sbml(_pathway().split("<fbc:listOfObjectives")[0] + "</model></sbml>")
    with pytest.raises(wc.SBMLError, match="no fbc objective"):
        wc.fba(plain)
    no_fbc = wc.load_sbml(FBA_DATA / "01186" / "01186-sbml-l3v2.xml")
    object.__setattr__(no_fbc, "flux_balance", None)
    with pytest.raises(wc.SBMLError, match="no flux balance"):
        wc.fba(no_fbc)
