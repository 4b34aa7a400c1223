"""Write the small minimal-cell fixture the syn3a builder's tests read.

Every number and sequence here is made up by this project (seeded random sequences and
round numbers), laid out as the published tables are (see ../../../../shared/minimal-cell
SOURCES.md for the originals, which are not copied). Ten genes on a 12 kbp circular
chromosome: DnaA, an RNA polymerase subunit (two per complex), a ribosomal protein, a
degradosome protein, a replisome protein, a membrane protein, the three rRNAs and a tRNA.
Run from this folder: ``python make_fixture.py``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).parent
CODON = {"A": "GCT", "C": "TGT", "D": "GAT", "E": "GAA", "F": "TTT", "G": "GGT", "H": "CAT",
         "I": "ATT", "K": "AAA", "L": "TTA", "M": "ATG", "N": "AAT", "P": "CCT", "Q": "CAA",
         "R": "CGT", "S": "TCT", "T": "ACT", "V": "GTT", "W": "TGA", "Y": "TAT"}  # table 4
# locus, name, kind, start, strand, protein length (CDS) or RNA length, count at birth,
# mRNA mean, localization
GENES = [
    ("0001", "dnaA", "CDS", 101, 1, 150, 140, 0.6, "cytoplasm"),
    ("0002", "rpoA", "CDS", 801, 1, 100, 180, 0.9, "cytoplasm"),
    ("0003", "rpsA", "CDS", 1401, 1, 80, 520, 1.8, "cytoplasm"),
    ("0004", "rny", "CDS", 2001, -1, 120, 125, 0.4, "cytoplasm"),
    ("0005", "rrsA", "rRNA", 2601, 1, 400, 0, 0, ""),
    ("0006", "rrlA", "rRNA", 3101, 1, 600, 0, 0, ""),
    ("0007", "rrfA", "rRNA", 3801, 1, 100, 0, 0, ""),
    ("0008", "dnaE", "CDS", 7001, -1, 200, 12, 0.2, "cytoplasm"),
    ("0009", "trnA", "tRNA", 8001, -1, 76, 0, 0, ""),
    ("0010", "secY", "CDS", 9001, -1, 160, 300, 0.7, "trans-membrane"),
]
LENGTH = 12_000


def _protein(rng: random.Random, n: int) -> str:
    aas = "ACDEFGHIKLMNPQRSTVWY"
    return "M" + "".join(rng.choice(aas) for _ in range(n - 1))


def _revcomp(s: str) -> str:
    return s.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def genbank(rng: random.Random) -> str:
    seq = list("".join(rng.choice("AATTGC") for _ in range(LENGTH)))  # AT-rich, as syn3A
    features = []
    for locus, name, kind, start, strand, n, *_ in GENES:
        if kind == "CDS":
            prot = _protein(rng, n)
            coding = "".join(CODON[a] for a in prot) + "TAA"
        else:
            prot, coding = "", "".join(rng.choice("ACGU".replace("U", "T")) for _ in range(n))
        end = start + len(coding) - 1
        placed = coding if strand > 0 else _revcomp(coding)
        seq[start - 1: end] = list(placed)
        loc = f"{start}..{end}" if strand > 0 else f"complement({start}..{end})"
        quals = [f'/gene="{name}"', f'/locus_tag="JCVISYN3A_{locus}"']
        if kind == "CDS":
            quals += ["/transl_table=4", f'/product="fixture protein {name}"',
                      f'/translation="{prot}"']
        else:
            product = "tRNA-Ala (fixture)" if kind == "tRNA" else f"fixture {kind} {name}"
            quals.append(f'/product="{product}"')
        features.append(f"     gene            {loc}\n" + "".join(
            f"                     {q}\n" for q in quals[:2]))
        features.append(f"     {kind:<16}{loc}\n" + "".join(
            f"                     {q}\n" for q in quals))
    text = "".join(seq).lower()
    origin = "".join(
        f"{i + 1:>9} " + " ".join(text[j: j + 10] for j in range(i, min(i + 60, LENGTH), 10))
        + "\n" for i in range(0, LENGTH, 60))
    return (f"LOCUS       FIXTURE            {LENGTH} bp    DNA     circular BCT 03-DEC-2026\n"
            "DEFINITION  wholecell test fixture (made-up sequence).\n"
            "FEATURES             Location/Qualifiers\n"
            f"     source          1..{LENGTH}\n" + "".join(features)
            + "ORIGIN\n" + origin + "//\n")


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def main() -> None:
    rng = random.Random(2026)
    (HERE / "genome").mkdir(exist_ok=True)
    (HERE / "genome" / "syn3A.gb").write_text(genbank(rng))
    cf, d4 = HERE / "complexformation2025", HERE / "4dwcm2026"
    write_csv(cf / "kinetic_params_csv" / "Gene_Expression.csv",
              ["Subsystem", " Stage", "Process Description", "Symbol", "Value", "Units"], [
                  ["DNA replication", "Initiation", "DnaA on dsDNA", "khigh", 1e7, "/M/s"],
                  ["", "", "DnaA on dsDNA, low", "klow", 1e4, "/M/s"],
                  ["", "", "DnaA on ssDNA", "kon", 2e5, "/M/s"],
                  ["", "", "DnaA off ssDNA", "koff", 0.5, "/s"],
                  ["", "", "replisome loading", "kloading", 5e6, "/M/s"],
                  ["", "Elongation", "speed", "kcat", 100, "bp/s"],
                  ["", "", "dNTP KD", "KD", 0.002, "mM"],
                  ["Transcription", "RNAP binding", "promoter strength", "S", "P/mean P", "-"],
                  ["", "", "mRNA genes", "kbind mRNA", "2100*S", "/M/s"],
                  ["", "", "tRNA genes", "kbind tRNA", 9000, "/M/s"],
                  ["", "", "5S", "kbind 5SrRNA", 18000, "/M/s"],
                  ["", "", "16S", "kbind 16SrRNA", 50000, "/M/s"],
                  ["", "", "23S", "kbind 23SrRNA", 80000, "/M/s"],
                  ["", "Elongation", "mRNA", "kcat mRNA", "min(85, 20*S)", "nt/s"],
                  ["", "", "tRNA", "kcat tRNA", 80, "nt/s"],
                  ["", "", "rRNA", "kcat rRNA", 90, "nt/s"],
                  ["", "", "NTP KD", "KD", 0.2, "mM"],
                  ["Translation", "binding", "ribosome", "kbind ribosome", 9e5, "/M/s"],
                  ["", "Elongation", "speed", "kcat", 10, "aa/s"],
                  ["", "", "aa-tRNA KD", "KD", 0.002, "mM"],
                  ["mRNA degradation", "binding", "degradosome", "kbind degradosome", 1e5,
                   "/M/s"],
                  ["", "digestion", "speed", "kcat", 90, "nt/s"],
              ])
    cds = [g for g in GENES if g[2] == "CDS"]
    write_csv(cf / "initial_concentrations_csv" / "Comparative_Proteomics.csv",
              ["Locus Tag", "Gene Name", "Gene Product", "Protein Length", "Exp. Ptn Cnt",
               "Essentiality", "Primary Function", "Localization"],
              [["(fixture: made-up numbers)"] + [""] * 7]
              + [[f"JCVISYN3A_{g[0]}", g[1], "fixture", g[5], g[6], "", "", g[8]] for g in cds])
    write_csv(cf / "initial_concentrations_csv" / "Scaled_Proteme.csv",
              ["Locus Tag", "Gene Name", "Complex", "w. Cplx Sim. Total Ptn Cnt",
               "Mean Scaled Abund (from simulation)"],
              [[f"JCVISYN3A_{g[0]}", g[1], "", g[6], 2.0] for g in cds])
    write_csv(cf / "initial_concentrations_csv" / "mRNA_Count.csv",
              ["LocusTag", "free", "ribosome", "degradosome", "total"],
              [[f"JCVISYN3A_{g[0]}", 0, g[7], 0, g[7]] for g in cds])
    pools = [("atp_c", 3.0), ("ctp_c", 0.5), ("gtp_c", 1.0), ("utp_c", 0.8),
             ("datp_c", 0.02), ("dctp_c", 0.01), ("dgtp_c", 0.01), ("dttp_c", 0.02),
             ("chsterol_c", 20.0), ("sm_c", 10.0), ("clpn_c", 5.0), ("pg_c", 1.0),
             ("pc_c", 1.0), ("galfur12dgr_c", 5.0)] + METABOLITES
    write_csv(cf / "initial_concentrations_csv" / "Intracellular_Metabolites.csv",
              ["Metabolite name", "Met ID", "KEGG ID", "InChI key", "Init Conc (mM)"],
              [[m, m, "", "", v] for m, v in pools])
    write_csv(cf / "complex_formation_csv" / "Complexes.csv",
              ["Name", "Genes Products", "Stoichiometries", "Init. Count"],
              [["RNAP", "0002", "2", 90], ["Ribosome", "0003;0005;0006;0007", "1", 500],
               ["Degradosome", "0004", "1", 120]])
    write_csv(d4 / "kinetic_params_csv" / "Membrane_Surface_Area.csv",
              ["Membrane Lipid", "Value (nm2)", "Source", "Reference"],
              [["Cardiolipin (CL)", 0.4, "", ""], ["Phosphatidylglycerol (PG)", 0.6, "", ""],
               ["Phosphatidylcholine (PC)", 0.5, "", ""], ["Sphingomyelin (SM)", 0.5, "", ""],
               ["Cholesterol (CHOL)", 0.4, "", ""], ["Glycolipid (GAL_DAG)", 0.6, "", ""]])
    write_csv(HERE / "cell2022_rdme" / "proteomics_annotations_csv" / "Sheet2.csv",
              ["", "", "", "", "", "In Replisome", "Proteomics"],
              [["", "", "", f"JCVISYN3A_{g[0]}", g[1], "X" if g[1] == "dnaE" else "", g[6]]
               for g in cds])
    metabolism(cf, d4)


# the metabolic fixture: six enzymatic reactions (one per kind of enzyme: a protein, an
# "or" of proteins, a complex, "default"; one with a stoichiometry of 2; a transporter
# from the medium) and four other reactions (PTS relay steps, passive diffusion, uptake)
METABOLITES = [("g6p_c", 3.0), ("f6p_c", 1.0), ("pep_c", 0.05), ("adp_c", 0.3),
               ("pyr_c", 3.0), ("nadh_c", 0.02), ("lac__L_c", 0.1), ("nad_c", 2.0),
               ("amp_c", 0.1), ("dadp_c", 0.01), ("trdrd_c", 0.001), ("trdox_c", 0.02),
               ("arg__L_c", 0.5)] + [
    # what gene expression uses and leaves when metabolism is coupled
    (f"{aa}_c", 0.5) for aa in ("ala__L", "asn__L", "asp__L", "cys__L", "gln__L", "glu__L",
                                "gly", "his__L", "ile__L", "leu__L", "lys__L", "met__L",
                                "phe__L", "pro__L", "ser__L", "thr__L", "trp__L", "tyr__L",
                                "val__L")] + [
    ("cmp_c", 0.1), ("gmp_c", 0.1), ("ump_c", 0.1), ("ppi_c", 0.5), ("pi_c", 10.0),
    ("gdp_c", 0.2),
    # Met-tRNA and the initiator fMet-tRNA, for a test that adds their formylation
    ("mettrna_c", 0.03), ("fmettrna_c", 0.001)]
MEDIUM = [("glc__D_e", 40.0), ("arg__L_e", 0.1), ("lac__L_e", 0.5), ("chsterol_e", 0.1)]
# module, reaction, (reactants, products) with stoichiometry, enzyme, GPR, kcat f/r, KM
ENZYMATIC = [
    ("Central", "PGI", ({"g6p_c": 1}, {"f6p_c": 1}), "P_0003", "", 800, 650,
     {"g6p_c": 0.28, "f6p_c": 0.15}),
    ("Central", "PYK", ({"pep_c": 1, "adp_c": 1, "h_c": 1}, {"pyr_c": 1, "atp_c": 1}),
     "P_0001-P_0002", "or", 300, 0, {"pep_c": 0.1, "adp_c": 0.2, "pyr_c": 1.0, "atp_c": 0.5}),
    ("Central", "LDH_L", ({"pyr_c": 1, "nadh_c": 1, "h_c": 1}, {"lac__L_c": 1, "nad_c": 1}),
     "default", "", 200, 10, {"pyr_c": 1.0, "nadh_c": 0.02, "lac__L_c": 10.0, "nad_c": 1.0}),
    ("Nucleotide", "ADK1", ({"atp_c": 1, "amp_c": 1}, {"adp_c": 2}), "P_0004", "", 500, 400,
     {"atp_c": 0.1, "amp_c": 0.05, "adp_c": 0.2}),
    ("Nucleotide", "RNDR1", ({"adp_c": 1, "trdrd_c": 1},
                             {"dadp_c": 1, "trdox_c": 1, "h2o_c": 1}),
     "RNAP", "and", 2, 0, {"adp_c": 0.1, "trdrd_c": 0.01, "dadp_c": 0.1, "trdox_c": 0.1}),
    ("Transport", "ARGt2r", ({"arg__L_e": 1, "h_e": 1}, {"arg__L_c": 1, "h_c": 1}),
     "P_0008-P_0010", "or", 3.4, 0, {"arg__L_e": 0.03, "arg__L_c": 0.03}),
]
BINDING = [
    ("GLCpts0", "ptsi+M_pep_c <=> ptsi_P+M_pyr_c", "mass_action",
     {"kcatF": 10, "kcatR": 4, "Sub1": "ptsi", "Sub2": "M_pep_c", "Prod1": "ptsi_P",
      "Prod2": "M_pyr_c"}),
    ("GLCpts4", "M_glc__D_e+ptsi_P<=>M_g6p_c+ptsi", "mass_action",
     {"kcatF": 1.29, "kcatR": 1e-5, "Sub1": "M_glc__D_e", "Sub2": "ptsi_P", "Prod1": "M_g6p_c",
      "Prod2": "ptsi"}),
    ("L_LACt2r", "M_lac__L_c <=> M_lac__L_e", "passive",
     {"P_R": 5e-9, "Radius": 2e-7, "Sub1": "M_lac__L_c", "Prod1": "M_lac__L_e"}),
    ("CHOLt", "M_chsterol_e <=> M_chsterol_c", "uptake",
     {"K_uptake": 0.003, "Prod1": "M_chsterol_c"}),
]
LAWS = {"mass_action": "($kcatF * $Sub1 * $Sub2) - ($kcatR * $Prod1 * $Prod2)",
        "passive": "$P_R * ($Sub1 - $Prod1) * 3 / $Radius", "uptake": "$K_uptake"}


def network_sbml() -> str:
    """The fixture's reactions as an SBML network (stoichiometry only), as the published
    network file is laid out (``R_`` reactions on ``M_`` species)."""
    import libsbml

    doc = libsbml.SBMLDocument(3, 1)
    m = doc.createModel()
    m.setId("fixture_network")
    for cid in ("c", "e"):
        c = m.createCompartment()
        c.setId(cid)
        c.setConstant(True)
    ids = {s for _, _, (r, p), *_ in ENZYMATIC for s in [*r, *p]}
    for sid in sorted(ids):
        s = m.createSpecies()
        s.setId(f"M_{sid}")
        s.setCompartment(sid[-1])
        s.setHasOnlySubstanceUnits(False)
        s.setBoundaryCondition(False)
        s.setConstant(False)
    for _, name, (reactants, products), *_ in ENZYMATIC:
        r = m.createReaction()
        r.setId(f"R_{name}")
        r.setReversible(True)
        for side, create in ((reactants, r.createReactant), (products, r.createProduct)):
            for sid, n in side.items():
                ref = create()
                ref.setSpecies(f"M_{sid}")
                ref.setStoichiometry(n)
                ref.setConstant(True)
    return libsbml.writeSBMLToString(doc)


def metabolism(cf: Path, d4: Path) -> None:
    (d4 / "Syn3A_updated.xml").write_text(network_sbml())
    for module in ("Central", "Nucleotide", "Lipid", "Cofactor", "Transport"):
        rows = []
        for mod, name, _, enzyme, gpr, kf, kr, km in ENZYMATIC:
            if mod != module:
                continue
            rows.append([name, module, "Eff Enzyme Count", "", enzyme, "#"])
            if gpr:
                rows.append([name, module, "GPR rule", "", gpr, ""])
            rows.append([name, module, "Substrate Catalytic Rate Constant", "", kf, "1/s"])
            rows.append([name, module, "Product Catalytic Rate Constant", "", kr, "1/s"])
            rows += [[name, module, "Michaelis Menten Constant", f"M_{s}", k, "mM"]
                     for s, k in km.items()]
        write_csv(cf / "kinetic_params_csv" / f"{module}.csv",
                  ["Reaction Name", "Subsystem", "Parameter Type", "Related Species", "Value",
                   "Units"], rows)
    rows = []
    for name, formula, law, params in BINDING:
        rows += [[name, "Reaction Formula", formula, ""], [name, "Kinetic Law", LAWS[law], ""]]
        rows += [[name, k, v, ""] for k, v in params.items()]
    write_csv(cf / "kinetic_params_csv" / "Non-Random-Binding_Reactions.csv",
              ["Reaction Name", "Parameter Type", "Value", "Units"], rows)
    write_csv(cf / "initial_concentrations_csv" / "Simulation_Medium.csv",
              ["Metabolite name", "Met ID", "KEGG ID", "InChI key", "Conc (mM)"],
              [[m, m, "", "", v] for m, v in MEDIUM])
    write_csv(cf / "initial_concentrations_csv" / "Protein_Metabolites.csv",
              ["Protein", "Metabolite IDs", "Reactions", "Subsystem"],
              [["P_0010", "ptsi,ptsi_P", "GLCpts0, GLCpts4", "Central"]])
    trna_charging(cf)
    balanced = HERE / "cell2022_cmeode" / "Central_AA_Zane_Balanced_direction_fixed_nounqATP.tsv"
    balanced.parent.mkdir(exist_ok=True)
    balanced.write_text("\n".join([
        "!!SBtab TableType='Reaction' (the layout of the 2022 parameter-balanced table)",
        "!ID\tName\tReactionFormula\tKineticLaw",
        "R_PGI\tPGI\tM_g6p_c <=> M_f6p_c\t(law)",
        "R_LDH_L\tLDH_L\tM_lac__L_c + M_nad_c <=> M_pyr_c + M_nadh_c\t(law)",
        "!ID\tQuantity\tValue\tUnit",
        "keq_R_PGI_R_PGI\tkeq_R_PGI\t0.36\t\tlocal parameter",
        "keq_R_LDH_L_R_LDH_L\tkeq_R_LDH_L\t2e-4\t\tlocal parameter",
        ""]))
    priors = HERE / "cell2022_rdme" / "MinCell_params_CentralMet_AA_Cofactor_Final.tsv"
    priors.parent.mkdir(exist_ok=True)
    priors.write_text("\n".join([
        "!!SBtab TableType='Quantity' (the layout of the 2019 parameters before balancing)",
        "!QuantityType\t!Reaction:SBML:reaction:id\t!Enzyme:Identifiers:ec-code\t"
        "!Compound:SBML:species:id\t!Name\t!Mean\t!Std\t!Unit",
        "substrate catalytic rate constant\tR_PGI\t5.3.1.9\t\t\t800\t\t1/s",
        "equilibrium constant\tR_PGI\t5.3.1.9\t\t\t0.5\t\t",
        "equilibrium constant\tR_LDH_L\t1.1.1.27\t\t\t3e-4\t\t",
        ""]))



#: synthetases of the charging fixture: one per amino acid, spread over the proteins
TRS_PROTEINS = ("P_0001", "P_0002", "P_0003", "P_0004", "P_0008", "P_0010")


def trna_charging(cf: Path) -> None:
    """The tRNA_Charging sheet (a synthetase per amino acid, binding rates per molecule
    per second) and the tRNAs at birth in the 2022 spatial model's layout."""
    acids = sorted({m.removesuffix("_c") for m, _ in METABOLITES
                    if m.removesuffix("_c").removesuffix("__L") in AMINO_ACID_NAMES})
    rows = []
    for i, aa in enumerate(acids):
        name = f"{aa.split('_')[0].upper()}TRS"
        rows += [[name, "amino acid", f"M_{aa}_c", ""],
                 [name, "synthetase", TRS_PROTEINS[i % len(TRS_PROTEINS)], ""],
                 [name, "k_atp", 0.02, "1/(molecules*s)"], [name, "k_aa", 0.02, "1/(molecules*s)"],
                 [name, "k_tRNA", 0.2, "1/(molecules*s)"], [name, "k_cat", 25, "1/s"]]
    write_csv(cf / "kinetic_params_csv" / "tRNA_Charging.csv",
              ["Reaction Name", "Parameter Type", "Value", "Units"], rows)
    short = [aa.split("_")[0] for aa in acids]
    write_csv(HERE / "cell2022_rdme" / "Escher_metData.csv", ["metabolite", "concentration"],
              [["adp_c", 0.3]] + [r for s in short
                                  for r in ([f"{s}trna_c", 0.05], [f"trna{s}_c", 0.04])])


AMINO_ACID_NAMES = {"ala", "arg", "asn", "asp", "cys", "gln", "glu", "gly", "his", "ile", "leu",
                    "lys", "met", "phe", "pro", "ser", "thr", "trp", "tyr", "val"}

if __name__ == "__main__":
    main()
