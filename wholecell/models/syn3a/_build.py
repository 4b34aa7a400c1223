"""Build the JCVI-syn3A model as SBML Level 3: gene expression, replication and growth.

This is the first stage of the model (issue path step 1): every gene is expressed
stochastically, the chromosome is replicated gene by gene by two forks, and the membrane
grows; the monomer pools (NTPs, charged tRNAs, dNTPs) are held at fixed concentrations and
one lipid-synthesis rate sets the growth. Amounts are molecule counts; the volume
(``cell``, litres) is a rule of the surface area. Every number carries its source in an
annotation (``wc:source``); the choices that depart from the tables are in `Choices` and
the model card (models/syn3a/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from ._charging import INITIATOR, add_trna_charging, decoded_amino_acid, trna_ids
from ._genome import Gene, Genome, read_genbank
from ._metabolic_tables import read_metabolism
from ._metabolism import add_metabolism, add_metabolite, enzyme_counts, lipid_area
from ._ratelaws import N_A, binding_formula, polymerisation_formula, real
from ._tables import FILES, MinimalCellDataError, Tables, read_tables
from ._writer import LIPIDS, NS, BuildError, Choices, _Writer

__all__ = ["NS", "BuildError", "Choices", "build_sbml", "choices_table"]

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
NTP = {"A": "ATP", "C": "CTP", "G": "GTP", "U": "UTP"}
DNTP = {"A": "dATP", "C": "dCTP", "G": "dGTP", "T": "dTTP"}
POOL_IDS = {"ATP": "atp_c", "CTP": "ctp_c", "GTP": "gtp_c", "UTP": "utp_c",
            "dATP": "datp_c", "dCTP": "dctp_c", "dGTP": "dgtp_c", "dTTP": "dttp_c"}
RRNA_KIND = {"rrf": "5S", "rrl": "23S", "rrs": "16S"}
#: amino acids (one-letter code) -> the metabolite consumed when one is added
AA_POOLS = {"A": "ala__L_c", "R": "arg__L_c", "N": "asn__L_c", "D": "asp__L_c",
            "C": "cys__L_c", "Q": "gln__L_c", "E": "glu__L_c", "G": "gly_c", "H": "his__L_c",
            "I": "ile__L_c", "L": "leu__L_c", "K": "lys__L_c", "M": "met__L_c",
            "F": "phe__L_c", "P": "pro__L_c", "S": "ser__L_c", "T": "thr__L_c",
            "W": "trp__L_c", "Y": "tyr__L_c", "V": "val__L_c"}
NMP = {"A": "amp_c", "C": "cmp_c", "G": "gmp_c", "U": "ump_c"}
#: what polymerisation uses and leaves besides the monomers, when metabolism is coupled
COUPLING_POOLS = ("ppi_c", "pi_c", "gdp_c", "amp_c", "atp_c", "gtp_c")


def _counts(w: _Writer, prefix: str, counts: dict[str, int]) -> dict[str, str]:
    """A parameter per monomer count of a template (``n_<prefix>_<monomer>``)."""
    out = {}
    for m, n in counts.items():
        out[m] = f"n_{prefix}_{m}"
        w.parameter(out[m], n)
    return out


def _length(w: _Writer, prefix: str, counts: dict[str, int]) -> str:
    w.parameter(f"len_{prefix}", sum(counts.values()))
    return f"len_{prefix}"


#: each dNTP a fork segment takes: its base's and its complement's count (both strands)
DNTP_PAIRS = {"dATP": "AT", "dTTP": "AT", "dGTP": "GC", "dCTP": "GC"}


def _while_enough(law: str, needs: dict[str, str]) -> str:
    """``law`` while every species of ``needs`` holds at least its formula's count, else
    0: a firing takes its whole template's monomers at once and must not drive a pool
    below zero (the polymerisation law only slows as a pool empties)."""
    if not needs:
        return law
    enough = " && ".join(f"{s} >= {n}" for s, n in sorted(needs.items()))
    return f"piecewise({law}, {enough}, 0.0)"


def _unused(needs: dict[str, str], uses: dict[str, float]) -> list[str]:
    """The pools a guard reads that the template does not use (a count of 0): modifiers,
    so that every template's law keeps one shape."""
    return sorted(set(needs) - set(uses))


