"""Hybrid SSA-ODE: exact laws for the stochastic part, the ODE solution for the rest."""

import warnings

import numpy as np
import pytest
from conftest import parameter, sbml_model, species

import wholecell as wc

#: a birth-death process 0 -> X (lam * S / S0), X -> 0 (mu X) beside an ODE conversion
#: S -> Q (k S); with coupled=False the birth rate is lam (independent of S)
LAM, MU, K, S0 = 20.0, 0.5, 0.3, 1.0e5
#: members of the ensembles (SE of a Poisson mean of 40: 0.14)
N = 2000
#: relative agreement of the ODE part with its exact solution (solved at rtol 1e-8)
ODE_RTOL = 1e-6


def _counts(initial) -> str:
    """Species in molecule counts (hasOnlySubstanceUnits), from (id, initial) pairs."""
    return "".join(
        f'<species id="{s}" compartment="C" initialAmount="{v}" hasOnlySubstanceUnits='
        '"true" boundaryCondition="false" constant="false"/>' for s, v in initial)


def _model(coupled: bool) -> str:
    law = "<apply><times/><ci>lam</ci><apply><divide/><ci>S</ci><ci>S0</ci></apply></apply>"
    ref = '<modifierSpeciesReference species="S"/>'
    return sbml_model(
        _counts((("X", 0), ("S", S0), ("Q", 0))),
        f"""<reaction id="birth" reversible="false">
          <listOfProducts><speciesReference species="X" stoichiometry="1" constant="true"/>
          </listOfProducts>{'<listOfModifiers>' + ref + '</listOfModifiers>' if coupled else ''}
          <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          {law if coupled else '<ci>lam</ci>'}</math></kineticLaw></reaction>
        <reaction id="death" reversible="false">
          <listOfReactants><speciesReference species="X" stoichiometry="1" constant="true"/>
          </listOfReactants><kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci>mu</ci><ci>X</ci></apply></math></kineticLaw></reaction>
        <reaction id="convert" reversible="false">
          <listOfReactants><speciesReference species="S" stoichiometry="1" constant="true"/>
          </listOfReactants><listOfProducts>
          <speciesReference species="Q" stoichiometry="1" constant="true"/></listOfProducts>
          <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci>k</ci><ci>S</ci></apply></math></kineticLaw></reaction>""",
        parameter("lam", LAM) + parameter("mu", MU) + parameter("k", K) + parameter("S0", S0),
    )


@pytest.fixture(scope="module")
def independent():
    return wc.load_sbml(_model(False))


@pytest.fixture(scope="module")
def coupled():
    return wc.load_sbml(_model(True))


def _check_poisson(x, m):
    """X ~ Poisson(m): mean and variance within 4 standard errors (two checks, each failing
    a correct simulator with probability P(|Z| > 4) = 6.3e-5). The tests are seeded, so
    their draws and outcome are fixed; with a fresh seed the false-failure rates are
    at most 6 x 6.3e-5 = 4e-4 (three times) and 4 x 6.3e-5 = 2.5e-4 (two times)."""
    n = x.shape[0]
    assert np.all(x == np.round(x))
    assert abs(x.mean() - m) < 4 * np.sqrt(m / n)
    assert abs(x.var(ddof=1) - m) < 4 * m * np.sqrt((2 + 1 / m) / n)


def test_independent_parts_match_ssa_law_and_ode(independent):
    ts = np.array([0.0, 1.0, 2.0, 8.0])
    res = wc.simulate(
        independent, ts, method="hybrid", stochastic=["birth", "death"], n=N, seed=3,
        communication_step=1.0, rtol=1e-8, atol=1e-8,
    )
    x = res.amount("X")
    assert x.shape == (N, len(ts))
    for k in range(1, len(ts)):
        _check_poisson(x[:, k], LAM / MU * (1 - np.exp(-MU * ts[k])))
    # (the pure SSA's law: tests/test_ssa.py checks it against the same Poisson law)
    # the ODE part is the exact solution of S' = -k S, Q' = k S in every member
    S = S0 * np.exp(-K * ts)
    np.testing.assert_allclose(res["S"], np.broadcast_to(S, res["S"].shape), rtol=ODE_RTOL)
    np.testing.assert_allclose(res["Q"], np.broadcast_to(S0 - S, res["Q"].shape),
                               rtol=ODE_RTOL, atol=1e-6)


