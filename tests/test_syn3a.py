"""The JCVI-syn3A builder on the project's own small fixture (tests/data/syn3a_fixture).

References are hand computations from the fixture's numbers: the sequences are read from
the GenBank text here, apart from the builder's reader, and each law is written out
again from its published form (Hofmeyr et al. 2013 polymerisation; mass-action binding
on counts in the cell volume).
"""

import math
import re
from collections import Counter
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import wholecell as wc
from wholecell.models.syn3a import BuildError, Choices, MinimalCellDataError, build_sbml

FIXTURE = Path(__file__).parent / "data" / "syn3a_fixture"
N_A = 6.02214076e23
#: the laws are evaluated in float64 from the same numbers: rounding only
RTOL = 1e-12


@pytest.fixture(scope="module")
def fixture_model():
    model = wc.load_sbml(build_sbml(FIXTURE))
    return wc.compile(model)


def _genbank():
    """(sequence, {locus: (start, end, strand, translation)}) read from the text."""
    text = (FIXTURE / "genome" / "syn3A.gb").read_text()
    seq = re.sub(r"[^acgt]", "", text.split("ORIGIN")[1]).upper()
    genes = {}
    for m in re.finditer(r"\n     (CDS|rRNA|tRNA) +(complement\()?(\d+)\.\.(\d+)\)?\n"
                         r"((?:                     .*\n)+)", text):
        quals = m.group(5)
        locus = re.search(r'locus_tag="JCVISYN3A_(\d+)"', quals).group(1)
        tr = re.search(r'translation="(\w+)"', quals)
        genes[locus] = (int(m.group(3)), int(m.group(4)), -1 if m.group(2) else 1,
                        tr.group(1) if tr else "")
    return seq, genes


def _transcript(seq, start, end, strand):
    dna = seq[start - 1: end]
    if strand < 0:
        dna = dna.translate(str.maketrans("ACGT", "TGCA"))[::-1]
    return dna.replace("T", "U")


def _poly(kcat, kd, polymer, pools):
    """Hofmeyr et al. 2013: kcat / (K^2/(x1 x2) + sum_i n_i K/x_i + L - 1)."""
    n = Counter(polymer)
    terms = sum(c * kd / pools[m] for m, c in n.items())
    return kcat / (kd * kd / (pools[polymer[0]] * pools[polymer[1]]) + terms + len(polymer) - 1)


def _rates_at(sim, changes):
    """The reaction rates (propensities, molecules/s) in the initial state with
    ``changes`` (species id -> count) applied."""
    st = sim.structure
    x0, c = st.initial(sim.param_values, 0.0)
    x = np.asarray(x0).copy()
    for sid, value in changes.items():
        x[sim.state_ids.index(sid)] = value
    rates = np.asarray(st.rhs_prog(st.base(0.0, jnp.asarray(x), c))[: st.n_reactions])
    return dict(zip(st.reaction_ids, rates, strict=True))