def _sum(ids: Sequence[str]) -> str:
    return " + ".join(ids) if ids else "0"


def _rate(t: Tables, key: str) -> float:
    if key not in t.rates:
        raise MinimalCellDataError(f"minimal-cell data: {FILES['gene_expression']} lacks {key!r}")
    return t.rates[key].value


def build_sbml(data: str | Path | None = None, *, genes: Sequence[str] | None = None,
               choices: Choices | None = None, metabolism: bool = False) -> str:
    """The syn3A model as SBML L3V2 text.

    Arguments:
        data: the minimal-cell data folder (default: `_tables.default_folder`).
        genes: locus tags (``"0001"``) to include; default every expressed gene.
        choices: values that depart from the tables (`Choices`).
        metabolism: couple the metabolic network (`_metabolism.add_metabolism`, step 3):
            the NTP and dNTP pools are its metabolites, transcription, translation and
            replication consume them (and amino acids, with ATP -> AMP + PPi per charged
            tRNA and 2 GTP -> 2 GDP + 2 Pi per peptide bond), degradation returns NMPs,
            enzymes are the live protein counts and the membrane is its lipids.

    Raises:
        MinimalCellDataError: a missing table. BuildError: tables that do not make a model.
    """
    choices = choices or Choices()
    t = read_tables(data)
    genome = read_genbank(t.folder / FILES["genome"])
    mt = read_metabolism(t.folder) if metabolism else None
    return _assemble(t, genome, genes, choices, mt)


def _assemble(t: Tables, genome: Genome, wanted, ch: Choices, mt=None) -> str:
    all_genes = genome.genes
    if wanted is not None:
        wanted = {w.split("_")[-1] for w in wanted}
        unknown = wanted - {g.locus for g in all_genes}
        if unknown:
            raise BuildError(f"syn3a builder: genes {sorted(unknown)} are not in the genome")
    genes = [g for g in all_genes if wanted is None or g.locus in wanted]
    w = _Writer("syn3a")
    w.m.setName("JCVI-syn3A minimal cell: gene expression, replication and growth")
    w.compartment("cell", 0.0, constant=False)  # sized by `_membrane`

    coupled = mt is not None
    if coupled:  # gene expression neither changes nor reads a held metabolite
        w.held = ch.held_species
    sa0, v0_l = _constants(w, t, ch, coupled)
    charging = coupled and ch.trna_charging
    initiator = charging and any(INITIATOR in r.products for r in mt.reactions)
    prot, pools = _gene_expression(w, t, genome, genes, coupled, charging, initiator)
    _complexes(w, t, genes, prot, pools)
    _replication(w, t, genome, genes, prot, ch.filament_length, coupled)
    if coupled:
        proteins = enzyme_counts(w, t, mt, prot)
        inside = add_metabolism(w, t, mt, ch, proteins, v0_l)
        if charging:
            add_trna_charging(w, t, [f"M_{AA_POOLS[a]}" for a in AMINO_ACIDS], prot, v0_l)
        if ch.new_protein_forms:
            _new_protein_forms(w, mt, prot)
        _pools(w, t, inside, v0_l)
    _membrane(w, t, genes, prot, ch, sa0, v0_l, coupled)
    return w.text()


def _new_protein_forms(w: _Writer, mt, prot: dict) -> None:
    """Each translation of a protein that the network holds as metabolite forms (the PTS
    carriers, ACP, thioredoxin, ...; `MetabolicTables.protein_forms`) also makes one
    molecule of its first listed form (unphosphorylated, apo), so that the forms grow
    with the live protein count (`Choices.new_protein_forms`)."""
    for locus, (forms, source) in sorted(mt.protein_forms.items()):
        first = forms[0]
        if locus not in prot or first in w.held or w.m.getSpecies(first) is None:
            continue
        w.add_product(f"tl_{locus}", first, 1.0, f"{source}: a new {locus} protein is one "
                      f"more {first}")


def _pools(w: _Writer, t: Tables, inside: list[str], v0_l: float) -> None:
    """The metabolites polymerisation uses that the metabolic network does not (species at
    their tabulated concentration, changed only by gene expression and replication)."""
    wanted = {*POOL_IDS.values(), *AA_POOLS.values(), *NMP.values(), *COUPLING_POOLS,
              *LIPIDS.values()}
    for met in sorted(wanted - {s.removeprefix("M_") for s in inside}):
        if f"M_{met}" in w.held:
            continue
        add_metabolite(w, t, f"M_{met}", N_A * v0_l * 1e-3)


