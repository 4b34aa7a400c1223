"""tRNA charging in the coupled syn3A cell: each amino acid's tRNAs, charged by its
synthetase, feed translation (`Choices.trna_charging`).

- **Tables.** The tRNA_Charging sheet of the complex-formation model's kinetic parameters
  gives, per synthetase (``ALATRS`` ...), its amino acid, its protein (``P_<locus>``), the
  rates at which it binds ATP, the amino acid and the tRNA (``k_atp``, ``k_aa``,
  ``k_tRNA``, per molecule per second: on counts, not per molar) and its ``k_cat``. The
  tRNAs at birth are the 2022 spatial model's example concentrations
  (cell2022_rdme/Escher_metData.csv: about 0.1 mM charged and 0.1 mM uncharged per amino
  acid); the tables hold no other tRNA counts.
- **Law.** The sheet's constants describe a synthetase that binds ATP, the amino acid and
  the tRNA in turn, then charges it; with no unbinding tabulated, the steady-state
  turnover of that cycle is the reciprocal of its mean time per round::

      v = E / (1/(k_atp ATP) + 1/(k_aa aa) + 1/(k_tRNA tRNA) + 1/k_cat)

  in molecules per second, with ATP, aa and the uncharged tRNA as counts and E the live
  synthetase count. Written over a common denominator it is zero when any substrate is.
- **Coupling.** Charging takes the amino acid and ATP and leaves AMP and PPi; translation
  takes the charged tRNAs (one per residue) and returns them uncharged; each tRNA gene's
  transcript is one more uncharged tRNA of its amino acid. The reactions are ODEs (``R_``
  ids, integrated with the metabolism): the published cell charges ~1e8 tRNAs per cycle.
- **Initiation.** Where the network formylates Met-tRNA (``R_FMETTRS``, the Cofactor
  sheet), each protein that starts with Met starts with one fMet-tRNA, whose tRNA returns
  uncharged as tRNA-Met; Met-tRNA is then the network's species, at its tabulated
  concentration at birth (Intracellular_Metabolites).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ._metabolic_tables import _file, _number, _rows
from ._metabolism import protein_count
from ._ratelaws import N_A
from ._tables import CF, MinimalCellDataError, Number, Tables
from ._writer import _Writer

CHARGING_FILES = {
    "charging": f"{CF}/kinetic_params_csv/tRNA_Charging.csv",
    "trna_2022": "cell2022_rdme/Escher_metData.csv",
}
#: the initiator tRNA, made by the network's formylation of Met-tRNA (``R_FMETTRS``)
INITIATOR = "M_fmettrna_c"
#: the sheet's rate constants, by its "Parameter Type"
RATES = ("k_atp", "k_aa", "k_tRNA", "k_cat")


@dataclass(frozen=True)
class Synthetase:
    """One aminoacyl-tRNA synthetase of the tRNA_Charging sheet."""

    name: str  # ALATRS
    amino_acid: str  # M_ala__L_c
    locus: str  # 0163
    rates: dict[str, Number]  # RATES -> value


def trna_ids(amino_acid: str) -> tuple[str, str]:
    """(charged, uncharged) species ids of an amino acid's tRNAs, as the network names
    them: ``M_ala__L_c`` -> (``M_alatrna_c``, ``M_trnaala_c``)."""
    short = amino_acid.removeprefix("M_").split("_")[0]
    return f"M_{short}trna_c", f"M_trna{short}_c"


#: three-letter codes in tRNA gene names and products (``tRNA-Leu``)
THREE_LETTER = {"Ala": "A", "Arg": "R", "Asn": "N", "Asp": "D", "Cys": "C", "Gln": "Q",
                "Glu": "E", "Gly": "G", "His": "H", "Ile": "I", "Leu": "L", "Lys": "K",
                "Met": "M", "Phe": "F", "Pro": "P", "Ser": "S", "Thr": "T", "Trp": "W",
                "Tyr": "Y", "Val": "V"}


def decoded_amino_acid(*names: str) -> str | None:
    """The one-letter amino acid a tRNA gene decodes, from its product or name
    (``tRNA-Leu`` -> ``L``); None when neither says."""
    for name in names:
        m = re.search(r"tRNA-([A-Z][a-z]{2})\b", name or "")
        if m and m.group(1) in THREE_LETTER:
            return THREE_LETTER[m.group(1)]
    return None


def _table(folder: Path, key: str) -> Path:
    return _file(folder, key, CHARGING_FILES, "needed for tRNA charging; "
                 "Choices(trna_charging=False) holds the charged pools fixed")


def read_synthetases(folder: Path) -> dict[str, Synthetase]:
    """The tRNA_Charging sheet: amino acid species -> its synthetase."""
    rel = CHARGING_FILES["charging"]
    rows: dict[str, dict[str, tuple[str, str]]] = {}
    for i, row in enumerate(_rows(_table(folder, "charging")), start=2):
        name, kind = row.get("Reaction Name", ""), row.get("Parameter Type", "")
        if name and kind:
            rows.setdefault(name, {})[kind] = (row.get("Value", ""), f"{rel} row {i}")
    out = {}
    for name, kinds in rows.items():
        missing = [k for k in ("amino acid", "synthetase", *RATES) if k not in kinds]
        if missing:
            raise MinimalCellDataError(f"minimal-cell data: {rel}: {name} lacks {missing}")
        aa, enzyme = kinds["amino acid"][0], kinds["synthetase"][0]
        if not enzyme.startswith("P_"):
            raise MinimalCellDataError(
                f"minimal-cell data: {rel}: {name}'s synthetase {enzyme!r} is not a protein")
        rates = {k: _number(kinds[k][0], "1/s" if k == "k_cat" else "1/(molecule s)",
                            f"{kinds[k][1]} ({name} {k})") for k in RATES}
        if aa in out:
            raise MinimalCellDataError(f"minimal-cell data: {rel}: two synthetases for {aa}")
        out[aa] = Synthetase(name, aa, enzyme[2:], rates)
    return out


def read_trna_birth(folder: Path) -> dict[str, Number]:
    """The 2022 spatial model's example tRNA concentrations (mM), by species id."""
    rel = CHARGING_FILES["trna_2022"]
    out = {}
    for i, row in enumerate(_rows(_table(folder, "trna_2022")), start=2):
        met = row.get("metabolite", "")
        if "trna" in met:
            out[f"M_{met}"] = _number(row.get("concentration", ""), "mM", f"{rel} row {i}")
    return out