def test_the_ode_integrates_only_what_ode_reactions_change(independent):
    """Frozen mode integrates S and Q alone (X changes only by firings); a stiff solver,
    whose Jacobian is then 2 x 2, gives the exact ODE solution and the Poisson law."""
    from wholecell.stochastic._hybrid import make_plan

    sim = wc.compile(independent)
    plan = make_plan(sim, ["birth", "death"], 1.0)
    assert sorted(sim.state_ids[i] for i in plan.ode) == ["Q", "S"]
    assert make_plan(sim, ["birth", "death"], "exact").ode is None
    ts = np.array([0.0, 1.0, 8.0])
    res = wc.simulate(independent, ts, method="hybrid", stochastic=["birth", "death"], n=N,
                      seed=4, communication_step=1.0, rtol=1e-8, atol=1e-8, solver="kvaerno5")
    x = res.amount("X")
    for k in range(1, len(ts)):
        _check_poisson(x[:, k], LAM / MU * (1 - np.exp(-MU * ts[k])))
    S = S0 * np.exp(-K * ts)
    np.testing.assert_allclose(res["S"], np.broadcast_to(S, res["S"].shape), rtol=ODE_RTOL)


def test_exact_mode_follows_time_dependent_propensity(coupled):
    """Birth at rate lam S(t)/S0, S = S0 exp(-k t): X is Poisson with mean m(t),
    m' = lam exp(-k t) - mu m."""
    ts = np.array([0.0, 2.0, 6.0])
    res = wc.simulate(coupled, ts, method="hybrid", stochastic=["birth", "death"], n=N,
                      seed=5, communication_step="exact", rtol=1e-8, atol=1e-8)
    x = res.amount("X")
    for k in range(1, len(ts)):
        t = ts[k]
        m = LAM / (MU - K) * (np.exp(-K * t) - np.exp(-MU * t))
        _check_poisson(x[:, k], m)


def test_selection_of_stochastic_reactions(independent):
    from wholecell.stochastic._hybrid import stochastic_reactions

    sim = wc.compile(independent)
    assert list(stochastic_reactions(sim, "auto")) == [True, True, False]
    assert list(stochastic_reactions(sim, lambda r: r.id == "death")) == [False, True, False]
    assert list(stochastic_reactions(sim, 1e6)) == [True, True, True]
    with pytest.raises(wc.SimulationError, match="'nope'"):
        wc.simulate(independent, 1.0, method="hybrid", stochastic=["nope"])
    with pytest.raises(wc.SimulationError, match="communication_step"):
        wc.simulate(independent, 1.0, method="hybrid", stochastic="auto", communication_step=0)
    with pytest.raises(wc.SimulationError, match="stochastic="):
        wc.simulate(independent, 1.0, method="hybrid")


def test_events_are_refused():
    doc = sbml_model(
        '<species id="X" compartment="C" initialAmount="0" hasOnlySubstanceUnits="true" '
        'boundaryCondition="false" constant="false"/>',
        """<reaction id="birth" reversible="false"><listOfProducts>
        <speciesReference species="X" stoichiometry="1" constant="true"/></listOfProducts>
        <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><cn>1</cn></math>
        </kineticLaw></reaction>""",
        extra="""<listOfEvents><event id="reset" useValuesFromTriggerTime="true">
        <trigger initialValue="false" persistent="true"><math
        xmlns="http://www.w3.org/1998/Math/MathML"><apply><gt/><ci>X</ci><cn>5</cn></apply>
        </math></trigger><listOfEventAssignments><eventAssignment variable="X"><math
        xmlns="http://www.w3.org/1998/Math/MathML"><cn>0</cn></math></eventAssignment>
        </listOfEventAssignments></event></listOfEvents>""",
    )
    with pytest.raises(wc.UnsupportedSBMLError, match="reset"):
        wc.simulate(wc.load_sbml(doc), 1.0, method="hybrid", stochastic="auto")


# -- the frozen-propensity mode at scale: all the firings of a step in one inner loop --