def _constants(w: _Writer, t: Tables, ch: Choices, coupled: bool = False
               ) -> tuple[float, float]:
    """Constants and the monomer pools (fixed, or read from the metabolites when
    ``coupled``); returns the area (nm^2) and volume (L) at birth."""
    w.parameter("N_A", N_A, "2019 SI definition of the Avogadro constant")
    r0 = ch.radius_nm
    sa0 = 4 * math.pi * r0**2
    v0_l = 4 / 3 * math.pi * r0**3 * 1e-24
    w.parameter("radius0_nm", r0, "choice: Thornburg et al. Cell 2022, cell radius 200 nm")
    for name, met in POOL_IDS.items():
        n = t.metabolites_mM.get(met)
        if n is None:
            raise MinimalCellDataError(f"minimal-cell data: {FILES['metabolites']} lacks {met}")
        if coupled:
            w.rule(f"{name}_mM", f"M_{met} * mM_per_count", n.value)
        else:
            w.parameter(f"{name}_mM", n.value, n.source)
    for aa in AMINO_ACIDS:
        if coupled and ch.trna_charging:  # the live charged tRNAs (`_charging`)
            w.rule(f"trna_{aa}_mM", f"{trna_ids('M_' + AA_POOLS[aa])[0]} * mM_per_count")
        else:
            w.parameter(f"trna_{aa}_mM", ch.charged_trna_mM,
                        "choice: charged_trna_mM (fixed pool)")
    for key, ident in (("transcription|KD", "KD_tx"), ("translation|KD", "KD_tl"),
                       ("replication|KD", "KD_rep"), ("translation|kcat", "kcat_tl"),
                       ("replication|kcat", "kcat_rep"), ("degradation|kcat", "kcat_deg"),
                       ("kcat tRNA", "kcat_tRNA"), ("kcat rRNA", "kcat_rRNA"),
                       ("kbind tRNA", "kbind_tRNA"), ("kbind 5SrRNA", "kbind_5S"),
                       ("kbind 16SrRNA", "kbind_16S"), ("kbind 23SrRNA", "kbind_23S"),
                       ("khigh", "k_dnaA_ds"), ("kloading", "k_loading")):
        w.parameter(ident, _rate(t, key), t.rates[key].source)
    if coupled:
        w.parameter("KD_tl_ntp", _rate(t, "transcription|KD"),
                    "choice: the sheet's NTP dissociation constant, for the GTP and ATP "
                    "of translation; " + t.rates["transcription|KD"].source)
    w.parameter("kbind_ribosome", ch.ribosome_binding,
                f"choice: published simulations (sheet: {t.rates['kbind ribosome'].value:g})")
    w.parameter("kbind_degradosome", ch.degradosome_binding,
                f"choice: published simulations (sheet: {t.rates['kbind degradosome'].value:g})")
    w.parameter("k_dnaA_on", ch.dnaa_kon, f"choice (sheet: {t.rates['kon'].value:g})")
    w.parameter("k_dnaA_off", ch.dnaa_koff, f"choice (sheet: {t.rates['koff'].value:g})")
    w.parameter("filament_length", ch.filament_length, "choice: DnaA filament at loading")

    return sa0, v0_l


