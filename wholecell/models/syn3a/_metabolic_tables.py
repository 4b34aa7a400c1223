"""The published metabolic network and its kinetic parameters, as the syn3A builder reads them.

- **Stoichiometry:** the SBML network ``4dwcm2026/Syn3A_updated.xml`` (iMB155 as updated
  for the 4D whole-cell model). Water and protons are left out, as in the published
  kinetic model (they have no Michaelis constants and are held fixed).
- **Enzymatic rate parameters:** one sheet per module of ``kinetic_params.xlsx`` (Central,
  Nucleotide, Lipid, Cofactor, Transport): for each reaction the enzyme (a locus, a
  complex, several loci joined by a GPR rule, or ``default``), kcat forward and reverse,
  and a Michaelis constant per reactant and product.
- **Other reactions** (``Non-Random-Binding Reactions``): the PTS phosphorelay as mass
  action on concentrations, passive diffusion through the membrane (permeability times
  the concentration difference times area over volume, 3 / r), and fixed uptake rates.
- **The medium**: the simulation medium's concentrations, held fixed.

Numbers are read at build time, each with its source; no file is copied.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import libsbml

from ._tables import CF, D4, MinimalCellDataError, Number

#: the kinetic modules, in the order of the published workbook
MODULES = ("Central", "Nucleotide", "Lipid", "Cofactor", "Transport")
METABOLISM_FILES = {
    "network": f"{D4}/Syn3A_updated.xml",
    **{m: f"{CF}/kinetic_params_csv/{m}.csv" for m in MODULES},
    "binding": f"{CF}/kinetic_params_csv/Non-Random-Binding_Reactions.csv",
    "medium": f"{CF}/initial_concentrations_csv/Simulation_Medium.csv",
    "protein_metabolites": f"{CF}/initial_concentrations_csv/Protein_Metabolites.csv",
    "balanced_2022": "cell2022_cmeode/Central_AA_Zane_Balanced_direction_fixed_nounqATP.tsv",
    "priors_2019": "cell2022_rdme/MinCell_params_CentralMet_AA_Cofactor_Final.tsv",
    "uptakes_2022": "cell2022_cmeode/transport_NoH2O_Zane-TB-DB.tsv",
    "nucleotide_2022": "cell2022_cmeode/Nucleotide_Kinetic_Parameters.tsv",
}
#: files the build reads only for some choices (`Choices.fixed_uptakes`,
#: `Choices.modular_laws`)
OPTIONAL_FILES = frozenset({METABOLISM_FILES["uptakes_2022"],
                            METABOLISM_FILES["nucleotide_2022"]})
#: where `tabulated_equilibria` reads K_eq from (`Choices.equilibria_from`)
EQUILIBRIUM_SOURCES = ("priors_2019", "balanced_2022")
#: water and protons: held fixed, left out of the stoichiometry and the rate laws
FIXED_SPECIES = frozenset({"M_h_c", "M_h2o_c", "M_h_e", "M_h2o_e"})
#: the Non-Random-Binding sheet's rate laws, by their text
BINDING_LAWS = {
    "($kcatF * $Sub1 * $Sub2) - ($kcatR * $Prod1 * $Prod2)": "mass_action",
    "$P_R * ($Sub1 - $Prod1) * 3 / $Radius": "passive",
    "$K_uptake": "uptake",
}


@dataclass(frozen=True)
class EnzymeReaction:
    """A reaction with a convenience rate law (Liebermeister & Klipp 2006).

    ``enzyme`` is a locus (``P_0445``), a complex name, several of either joined by
    ``-`` (combined by ``gpr``: ``"or"`` sums them, ``"and"`` takes the least), or
    ``"default"`` (no gene assigned in the tables).
    """

    id: str
    module: str
    enzyme: str
    gpr: str
    kcat_f: Number
    kcat_r: Number
    km: dict[str, Number]
    reactants: dict[str, float]
    products: dict[str, float]


@dataclass(frozen=True)
class BindingReaction:
    """A reaction of the Non-Random-Binding sheet: ``law`` is a key of `BINDING_LAWS`'s
    values; ``roles`` maps the sheet's Sub1/Sub2/Prod1/Prod2 to species."""

    id: str
    law: str
    params: dict[str, Number]
    roles: dict[str, str]
    reactants: dict[str, float]
    products: dict[str, float]


