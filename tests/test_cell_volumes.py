"""Cell-sized compartments (1e-15 L and 1e-17 L): analytic solutions in every ODE path.

A species in concentration units in such a compartment holds amounts near 1e-21 mol;
the absolute tolerance is in the units the user reads (`wholecell._tolerances`), so the
answers are as accurate as at a volume of 1. Before that, these runs were off by up to
290% of the initial concentration with no error (atol applied to the raw amounts).
"""

import functools

import numpy as np
import pytest

import wholecell as wc

TS = np.linspace(0.0, 10.0, 21)
C0 = 1e-6  # 1 uM
#: (rtol, atol) -> the largest error allowed, relative to C0. The observed errors are
#: 2e-7-3e-6 at the defaults (1e-6 / 1e-9) and 6e-10-5e-8 at 1e-8 / 1e-12 across the
#: methods (BDF the largest); the bounds leave 10x or more room and sit far below the
#: errors of the old behaviour (5e-3 to 2.9).
TOLERANCES = {(1e-6, 1e-9): 3e-5, (1e-8, 1e-12): 5e-7}


def _species(sid, c):
    return (f'<species id="{sid}" compartment="C" initialConcentration="{c}" '
            'hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>')


def _ref(sid):
    return f'<speciesReference species="{sid}" stoichiometry="1" constant="true"/>'


def _math(body):
    return f'<math xmlns="http://www.w3.org/1998/Math/MathML">{body}</math>'


def _doc(volume, species, parameters, reaction):
    params = "".join(f'<parameter id="{k}" value="{v}" constant="true"/>'
                     for k, v in parameters.items())
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version2/core" level="3" version="2">
<model id="cell"><listOfCompartments>
<compartment id="C" size="{volume}" spatialDimensions="3" constant="true"/>
</listOfCompartments><listOfSpecies>{species}</listOfSpecies>
<listOfParameters>{params}</listOfParameters>
<listOfReactions>{reaction}</listOfReactions></model></sbml>"""


def decay(volume):
    """A -> 0 at rate k [A] C (k = 0.5): [A] = C0 exp(-k t)."""
    rxn = (f'<reaction id="r" reversible="false"><listOfReactants>{_ref("A")}'
           '</listOfReactants><kineticLaw>'
           + _math("<apply><times/><ci>k</ci><ci>A</ci><ci>C</ci></apply>")
           + "</kineticLaw></reaction>")
    model = wc.load_sbml(_doc(volume, _species("A", C0), {"k": 0.5}, rxn))
    return model, {"A": C0 * np.exp(-0.5 * TS)}


def binding(volume):
    """A + B <-> AB, kf [A][B] - kr [AB] (times C), [A]0 = C0, [B]0 = 2 C0, kf = 1/C0,
    kr = 0.5: the bound x solves dx/dt = kf (a0 - x)(b0 - x) - kr x in closed form."""
    kf, kr, a0, b0 = 1.0 / C0, 0.5, C0, 2 * C0
    law = ("<apply><times/><ci>C</ci><apply><minus/><apply><times/><ci>kf</ci><ci>A</ci>"
           "<ci>B</ci></apply><apply><times/><ci>kr</ci><ci>AB</ci></apply></apply></apply>")
    rxn = (f'<reaction id="r" reversible="true"><listOfReactants>{_ref("A")}{_ref("B")}'
           f'</listOfReactants><listOfProducts>{_ref("AB")}</listOfProducts><kineticLaw>'
           + _math(law) + "</kineticLaw></reaction>")
    species = _species("A", a0) + _species("B", b0) + _species("AB", 0.0)
    model = wc.load_sbml(_doc(volume, species, {"kf": kf, "kr": kr}, rxn))
    # roots x1 < x2 of kf x^2 - (kf (a0 + b0) + kr) x + kf a0 b0
    p, q = -(kf * (a0 + b0) + kr) / kf, a0 * b0
    x1, x2 = -p / 2 - np.sqrt(p * p / 4 - q), -p / 2 + np.sqrt(p * p / 4 - q)
    e = np.exp(-kf * (x2 - x1) * TS)
    x = x1 * x2 * (1 - e) / (x2 - x1 * e)
    return model, {"A": a0 - x, "B": b0 - x, "AB": x}


def _error(res, exact, member=None):
    return max(
        np.max(np.abs((res[s] if member is None else res[s][member]) - v)) / C0
        for s, v in exact.items()
    )


VOLUMES = (1e-15, 1e-17)


@functools.cache
def _model(make):
    return make(1.0)  # the volume is a parameter: one compiled model for every size


@pytest.mark.parametrize("tols", list(TOLERANCES))
@pytest.mark.parametrize("solver", ["auto", "tsit5", "rodas5", "bdf"])
@pytest.mark.parametrize("make", [decay, binding])
def test_single_solve_at_cell_volume(make, solver, tols):
    model, exact = _model(make)
    for volume in VOLUMES:
        res = wc.simulate(model, TS, params={"C": volume}, solver=solver, rtol=tols[0],
                          atol=tols[1])
        assert _error(res, exact) < TOLERANCES[tols], volume


@pytest.mark.parametrize("tols", list(TOLERANCES))
@pytest.mark.parametrize("solver", ["tsit5", "bdf"])
@pytest.mark.parametrize("make", [decay, binding])
def test_lock_step_ensemble_at_cell_volume(make, solver, tols):
    """16 members in lock step (Tsit5, and BDF from 16 members on), each with its own
    compartment size from 5e-18 to 2e-15 L: each member's tolerances follow its own."""
    model, exact = _model(make)
    sizes = np.concatenate([v * np.linspace(0.5, 2.0, 8) for v in VOLUMES])
    res = wc.simulate(model, TS, params={"C": sizes}, solver=solver, rtol=tols[0],
                      atol=tols[1])
    for i in range(sizes.size):
        assert _error(res, exact, i) < TOLERANCES[tols], sizes[i]