def _gene_expression(w: _Writer, t: Tables, genome: Genome, genes: list[Gene],
                     coupled: bool = False, charging: bool = False,
                     initiator: bool = False):
    """Transcription of every gene; translation and degradation of every mRNA. Returns
    the protein species by locus and the species lists the complexes' rules need (bound
    genes, mRNAs on ribosomes and on degradosomes, rRNAs by kind). With ``charging``
    (coupled), translation takes charged tRNAs and returns them uncharged, and a tRNA
    gene's transcript is an uncharged tRNA of its amino acid (`_charging`); with
    ``initiator``, a protein that starts with Met takes one fMet-tRNA for it."""
    all_genes = genome.genes
    nt_pool = {b: f"{NTP[b]}_mM" for b in "ACGU"}
    aa_pool = {a: f"trna_{a}_mM" for a in AMINO_ACIDS}
    trna = {a: trna_ids(f"M_{AA_POOLS[a]}") for a in AMINO_ACIDS}  # (charged, uncharged)
    # promoter strength: protein count over the mean count of all 455 proteins
    counts = {k: v.value for k, v in t.proteins.items()}
    mean_protein = sum(counts.values()) / len(counts)

    gb, rr, rd, prot = [], [], [], {}
    w.species("mRNA_degraded", 0.0, "a counter: transcripts degraded since birth")
    rrna: dict[str, list[str]] = {"5S": [], "16S": [], "23S": []}
    for g in genes:
        L = g.locus
        w.species(f"G_{L}", 1.0, f"{genome.source}: {g.name} {g.start}..{g.end}")
        w.species(f"Gb_{L}", 0.0)
        gb.append(f"Gb_{L}")
        if g.kind == "mRNA":
            if L not in t.proteins or L not in t.mrna:
                raise BuildError(f"syn3a builder: gene {L} ({g.name}) has no protein or mRNA count")
            S = counts[L] / mean_protein
            w.parameter(f"S_{L}", S, f"{t.proteins[L].source} / mean over the proteome")
            kbind = f"2100.0 * S_{L}"
            kcat = f"min(85.0, 20.0 * S_{L})"
            m0 = round(t.mrna[L].value)
            w.species(f"R_{L}", 0.0)
            w.species(f"Rr_{L}", m0, f"{t.mrna[L].source}, rounded, on ribosomes")
            w.species(f"Rd_{L}", 0.0)
            w.species(f"P_{L}", counts[L], t.proteins[L].source)
            rr.append(f"Rr_{L}")
            rd.append(f"Rd_{L}")
            prot[L] = f"P_{L}"
        else:
            kind = RRNA_KIND.get(g.name[:3]) if g.kind == "rRNA" else None
            kbind = {"5S": "kbind_5S", "16S": "kbind_16S", "23S": "kbind_23S"}.get(
                kind, "kbind_tRNA")
            kcat = "kcat_rRNA" if g.kind == "rRNA" else "kcat_tRNA"
            start = 0.0
            if kind is not None:  # the ribosomes' rRNA at birth, shared by the operons
                n_op = sum(1 for x in all_genes if x.name[:3] == g.name[:3])
                start = t.complex_counts["Ribosome"].value / n_op
                rrna[kind].append(f"R_{L}")
        transcript = f"R_{L}"
        if charging and g.kind == "tRNA":
            decoded = decoded_amino_acid(g.product, g.name)
            if decoded is None:
                raise BuildError(f"syn3a builder: tRNA gene {L} ({g.name}): its product "
                                 f"{g.product!r} names no amino acid (tRNA-Xxx)")
            transcript = trna[decoded][1]
        elif g.kind != "mRNA":
            w.species(f"R_{L}", start, t.complex_counts["Ribosome"].source if kind else None)
        tx_counts = _counts(w, f"tx_{L}", g.rna)
        tx = polymerisation_formula(kcat, "KD_tx", tx_counts, _length(w, f"tx_{L}", g.rna),
                                    nt_pool, g.first)
        free_genes = f"max(G_{L} - Gb_{L}, 0)"
        w.reaction(f"tx_bind_{L}", {}, {f"Gb_{L}": 1},
                   binding_formula(kbind, "max(RNAP_free, 0)", free_genes, "cell"), [f"G_{L}"])
        uses, makes = ({}, {})
        if coupled:  # the NTPs of the transcript; one PPi per nucleotide added
            uses = {f"M_{POOL_IDS[NTP[b]]}": n for b, n in g.rna.items() if n}
            makes = {"M_ppi_c": g.length}
        needs = ({f"M_{POOL_IDS[NTP[b]]}": tx_counts[b] for b in g.rna} if coupled else {})
        w.reaction(f"tx_{L}", {f"Gb_{L}": 1, **uses}, {transcript: 1, **makes},
                   _while_enough(f"({tx}) * Gb_{L}", needs), _unused(needs, uses))
        if g.kind == "mRNA":
            aa = {a: g.protein.get(a, 0) for a in AMINO_ACIDS}
            # coupled: elongation also waits for its 2 GTP (and, without a charging
            # module, charging's ATP) per residue
            energy = None
            if coupled:
                energy = {"GTP_mM": (2.0, "KD_tl_ntp")}
                if not charging:
                    energy["ATP_mM"] = (1.0, "KD_tl_ntp")
            tl_counts, tl_len = _counts(w, f"tl_{L}", aa), _length(w, f"tl_{L}", aa)
            tl = polymerisation_formula("kcat_tl", "KD_tl", tl_counts, tl_len, aa_pool,
                                        g.first_aa, energy)
            w.reaction(f"tl_bind_{L}", {f"R_{L}": 1}, {f"Rr_{L}": 1},
                       binding_formula("kbind_ribosome", "max(ribosome_free, 0)", f"R_{L}",
                                       "cell"))
            uses, makes, needs = ({}, {}, {})
            n_aa = g.protein_length
            if charging:  # charged tRNAs, returned uncharged; elongation 2 GTP
                needs = {trna[a][0]: tl_counts[a] for a in AMINO_ACIDS}
                needs["M_gtp_c"] = f"2.0 * {tl_len}"
                uses = {trna[a][0]: n for a, n in g.protein.items() if n}
                uses["M_gtp_c"] = 2 * n_aa
                makes = {trna[a][1]: n for a, n in g.protein.items() if n}
                makes.update({"M_gdp_c": 2 * n_aa, "M_pi_c": 2 * n_aa})
                if initiator and g.first_aa[0] == "M":  # fMet-tRNA starts the chain
                    met = trna["M"][0]
                    needs[met] = f"{tl_counts['M']} - 1.0"
                    needs[INITIATOR] = "1.0"
                    uses[INITIATOR] = 1
                    uses[met] -= 1
                    if not uses[met]:
                        del uses[met]
            elif coupled:  # amino acids; charging ATP -> AMP + PPi, elongation 2 GTP
                needs = {f"M_{AA_POOLS[a]}": tl_counts[a] for a in AMINO_ACIDS}
                needs.update({"M_atp_c": tl_len, "M_gtp_c": f"2.0 * {tl_len}"})
                uses = {f"M_{AA_POOLS[a]}": n for a, n in g.protein.items() if n}
                uses.update({"M_atp_c": n_aa, "M_gtp_c": 2 * n_aa})
                makes = {"M_amp_c": n_aa, "M_ppi_c": n_aa, "M_gdp_c": 2 * n_aa,
                         "M_pi_c": 2 * n_aa}
            w.reaction(f"tl_{L}", {f"Rr_{L}": 1, **uses},
                       {f"R_{L}": 1, f"P_{L}": 1, **makes},
                       _while_enough(f"({tl}) * Rr_{L}", needs), _unused(needs, uses))
            w.reaction(f"deg_bind_{L}", {f"R_{L}": 1}, {f"Rd_{L}": 1},
                       binding_formula("kbind_degradosome", "max(degradosome_free, 0)",
                                       f"R_{L}", "cell"))
            makes = ({f"M_{NMP[b]}": n for b, n in g.rna.items() if n} if coupled else {})
            w.reaction(f"deg_{L}", {f"Rd_{L}": 1}, {"mRNA_degraded": 1, **makes},
                       f"kcat_deg / {real(g.length)} * Rd_{L}")

    return prot, (gb, rr, rd, rrna)