@dataclass
class MetabolicTables:
    """The metabolic network's reactions and the fixed medium."""

    folder: Path
    reactions: list[EnzymeReaction] = field(default_factory=list)
    bindings: list[BindingReaction] = field(default_factory=list)
    medium_mM: dict[str, Number] = field(default_factory=dict)  # "M_glc__D_e" -> mM
    #: every protein the network holds as metabolite forms (PTS carriers, ACP,
    #: thioredoxin, ...): locus -> (its forms in the table's order, source)
    protein_forms: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)

    @property
    def carriers(self) -> dict[str, tuple[str, bool, str]]:
        """The forms that are not metabolites of the concentration table (the PTS
        carriers, "ptsi" and "ptsi_P"): species -> (locus, phosphorylated, source)."""
        return {sid: (locus, sid.endswith("_P"), source)
                for locus, (forms, source) in self.protein_forms.items()
                for sid in forms if not sid.startswith("M_")}


def _file(folder: Path, key: str, files: dict[str, str] = METABOLISM_FILES,
          hint: str = "give the folder that holds the JCVI-syn3A tables as data=, or set "
                      "$WHOLECELL_MINIMAL_CELL_DATA") -> Path:
    """The table ``files[key]`` under ``folder``; its absence is named, with ``hint``."""
    p = folder / files[key]
    if not p.is_file():
        raise MinimalCellDataError(
            f"minimal-cell data: {files[key]} not found under {folder} ({hint})")
    return p


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()}
                for row in csv.DictReader(fh)]


def _number(text: str, unit: str, where: str) -> Number:
    try:
        return Number(float(text), unit, where)
    except ValueError:
        raise MinimalCellDataError(
            f"minimal-cell data: {where}: {text!r} is not a number") from None


def _network(path: Path) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    doc = libsbml.readSBMLFromFile(str(path))
    if doc.getModel() is None:
        raise MinimalCellDataError(f"minimal-cell data: {path} is not a readable SBML model")
    out = {}
    for r in doc.getModel().getListOfReactions():
        side = [{s.getSpecies(): s.getStoichiometry() for s in refs
                 if s.getSpecies() not in FIXED_SPECIES}
                for refs in (r.getListOfReactants(), r.getListOfProducts())]
        out[r.getId()] = (side[0], side[1])
    return out