def test_gene_expression_laws_equal_the_hand_computation(fixture_model):
    sim = fixture_model
    seq, genes = _genbank()
    proteins = {"0001": 140, "0002": 180, "0003": 520, "0004": 125, "0008": 12, "0010": 300}
    S = proteins["0001"] / np.mean(list(proteins.values()))
    V0 = 4 / 3 * math.pi * 200.0**3 * 1e-24  # litres: the birth sphere of radius 200 nm
    ntp = {"A": 3.0, "C": 0.5, "G": 1.0, "U": 0.8}
    rates = _rates_at(sim, {"Gb_0001": 1, "Rr_0001": 2, "Rd_0001": 3, "R_0001": 4,
                            "Gb_0005": 1})
    # ribosomes: as many as the scarcest of rpsA (520) and the three rRNAs (500 each),
    # less the transcripts on ribosomes (2 set here, and the fixture's mean mRNA counts on
    # ribosomes at birth, rounded: 0.9, 1.8, 0.4, 0.2, 0.7 -> 1, 2, 0, 0, 1)
    ribosome_free = min(520, 500, 500, 500) - 2 - (1 + 2 + 0 + 0 + 1)
    degradosome_free = 125 - 3
    # RNA polymerase binding: 2100 S /M/s on (free RNAP) x (free gene copies) in V0;
    # the only copy of 0001 is bound
    assert rates["tx_bind_0001"] == 0.0
    rates_free = _rates_at(sim, {})
    assert rates_free["tx_bind_0001"] == pytest.approx(
        2100 * S / (N_A * V0) * (180 // 2) * 1, rel=RTOL)
    rna = _transcript(seq, *genes["0001"][:3])
    assert rates["tx_0001"] == pytest.approx(_poly(min(85, 20 * S), 0.2, rna, ntp), rel=RTOL)
    # an rRNA gene: its class's constants (kcat rRNA 90 nt/s, 16S binding 50000 /M/s)
    rrs = _transcript(seq, *genes["0005"][:3])
    assert rates["tx_0005"] == pytest.approx(_poly(90, 0.2, rrs, ntp), rel=RTOL)
    assert rates_free["tx_bind_0005"] == pytest.approx(50000 / (N_A * V0) * 90, rel=RTOL)
    # translation: kcat 10 aa/s, K_D 0.002 mM on the fixed charged-tRNA pools (0.01 mM)
    protein = genes["0001"][3]
    aa = dict.fromkeys(set(protein), Choices().charged_trna_mM)
    assert rates["tl_0001"] == pytest.approx(2 * _poly(10, 0.002, protein, aa), rel=RTOL)
    # ribosome binding at the published 8.9e4 (the sheet's 9e5 is replaced by the choice)
    assert rates["tl_bind_0001"] == pytest.approx(
        8.9e4 / (N_A * V0) * ribosome_free * 4, rel=RTOL)
    assert rates["deg_bind_0001"] == pytest.approx(
        1.4e4 / (N_A * V0) * degradosome_free * 4, rel=RTOL)
    # degradation: 90 nt/s over the transcript's length, per bound transcript
    assert rates["deg_0001"] == pytest.approx(3 * 90 / len(rna), rel=RTOL)


def test_replication_forks_copy_each_gene_once_at_the_polymerisation_rate(fixture_model):
    sim = fixture_model
    seq, genes = _genbank()
    dntp = {"A": 0.02, "C": 0.01, "G": 0.01, "T": 0.02}
    # the clockwise fork's first segment: from oriC (position 1) to the end of dnaA
    start, end, _, _ = genes["0001"]
    segment = seq[0: end]
    rates = _rates_at(sim, {"fork_cw": 1})
    assert rates["rep_cw_0001"] == pytest.approx(_poly(100, 0.002, segment, dntp), rel=RTOL)
    assert rates["rep_cw_0002"] == 0.0  # not this fork's segment yet
    # the counter-clockwise fork runs from the chromosome's end down: secY (9001..) first
    start = genes["0010"][0]
    assert _rates_at(sim, {"fork_ccw": 1})["rep_ccw_0010"] == pytest.approx(
        _poly(100, 0.002, seq[start - 1:], dntp), rel=RTOL)
    m = sim.model
    cw = [r.id for r in m.reactions if r.id.startswith("rep_cw_")]
    ccw = [r.id for r in m.reactions if r.id.startswith("rep_ccw_")]
    copied = [p.species for r in m.reactions if r.id.startswith("rep_") for p in r.products
              if p.species.startswith("G_")]
    assert sorted(copied) == sorted(f"G_{g}" for g in genes)  # every gene, once
    assert cw[-1] == "rep_cw_ter" and ccw[-1] == "rep_ccw_ter"


def test_surface_area_and_volume_at_known_lipid_counts(fixture_model):
    sim = fixture_model
    ids = sim.observable_ids
    x0, _ = sim.structure.initial(sim.param_values, 0.0)

    def observed(changes):
        x = np.asarray(x0).copy()
        for sid, v in changes.items():
            x[sim.state_ids.index(sid)] = v
        obs = np.asarray(sim.observe(jnp.zeros(1), jnp.asarray(x)[None], sim.param_values))[0]
        return {k: obs[ids.index(k)] for k in ("SA", "cell", "lipid_area_nm2",
                                               "membrane_protein_area_nm2")}

    sa0, v0 = 4 * math.pi * 200.0**2, 4 / 3 * math.pi * 200.0**3 * 1e-24
    birth = observed({})
    assert birth["SA"] == pytest.approx(sa0, rel=RTOL)
    assert birth["cell"] == pytest.approx(v0, rel=RTOL)
    # lipids: mM x N_A x V0, weighted areas (CHOL 0.4, SM 0.5, CL 0.4, PG 0.6, PC 0.5,
    # Gal-DAG 0.6 nm^2 in the fixture); half of their area is one leaflet's
    mM = {"CHOL": (20.0, 0.4), "SM": (10.0, 0.5), "CL": (5.0, 0.4), "PG": (1.0, 0.6),
          "PC": (1.0, 0.5), "GAL": (5.0, 0.6)}
    n_lipid = sum(c for c, _ in mM.values()) * 1e-3 * N_A * v0
    area = sum(c * a for c, a in mM.values()) / sum(c for c, _ in mM.values())
    assert birth["lipid_area_nm2"] == pytest.approx(area, rel=RTOL)
    a_mp = (sa0 - n_lipid * area / 2) / 300  # the one membrane protein: 300 copies at birth
    assert birth["membrane_protein_area_nm2"] == pytest.approx(a_mp, rel=RTOL)
    # 1.2x the lipids and 350 membrane proteins: a sphere of that area
    grown = observed({"lipid": 1.2 * n_lipid, "P_0010": 350})
    sa = 1.2 * n_lipid * area / 2 + 350 * a_mp
    assert grown["SA"] == pytest.approx(sa, rel=RTOL)
    assert grown["cell"] == pytest.approx(sa**1.5 / (6 * math.sqrt(math.pi)) * 1e-24, rel=RTOL)
    # past a doubled volume the volume stays at twice the birth volume (two spheres)
    doubled = observed({"lipid": 2 * n_lipid, "P_0010": 600})
    assert doubled["SA"] == pytest.approx(2 * sa0, rel=RTOL)
    assert doubled["cell"] == pytest.approx(2 * v0, rel=RTOL)


def test_sources_are_annotated_and_choices_recorded():
    text = build_sbml(FIXTURE)
    assert 'from="complexformation2025/kinetic_params_csv/Gene_Expression.csv row' in text
    assert "choice: published simulations (sheet: 900000)" in text  # ribosome binding
    slower = build_sbml(FIXTURE, choices=Choices(dnaa_kon=1.4e5, dnaa_koff=0.42))
    m = wc.load_sbml(slower)
    values = {p.id: p.value for p in m.parameters}
    assert values["k_dnaA_on"] == 1.4e5 and values["k_dnaA_off"] == 0.42


def test_missing_data_and_unknown_genes_are_named(tmp_path):
    with pytest.raises(MinimalCellDataError, match="does not exist"):
        build_sbml(tmp_path / "nowhere")
    with pytest.raises(MinimalCellDataError, match="Gene_Expression.csv not found"):
        build_sbml(tmp_path)
    with pytest.raises(BuildError, match="9999"):
        build_sbml(FIXTURE, genes=["0001", "9999"])


def test_the_library_builds_once_and_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("WHOLECELL_CACHE_DIR", str(tmp_path))
    model = wc.models.load("syn3a", data=FIXTURE)
    assert len(model.reactions) == len(wc.load_sbml(build_sbml(FIXTURE)).reactions)
    files = list((tmp_path / "models").glob("syn3a-*.xml"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    wc.models.load("syn3a", data=FIXTURE)  # from the cache: not written again
    assert files[0].stat().st_mtime_ns == stamp
    wc.models.load("syn3a", data=FIXTURE, choices=Choices(filament_length=20))
    assert len(list((tmp_path / "models").glob("syn3a-*.xml"))) == 2  # other choices
    with pytest.raises(MinimalCellDataError, match="does not exist"):
        wc.models.load("syn3a", data=tmp_path / "nowhere")
    with pytest.raises(wc.WholecellError, match="takes no build options"):
        wc.models.load("repressilator", data=FIXTURE)


def test_the_minimal_cell_command_on_the_fixture(tmp_path, monkeypatch):
    """`wholecell minimal-cell`: two founders through one cycle of the fixture model. Each
    divides (surface area doubled) after its two forks have copied every gene, and the
    lineage CSV and plot are written; a missing data folder exits with status 1."""
    import pandas as pd

    from wholecell._cli import main

    monkeypatch.setenv("WHOLECELL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    out, png = tmp_path / "lineage.csv", tmp_path / "cycle.png"
    code = main(["minimal-cell", "--data", str(FIXTURE), "--cells", "2", "--generations", "1",
                 "-o", str(out), "--plot", str(png), "--quiet", "--every", "120"])
    assert code == 0
    df = pd.read_csv(out)
    assert len(df) == 2 and (df["generation"] == 0).all()
    assert np.all(np.isfinite(df["division"])) and np.all(df["cycle_time"] > 0)
    np.testing.assert_array_equal(df["replicated_division"], 1.0)
    sa = df["SA_division"] / df["SA_birth"]
    assert np.all((sa >= 2.0) & (sa < 2.01))  # divided as the area doubled
    assert png.stat().st_size > 10_000
    bad = main(["minimal-cell", "--data", str(tmp_path / "nowhere"), "--quiet"])
    assert bad == 1


def test_the_minimal_cell_command_says_when_a_cycle_did_not_end(tmp_path, monkeypatch,
                                                                capsys):
    """Ten minutes are too few for the fixture's cycle (~100 min): the command says so,
    even when quiet, and the lineage has no division time."""
    import pandas as pd

    from wholecell._cli import main

    monkeypatch.setenv("WHOLECELL_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "lineage.csv"
    code = main(["minimal-cell", "--data", str(FIXTURE), "--minutes", "10", "--every",
                 "120", "-o", str(out), "--quiet"])
    assert code == 0
    assert "1 of 1 cell cycles did not end in division by minute 10" in capsys.readouterr().err
    assert np.isnan(pd.read_csv(out)["division"]).all()
    assert main(["minimal-cell", "--data", str(FIXTURE), "--minutes", "0", "--quiet"]) == 1


# -- step 3: metabolism coupled to gene expression ----------------------------------------
AA_IDS = {"A": "ala__L", "R": "arg__L", "N": "asn__L", "D": "asp__L", "C": "cys__L",
          "Q": "gln__L", "E": "glu__L", "G": "gly", "H": "his__L", "I": "ile__L",
          "L": "leu__L", "K": "lys__L", "M": "met__L", "F": "phe__L", "P": "pro__L",
          "S": "ser__L", "T": "thr__L", "W": "trp__L", "Y": "tyr__L", "V": "val__L"}


@pytest.fixture(scope="module")
def coupled_model():
    return wc.load_sbml(build_sbml(FIXTURE, metabolism=True))


@pytest.fixture(scope="module")
def charging_model():
    return wc.load_sbml(build_sbml(FIXTURE, metabolism=True,
                                   choices=Choices(trna_charging=True)))


def _sides(model, rid):
    r = next(r for r in model.reactions if r.id == rid)
    return ({s.species: s.stoichiometry for s in r.reactants},
            {s.species: s.stoichiometry for s in r.products}, r.modifiers)


def _trna(a):
    """(charged, uncharged) species of amino acid ``a`` (one letter), the network's ids."""
    short = AA_IDS[a].split("_")[0]
    return f"M_{short}trna_c", f"M_trna{short}_c"


def test_coupled_polymerisation_uses_its_monomers(coupled_model, charging_model):
    """Each transcript takes its NTPs and leaves one PPi per nucleotide; each protein its
    amino acids, one ATP -> AMP + PPi per charged tRNA and 2 GTP -> 2 GDP + 2 Pi per
    residue; degradation returns the NMPs; a fork segment takes both strands' dNTPs.
    With tRNA charging, a protein takes one charged tRNA per residue and returns it
    uncharged (and the 2 GTP), charging takes the amino acid and ATP -> AMP + PPi, and
    the tRNA gene's transcript is an uncharged tRNA-Ala."""
    seq, genes = _genbank()
    rna = Counter(_transcript(seq, *genes["0001"][:3]))
    uses, makes, _ = _sides(coupled_model, "tx_0001")
    assert uses == {"Gb_0001": 1, "M_atp_c": rna["A"], "M_ctp_c": rna["C"],
                    "M_gtp_c": rna["G"], "M_utp_c": rna["U"]}
    assert makes == {"R_0001": 1, "M_ppi_c": sum(rna.values())}
    protein = Counter(genes["0001"][3])
    n = sum(protein.values())
    uses, makes, _ = _sides(coupled_model, "tl_0001")
    assert uses == {"Rr_0001": 1, "M_atp_c": n, "M_gtp_c": 2 * n,
                    **{f"M_{AA_IDS[a]}_c": k for a, k in protein.items()}}
    assert makes == {"R_0001": 1, "P_0001": 1, "M_amp_c": n, "M_ppi_c": n,
                     "M_gdp_c": 2 * n, "M_pi_c": 2 * n}
    assert not any("TRS" in r.id for r in coupled_model.reactions)
    uses, makes, _ = _sides(charging_model, "tl_0001")
    assert uses == {"Rr_0001": 1, "M_gtp_c": 2 * n,
                    **{_trna(a)[0]: k for a, k in protein.items()}}
    assert makes == {"R_0001": 1, "P_0001": 1, "M_gdp_c": 2 * n, "M_pi_c": 2 * n,
                     **{_trna(a)[1]: k for a, k in protein.items()}}
    uses, makes, modifiers = _sides(charging_model, "R_ALATRS")
    assert uses == {"M_ala__L_c": 1, "M_atp_c": 1, "M_trnaala_c": 1}
    assert makes == {"M_alatrna_c": 1, "M_amp_c": 1, "M_ppi_c": 1}
    assert tuple(modifiers) == ("P_0001",)
    assert _sides(charging_model, "tx_0009")[1] == {
        "M_trnaala_c": 1, "M_ppi_c": len(_transcript(seq, *genes["0009"][:3]))}
    _, makes, _ = _sides(coupled_model, "deg_0001")
    assert makes == {"mRNA_degraded": 1, "M_amp_c": rna["A"], "M_cmp_c": rna["C"],
                     "M_gmp_c": rna["G"], "M_ump_c": rna["U"]}
    dna = Counter(seq[: genes["0001"][1]])  # the clockwise fork's first segment
    at, gc = dna["A"] + dna["T"], dna["G"] + dna["C"]
    uses, makes, _ = _sides(coupled_model, "rep_cw_0001")
    assert uses == {"M_datp_c": at, "M_dttp_c": at, "M_dgtp_c": gc, "M_dctp_c": gc}
    assert makes["M_ppi_c"] == 2 * (at + gc)


def test_a_new_carrier_protein_is_a_new_carrier(coupled_model):
    """Protein 0010 is the fixture's PTS carrier (ptsi, ptsi_P): its translation also
    makes one unphosphorylated carrier, so that the carriers follow the live count
    (Choices.new_protein_forms); without the choice they keep their birth total."""
    _, makes, _ = _sides(coupled_model, "tl_0010")
    assert makes["P_0010"] == 1 and makes["ptsi"] == 1 and "ptsi_P" not in makes
    assert "ptsi" not in _sides(coupled_model, "tl_0001")[1]
    frozen = wc.load_sbml(build_sbml(FIXTURE, metabolism=True,
                                     choices=Choices(new_protein_forms=False)))
    assert "ptsi" not in _sides(frozen, "tl_0010")[1]


def test_coupled_pools_enzymes_and_membrane(coupled_model, fixture_model):
    """The pools the laws read are the metabolites (at the tabulated mM at birth), the
    enzymes are the live protein counts, and the birth geometry is step 1's."""
    sim = wc.compile(coupled_model)

    def at_birth(s, name):
        st = s.structure
        x0, c = st.initial(s.param_values, 0.0)
        return float(st.observe_prog(st.base(0.0, x0, c))[st.observable_ids.index(name)])

    assert at_birth(sim, "ATP_mM") == pytest.approx(3.0, rel=1e-12)
    assert at_birth(sim, "SA") == pytest.approx(at_birth(fixture_model, "SA"), rel=1e-12)
    assert "P_0003" in _sides(coupled_model, "R_PGI")[2]  # the live PGI count
    rates = _rates_at(sim, {"P_0003": 1040})  # twice the enzyme: twice the rate
    assert rates["R_PGI"] == pytest.approx(2 * _rates_at(sim, {})["R_PGI"], rel=RTOL)
    assert not any(r.id == "lipid_synthesis" for r in coupled_model.reactions)


@pytest.mark.parametrize("charging", [False, True], ids=["fixed_pools", "charging"])
def test_coupled_translation_waits_for_gtp_and_atp(coupled_model, charging_model, charging):
    """Coupled, the translation law adds the waiting for 2 GTP and 1 ATP per residue,
    each with the sheet's NTP K_D (0.2 mM in the fixture), to the polymerisation law
    (Hofmeyr et al. 2013): kcat / (... + L - 1 + 2 L K/GTP + L K/ATP), per bound mRNA,
    over the fixed charged-tRNA pools. With tRNA charging it reads the live charged
    tRNAs (0.05 mM each at birth in the fixture) and waits for the GTP only: the ATP
    is charging's."""
    sim = wc.compile(charging_model if charging else coupled_model)
    st = sim.structure
    x0, c = st.initial(sim.param_values, 0.0)
    seen = dict(zip(st.observable_ids, np.asarray(st.observe_prog(st.base(0.0, x0, c))),
                    strict=True))
    protein = _genbank()[1]["0001"][3]
    pool = 0.05 if charging else Choices().charged_trna_mM
    aa = {a: seen[f"trna_{a}_mM"] if charging else pool for a in set(protein)}
    assert all(v == pytest.approx(pool, rel=RTOL) for v in aa.values())
    L, kd = len(protein), 0.2
    gtp, atp = seen["GTP_mM"], seen["ATP_mM"]
    n = Counter(protein)
    waits = (0.002 ** 2 / (aa[protein[0]] * aa[protein[1]])
             + sum(k * 0.002 / aa[m] for m, k in n.items()) + L - 1
             + 2 * L * kd / gtp + (0 if charging else L * kd / atp))
    bound = seen["Rr_0001"]
    assert bound > 0
    assert _rates_at(sim, {})["tl_0001"] == pytest.approx(bound * 10 / waits, rel=RTOL)
    # the rate falls with GTP: at a tenth of it, the GTP term is ten times larger
    i = sim.state_ids.index("M_gtp_c")
    low = _rates_at(sim, {"M_gtp_c": float(x0[i]) / 10})["tl_0001"]
    assert low == pytest.approx(bound * 10 / (waits + 18 * L * kd / gtp), rel=RTOL)


def test_coupled_polymerisation_stops_short_of_an_empty_pool(coupled_model):
    """A firing takes its whole template's monomers, so it fires only while each pool
    holds them: translation of 0001 needs 2 L GTP, transcription its U count."""
    sim = wc.compile(coupled_model)
    seq, genes = _genbank()
    n_res = len(genes["0001"][3])
    n_u = Counter(_transcript(seq, *genes["0001"][:3]))["U"]
    assert _rates_at(sim, {"M_gtp_c": 2 * n_res})["tl_0001"] > 0
    assert _rates_at(sim, {"M_gtp_c": 2 * n_res - 1})["tl_0001"] == 0
    assert _rates_at(sim, {"M_utp_c": n_u, "Gb_0001": 1})["tx_0001"] > 0
    assert _rates_at(sim, {"M_utp_c": n_u - 1, "Gb_0001": 1})["tx_0001"] == 0


def test_trna_charging_law_equals_the_hand_computation(charging_model):
    """Each synthetase charges at E / (1/(k_atp ATP) + 1/(k_aa aa) + 1/(k_tRNA tRNA) +
    1/k_cat), on counts (the fixture's sheet: 0.02, 0.02, 0.2 per molecule per second,
    25/s; ALATRS is protein 0001), and not at all without uncharged tRNA."""
    sim = wc.compile(charging_model)
    st = sim.structure
    x0, _ = st.initial(sim.param_values, 0.0)
    x = dict(zip(sim.state_ids, np.asarray(x0), strict=True))
    rate = x["P_0001"] / (1 / (0.02 * x["M_atp_c"]) + 1 / (0.02 * x["M_ala__L_c"])
                          + 1 / (0.2 * x["M_trnaala_c"]) + 1 / 25)
    assert _rates_at(sim, {})["R_ALATRS"] == pytest.approx(rate, rel=RTOL)
    # 0.04 mM uncharged at birth; ATP is 3.0 mM at birth, so count_per_mM = ATP / 3
    assert x["M_trnaala_c"] == pytest.approx(0.04 * x["M_atp_c"] / 3.0, rel=RTOL)
    assert _rates_at(sim, {"M_trnaala_c": 0.0})["R_ALATRS"] == 0.0


def test_a_protein_starts_with_the_network_s_fmet_trna(monkeypatch):
    """Where the network formylates Met-tRNA (FMETTRS, added here to the fixture's
    tables), each protein that starts with Met takes one fMet-tRNA and one Met-tRNA fewer,
    returns all its tRNA-Met uncharged, and waits for an fMet-tRNA; Met-tRNA is then the
    network's species at its tabulated concentration (0.03 mM)."""
    from wholecell.models.syn3a import _build
    from wholecell.models.syn3a._metabolic_tables import EnzymeReaction, read_metabolism
    from wholecell.models.syn3a._tables import Number

    def with_formylation(folder):
        mt = read_metabolism(folder)
        k = {s: Number(0.01, "mM", "test") for s in ("M_mettrna_c", "M_fmettrna_c")}
        mt.reactions.append(EnzymeReaction(
            "R_FMETTRS", "Cofactor", "P_0004", "", Number(1.0, "1/s", "test"),
            Number(0.0, "1/s", "test"), k, {"M_mettrna_c": 1.0}, {"M_fmettrna_c": 1.0}))
        return mt

    monkeypatch.setattr(_build, "read_metabolism", with_formylation)
    model = wc.load_sbml(build_sbml(FIXTURE, metabolism=True,
                                    choices=Choices(trna_charging=True)))
    protein = _genbank()[1]["0001"][3]
    assert protein[0] == "M"
    n_met = protein.count("M")
    uses, makes, _ = _sides(model, "tl_0001")
    assert uses["M_fmettrna_c"] == 1 and uses.get("M_mettrna_c", 0) == n_met - 1
    assert makes["M_trnamet_c"] == n_met
    sim = wc.compile(model)
    x0 = np.asarray(sim.structure.initial(sim.param_values, 0.0)[0])
    per_mM = x0[sim.state_ids.index("M_atp_c")] / 3.0
    assert x0[sim.state_ids.index("M_mettrna_c")] == pytest.approx(0.03 * per_mM, rel=RTOL)
    assert _rates_at(sim, {})["tl_0001"] > 0
    assert _rates_at(sim, {"M_fmettrna_c": 0.0})["tl_0001"] == 0


@pytest.mark.parametrize("charging", [False, True], ids=["fixed_pools", "charging"])
def test_a_coupled_run_balances_what_translation_uses(coupled_model, charging_model,
                                                      charging):
    """60 s of the hybrid (gene expression stochastic, metabolism as ODEs): GDP changes
    only through translation in the fixture, and alanine only through translation (or,
    with tRNA charging, an ODE too, through its charging), so GDP rises by 2 x residues
    and alanine (plus charged Ala-tRNA) falls by the alanines of the proteins made,
    exactly; tRNAs of amino acids without a tRNA gene are neither made nor lost."""
    from wholecell.models.syn3a._cells import stochastic_reactions

    _, genes = _genbank()
    model = charging_model if charging else coupled_model
    r = wc.simulate(model, [0.0, 60.0], method="hybrid", n=1, seed=3,
                    stochastic=stochastic_reactions(model), solver="tsit5")
    made = {g: float(r[f"P_{g}"][0, -1] - r[f"P_{g}"][0, 0]) for g, v in genes.items()
            if v[3]}
    assert sum(made.values()) > 0
    residues = sum(k * len(genes[g][3]) for g, k in made.items())
    alanines = sum(k * genes[g][3].count("A") for g, k in made.items())
    assert float(r["M_gdp_c"][0, -1] - r["M_gdp_c"][0, 0]) == pytest.approx(2 * residues)
    ala = r["M_ala__L_c"][0] + (r["M_alatrna_c"][0] if charging else 0.0)
    assert float(ala[-1] - ala[0]) == pytest.approx(-alanines)
    if charging:
        leu = r["M_leutrna_c"][0] + r["M_trnaleu_c"][0]
        assert float(leu[-1]) == pytest.approx(float(leu[0]))
    # the PTS carrier forms of protein 0010 grow by the proteins made, no more
    carriers = r["ptsi"][0] + r["ptsi_P"][0]
    assert made["0010"] > 0
    assert float(carriers[-1] - carriers[0]) == pytest.approx(made["0010"])
    assert float(r["ATP_mM"][0, -1]) < 3.0  # nothing in the fixture makes ATP back


def test_simulate_cells_gives_a_coupled_cycle_room_to_step(coupled_model, monkeypatch):
    """One coupled cell took 63,455 ODE steps for 0-70 min and ran out of the driver's
    100,000 at 106 min: with metabolism coupled the default is 1,000,000 steps per cycle,
    without it the driver's 100,000; a value given is passed on."""
    from wholecell.models.syn3a import _cells

    monkeypatch.setattr(_cells, "simulate_division", lambda *a, **kw: kw["max_steps"])
    assert _cells.simulate_cells(coupled_model) == 1_000_000
    assert _cells.simulate_cells(wc.load_sbml(build_sbml(FIXTURE))) == 100_000
    assert _cells.simulate_cells(coupled_model, max_steps=7) == 7


def test_simulate_cells_runs_cells_in_worker_processes(monkeypatch):
    """``workers=2``: the cells go to a pool of two spawned processes, one cell per
    batch (the division driver gives the one-process results for the same batches, bit
    for bit: tests/test_dask.py), and the pool is shut down after; bad counts are
    refused."""
    import concurrent.futures

    from wholecell.models.syn3a import _cells

    seen = {}

    def fake(*a, **kw):
        seen.update(kw)
        return "lineage"

    monkeypatch.setattr(_cells, "simulate_division", fake)
    model = wc.load_sbml(build_sbml(FIXTURE))
    assert _cells.simulate_cells(model, cells=4, workers=2) == "lineage"
    pool = seen["executor"]
    assert isinstance(pool, concurrent.futures.ProcessPoolExecutor)
    assert pool._max_workers == 2 and pool._mp_context.get_start_method() == "spawn"
    assert seen["chunk_size"] == 1
    with pytest.raises(RuntimeError):
        pool.submit(int)  # shut down
    _cells.simulate_cells(model, cells=4)
    assert seen["executor"] is None and seen["chunk_size"] is None
    with pytest.raises(wc.SimulationError, match="workers must be at least 1"):
        _cells.simulate_cells(model, workers=0)
    with pytest.raises(wc.SimulationError, match="not both"):
        _cells.simulate_cells(model, workers=2, executor=pool)