def _complexes(w: _Writer, t: Tables, genes: list[Gene], prot: dict, pools) -> None:
    """RNA polymerase, ribosomes and degradosomes (total and free), and the totals."""
    gb, rr, rd, rrna = pools

    # as many as the scarcest subunit allows, less those at work
    def complex_total(name: str, extra: Sequence[str] = ()) -> str:
        parts = [f"floor(P_{loc} / {n})" if n != 1 else f"P_{loc}"
                 for loc, n in t.complexes[name].items() if loc in prot]
        parts += list(extra)
        if not parts:
            raise BuildError(f"syn3a builder: no subunit of {name} among the genes built")
        return parts[0] if len(parts) == 1 else f"min({', '.join(parts)})"

    w.rule("RNAP_total", complex_total("RNAP"))
    w.rule("RNAP_free", f"RNAP_total - ({_sum(gb)})")
    rrna_terms = [f"({_sum(v)})" for v in rrna.values() if v]
    w.rule("ribosome_total", complex_total("Ribosome", rrna_terms))
    w.rule("ribosome_free", f"ribosome_total - ({_sum(rr)})")
    w.rule("degradosome_total", complex_total("Degradosome"))
    w.rule("degradosome_free", f"degradosome_total - ({_sum(rd)})")
    w.rule("mRNA_on_ribosomes", _sum(rr))
    w.rule("mRNA_total", _sum([f"R_{g.locus} + Rr_{g.locus} + Rd_{g.locus}"
                               for g in genes if g.kind == "mRNA"]))
    w.rule("protein_total", _sum(list(prot.values())))