#: genes of the expression fixture: transcription rate (1/s) each; mRNA decay, translation
#: per mRNA and protein decay are shared. Translation consumes one amino acid A, an ODE
#: species (A -> Q at k_a A) that no propensity reads; T counts the translations.
GENES = (2.0, 5.0, 10.0)
G_M, K_TL, G_P, K_A, A0 = 0.5, 1.0, 0.2, 0.05, 2000.0
#: trajectories per method (hybrid and SSA): standard errors of a mean of 20 mRNAs 0.07
N_GENES = 4000
#: standard errors allowed between two independent estimates: 36 two-sided checks
#: (6 species x 3 times x mean and variance), each failing a correct simulator with
#: probability P(|Z| > 4.5) = 6.8e-6: 2.4e-4 for the whole test with a fresh seed (the
#: run is seeded, so its outcome is fixed)
Z_MAX = 4.5


def _reaction(rid, reactants, products, law):
    def refs(names):
        return "".join(f'<speciesReference species="{s}" stoichiometry="1" constant="true"/>'
                       for s in names)

    return (f'<reaction id="{rid}" reversible="false">'
            + (f"<listOfReactants>{refs(reactants)}</listOfReactants>" if reactants else "")
            + (f"<listOfProducts>{refs(products)}</listOfProducts>" if products else "")
            + '<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">'
            + law + "</math></kineticLaw></reaction>")


def _times(*names):
    return "<apply><times/>" + "".join(f"<ci>{n}</ci>" for n in names) + "</apply>"


def _expression_model() -> str:
    names = ["A", "Q", "T"] + [f"{s}{i}" for i in range(len(GENES)) for s in "MP"]
    amounts = {"A": A0}
    sp = "".join(
        f'<species id="{s}" compartment="C" initialAmount="{amounts.get(s, 0.0)}" '
        'hasOnlySubstanceUnits="true" boundaryCondition="false" constant="false"/>'
        for s in names
    )
    rx = _reaction("aa_use", ["A"], ["Q"], _times("k_a", "A"))
    ps = "".join(parameter(k, v) for k, v in
                 (("g_m", G_M), ("k_tl", K_TL), ("g_p", G_P), ("k_a", K_A)))
    for i, k in enumerate(GENES):
        ps += parameter(f"k_tx{i}", k)
        rx += _reaction(f"tx{i}", [], [f"M{i}"], f"<ci>k_tx{i}</ci>")
        rx += _reaction(f"tl{i}", [f"M{i}", "A"], [f"M{i}", f"P{i}", "T"], _times("k_tl", f"M{i}"))
        rx += _reaction(f"dm{i}", [f"M{i}"], [], _times("g_m", f"M{i}"))
        rx += _reaction(f"dp{i}", [f"P{i}"], [], _times("g_p", f"P{i}"))
    return sbml_model(sp, rx, ps)


def _z_mean_var(a, b):
    """|difference| / standard error of the means and of the variances of two samples
    (the variance's standard error from the fourth central moment)."""
    def var_se2(x):
        d = x - x.mean()
        return (np.mean(d**4) - x.var() ** 2) / x.size

    se_m = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    se_v = np.sqrt(var_se2(a) + var_se2(b))
    return abs(a.mean() - b.mean()) / se_m, abs(a.var(ddof=1) - b.var(ddof=1)) / se_v


def test_inner_loop_matches_exact_ssa_on_gene_expression():
    """The hybrid's genes (propensities that read no ODE species) have the exact SSA's
    law: mean and variance of every mRNA and protein at three times agree within
    Z_MAX standard errors. The amino acids consumed by the firings leave the ODE species
    A exactly: A + Q + T = A0 in every trajectory (A's own mean differs from the SSA's
    by the splitting of the ODE step, by design)."""
    model = wc.load_sbml(_expression_model())
    ts = np.array([0.0, 1.0, 3.0, 8.0])
    stoch = [r.id for r in model.reactions if r.id != "aa_use"]
    hyb = wc.simulate(model, ts, method="hybrid", stochastic=stoch, n=N_GENES, seed=7,
                      communication_step=1.0, rtol=1e-8, atol=1e-8)
    ssa = wc.simulate(model, ts, method="ssa", n=N_GENES, seed=8)
    for name in [f"{s}{i}" for i in range(len(GENES)) for s in "MP"]:
        h, s = hyb.amount(name), ssa.amount(name)
        assert np.all(h == np.round(h))
        for k in range(1, len(ts)):
            z_mean, z_var = _z_mean_var(h[:, k], s[:, k])
            assert z_mean < Z_MAX, (name, ts[k], z_mean)
            assert z_var < Z_MAX, (name, ts[k], z_var)
    total = hyb.amount("A") + hyb.amount("Q") + hyb.amount("T")
    np.testing.assert_allclose(total, A0, rtol=1e-9)
    assert np.all(hyb.amount("T")[:, -1] > 0)
    # every firing is counted: here T alone grows by one per translation
    assert np.all(hyb.stats["events"] > hyb.amount("T")[:, -1])


