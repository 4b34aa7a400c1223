"""The published numbers the syn3A builder reads, each with where it came from.

The tables are read at build time from a data folder laid out as
``../shared/minimal-cell`` (see its SOURCES.md): the Gene_Expression sheet of the
kinetic parameters, the initial protein and mRNA counts, the complexes, the metabolite
concentrations and the lipid head-group areas. The source repositories carry no licence:
the builder reads their numbers (facts), cites them, and copies no file.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..._errors import WholecellError

#: where the data folder is looked for when no path is given: $WHOLECELL_MINIMAL_CELL_DATA,
#: then ../shared/minimal-cell next to the checkout, then ./shared/minimal-cell
ENV = "WHOLECELL_MINIMAL_CELL_DATA"

CF = "complexformation2025"
D4 = "4dwcm2026"
FILES = {
    "genome": "genome/syn3A.gb",
    "gene_expression": f"{CF}/kinetic_params_csv/Gene_Expression.csv",
    "proteomics": f"{CF}/initial_concentrations_csv/Comparative_Proteomics.csv",
    "scaled_proteome": f"{CF}/initial_concentrations_csv/Scaled_Proteme.csv",
    "mrna": f"{CF}/initial_concentrations_csv/mRNA_Count.csv",
    "metabolites": f"{CF}/initial_concentrations_csv/Intracellular_Metabolites.csv",
    "complexes": f"{CF}/complex_formation_csv/Complexes.csv",
    "lipid_areas": f"{D4}/kinetic_params_csv/Membrane_Surface_Area.csv",
    "replisome": "cell2022_rdme/proteomics_annotations_csv/Sheet2.csv",
}


#: the Gene_Expression sheet's subsystems, as the keys of per-process kcat and KD
PROCESS = {"DNA replication": "replication", "Transcription": "transcription",
           "Translation": "translation", "mRNA degradation": "degradation"}


class MinimalCellDataError(WholecellError, FileNotFoundError):
    """The minimal-cell data folder, or a table the builder needs, is missing or unusable."""


@dataclass(frozen=True)
class Number:
    """A number with its unit and its source (file, row and column or symbol)."""

    value: float
    unit: str
    source: str


@dataclass
class Tables:
    """Everything the builder reads, keyed as the tables key it."""

    folder: Path
    rates: dict[str, Number] = field(default_factory=dict)  # Gene_Expression symbols
    proteins: dict[str, Number] = field(default_factory=dict)  # locus -> count at birth
    localization: dict[str, str] = field(default_factory=dict)  # locus -> localization
    mrna: dict[str, Number] = field(default_factory=dict)  # locus -> mean mRNA count
    scaled_abundance: dict[str, float] = field(default_factory=dict)  # published, per locus
    metabolites_mM: dict[str, Number] = field(default_factory=dict)  # met id -> mM
    complexes: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> locus: stoich
    complex_counts: dict[str, Number] = field(default_factory=dict)
    lipid_area_nm2: dict[str, Number] = field(default_factory=dict)
    replisome: list[str] = field(default_factory=list)  # loci marked "In Replisome"


def default_folder() -> Path:
    """The data folder: $WHOLECELL_MINIMAL_CELL_DATA or ../shared/minimal-cell."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    checkout = Path(__file__).resolve().parents[3]
    for candidate in (checkout.parent / "shared" / "minimal-cell",
                      Path.cwd().parent / "shared" / "minimal-cell",
                      Path.cwd() / "shared" / "minimal-cell"):
        if candidate.is_dir():
            return candidate
    return checkout.parent / "shared" / "minimal-cell"


def _path(folder: Path, key: str) -> Path:
    p = folder / FILES[key]
    if not p.is_file():
        raise MinimalCellDataError(
            f"minimal-cell data: {FILES[key]} not found under {folder} (give the folder "
            f"that holds the JCVI-syn3A tables as data=, or set ${ENV})"
        )
    return p


def _rows(folder: Path, key: str) -> list[dict[str, str]]:
    with _path(folder, key).open(newline="", encoding="utf-8") as fh:
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()}
                for row in csv.DictReader(fh)]


