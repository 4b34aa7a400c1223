"""Loading SBML: conversion, the IR, and clear errors for bad input."""

import numpy as np
import pytest
import sympy as sp
from conftest import ROOT, mass_action, parameter, sbml_model, species

import wholecell as wc


def test_load_from_string_and_path(tmp_path):
    text = sbml_model(species("A", 2.0) + species("B", 0.0), mass_action("r1", "A", "B", "k"),
                      parameter("k", 0.5))
    m = wc.load_sbml(text)
    assert [s.id for s in m.species] == ["A", "B"]
    assert m.reactions[0].kinetic_law == sp.Symbol("k", real=True) * sp.Symbol(
        "A", real=True) * sp.Symbol("C", real=True)
    f = tmp_path / "m.xml"
    f.write_text(text)
    m2 = wc.load_sbml(f)
    assert m2.species == m.species


def test_bundled_models_load():
    for path in sorted((ROOT / "sbml").glob("*.xml")):
        m = wc.load_sbml(path)
        assert m.species, path


def test_missing_file():
    with pytest.raises(wc.SBMLError, match="not found.*no_such_model.xml"):
        wc.load_sbml("no_such_model.xml")


def test_malformed_xml():
    with pytest.raises(wc.SBMLError, match="line"):
        wc.load_sbml("<sbml><model id='m'><listOfSpecies></model>")


def test_dangling_species_reference():
    text = sbml_model(species("A", 1.0), mass_action("r1", "A", "Ghost", "k"), parameter("k", 1))
    with pytest.raises(wc.SBMLError, match="Ghost"):
        wc.load_sbml(text)


def test_kinetic_law_with_undefined_id():
    text = sbml_model(species("A", 1.0), mass_action("r1", "A", "", "k_missing"))
    with pytest.raises(wc.SBMLError, match="k_missing"):
        wc.load_sbml(text)


def test_nan_initial_value():
    text = sbml_model(species("A", float("nan")), mass_action("r1", "A", "", "k"),
                      parameter("k", 1))
    with pytest.raises(wc.SBMLError, match="species 'A'.*NaN"):
        wc.load_sbml(text)


def test_nan_parameter_used_by_a_reaction():
    text = sbml_model(species("A", 1.0), mass_action("r1", "A", "", "k"),
                      parameter("k", float("nan")))
    with pytest.raises(wc.SBMLError, match="parameter 'k'"):
        wc.load_sbml(text)


def test_level2_is_converted_and_function_definitions_inlined():
    text = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level2/version4" level="2" version="4">
  <model id="l2">
    <listOfFunctionDefinitions>
      <functionDefinition id="mm"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <lambda><bvar><ci>s</ci></bvar><bvar><ci>v</ci></bvar><bvar><ci>km</ci></bvar>
          <apply><divide/><apply><times/><ci>v</ci><ci>s</ci></apply>
            <apply><plus/><ci>km</ci><ci>s</ci></apply></apply></lambda></math>
      </functionDefinition>
    </listOfFunctionDefinitions>
    <listOfCompartments><compartment id="C" size="1"/></listOfCompartments>
    <listOfSpecies><species id="S" compartment="C" initialConcentration="1"/></listOfSpecies>
    <listOfReactions><reaction id="r" reversible="false">
      <listOfReactants><speciesReference species="S"/></listOfReactants>
      <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><ci>mm</ci><ci>S</ci><ci>V</ci><cn>0.5</cn></apply></math>
        <listOfParameters><parameter id="V" value="2"/></listOfParameters>
      </kineticLaw></reaction></listOfReactions>
  </model>
</sbml>"""
    m = wc.load_sbml(text)
    law = m.reactions[0].kinetic_law
    assert "mm" not in str(law)
    assert m.reactions[0].local_parameters == (("V", 2.0),)
    f = sp.lambdify([sp.Symbol("S", real=True), sp.Symbol("r.V", real=True)], law)
    assert f(1.0, 2.0) == pytest.approx(2.0 * 1.0 / 1.5, rel=1e-15)


def test_unsupported_construct_is_named():
    text = sbml_model(species("A", 1.0), mass_action("r1", "A", "", "k"),
                      parameter("k", 1) + parameter("p", 0, constant=False),
                      extra="""<listOfRules><algebraicRule id="ar"><math
                      xmlns="http://www.w3.org/1998/Math/MathML"><apply><minus/><ci>p</ci>
                      <cn>1</cn></apply></math></algebraicRule></listOfRules>""")
    m = wc.load_sbml(text)
    # unsupported constructs are refused at compile time at the latest, never silently
    try:
        wc.compile(m)
    except wc.UnsupportedSBMLError as e:
        assert e.construct
    else:
        res = wc.simulate(m, np.linspace(0, 1, 3))
        assert np.allclose(res["p"], 1.0)


L2V1_SPATIAL_SIZE_UNITS = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level2" level="2" version="1">
  <model id="old">
    <listOfCompartments><compartment id="C" size="2"/></listOfCompartments>
    <listOfSpecies>
      <species id="A" compartment="C" initialConcentration="1" spatialSizeUnits="volume"/>
    </listOfSpecies>
    <listOfParameters><parameter id="k" value="0.5"/></listOfParameters>
    <listOfReactions>
      <reaction id="r" reversible="false">
        <listOfReactants><speciesReference species="A"/></listOfReactants>
        <kineticLaw timeUnits="second">
          <math xmlns="http://www.w3.org/1998/Math/MathML">
            <apply><times/><ci>k</ci><ci>A</ci><ci>C</ci></apply>
          </math>
        </kineticLaw>
      </reaction>
    </listOfReactions>
  </model>
</sbml>"""