#: communication step of the coupled frozen-mode test: the birth propensity
#: lam S(t) / S0 is frozen at mid-step, whose integral over a step of h <= 0.5 has a
#: relative error <= (K h)^2 / 24 = 9.4e-4 (midpoint rule on exp(-K t)): at most 0.02
#: molecules on means of 14-18, against their standard error of 0.09 (N = 2000)
DT_COUPLED = 0.5


def test_frozen_mode_follows_ode_dependent_propensity(coupled):
    """Birth at rate lam S(t)/S0 with S an ODE species: X stays Poisson with the mean of
    m' = lam exp(-k t) - mu m (the frozen birth rate is deterministic, so X is an
    immigration-death process: Poisson at every time)."""
    ts = np.array([0.0, 2.0, 6.0])
    res = wc.simulate(coupled, ts, method="hybrid", stochastic=["birth", "death"], n=N,
                      seed=9, communication_step=DT_COUPLED, rtol=1e-8, atol=1e-8)
    x = res.amount("X")
    for k in range(1, len(ts)):
        t = ts[k]
        _check_poisson(x[:, k], LAM / (MU - K) * (np.exp(-K * t) - np.exp(-MU * t)))


#: births a cell waits for before it divides in the firing-division test
BIRTHS = 10


def test_division_caused_by_a_firing_inside_a_step():
    """A cell divides at its 10th birth (rate LAM = 20/s: about 0.5 s, inside the first
    1 s communication step): the division time is Gamma(10, LAM) (mean 0.5, variance
    0.025), X at division is exactly 10, and the ODE species is on its path there."""
    doc = sbml_model(
        "".join(species(s, v, hosu=True) for s, v in (("X", 0), ("S", S0), ("Q", 0))),
        _reaction("birth", [], ["X"], "<ci>lam</ci>")
        + _reaction("convert", ["S"], ["Q"], _times("k", "S")),
        parameter("lam", LAM) + parameter("k", K),
    )
    lin = wc.division.simulate(
        wc.load_sbml(doc), np.linspace(0.0, 3.0, 4), when=lambda now, birth: now["X"] >= BIRTHS,
        stochastic=["birth"], n=N, generations=1, seed=4, rtol=1e-8, atol=1e-8,
    )
    assert np.all(lin.divided)
    np.testing.assert_array_equal(lin.at_division("X"), BIRTHS)
    t = lin.division
    np.testing.assert_allclose(lin.at_division("S"), S0 * np.exp(-K * t), rtol=1e-6)
    mean, var = BIRTHS / LAM, BIRTHS / LAM**2
    # 4 standard errors each (the variance's from the Gamma's fourth central moment,
    # 3 k (k + 2) / lam^4): a correct simulator fails with probability 2 x 6.3e-5
    assert abs(t.mean() - mean) < 4 * np.sqrt(var / N)
    m4 = 3 * BIRTHS * (BIRTHS + 2) / LAM**4
    assert abs(t.var(ddof=1) - var) < 4 * np.sqrt((m4 - var**2) / N)


#: an ODE feed 0 -> A (KIN) and a stochastic use A -> P (KUSE A), started at A's steady
#: state, so that E[A] stays A0 and E[P](t) = KIN t (the frozen step's splitting error,
#: about KUSE dt / 2 of the mean, is 5e-4 with dt = 0.1)
KIN, KUSE = 20.0, 0.01