def _replication(w: _Writer, t: Tables, genome: Genome, genes: list[Gene], prot,
                 filament: int, coupled: bool = False) -> None:
    """oriC: DnaA on dsDNA, then an ssDNA filament, then two forks copy gene by gene."""
    dnaa = prot.get("0001")
    members = [prot[loc] for loc in t.replisome if loc in prot]
    w.species("oriC_free", 1.0, "one chromosome at birth")
    w.species("oriC_bound", 0.0)
    w.species("filament", 0.0)
    w.species("fork_cw", 0.0)
    w.species("fork_ccw", 0.0)
    w.rule("DnaA_free", f"max({dnaa} - filament - oriC_bound, 0)" if dnaa else "0")
    replisome = members[0] if len(members) == 1 else (
        f"min({', '.join(members)})" if members else "0")
    w.rule("replisome_free", replisome)
    w.reaction("dnaA_ds", {"oriC_free": 1}, {"oriC_bound": 1},
               binding_formula("k_dnaA_ds", "DnaA_free", "oriC_free", "cell"))
    w.reaction("dnaA_fil_on", {}, {"filament": 1},
               binding_formula("k_dnaA_on", "DnaA_free", "oriC_bound", "cell")
               + " * piecewise(1, filament < filament_length, 0)", ["oriC_bound"])
    w.reaction("dnaA_fil_off", {"filament": 1}, {},
               "k_dnaA_off * oriC_bound * piecewise(1, filament > 0, 0)", ["oriC_bound"])
    w.reaction("replisome_loading", {"oriC_bound": 1, "filament": filament},
               {"fork_cw": 1, "fork_ccw": 1},
               binding_formula("k_loading", "replisome_free", "oriC_bound", "cell")
               + " * piecewise(1, filament >= filament_length, 0)")
    half = genome.length // 2
    by_locus = {g.locus: g for g in genes}
    cw = [g for g in genome.genes if g.start <= half]
    ccw = [g for g in reversed(genome.genes) if g.start > half]
    for fork, order, ter in (("cw", cw, half), ("ccw", ccw, half + 1)):
        pos = 0 if fork == "cw" else genome.length + 1
        step = 1
        for g in order + [None]:
            if g is None:
                lo, hi = (pos + 1, ter) if fork == "cw" else (ter, pos - 1)
                ident, products = f"rep_{fork}_ter", {f"fork_{fork}": 1}
            else:
                lo, hi = (pos + 1, g.end) if fork == "cw" else (g.start, pos - 1)
                ident = f"rep_{fork}_{g.locus}"
                products = {f"fork_{fork}": 1}
                if g.locus in by_locus:
                    products[f"G_{g.locus}"] = 1
            lo, hi = min(lo, hi), max(lo, hi)
            comp = genome.composition(lo, hi) if hi >= lo else {b: 0 for b in "ACGT"}
            if sum(comp.values()) < 2:
                comp = {"A": 1, "C": 0, "G": 0, "T": 1}
            first = genome.sequence[lo - 1: lo + 1] if hi > lo else "AT"
            rep_counts = _counts(w, ident, comp)
            law = polymerisation_formula("kcat_rep", "KD_rep", rep_counts,
                                         _length(w, ident, comp),
                                         {b: f"{DNTP[b]}_mM" for b in "ACGT"},
                                         (first[0], first[1]))
            w.parameter(f"step_{ident}", step, "the fork's segment number")
            uses, needs = {}, {}
            if coupled and hi >= lo:  # both strands: each base and its complement
                at, gc = comp["A"] + comp["T"], comp["G"] + comp["C"]
                uses = {f"M_{POOL_IDS[d]}": n for d, n in (("dATP", at), ("dTTP", at),
                                                           ("dGTP", gc), ("dCTP", gc)) if n}
                products = {**products, "M_ppi_c": 2 * (at + gc)}
                needs = {f"M_{POOL_IDS[d]}": f"{rep_counts[b[0]]} + {rep_counts[b[1]]}"
                         for d, b in DNTP_PAIRS.items()}
            w.reaction(ident, uses, products, _while_enough(
                f"({law}) * piecewise(1.0, fork_{fork} == step_{ident}, 0.0)", needs),
                [f"fork_{fork}", *_unused(needs, uses)])
            if g is not None:
                pos = g.end if fork == "cw" else g.start
            step += 1
        w.parameter(f"fork_{fork}_steps", step, "segments of the fork: genes and terminus")
    w.rule("replicated", "piecewise(1, fork_cw == fork_cw_steps && "
           "fork_ccw == fork_ccw_steps, 0)")