def test_level2_units_only_attributes_warn_by_name_and_load():
    """Attributes that only name units and that later levels removed (spatialSizeUnits on
    an L2V1 species, timeUnits on a kinetic law) blocked the conversion to Level 3; they
    are set aside with a warning naming them, and the model simulates (A = e^-0.5t)."""
    with pytest.warns(wc.SBMLWarning, match="species 'A' spatialSizeUnits") as got:
        model = wc.load_sbml(L2V1_SPATIAL_SIZE_UNITS)
    assert "kinetic law of 'r' timeUnits" in str(got[0].message)
    res = wc.simulate(model, [0.0, 1.0, 2.0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res["A"], np.exp(-0.5 * np.array([0.0, 1.0, 2.0])),
                               rtol=1e-8)


def test_a_sum_over_hundreds_of_species_is_read_and_evaluated_as_written():
    """libsbml reads an n-ary sum as a chain of binary sums as deep as it is long; a rule
    summing 600 species (the free RNA polymerase of a whole-cell model: all of it less the
    sum of the bound) must still import, and evaluate to the sum (reference: numpy)."""
    import jax
    import jax.numpy as jnp
    from conftest import sbml_model as doc
    from conftest import species as sp_

    from wholecell.compiler._program import scalar_programs

    n = 600
    amounts = np.linspace(1.0, 7.0, n)
    weights = 1.0 + np.arange(n) % 3 * 0.25  # real weights: a row sum with one per term
    terms = "".join(
        f"<apply><times/><cn>{float(w)!r}</cn><ci>X{i}</ci></apply>" for i, w in enumerate(weights))
    rule = f"""<listOfRules><assignmentRule variable="total"><math
      xmlns="http://www.w3.org/1998/Math/MathML"><apply><minus/><cn>1000.5</cn><apply>
      <plus/>{terms}</apply></apply></math></assignmentRule></listOfRules>"""
    text = doc("".join(sp_(f"X{i}", a) for i, a in enumerate(amounts)), "",
               '<parameter id="total" constant="false"/>', extra=rule)
    sim = wc.compile(wc.load_sbml(text))
    x0, c = sim.structure.initial(sim.param_values, 0.0)
    expected = 1000.5 - weights @ amounts
    for scalar in (False, True):
        with scalar_programs(scalar):
            obs = jax.jit(lambda x: sim.observe(jnp.zeros(1), x[None], sim.param_values))(x0)
        total = float(obs[0, sim.observable_ids.index("total")])
        assert total == pytest.approx(expected, rel=1e-13)


def test_integral_real_exponents_are_integer_powers():
    """Exporters write ``S^2`` as ``<cn> 2 </cn>``, a real. It is read as an integer power
    (exact, as C's pow is for it): ``S^1.0`` is ``S``, and a negative base keeps its sign.
    Second-order decay against its analytic solution S0 / (1 + k S0 t)."""
    power = ("<apply><power/><ci>{}</ci><cn> {} </cn></apply>")
    law = f"""<reaction id="r" reversible="false">
  <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/>
  </listOfReactants>
  <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><apply><times/><ci>k</ci>
    {power.format("S", "2.0")}{power.format("C", "1")}</apply></math></kineticLaw>
</reaction>"""
    rule = f"""<listOfRules><assignmentRule variable="y"><math
      xmlns="http://www.w3.org/1998/Math/MathML">{power.format("x", "3")}</math>
      </assignmentRule></listOfRules>"""
    text = sbml_model(species("S", 2.0), law, parameter("k", 0.5) + parameter("x", -1.5)
                      + '<parameter id="y" constant="false"/>', extra=rule)
    m = wc.load_sbml(text)
    S, C = sp.Symbol("S", real=True), sp.Symbol("C", real=True)
    assert m.reactions[0].kinetic_law.has(S**2)
    assert not any(isinstance(p.exp, sp.Float)
                   for p in m.reactions[0].kinetic_law.atoms(sp.Pow))
    assert not m.reactions[0].kinetic_law.has(C ** sp.Float(1.0))
    ts = np.linspace(0.0, 4.0, 9)
    res = wc.simulate(m, ts, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res["S"], 2.0 / (1.0 + 0.5 * 2.0 * ts), rtol=1e-8)
    np.testing.assert_array_equal(res["y"], np.full(ts.shape, -3.375))