def _feed_model() -> str:
    a0 = KIN / KUSE
    return sbml_model(
        _counts((("A", a0), ("P", 0))),
        """<reaction id="feed" reversible="false">
          <listOfProducts><speciesReference species="A" stoichiometry="1" constant="true"/>
          </listOfProducts><kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <ci>kin</ci></math></kineticLaw></reaction>
        <reaction id="use" reversible="false">
          <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/>
          </listOfReactants><listOfProducts>
          <speciesReference species="P" stoichiometry="1" constant="true"/></listOfProducts>
          <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
          <apply><times/><ci>kuse</ci><ci>A</ci></apply></math></kineticLaw></reaction>""",
        parameter("kin", KIN) + parameter("kuse", KUSE),
    )


@pytest.mark.parametrize("spread", [False, True])
def test_spread_release_keeps_every_firing_and_the_mean(spread):
    """With ``spread`` the firings' change of the ODE species A is released over the next
    step, but the reported state counts it at once: A + P equals A0 + KIN t exactly in
    every member, and E[P] = KIN t (P's variance is at most Poisson's, A's feedback only
    lowers it: 5 standard errors of a Poisson mean)."""
    n, ts = 400, np.array([0.0, 10.0, 30.0])
    res = wc.simulate(wc.load_sbml(_feed_model()), ts, method="hybrid", stochastic=["use"],
                      n=n, seed=5, communication_step=0.1, rtol=1e-8, atol=1e-8,
                      solver="rodas5", spread=spread)
    a, p = res.amount("A"), res.amount("P")
    np.testing.assert_allclose(a + p, np.broadcast_to(KIN / KUSE + KIN * ts, a.shape),
                               rtol=1e-9)
    assert np.all(p == np.round(p))
    for k in (1, 2):
        m = KIN * ts[k]
        assert abs(p[:, k].mean() - m) < 5 * np.sqrt(m / n)


def test_spread_needs_a_communication_step(independent):
    with pytest.raises(wc.SimulationError, match="spread"):
        wc.simulate(independent, [0.0, 1.0], method="hybrid", stochastic=["birth"],
                    communication_step="exact", spread=True)


def _overdraw_model() -> str:
    """S decays as an ODE (k S); a stochastic firing takes 50 S at once while S >= 50."""
    return sbml_model(
        _counts((("S", 100), ("P", 0))),
        _reaction("decay", ["S"], [], _times("kd", "S"))
        + """<reaction id="take" reversible="false">
          <listOfReactants><speciesReference species="S" stoichiometry="50" constant="true"/>
          </listOfReactants><listOfProducts>
          <speciesReference species="P" stoichiometry="1" constant="true"/></listOfProducts>
          <kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML"><piecewise>
          <piece><ci>ktake</ci><apply><geq/><ci>S</ci><cn>50</cn></apply></piece>
          <otherwise><cn>0</cn></otherwise></piecewise></math></kineticLaw></reaction>""",
        parameter("kd", 1.0) + parameter("ktake", 10.0),
    )


@pytest.mark.parametrize("spread", [False, True])
def test_an_overdrawn_species_is_named_in_a_warning(spread):
    """The firings of an ODE step read S frozen at mid-step (S >= 50), so several can
    take 50 each in one step, and the ODE uses S up meanwhile: S falls below zero. The
    run says so, naming S and its lowest amount; a run that overdraws nothing (the feed
    model) warns of nothing."""
    model = wc.load_sbml(_overdraw_model())
    with pytest.warns(wc.OverdrawWarning, match=r"1 species went below zero \(S\)") as got:
        res = wc.simulate(model, [0.0, 1.0, 2.0], method="hybrid", stochastic=["take"], n=20,
                          seed=1, communication_step=1.0, solver="rodas5", spread=spread)
    s = res.amount("S")
    assert s.min() < -0.5 and (res.amount("P")[:, -1] >= 1).all()
    assert f"S reached {s.min():.4g} molecules" in str(got[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", wc.OverdrawWarning)
        wc.simulate(wc.load_sbml(_feed_model()), [0.0, 1.0], method="hybrid",
                    stochastic=["use"], n=5, seed=1, communication_step=0.1, spread=spread)
