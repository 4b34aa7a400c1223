"""The syn3A metabolism builder on the project's fixture (tests/data/syn3a_fixture).

Each reference is the published rate law written out again by hand from the fixture's
numbers (typed here from make_fixture.py, not read through the builder): random-order
convenience kinetics (Liebermeister & Klipp 2006) with the enzyme as a count, mass action
on mM for the PTS relay, permeability x difference x 3/r for diffusion, a fixed uptake.
"""

import math
import shutil
from pathlib import Path

import numpy as np
import pytest

import wholecell as wc
from wholecell.models.syn3a import (
    BuildError,
    Choices,
    MinimalCellDataError,
    build_metabolism_sbml,
    build_sbml,
)
from wholecell.models.syn3a._metabolic_tables import EnzymeReaction
from wholecell.models.syn3a._metabolism import _balanced_kcats
from wholecell.models.syn3a._tables import Number

FIXTURE = Path(__file__).parent / "data" / "syn3a_fixture"
N_A = 6.02214076e23
V = 4 / 3 * math.pi * (200e-9 * 10) ** 3  # the birth sphere (radius 200 nm), in litres
COUNT_PER_MM = N_A * V * 1e-3
#: the laws are evaluated in float64 from the same numbers: rounding only
RTOL = 1e-10

# the fixture's concentrations (mM) and protein counts
C = {"g6p": 3.0, "f6p": 1.0, "pep": 0.05, "adp": 0.3, "pyr": 3.0, "nadh": 0.02,
     "lac": 0.1, "nad": 2.0, "amp": 0.1, "dadp": 0.01, "trdrd": 0.001, "trdox": 0.02,
     "arg": 0.5, "atp": 3.0, "chsterol": 20.0}
MEDIUM = {"glc": 40.0, "arg_e": 0.1, "lac_e": 0.5, "chsterol_e": 0.1}
P = {"0001": 140, "0002": 180, "0003": 520, "0004": 125, "0008": 12, "0010": 300}
PTSI, PTSI_P = round(300 * 0.05), round(300 * 0.95)


@pytest.fixture(scope="module")
def metabolism():
    return wc.compile(wc.load_sbml(build_metabolism_sbml(FIXTURE)))


def _rates(sim):
    x0 = sim.structure.initial(sim.param_values, 0.0)[0]
    return dict(zip(sim.structure.reaction_ids, np.asarray(sim.rates(x0)), strict=True))


def _conv(e, kf, kr, subs, prods):
    """E (kf prod (s/K)^n - kr prod (p/K)^m) / (prod sum_k (s/K)^k + prod sum_k (p/K)^k - 1)."""
    def side(terms):
        num, den = 1.0, 1.0
        for c, k, n in terms:
            num *= (c / k) ** n
            den *= sum((c / k) ** j for j in range(n + 1))
        return num, den
    sn, sd = side(subs)
    pn, pd = side(prods)
    return e * (kf * sn - kr * pn) / (sd + pd - 1)


def test_each_rate_law_equals_the_hand_computation(metabolism):
    v = _rates(metabolism)
    ptsi, ptsi_p = PTSI / COUNT_PER_MM, PTSI_P / COUNT_PER_MM
    median = 160  # of the fixture proteome: 12, 125, 140 | 180, 300, 520
    expected = {
        # one protein
        "R_PGI": _conv(P["0003"], 800, 650, [(C["g6p"], 0.28, 1)], [(C["f6p"], 0.15, 1)]),
        # GPR "or": the sum; the proton is left out
        "R_PYK": _conv(P["0001"] + P["0002"], 300, 0,
                       [(C["pep"], 0.1, 1), (C["adp"], 0.2, 1)],
                       [(C["pyr"], 1.0, 1), (C["atp"], 0.5, 1)]),
        # no gene: the proteome's median count
        "R_LDH_L": _conv(median, 200, 10, [(C["pyr"], 1.0, 1), (C["nadh"], 0.02, 1)],
                         [(C["lac"], 10.0, 1), (C["nad"], 1.0, 1)]),
        # a stoichiometry of two: (p/K)^2 and 1 + p/K + (p/K)^2
        "R_ADK1": _conv(P["0004"], 500, 400, [(C["atp"], 0.1, 1), (C["amp"], 0.05, 1)],
                        [(C["adp"], 0.2, 2)]),
        # a complex ("and"): RNAP is two of 0002, so floor(180 / 2)
        "R_RNDR1": _conv(90, 2, 0, [(C["adp"], 0.1, 1), (C["trdrd"], 0.01, 1)],
                         [(C["dadp"], 0.1, 1), (C["trdox"], 0.1, 1)]),
        # a transporter: the medium's concentration, fixed
        "R_ARGt2r": _conv(P["0008"] + P["0010"], 3.4, 0, [(MEDIUM["arg_e"], 0.03, 1)],
                          [(C["arg"], 0.03, 1)]),
        # mass action on mM, times the molecules per mM
        "R_GLCpts0": (10 * ptsi * C["pep"] - 4 * ptsi_p * C["pyr"]) * COUNT_PER_MM,
        "R_GLCpts4": (1.29 * MEDIUM["glc"] * ptsi_p - 1e-5 * C["g6p"] * ptsi) * COUNT_PER_MM,
        # permeability x difference x area/volume (3/r)
        "R_L_LACt2r": 5e-9 * (C["lac"] - MEDIUM["lac_e"]) * 3 / 2e-7 * COUNT_PER_MM,
        "R_CHOLt": 0.003 * COUNT_PER_MM,
    }
    for rid, ref in expected.items():
        assert v[rid] == pytest.approx(ref, rel=RTOL), rid
    assert set(expected) == set(v)