def _membrane(w: _Writer, t: Tables, genes, prot, ch: Choices, sa0: float, v0_l: float,
              coupled: bool = False):
    """Lipids and membrane proteins make the surface area; the volume follows it. With
    metabolism coupled, the lipids are its six membrane lipids (``lipid`` their sum)."""
    lip = {}
    for abbrev, met in LIPIDS.items():
        if abbrev not in t.lipid_area_nm2 or met not in t.metabolites_mM:
            raise MinimalCellDataError(f"minimal-cell data: lipid {abbrev} ({met}) missing")
        lip[abbrev] = (t.metabolites_mM[met].value * 1e-3 * N_A * v0_l,
                       t.lipid_area_nm2[abbrev].value)
    n_lipid = sum(n for n, _ in lip.values())
    area_lipid = sum(n * a for n, a in lip.values()) / n_lipid
    tm = [prot[g.locus] for g in genes
          if g.locus in prot and t.localization.get(g.locus) == "trans-membrane"]
    n_tm = sum(t.proteins[p[2:]].value for p in tm)
    lipid_sa = n_lipid * area_lipid / 2
    if n_tm > 0:
        area_tm = (sa0 - lipid_sa) / n_tm
        if area_tm <= 0:
            raise BuildError("syn3a builder: the lipids alone cover more than the birth area")
    else:
        area_tm = 0.0
    if coupled:
        w.rule("lipid", _sum([f"M_{met}" for met in LIPIDS.values()]), n_lipid)
        lipid_area(w, t, [f"M_{met}" for met in LIPIDS.values()])
    else:
        w.species("lipid", n_lipid, "Intracellular_Metabolites: CHOL, SM, CL, PG, PC, "
                  "Gal-DAG (mM) times the birth volume")
        w.parameter("lipid_area_nm2", area_lipid,
                    "Membrane_Surface_Area, weighted by the counts")
    w.parameter("membrane_protein_area_nm2", area_tm,
                "choice: birth area (radius0_nm sphere) less the lipids' half, per "
                "trans-membrane protein at birth")
    if not coupled:
        w.parameter("k_lipid", math.log(2) / (ch.lipid_doubling_min * 60),
                    f"choice: lipid doubling time {ch.lipid_doubling_min:g} min")
    w.parameter("V_birth", v0_l, "sphere of radius0_nm, litres")
    w.rule("membrane_proteins", _sum(tm))
    # coupled: lipid_area_nm2 is each lipid's count x its area, over two leaflets
    lipids = "lipid_area_nm2" if coupled else "lipid * lipid_area_nm2 / 2"
    w.rule("SA", f"{lipids} + membrane_protein_area_nm2 * membrane_proteins", sa0)
    w.assign("cell", "min(SA^1.5 / (6 * sqrt(pi)) * 1e-24, 2 * V_birth)")
    w.m.getCompartment("cell").setSize(v0_l)
    w.rule("volume_fl", "cell * 1e15")
    if not coupled:
        w.reaction("lipid_synthesis", {}, {"lipid": 1}, "k_lipid * lipid", ["lipid"])


def choices_table(ch: Choices | None = None) -> dict[str, float]:
    """The builder's choices as a flat dict (for the model card)."""
    return asdict(ch or Choices())