def _float(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MinimalCellDataError(
            f"minimal-cell data: {where}: {text!r} is not a number") from None


def _locus(tag: str) -> str:
    return tag.split("_")[-1]


def read_tables(folder: str | Path | None = None) -> Tables:
    """Read the builder's tables from ``folder`` (default `default_folder`).

    Raises:
        MinimalCellDataError: a missing file or an unreadable number, naming it.
    """
    folder = Path(folder) if folder is not None else default_folder()
    if not folder.is_dir():
        raise MinimalCellDataError(
            f"minimal-cell data folder {folder} does not exist (give data= or set ${ENV})"
        )
    t = Tables(folder)
    f = FILES["gene_expression"]
    section = ""
    for i, r in enumerate(_rows(folder, "gene_expression"), start=2):
        section = r.get("Subsystem", "") or section
        sym = r.get("Symbol", "").strip()
        if not sym or sym == "S":
            continue
        # kcat and KD recur per process: keyed "process|symbol"
        key = f"{PROCESS.get(section, section)}|{sym}" if sym in ("kcat", "KD") else sym
        value = r["Value"]
        if sym in ("kbind mRNA", "kcat mRNA"):  # formulas of the promoter strength S
            t.rates[sym] = Number(float("nan"), r["Units"], f"{f} row {i}: {value}")
            continue
        t.rates[key] = Number(_float(value, f"{f} row {i}"), r["Units"], f"{f} row {i} ({sym})")
    f = FILES["proteomics"]
    for r in _rows(folder, "proteomics"):
        tag = r.get("Locus Tag", "")
        if tag.startswith("JCVISYN3A_"):
            t.localization[_locus(tag)] = r.get("Localization", "")
    # initial counts: the complex-formation model's totals (free and in complexes), which
    # give every subunit of the 500 ribosomes (the raw proteomics has r-proteins at 0-21)
    f = FILES["scaled_proteome"]
    column = "w. Cplx Sim. Total Ptn Cnt"
    for i, r in enumerate(_rows(folder, "scaled_proteome"), start=2):
        tag = r.get("Locus Tag", "")
        if tag.startswith("JCVISYN3A_"):
            t.proteins[_locus(tag)] = Number(_float(r[column], f"{f} row {i}"), "molecules",
                                             f"{f} row {i} ({column})")
            published = r.get("Mean Scaled Abund (from simulation)", "")
            if published:
                t.scaled_abundance[_locus(tag)] = float(published)
    f = FILES["mrna"]
    for i, r in enumerate(_rows(folder, "mrna"), start=2):
        t.mrna[_locus(r["LocusTag"])] = Number(_float(r["total"], f"{f} row {i}"), "molecules",
                                               f"{f} row {i} (total)")
    f = FILES["metabolites"]
    for i, r in enumerate(_rows(folder, "metabolites"), start=2):
        met = r.get("Met ID", "")
        if met:
            t.metabolites_mM[met] = Number(_float(r["Init Conc (mM)"], f"{f} row {i}"), "mM",
                                           f"{f} row {i} ({met})")
    f = FILES["complexes"]
    for i, r in enumerate(_rows(folder, "complexes"), start=2):
        genes = [g.strip() for g in r["Genes Products"].split(";")]
        stoich = [int(s) for s in r["Stoichiometries"].split(";")]
        if len(stoich) == 1 and len(genes) > 1:
            stoich = stoich * len(genes)
        t.complexes[r["Name"]] = dict(zip(genes, stoich, strict=True))
        t.complex_counts[r["Name"]] = Number(_float(r["Init. Count"], f"{f} row {i}"),
                                             "complexes", f"{f} row {i} (Init. Count)")
    f = FILES["lipid_areas"]
    for i, r in enumerate(_rows(folder, "lipid_areas"), start=2):
        name, value = r.get("Membrane Lipid", ""), r.get("Value (nm2)", "")
        if "(" in name and value:
            abbrev = name.split("(")[1].rstrip(")")
            t.lipid_area_nm2[abbrev] = Number(_float(value, f"{f} row {i}"), "nm2",
                                              f"{f} row {i} ({name})")
    with _path(folder, "replisome").open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if len(row) > 5 and row[3].startswith("JCVISYN3A_") and row[5].strip() == "X":
                t.replisome.append(_locus(row[3]))
    return t