def test_the_state_is_counts_of_the_tabulated_concentrations(metabolism):
    x0 = dict(zip(metabolism.state_ids, np.asarray(
        metabolism.structure.initial(metabolism.param_values, 0.0)[0]), strict=False))
    assert x0["M_g6p_c"] == pytest.approx(C["g6p"] * COUNT_PER_MM, rel=1e-12)
    assert x0["ptsi"] == PTSI and x0["ptsi_P"] == PTSI_P
    assert not any(s in metabolism.state_ids for s in ("M_h_c", "M_h2o_c"))


def test_a_run_keeps_the_carriers_and_the_adenine_moiety(metabolism):
    """PTS carriers only change state; ADK1, PYK and RNDR1 move adenine between ATP, ADP,
    AMP and dADP. Both totals stay at their start while everything else moves."""
    r = wc.simulate(metabolism, np.linspace(0.0, 60.0, 7), rtol=1e-8, atol=1e-6)
    pts = np.asarray(r["ptsi"]) + np.asarray(r["ptsi_P"])
    adenine = sum(np.asarray(r[f"M_{m}_c"]) for m in ("atp", "adp", "amp", "dadp"))
    np.testing.assert_allclose(pts, PTSI + PTSI_P, rtol=1e-6)
    np.testing.assert_allclose(adenine, adenine[0], rtol=1e-6)
    assert abs(r["M_g6p_c"][-1] / r["M_g6p_c"][0] - 1) > 1e-3
    assert np.all(np.diff(np.asarray(r["M_chsterol_c"])) > 0)  # the fixed uptake
    np.testing.assert_array_equal(np.asarray(r["M_glc__D_e"]), MEDIUM["glc"])  # fixed medium


def test_choices_change_the_default_enzyme_and_the_carriers():
    ch = Choices(default_enzyme_count=10.0, pts_phosphorylated=0.5)
    sim = wc.compile(wc.load_sbml(build_metabolism_sbml(FIXTURE, choices=ch)))
    v = _rates(sim)
    assert v["R_LDH_L"] == pytest.approx(
        _conv(10.0, 200, 10, [(C["pyr"], 1.0, 1), (C["nadh"], 0.02, 1)],
              [(C["lac"], 10.0, 1), (C["nad"], 1.0, 1)]), rel=RTOL)
    assert v["R_GLCpts0"] == pytest.approx(
        (10 * 150 * C["pep"] - 4 * 150 * C["pyr"]), rel=RTOL)


def _pgi_at(keq: float):
    """kf, kr of PGI with the Haldane K_eq ``keq`` (sheet kf 800, kr 650, K_g6p 0.28,
    K_f6p 0.15 mM; sqrt(kf kr) kept)."""
    ratio, mean = keq * 0.28 / 0.15, math.sqrt(800 * 650)
    return mean * math.sqrt(ratio), mean / math.sqrt(ratio)