def charging_formula(enzyme: str, k_atp: str, atp: str, k_aa: str, aa: str, k_trna: str,
                     trna: str, kcat: str) -> str:
    """``E / (1/(k_atp ATP) + 1/(k_aa aa) + 1/(k_tRNA tRNA) + 1/kcat)`` over a common
    denominator (zero, not 0/0, when a substrate is), on counts clamped at zero."""
    a, b, c = (f"({k} * max({s}, 0))" for k, s in ((k_atp, atp), (k_aa, aa), (k_trna, trna)))
    return (f"{enzyme} * {a} * {b} * {c} * {kcat} / ({b} * {c} * {kcat} + {a} * {c} * {kcat}"
            f" + {a} * {b} * {kcat} + {a} * {b} * {c} + 1e-300)")


def add_trna_charging(w: _Writer, t: Tables, amino_acids: Sequence[str],
                      proteins: dict[str, str], v0_l: float) -> None:
    """Species of the charged and uncharged tRNAs of each of ``amino_acids`` (species
    ids) at their 2022 concentrations at birth, and a charging reaction
    ``R_<synthetase>`` each; ``proteins`` maps loci to the live protein species."""
    synthetases = read_synthetases(t.folder)
    birth = read_trna_birth(t.folder)
    count_per_mM = N_A * v0_l * 1e-3
    for aa in amino_acids:
        syn = synthetases.get(aa)
        if syn is None:
            raise MinimalCellDataError(f"minimal-cell data: {CHARGING_FILES['charging']} "
                                       f"names no synthetase for {aa}")
        ids = trna_ids(aa)
        for sid in ids:
            if sid in w.ids:  # a metabolite of the network (Met-tRNA, which FMETTRS reads)
                continue
            if sid not in birth:
                raise MinimalCellDataError(f"minimal-cell data: {CHARGING_FILES['trna_2022']} "
                                           f"lacks {sid.removeprefix('M_')}")
            w.species(sid, birth[sid].value * count_per_mM,
                      f"{birth[sid].source} x count_per_mM at birth")
        enzyme = protein_count(w, t, syn.locus, proteins, f"synthetase {syn.name}")
        k = {}
        for key, n in syn.rates.items():
            k[key] = f"{key}_{syn.name}"
            w.parameter(k[key], n.value, n.source)
        charged, uncharged = ids
        law = charging_formula(enzyme, k["k_atp"], "M_atp_c", k["k_aa"], aa, k["k_tRNA"],
                               uncharged, k["k_cat"])
        w.reaction(f"R_{syn.name}", {aa: 1, "M_atp_c": 1, uncharged: 1},
                   {charged: 1, "M_amp_c": 1, "M_ppi_c": 1}, law,
                   [enzyme] if syn.locus in proteins else [])