def _side(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for term in text.split("+"):
        term = term.strip()
        m = re.fullmatch(r"(\d+(?:\.\d*)?)\s+(\S+)", term)
        sid, n = (m.group(2), float(m.group(1))) if m else (term, 1.0)
        out[sid] = out.get(sid, 0.0) + n
    return out


def read_metabolism(folder: str | Path) -> MetabolicTables:
    """Read the network, the kinetic sheets, the other reactions and the medium.

    Raises:
        MinimalCellDataError: a missing file, an unreadable number, a reaction of a sheet
            that the network lacks, a rate law the builder does not know, or a Michaelis
            constant missing for a reactant or product (each named).
    """
    folder = Path(folder)
    mt = MetabolicTables(folder)
    network = _network(_file(folder, "network"))
    for module in MODULES:
        rel = METABOLISM_FILES[module]
        by_reaction: dict[str, list[tuple[int, dict[str, str]]]] = {}
        for i, r in enumerate(_rows(_file(folder, module)), start=2):
            if r.get("Reaction Name"):
                by_reaction.setdefault(r["Reaction Name"], []).append((i, r))
        for name, rows in by_reaction.items():
            rid = f"R_{name}"
            if rid not in network:
                raise MinimalCellDataError(
                    f"minimal-cell data: {rel}: reaction {name} is not in "
                    f"{METABOLISM_FILES['network']}")
            reactants, products = network[rid]
            enzyme, gpr, kf, kr, km = "", "", None, None, {}
            for i, r in rows:
                kind, where = r["Parameter Type"], f"{rel} row {i}"
                if kind == "Eff Enzyme Count":
                    enzyme = r["Value"]
                elif kind == "GPR rule":
                    gpr = r["Value"]
                elif kind == "Substrate Catalytic Rate Constant":
                    kf = _number(r["Value"], r["Units"], f"{where} (kcat forward)")
                elif kind == "Product Catalytic Rate Constant":
                    kr = _number(r["Value"], r["Units"], f"{where} (kcat reverse)")
                elif kind == "Michaelis Menten Constant":
                    km[r["Related Species"]] = _number(
                        r["Value"], r["Units"], f"{where} (KM {r['Related Species']})")
            missing = sorted((set(reactants) | set(products)) - set(km))
            if not enzyme or kf is None or kr is None or missing:
                what = (f"Michaelis constants for {missing}" if missing else
                        "an enzyme and both kcat values")
                raise MinimalCellDataError(
                    f"minimal-cell data: {rel}: reaction {name} lacks {what}")
            mt.reactions.append(EnzymeReaction(rid, module, enzyme, gpr, kf, kr, km,
                                               reactants, products))
    rel = METABOLISM_FILES["binding"]
    by_reaction = {}
    for i, r in enumerate(_rows(_file(folder, "binding")), start=2):
        if r.get("Reaction Name"):
            by_reaction.setdefault(r["Reaction Name"], []).append((i, r))
    for name, rows in by_reaction.items():
        values = {r["Parameter Type"]: (i, r["Value"]) for i, r in rows}
        if "Reaction Formula" not in values or "Kinetic Law" not in values:
            raise MinimalCellDataError(f"minimal-cell data: {rel}: reaction {name} lacks a "
                                       "formula or a kinetic law")
        law = BINDING_LAWS.get(values["Kinetic Law"][1])
        if law is None:
            raise MinimalCellDataError(
                f"minimal-cell data: {rel}: reaction {name}: rate law "
                f"{values['Kinetic Law'][1]!r} is not one the builder knows")
        left, _, right = values["Reaction Formula"][1].partition("<=>")
        roles = {k: v for k, (_, v) in values.items() if k in ("Sub1", "Sub2", "Prod1", "Prod2")}
        params = {k: _number(v, "", f"{rel} row {i} ({k})") for k, (i, v) in values.items()
                  if k not in roles and k not in ("Reaction Formula", "Kinetic Law")}
        mt.bindings.append(BindingReaction(f"R_{name}", law, params, roles,
                                           _side(left), _side(right)))
    rel = METABOLISM_FILES["medium"]
    for i, r in enumerate(_rows(_file(folder, "medium")), start=2):
        if r.get("Met ID"):
            mt.medium_mM[f"M_{r['Met ID']}"] = _number(r["Conc (mM)"], "mM",
                                                       f"{rel} row {i} ({r['Met ID']})")
    rel = METABOLISM_FILES["protein_metabolites"]
    for i, r in enumerate(_rows(_file(folder, "protein_metabolites")), start=2):
        locus = r.get("Protein", "").removeprefix("P_")
        forms = tuple(s for s in (s.strip() for s in r.get("Metabolite IDs", "").split(","))
                      if s)
        if locus and forms:
            mt.protein_forms[locus] = (forms, f"{rel} row {i}")
    return mt


def tabulated_equilibria(folder: Path, names, source: str = "priors_2019",
                         ) -> dict[str, tuple[Number, str]]:
    """name -> (K_eq, equation) of each reaction ``names``.

    ``source`` ``balanced_2022``: the 2022 well-stirred model's parameter-balanced
    central-metabolism table (SBtab: an equation row per reaction and a ``keq_R_<name>``
    row per equilibrium constant). ``priors_2019``: the equilibrium constants collected
    for that balancing (the 2022 spatial model's ``Parameters_EqPrep`` table, column
    ``!Mean``), which name reactions of the same network and carry no equation: the
    equation, and so the direction the constant refers to, is the balanced table's."""
    if source not in EQUILIBRIUM_SOURCES:
        raise ValueError(f"equilibria_from must be one of {EQUILIBRIUM_SOURCES}, "
                         f"not {source!r}")
    rel = METABOLISM_FILES["balanced_2022"]
    keq, equation = _balanced_table(folder, rel)
    if source == "priors_2019":
        rel = METABOLISM_FILES[source]
        keq = _prior_equilibria(folder, rel)
    out = {}
    for name in names:
        if name not in keq:
            raise MinimalCellDataError(f"minimal-cell data: {rel} has no K_eq of {name}")
        if name not in equation:
            raise MinimalCellDataError(f"minimal-cell data: {METABOLISM_FILES['balanced_2022']}"
                                       f" has no equation of {name}")
        out[name] = (keq[name], equation[name])
    return out


@dataclass(frozen=True)
class ModularLaw:
    """A reaction's common modular rate law as the 2022 well-stirred model's balanced
    nucleotide table writes it (Liebermeister, Uhlendorf & Klipp 2010): a fixed enzyme
    concentration ``enzyme_mM``, the geometric mean ``kcat`` of the forward and reverse
    constants, ``keq``, a Michaelis constant per species (``km``), the cooperativity
    ``hco``, and the concentrations the table gives the medium's species
    (``medium_mM``)."""

    name: str
    reactants: dict[str, float]
    products: dict[str, float]
    enzyme_mM: Number
    kcat: Number
    keq: Number
    hco: Number
    km: dict[str, Number]
    medium_mM: dict[str, Number]


def modular_laws_2022(folder: Path, names) -> dict[str, ModularLaw]:
    """name -> the `ModularLaw` of each reaction ``names`` in the 2022 balanced
    nucleotide table (SBtab: a reaction row with its equation, ``local parameter`` rows
    ``kcrg_R_<name>``, ``keq_R_<name>``, ``hco_R_<name>`` and ``kmc_R_<name>_<species>``,
    a ``concentration of enzyme`` row, and a compound row per medium species with its
    initial concentration)."""
    rel = METABOLISM_FILES["nucleotide_2022"]
    rows = _balanced_rows(folder, rel)
    equation, local, enzyme, compound = (rows.equation, rows.local, rows.enzyme_mM,
                                         rows.medium_mM)
    out = {}
    for name in names:
        if name not in equation:
            raise MinimalCellDataError(f"minimal-cell data: {rel} has no equation of {name}")
        left, right = (_side(x) for x in equation[name].split("<=>"))
        left, right = ({s: n for s, n in side.items() if s not in FIXED_SPECIES}
                       for side in (left, right))
        keys = [f"kcrg_R_{name}", f"keq_R_{name}", f"hco_R_{name}",
                *(f"kmc_R_{name}_{s}" for s in (*left, *right))]
        missing = [k for k in keys if k not in local]
        outside = [s for s in (*left, *right) if s.endswith("_e")]
        missing += [f"concentration of enzyme of R_{name}"] if name not in enzyme else []
        missing += [f"the medium concentration of {s}" for s in outside if s not in compound]
        if missing:
            raise MinimalCellDataError(f"minimal-cell data: {rel} lacks {', '.join(missing)}"
                                       f" (the modular law of {name})")
        # the table rounds to four decimals: a K_eq of 0 would divide by zero in the law
        bad = [k for k in keys if not 0 < local[k].value < math.inf]
        bad += ([f"concentration of enzyme of R_{name}"]
                if not 0 < enzyme[name].value < math.inf else [])
        if bad:
            raise MinimalCellDataError(
                f"minimal-cell data: {rel}: {', '.join(bad)} of the modular law of {name} "
                "not positive and finite (a value rounded to 0 in the table?)")
        out[name] = ModularLaw(
            name, left, right, enzyme[name], local[keys[0]], local[keys[1]], local[keys[2]],
            {s: local[f"kmc_R_{name}_{s}"] for s in (*left, *right)},
            {s: compound[s] for s in outside})
    return out


def _table_lines(folder: Path, rel: str) -> list[str]:
    path = folder / rel
    if not path.exists():
        raise MinimalCellDataError(f"minimal-cell data: {rel} is missing under {folder}")
    return path.read_text().splitlines()


@dataclass
class _Balanced:
    """The rows of a 2022 parameter-balanced SBtab table that the builder reads."""

    equation: dict[str, str] = field(default_factory=dict)  # name -> "A + B <=> C"
    local: dict[str, Number] = field(default_factory=dict)  # "keq_R_<name>" -> value
    enzyme_mM: dict[str, Number] = field(default_factory=dict)  # name -> enzyme, mM
    medium_mM: dict[str, Number] = field(default_factory=dict)  # "M_<met>_e" -> mM


def _balanced_rows(folder: Path, rel: str) -> _Balanced:
    """A reaction row per equation (``R_<name>``, name, equation), ``local parameter``
    rows (``kcrg_R_<name>``, ``keq_R_<name>``, ...), ``concentration of enzyme`` rows
    and a compound row per medium species (its initial concentration)."""
    out = _Balanced()
    for i, line in enumerate(_table_lines(folder, rel), start=1):
        cells = [c.strip() for c in line.split("\t")]
        if len(cells) < 3:
            continue
        where = f"{rel} row {i}"
        if cells[0].startswith("R_") and "<=>" in cells[2]:
            out.equation[cells[0].removeprefix("R_")] = cells[2]
        elif len(cells) >= 5 and cells[4] == "local parameter":
            out.local[cells[1]] = _number(cells[2], "", f"{where} ({cells[1]})")
        elif (cells[0] == "concentration of enzyme" and cells[1].startswith("R_")
              and len(cells) >= 4):
            out.enzyme_mM[cells[1].removeprefix("R_")] = _number(
                cells[3], "mM", f"{where} (concentration of enzyme, {cells[1]})")
        elif cells[0].startswith("M_") and cells[2] == "e" and len(cells) >= 6:
            out.medium_mM[cells[0]] = _number(cells[5], "mM",
                                              f"{where} ({cells[0]}, initial concentration)")
    return out


def _balanced_table(folder: Path, rel: str) -> tuple[dict[str, Number], dict[str, str]]:
    rows = _balanced_rows(folder, rel)
    keq = {k.removeprefix("keq_R_"): v for k, v in rows.local.items() if k.startswith("keq_R_")}
    return keq, rows.equation


def _prior_equilibria(folder: Path, rel: str) -> dict[str, Number]:
    keq: dict[str, Number] = {}
    header: list[str] | None = None
    for i, line in enumerate(_table_lines(folder, rel), start=1):
        cells = line.split("\t")
        if cells[0] == "!QuantityType":
            header = cells
            continue
        if header is None or cells[0] != "equilibrium constant":
            continue
        row = dict(zip(header, cells, strict=False))
        name = row.get("!Reaction:SBML:reaction:id", "").removeprefix("R_")
        try:
            value = float(row.get("!Mean", ""))
        except ValueError:
            raise MinimalCellDataError(f"minimal-cell data: {rel} row {i}: the K_eq of "
                                       f"{name} is not a number") from None
        if name in keq:
            raise MinimalCellDataError(f"minimal-cell data: {rel} row {i}: a second K_eq "
                                       f"of {name}")
        keq[name] = Number(value, "", f"{rel} row {i} (equilibrium constant {name})")
    return keq


def uptake_rates_2022(folder: Path, names) -> dict[str, Number]:
    """name -> the fixed uptake rate (mM/s) the 2022 well-stirred model gives reaction
    ``name`` (its transport table's ``Krate_R_<name>`` rows)."""
    rel = METABOLISM_FILES["uptakes_2022"]
    rates: dict[str, Number] = {}
    for i, line in enumerate(_table_lines(folder, rel), start=1):
        cells = line.split("\t")
        if len(cells) >= 4 and cells[0].startswith("Krate_R_") and cells[3] == "mM/s":
            name = cells[0].removeprefix("Krate_R_")
            rates[name] = _number(cells[2], "mM/s", f"{rel} row {i} ({cells[0]})")
    missing = sorted(set(names) - set(rates))
    if missing:
        raise MinimalCellDataError(f"minimal-cell data: {rel} has no fixed uptake rate "
                                   f"(Krate) of {', '.join(missing)}")
    return {n: rates[n] for n in names}