@pytest.mark.parametrize(("source", "keq"), [("balanced_2022", 0.36), ("priors_2019", 0.5)])
def test_a_tabulated_equilibrium_sets_kf_over_kr_by_haldane(source, keq):
    """K_eq = kf/kr x K_f6p/K_g6p: the fixture's balanced table gives 0.36 for PGI, its
    table of constants before balancing 0.5."""
    ch = Choices(balanced_equilibria=("PGI",), equilibria_from=source)
    sim = wc.compile(wc.load_sbml(build_metabolism_sbml(FIXTURE, choices=ch)))
    kf, kr = _pgi_at(keq)
    assert _rates(sim)["R_PGI"] == pytest.approx(
        _conv(P["0003"], kf, kr, [(C["g6p"], 0.28, 1)], [(C["f6p"], 0.15, 1)]), rel=RTOL)
    # at f6p / g6p = K_eq the law is at rest
    assert _conv(1.0, kf, kr, [(1.0, 0.28, 1)], [(keq, 0.15, 1)]) == pytest.approx(
        0.0, abs=1e-12)
    assert ("keq_R_PGI" if source == "balanced_2022" else "equilibrium constant PGI") in (
        build_metabolism_sbml(FIXTURE, choices=ch))


def test_tabulated_equilibria_that_do_not_fit_are_named():
    for source in ("balanced_2022", "priors_2019"):
        with pytest.raises(BuildError, match="R_LDH_L: the balanced table's equation"):
            build_metabolism_sbml(FIXTURE, choices=Choices(balanced_equilibria=("LDH_L",),
                                                           equilibria_from=source))
        with pytest.raises(MinimalCellDataError, match="no K_eq of PYK"):
            build_metabolism_sbml(FIXTURE, choices=Choices(balanced_equilibria=("PYK",),
                                                           equilibria_from=source))
    with pytest.raises(BuildError, match="equilibria_from must be one of"):
        build_metabolism_sbml(FIXTURE, choices=Choices(equilibria_from="measured"))


def test_a_forward_equilibrium_keeps_the_sheets_kf():
    """`Choices.forward_equilibria`: kf stays the sheet's 800/s and kr follows from the
    collected K_eq (0.5) by Haldane; a molar K_eq of a reaction with more substrates
    than products is converted to mM."""
    ch = Choices(forward_equilibria=("PGI",))
    sim = wc.compile(wc.load_sbml(build_metabolism_sbml(FIXTURE, choices=ch)))
    kr = 800 / (0.5 * 0.28 / 0.15)
    assert _rates(sim)["R_PGI"] == pytest.approx(
        _conv(P["0003"], 800, kr, [(C["g6p"], 0.28, 1)], [(C["f6p"], 0.15, 1)]), rel=RTOL)
    with pytest.raises(BuildError, match=r"\['PGI'\] named by both"):
        build_metabolism_sbml(FIXTURE, choices=Choices(balanced_equilibria=("PGI",),
                                                       forward_equilibria=("PGI",)))
    with pytest.raises(MinimalCellDataError, match="no K_eq of PYK"):
        build_metabolism_sbml(FIXTURE, choices=Choices(forward_equilibria=("PYK",)))
    # GAPD-like: g3p + nad + pi <=> 13dpg + nadh, K_eq 0.12 / M = 1.2e-4 / mM
    km = {"M_a": 0.02, "M_b": 1.3, "M_c": 6.6, "M_d": 0.47, "M_e": 0.06}
    r = EnzymeReaction("R_X", "Central", "P_0001", "", Number(442.0, "1/s", "sheet"),
                       Number(73.6, "1/s", "sheet"),
                       {k: Number(v, "mM", "sheet") for k, v in km.items()},
                       {"M_a": 1, "M_b": 1, "M_c": 1}, {"M_d": 1, "M_e": 1})
    keq = Number(0.12, "", "collected")
    kf, kr = _balanced_kcats(r, keq, "M_a + M_b + M_c <=> M_d + M_e", "priors_2019",
                             forward=True)
    assert kf.value == 442.0
    # Haldane: K_eq = kf/kr x prod K_products / prod K_substrates
    assert kf.value / kr.value * 0.47 * 0.06 / (0.02 * 1.3 * 6.6) == pytest.approx(
        1.2e-4, rel=RTOL)
    for source, forward in (("priors_2019", False), ("balanced_2022", True)):
        with pytest.raises(BuildError, match="unequal numbers"):
            _balanced_kcats(r, keq, "M_a + M_b + M_c <=> M_d + M_e", source,
                            forward=forward)