def test_picomolar_species_in_a_litre():
    """9 pM in M units (compartment of size 1) at atol 1e-12: the tolerance follows the
    species' own magnitude, as libRoadRunner's does (the error was 1.8% before)."""
    model, _ = _model(decay)
    res = wc.simulate(model, TS, params={"A": 9e-12}, rtol=1e-8, atol=1e-12)
    assert np.max(np.abs(res["A"] - 9e-12 * np.exp(-0.5 * TS))) < 1e-7 * 9e-12


def test_a_state_below_its_atol_is_named():
    """A bound complex of pM species never reaches atol 1e-9: the warning names it."""
    model, _ = _model(binding)
    params = {"A": 9e-12, "B": 1.8e-11, "kf": 1.0 / 9e-12}
    with pytest.warns(wc.ToleranceWarning, match=r"'AB' \(at most .*atol 1e-09"):
        wc.simulate(model, TS, params=params)


def _first_order(rid, species, rate, reactant=None, product=None):
    """``reactant -> product`` at ``rate * species`` (a modifier where it is
    neither side)."""
    side = "".join(f"<{tag}>{_ref(s)}</{tag}>" for tag, s in
                   (("listOfReactants", reactant), ("listOfProducts", product)) if s)
    mod = ("" if species in (reactant, product) else
           f'<listOfModifiers><modifierSpeciesReference species="{species}"/></listOfModifiers>')
    law = _math(f"<apply><times/><ci>{rate}</ci><ci>{species}</ci></apply>")
    return (f'<reaction id="{rid}" reversible="false">{side}{mod}'
            f"<kineticLaw>{law}</kineticLaw></reaction>")


@functools.cache
def _rounding_dust_model():
    """A and A2 (25 M each) decay at the same rate, A2 through two reactions (0.1 + 0.2
    against 0.3: equal up to rounding); D starts at 1e-34 M and is made at k [A] and taken
    at k [A2], so it is D0 exactly, and rounding's 1e-15 in the solver."""
    species = _species("A", 25.0) + _species("A2", 25.0) + _species("D", 1e-34)
    rxns = (_first_order("r", "A", "k", reactant="A")
            + _first_order("r1", "A2", "k1", reactant="A2")
            + _first_order("r2", "A2", "k2", reactant="A2")
            + _first_order("make", "A", "k", product="D")
            + _first_order("take", "A2", "k", reactant="D"))
    return wc.load_sbml(_doc(1.0, species, {"k": 0.3, "k1": 0.1, "k2": 0.2}, rxns))


@pytest.mark.parametrize("solver", ["tsit5", "rodas5", "bdf"])
def test_a_state_that_starts_at_rounding_dust_gets_atol(solver):
    """A state that starts below 1e-15 of the largest initial value (8e-34 beside 25 after
    Raimundez 2020's pre-equilibration) is held to atol, not atol times its start: every
    solver gave up within t = 1e-3 before (steps shrinking to chase rounding). Lock step
    too (two members)."""
    model = _rounding_dust_model()
    ts = np.linspace(0.0, 20.0, 11)
    exact = 25.0 * np.exp(-0.3 * ts)
    res = wc.simulate(model, ts, solver=solver, rtol=1e-8, atol=1e-12)
    assert np.max(np.abs(res["A"] - exact)) < 1e-6 * 25.0
    assert np.max(np.abs(res["D"] - 1e-34)) < 1e-12
    both = wc.simulate(model, ts, params={"k": [0.3, 0.3]}, solver=solver, rtol=1e-8,
                       atol=1e-12)
    assert np.max(np.abs(both["A"] - exact)) < 1e-6 * 25.0


def test_tolerances_per_id():
    """atol and rtol as a dict per id; an id outside the state is refused by name."""
    model, exact = _model(binding)
    res = wc.simulate(model, TS, params={"C": 1e-15}, rtol={"AB": 1e-9},
                      atol={"A": 1e-13, "AB": 1e-13})
    assert _error(res, exact) < TOLERANCES[(1e-6, 1e-9)]
    with pytest.raises(wc.SimulationError, match="'kf', which is not a variable of the state"):
        wc.simulate(model, TS, atol={"kf": 1e-12})
    with pytest.raises(wc.SimulationError, match="atol of 'A' must be a positive number"):
        wc.simulate(model, TS, atol={"A": 0.0})