def test_a_fixed_metabolite_is_a_constant_concentration_out_of_the_stoichiometry():
    """Held fixed (as the builder holds O2), ATP reads its tabulated 3 mM in every law
    and no reaction changes it."""
    ch = Choices(fixed_metabolites=("atp",))
    model = wc.load_sbml(build_metabolism_sbml(FIXTURE, choices=ch))
    sim = wc.compile(model)
    assert "M_atp_c" not in sim.state_ids
    assert all("M_atp_c" not in {s.species for s in (*r.reactants, *r.products)}
               for r in model.reactions)
    assert _rates(sim)["R_PYK"] == pytest.approx(
        _conv(P["0001"] + P["0002"], 300, 0, [(C["pep"], 0.1, 1), (C["adp"], 0.2, 1)],
              [(C["pyr"], 1.0, 1), (C["atp"], 0.5, 1)]), rel=RTOL)


def test_sources_are_annotated():
    text = build_metabolism_sbml(FIXTURE)
    assert 'Central.csv row 4 (kcat reverse)' in text
    assert "Simulation_Medium.csv row 2 (glc__D_e)" in text
    assert "Protein_Metabolites.csv row 2" in text


def _copy(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(FIXTURE, folder, ignore=shutil.ignore_patterns("make_fixture.py"))
    return folder


def test_missing_constants_files_and_enzymes_are_named(tmp_path):
    folder = _copy(tmp_path)
    central = folder / "complexformation2025" / "kinetic_params_csv" / "Central.csv"
    lines = central.read_text().splitlines()
    central.write_text("\n".join(ln for ln in lines if "M_f6p_c" not in ln) + "\n")
    with pytest.raises(MinimalCellDataError, match=r"PGI lacks Michaelis constants.*M_f6p_c"):
        build_metabolism_sbml(folder)
    central.write_text("\n".join(lines).replace("P_0003", "P_0999") + "\n")
    with pytest.raises(BuildError, match="enzyme locus 0999"):
        build_metabolism_sbml(folder)
    central.write_text("\n".join(lines).replace("P_0003", "NoSuchComplex") + "\n")
    with pytest.raises(BuildError, match="'NoSuchComplex' is neither a protein"):
        build_metabolism_sbml(folder)
    central.write_text("\n".join(lines) + "\n")
    (folder / "complexformation2025" / "initial_concentrations_csv"
     / "Simulation_Medium.csv").unlink()
    with pytest.raises(MinimalCellDataError, match="Simulation_Medium.csv not found"):
        build_metabolism_sbml(folder)


def test_an_unknown_rate_law_is_named(tmp_path):
    folder = _copy(tmp_path)
    sheet = folder / "complexformation2025" / "kinetic_params_csv" / \
        "Non-Random-Binding_Reactions.csv"
    sheet.write_text(sheet.read_text().replace("$K_uptake,", "$K_uptake * 2,", 1))
    with pytest.raises(MinimalCellDataError, match=r"CHOLt: rate law '\$K_uptake \* 2'"):
        build_metabolism_sbml(folder)


def test_the_library_loads_the_metabolism_stage(tmp_path, monkeypatch):
    monkeypatch.setenv("WHOLECELL_CACHE_DIR", str(tmp_path))
    model = wc.models.load("syn3a", data=FIXTURE, stage="metabolism")
    assert {r.id for r in model.reactions} == {
        r.id for r in wc.load_sbml(build_metabolism_sbml(FIXTURE)).reactions}
    assert len(list((tmp_path / "models").glob("syn3a-metabolism-*.xml"))) == 1
    coupled = wc.models.load("syn3a", data=FIXTURE, stage="coupled")
    assert {"R_PGI", "tx_0001"} <= {r.id for r in coupled.reactions}
    assert len(list((tmp_path / "models").glob("syn3a-coupled-*.xml"))) == 1
    with pytest.raises(BuildError, match="unknown stage 'lipids'"):
        wc.models.load("syn3a", data=FIXTURE, stage="lipids")
    with pytest.raises(BuildError, match="no genes to choose"):
        wc.models.load("syn3a", data=FIXTURE, stage="metabolism", genes=["0001"])


def test_a_fixed_uptake_runs_at_the_2022_rate_times_its_substrates_saturation(tmp_path):
    """`Choices.fixed_uptakes`: the 2022 model's Krate (mM/s) in molecules per second,
    times s / (s + K_M) of each intracellular substrate (here PGI's g6p, K_M 0.28 mM),
    without the enzyme. By default (none) the 2022 table is not read."""
    folder = _copy(tmp_path)
    table = folder / "cell2022_cmeode" / "transport_NoH2O_Zane-TB-DB.tsv"
    table.write_text("!!SBtab\nKrate_R_ARGt2r\tKrate_R_ARGt2r\t0.004\tmM/s\n"
                     "Krate_R_PGI\tKrate_R_PGI\t0.002\tmM/s\n")
    sim = wc.compile(wc.load_sbml(build_metabolism_sbml(
        folder, choices=Choices(fixed_uptakes=("ARGt2r", "PGI")))))
    v = _rates(sim)
    assert v["R_ARGt2r"] == pytest.approx(0.004 * COUNT_PER_MM, rel=RTOL)
    assert v["R_PGI"] == pytest.approx(
        0.002 * COUNT_PER_MM * C["g6p"] / (C["g6p"] + 0.28), rel=RTOL)
    assert "transport_NoH2O_Zane-TB-DB.tsv row 2 (Krate_R_ARGt2r)" in build_metabolism_sbml(
        folder, choices=Choices(fixed_uptakes=("ARGt2r",)))
    with pytest.raises(MinimalCellDataError, match="no fixed uptake rate.*LDH_L"):
        build_metabolism_sbml(folder, choices=Choices(fixed_uptakes=("LDH_L",)))
    with pytest.raises(BuildError, match=r"fixed_uptakes names \['GSNabc'\]"):
        build_metabolism_sbml(folder, choices=Choices(fixed_uptakes=("GSNabc",)))
    table.unlink()
    assert _rates(wc.compile(wc.load_sbml(build_metabolism_sbml(folder))))[
        "R_ARGt2r"] == pytest.approx(_conv(
            P["0008"] + P["0010"], 3.4, 0, [(MEDIUM["arg_e"], 0.03, 1)],
            [(C["arg"], 0.03, 1)]), rel=RTOL)


def test_a_fixed_metabolite_of_the_coupled_cell_is_out_of_gene_expression_too():
    """Held in the coupled cell, AMP (which translation makes and the network uses) is a
    constant concentration everywhere: no species, no reaction changes it. A metabolite
    gene expression reads (ATP: its guards and the ATP_mM rule) cannot be held."""
    text = build_sbml(FIXTURE, metabolism=True, choices=Choices(fixed_metabolites=("o2", "amp")))
    model = wc.load_sbml(text)
    assert "M_amp_c" not in {s.id for s in model.species}
    changed = {s.species for r in model.reactions for s in (*r.reactants, *r.products)}
    assert "M_amp_c" not in changed
    assert any(r.id.startswith("tl_") for r in model.reactions)
    assert "M_amp_c_mM" in {p.id for p in model.parameters}
    default = wc.load_sbml(build_sbml(FIXTURE, metabolism=True))
    assert "M_amp_c" in {s.species for r in default.reactions if r.id.startswith("tl_")
                         for s in r.products}
    with pytest.raises(BuildError, match="fixed_metabolites holds M_atp_c, whose count the "
                                         "formula of .* reads"):
        build_sbml(FIXTURE, metabolism=True, choices=Choices(fixed_metabolites=("atp",)))


def _modular(e, kcat, keq, hco, subs, prods):
    """The 2022 tables' modular law: E kcat (keq^(h/2) prod s^n - keq^(-h/2) prod p^m)
    / sqrt(prod K^n) / (prod (1 + (s/K)^n) + prod (1 + (p/K)^m) - 1), in mM/s."""
    num_s = math.prod(c ** n for c, _, n in subs)
    num_p = math.prod(c ** n for c, _, n in prods)
    ks = math.prod(k ** n for _, k, n in (*subs, *prods))
    den = (math.prod(1 + (c / k) ** n for c, k, n in subs)
           + math.prod(1 + (c / k) ** n for c, k, n in prods) - 1)
    return e * kcat * (keq ** (hco / 2) * num_s - keq ** (-hco / 2) * num_p) / math.sqrt(ks) / den


def test_a_modular_law_follows_the_2022_balanced_table(tmp_path):
    """`Choices.modular_laws`: the 2022 nucleotide table's law, with its own enzyme
    concentration and its own medium concentration (arginine 0.25 mM, not the
    simulation medium's 0.1), in molecules per second. A table without the law's numbers,
    or whose equation is not the network's, is named."""
    folder = _copy(tmp_path)
    table = folder / "cell2022_cmeode" / "Nucleotide_Kinetic_Parameters.tsv"
    rows = [
        "!!SBtab TableType='Compound'",
        "M_arg__L_e\tArginine\te\t0\tFALSE\t0.25\tFALSE",
        "R_ADK1\tADK1\tM_atp_c + M_amp_c <=> 2.0 M_adp_c\t(law)\tTRUE",
        "R_ARGt2r\tARGt2r\tM_arg__L_e + M_h_e <=> M_arg__L_c + M_h_c\t(law)\tTRUE",
        "concentration of enzyme\tR_ADK1\t\t0.002\tmM",
        "concentration of enzyme\tR_ARGt2r\t\t0.0005\tmM",
        "concentration of enzyme\tMultiplicative\t\tmM",  # the priors' table: not a row
    ]
    params = {"ADK1": {"kcrg": 10, "keq": 4, "hco": 1, "kmc_M_atp_c": 0.5,
                       "kmc_M_amp_c": 0.2, "kmc_M_adp_c": 0.3},
              "ARGt2r": {"kcrg": 7, "keq": 2.5, "hco": 2, "kmc_M_arg__L_e": 0.05,
                         "kmc_M_arg__L_c": 0.4}}
    for name, ps in params.items():
        for key, value in ps.items():
            base, _, sid = key.partition("_M_")
            pid = f"{base}_R_{name}" + (f"_M_{sid}" if sid else "")
            rows.append(f"{pid}_R_{name}\t{pid}\t{value}\t\tlocal parameter")
    table.write_text("\n".join(rows) + "\n")
    choices = Choices(modular_laws=("ADK1", "ARGt2r"))
    v = _rates(wc.compile(wc.load_sbml(build_metabolism_sbml(folder, choices=choices))))
    assert v["R_ADK1"] == pytest.approx(COUNT_PER_MM * _modular(
        0.002, 10, 4, 1, [(C["atp"], 0.5, 1), (C["amp"], 0.2, 1)],
        [(C["adp"], 0.3, 2)]), rel=RTOL)
    assert v["R_ARGt2r"] == pytest.approx(COUNT_PER_MM * _modular(
        0.0005, 7, 2.5, 2, [(0.25, 0.05, 1)], [(C["arg"], 0.4, 1)]), rel=RTOL)
    assert v["R_ARGt2r"] > 0 and v["R_ADK1"] > 0
    with pytest.raises(BuildError, match=r"modular_laws names \['GSNabc'\]"):
        build_metabolism_sbml(folder, choices=Choices(modular_laws=("GSNabc",)))
    with pytest.raises(BuildError, match="named by both"):
        build_metabolism_sbml(folder, choices=Choices(modular_laws=("ADK1",),
                                                      fixed_uptakes=("ADK1",)))
    with pytest.raises(MinimalCellDataError, match="no equation of PGI"):
        build_metabolism_sbml(folder, choices=Choices(modular_laws=("PGI",)))
    table.write_text(table.read_text().replace("M_atp_c + M_amp_c", "M_gtp_c + M_amp_c")
                     .replace("kmc_R_ADK1_M_atp_c\t", "kmc_R_ADK1_M_gtp_c\t"))
    with pytest.raises(BuildError, match="R_ADK1: the 2022 table's equation"):
        build_metabolism_sbml(folder, choices=Choices(modular_laws=("ADK1",)))
    keq = "keq_R_ARGt2r_R_ARGt2r\tkeq_R_ARGt2r\t2.5"
    table.write_text(table.read_text().replace(keq, keq[:-3] + "0"))  # rounded to 0
    with pytest.raises(MinimalCellDataError, match="keq_R_ARGt2r of the modular law of "
                       "ARGt2r not positive"):
        build_metabolism_sbml(folder, choices=Choices(modular_laws=("ARGt2r",)))
    table.write_text(table.read_text().replace("kcrg_R_ARGt2r\t", "kcrg_X\t"))
    with pytest.raises(MinimalCellDataError, match="lacks kcrg_R_ARGt2r"):
        build_metabolism_sbml(folder, choices=Choices(modular_laws=("ARGt2r",)))
