"""Metabolism of JCVI-syn3A as ODEs: the published kinetic network on molecule counts.

Step 2 of the model's path (models/syn3a/README.md): the ~175 reactions of central,
nucleotide, lipid and cofactor metabolism and transport, with enzyme levels fixed at
their counts at birth and the medium held fixed.

- Intracellular metabolites are molecule counts (``M_<id>_c``); the rate laws read their
  concentrations in mM as ``count * mM_per_count`` (``mM_per_count`` follows the volume).
- Enzymatic reactions follow random-order convenience kinetics (Liebermeister & Klipp
  2006, `_ratelaws.convenience_formula`) with the enzyme as a count, so the rate is in
  molecules per second. A GPR ``or`` sums its enzymes, ``and`` (and a complex) takes the
  scarcest subunit.
- The PTS phosphorelay, passive diffusion and fixed uptakes give mM/s (as tabulated), and
  are turned into molecules per second with ``count_per_mM``.
- The medium's species are boundary species in the compartment ``medium`` (size 1 L), so
  their symbols read as their fixed concentrations in mM.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Mapping
from pathlib import Path

from ._metabolic_tables import (
    EQUILIBRIUM_SOURCES,
    METABOLISM_FILES,
    BindingReaction,
    EnzymeReaction,
    MetabolicTables,
    ModularLaw,
    modular_laws_2022,
    read_metabolism,
    tabulated_equilibria,
    uptake_rates_2022,
)
from ._ratelaws import N_A, convenience_formula, modular_formula, real
from ._tables import FILES, MinimalCellDataError, Number, Tables, read_tables
from ._writer import (
    LIPIDS,
    PENTOSE_PHOSPHATE,
    PHOSPHATE_UPTAKE,
    BuildError,
    Choices,
    _Writer,
)


def build_metabolism_sbml(data: str | Path | None = None, *,
                          choices: Choices | None = None) -> str:
    """Metabolism alone as SBML L3V2: enzymes fixed at their counts at birth, a fixed
    volume (the birth sphere) and a fixed medium.

    Raises:
        MinimalCellDataError: a missing table or number. BuildError: an enzyme or
            complex the tables do not define.
    """
    ch = choices or Choices()
    t = read_tables(data)
    mt = read_metabolism(t.folder)
    w = _Writer("syn3a_metabolism")
    w.held = ch.held_species
    w.m.setName("JCVI-syn3A minimal cell: metabolism with fixed enzymes")
    v0 = 4 / 3 * math.pi * ch.radius_nm**3 * 1e-24
    w.compartment("cell", v0)
    w.parameter("N_A", N_A, "2019 SI definition of the Avogadro constant")
    enzymes = enzyme_counts(w, t, mt)
    inside = add_metabolism(w, t, mt, ch, enzymes, v0)
    lipid_area(w, t, inside)
    return w.text()


def enzyme_counts(w: _Writer, t: Tables, mt: MetabolicTables,
                  live: Mapping[str, str] | None = None) -> dict[str, str]:
    """locus -> the id of its count for every protein the reactions need: the species of
    ``live`` (locus -> protein species, when gene expression is coupled), else a constant
    parameter ``P_<locus>`` at its count at birth."""
    live = live or {}
    loci = set()
    for r in mt.reactions:
        for part in r.enzyme.split("-"):
            if part.startswith("P_"):
                loci.add(part[2:])
            elif part in t.complexes:
                loci.update(t.complexes[part])
    carriers = mt.carriers
    for b in mt.bindings:
        loci.update(carriers[s][0] for s in [*b.reactants, *b.products] if s in carriers)
    return {locus: protein_count(w, t, locus, live, "enzyme") for locus in sorted(loci)}


def protein_count(w: _Writer, t: Tables, locus: str, live: Mapping[str, str],
                  role: str) -> str:
    """The id of a protein's count: its species in ``live``, else the parameter
    ``P_<locus>`` at its count at birth (made once)."""
    if locus in live:
        return live[locus]
    ident = f"P_{locus}"
    if ident not in w.ids:
        if locus not in t.proteins:
            raise BuildError(f"syn3a builder: {role} locus {locus} has no protein count in "
                             f"{FILES['scaled_proteome']}")
        w.parameter(ident, t.proteins[locus].value, t.proteins[locus].source)
    return ident


def _enzyme(w: _Writer, t: Tables, name: str, gpr: str, proteins: Mapping[str, str],
            made: set[str], ch: Choices, where: str) -> str:
    """The formula of a reaction's enzyme count (making complex and default rules once)."""
    parts = name.split("-")
    terms = []
    for part in parts:
        if part.startswith("P_"):
            if part[2:] not in proteins:
                raise BuildError(f"syn3a builder: {where}: enzyme {part} is not a protein of "
                                 "the model")
            terms.append(proteins[part[2:]])
        elif part in t.complexes:
            ident = f"E_{part}"
            if ident not in made:
                subunits = [f"floor({proteins[loc]} / {n})" if n != 1 else proteins[loc]
                            for loc, n in t.complexes[part].items()]
                w.rule(ident, subunits[0] if len(subunits) == 1
                       else f"min({', '.join(subunits)})")
                made.add(ident)
            terms.append(ident)
        elif part == "default":
            if "E_default" not in made:
                count = ch.default_enzyme_count
                if count is None:
                    count = statistics.median(n.value for n in t.proteins.values())
                    source = f"choice: the proteome's median count ({FILES['scaled_proteome']})"
                else:
                    source = f"choice: default_enzyme_count = {count:g}"
                w.parameter("E_default", count, source)
                made.add("E_default")
            terms.append("E_default")
        else:
            raise BuildError(f"syn3a builder: {where}: enzyme {part!r} is neither a protein "
                             f"(P_<locus>) nor a complex of {FILES['complexes']}")
    if len(terms) == 1:
        return terms[0]
    if gpr == "or":
        return "(" + " + ".join(terms) + ")"
    if gpr == "and":
        return f"min({', '.join(terms)})"
    raise BuildError(f"syn3a builder: {where}: enzymes {name} without an and/or GPR rule")


def add_metabolism(w: _Writer, t: Tables, mt: MetabolicTables, ch: Choices,
                   proteins: Mapping[str, str], v0_l: float) -> list[str]:
    """Add the metabolites, the medium and the metabolic reactions to ``w``.

    ``proteins`` maps each enzyme locus to the id whose value is its count (a constant
    parameter for fixed enzymes, the protein species when gene expression is coupled);
    ``v0_l`` is the volume at birth (litres), which turns the tabulated concentrations
    into counts. Returns the intracellular species ids.
    """
    w.rule("count_per_mM", "N_A * cell * 1e-3", N_A * v0_l * 1e-3)
    w.rule("mM_per_count", "1.0 / count_per_mM", 1 / (N_A * v0_l * 1e-3))
    w.compartment("medium", 1.0)

    used: set[str] = set()
    for r in [*mt.reactions, *mt.bindings]:
        used.update(r.reactants)
        used.update(r.products)
    held = ch.held_species & used
    for sid in sorted(held):  # a fixed concentration: out of the stoichiometry
        n = _tabulated_mM(t, sid)
        w.parameter(f"{sid}_mM", n.value, f"{n.source}, held fixed (choice fixed_metabolites)")
    inside = sorted(s for s in used if not s.endswith("_e") and s not in held)
    outside = sorted(s for s in used if s.endswith("_e"))
    for sid in outside:
        if sid not in mt.medium_mM:
            raise MinimalCellDataError(
                f"minimal-cell data: {METABOLISM_FILES['medium']} lacks {sid[2:]}")
        w.fixed_concentration(sid, "medium", mt.medium_mM[sid].value, mt.medium_mM[sid].source)
    count0 = N_A * v0_l * 1e-3
    carriers = mt.carriers
    for sid in inside:
        if sid in carriers:
            locus, phosphorylated, where = carriers[sid]
            if locus not in t.proteins:
                raise BuildError(f"syn3a builder: {sid} is a state of protein {locus} "
                                 f"({where}), which has no count")
            n = t.proteins[locus]
            share = ch.pts_phosphorylated if phosphorylated else 1 - ch.pts_phosphorylated
            w.species(sid, round(n.value * share), f"{where}; {n.source} x choice "
                      f"pts_phosphorylated = {ch.pts_phosphorylated:g}")
            continue
        add_metabolite(w, t, sid, count0)

    def conc(sid: str) -> str:
        if sid in held:
            return f"{sid}_mM"
        return sid if sid.endswith("_e") else f"({sid} * mM_per_count)"

    made: set[str] = set()
    present = {r.id.removeprefix("R_") for r in mt.reactions}
    names = ch.balanced_equilibria
    if names is None:
        names = tuple(n for n in PENTOSE_PHOSPHATE if n in present)
    if ch.equilibria_from not in EQUILIBRIUM_SOURCES:
        raise BuildError(f"syn3a builder: choice equilibria_from must be one of "
                         f"{EQUILIBRIUM_SOURCES}, not {ch.equilibria_from!r}")
    keqs = tabulated_equilibria(t.folder, names, ch.equilibria_from) if names else {}
    forward = tuple(ch.forward_equilibria)
    both = sorted(set(forward) & set(keqs))
    if both:
        raise BuildError(f"syn3a builder: {both} named by both choices balanced_equilibria "
                         "and forward_equilibria")
    fkeqs = tabulated_equilibria(t.folder, forward, ch.equilibria_from) if forward else {}
    fixed = tuple(ch.fixed_uptakes)
    _not_in_network("fixed_uptakes", set(fixed) - present)
    modular = ch.modular_laws
    if modular is None:
        modular = tuple(n for n in PHOSPHATE_UPTAKE if n in present)
    _not_in_network("modular_laws", set(modular) - present)
    both = sorted(set(modular) & set(fixed))
    if both:
        raise BuildError(f"syn3a builder: {both} named by both choices fixed_uptakes and "
                         "modular_laws")
    uptakes = uptake_rates_2022(t.folder, fixed) if fixed else {}
    laws = modular_laws_2022(t.folder, modular) if modular else {}
    for r in mt.reactions:
        name = r.id.removeprefix("R_")
        if name in laws:
            w.reaction(r.id, _inside(r.reactants, held), _inside(r.products, held),
                       _modular_law(w, r, laws[name], conc), [], reversible=True)
            continue
        if name in uptakes:
            w.reaction(r.id, _inside(r.reactants, held), _inside(r.products, held),
                       _fixed_uptake_law(w, r, uptakes[name], conc, held),
                       _medium_of(r), reversible=False)
            continue
        enzyme = _enzyme(w, t, r.enzyme, r.gpr, proteins, made, ch, r.id)
        kf, kr = r.kcat_f, r.kcat_r
        if name in keqs:
            kf, kr = _balanced_kcats(r, *keqs.pop(name), ch.equilibria_from)
        elif name in fkeqs:
            kf, kr = _balanced_kcats(r, *fkeqs.pop(name), ch.equilibria_from, forward=True)
        w.parameter(f"kf_{name}", kf.value, kf.source)
        w.parameter(f"kr_{name}", kr.value, kr.source)
        terms = []
        for side in (r.reactants, r.products):
            terms.append({})
            for sid, n in side.items():
                k = _km(w, r, sid)
                if n != int(n):
                    raise BuildError(f"syn3a builder: {r.id}: stoichiometry {n} of {sid} "
                                     "is not whole")
                terms[-1][conc(sid)] = (k, int(n))
        law = convenience_formula(enzyme, f"kf_{name}", f"kr_{name}", terms[0], terms[1])
        enzymes = [i for i in re.findall(r"\bP_\w+", enzyme) if w.m.getSpecies(i) is not None]
        w.reaction(r.id, _inside(r.reactants, held), _inside(r.products, held), law,
                   _medium_of(r) + enzymes, reversible=r.kcat_r.value > 0)
    # left over: not in the network, or taken by another law above
    _not_in_network("balanced_equilibria", keqs)
    _not_in_network("forward_equilibria", fkeqs)
    for b in mt.bindings:
        w.reaction(b.id, _inside(b.reactants, held), _inside(b.products, held),
                   _binding_law(w, b, conc),
                   _medium_of(b), reversible=b.law != "uptake")
    return inside


def _not_in_network(choice: str, names) -> None:
    """BuildError naming the reactions ``names`` of ``choice``, if any."""
    if names:
        raise BuildError(f"syn3a builder: choice {choice} names {sorted(names)}, which are "
                         "not enzymatic reactions of the network")


def _fixed_uptake_law(w: _Writer, r: EnzymeReaction, rate: Number, conc,
                      held: set[str]) -> str:
    """``rate`` (mM/s) in molecules per second, times each intracellular substrate's
    saturation with its Michaelis constant of the sheet."""
    name = r.id.removeprefix("R_")
    w.parameter(f"Krate_{name}", rate.value, f"{rate.source}, choice fixed_uptakes")
    terms = [f"Krate_{name} * count_per_mM"]
    for sid in _inside(r.reactants, held):
        k = _km(w, r, sid)
        terms.append(f"{conc(sid)} / ({conc(sid)} + {k})")
    return " * ".join(terms)


def _modular_law(w: _Writer, r: EnzymeReaction, law: ModularLaw, conc) -> str:
    """``law`` (mM/s) in molecules per second: its fixed enzyme concentration, kcat,
    K_eq, cooperativity and Michaelis constants, and its own medium concentrations."""
    name = r.id.removeprefix("R_")
    if (law.reactants, law.products) != (r.reactants, r.products):
        raise BuildError(f"syn3a builder: {r.id}: the 2022 table's equation "
                         f"{law.reactants} <=> {law.products} is not the network's "
                         f"{r.reactants} -> {r.products}")
    why = "choice modular_laws"
    for key, n in (("Em", law.enzyme_mM), ("kcrg", law.kcat), ("keq", law.keq),
                   ("hco", law.hco)):
        w.parameter(f"{key}_{name}", n.value, f"{n.source}, {why}")
    sides = []
    for side in (law.reactants, law.products):
        sides.append({})
        for sid, n in side.items():
            if n != int(n):
                raise BuildError(f"syn3a builder: {r.id}: stoichiometry {n} of {sid} "
                                 "is not whole")
            k = f"Kmc_{name}_{sid.removeprefix('M_')}"
            w.parameter(k, law.km[sid].value, f"{law.km[sid].source}, {why}")
            c = conc(sid)
            if sid in law.medium_mM:  # the table's medium, with which it was balanced
                c = f"c2022_{name}_{sid.removeprefix('M_')}"
                w.parameter(c, law.medium_mM[sid].value, f"{law.medium_mM[sid].source}, {why}")
            sides[-1][c] = (k, int(n))
    rate = modular_formula(f"Em_{name}", f"kcrg_{name}", f"keq_{name}", f"hco_{name}",
                           sides[0], sides[1])
    return f"({rate}) * count_per_mM"


def _km(w: _Writer, r: EnzymeReaction, sid: str) -> str:
    """The parameter ``Km_<reaction>_<metabolite>``: the sheet's K_M of ``sid`` in ``r``."""
    k = f"Km_{r.id.removeprefix('R_')}_{sid.removeprefix('M_')}"
    w.parameter(k, r.km[sid].value, r.km[sid].source)
    return k


def _balanced_kcats(r: EnzymeReaction, keq: Number, equation: str, source: str,
                    forward: bool = False) -> tuple[Number, Number]:
    """kf, kr of ``r`` whose Haldane equilibrium constant is ``keq``, keeping sqrt(kf kr),
    or with ``forward`` the sheet's kf.

    ``equation`` is the 2022 table's; it must have the network's direction. Kept
    sqrt(kf kr) needs as many substrates as products (K_eq without units); with
    ``forward`` a K_eq of ``priors_2019`` (molar) is converted to mM."""
    left, right = (sorted(re.findall(r"M_\w+", side)) for side in equation.split("<=>"))
    if (left, right) != (sorted(r.reactants), sorted(r.products)):
        raise BuildError(f"syn3a builder: {r.id}: the balanced table's equation "
                         f"'{equation}' is not the network's direction")
    dn = sum(r.products.values()) - sum(r.reactants.values())
    if dn and not (forward and source == "priors_2019"):
        raise BuildError(f"syn3a builder: {r.id}: a K_eq of {source} with unequal numbers "
                         "of substrates and products needs forward_equilibria and "
                         "equilibria_from 'priors_2019' (molar)")
    k_mm = keq.value * 1000.0 ** dn  # M^dn -> mM^dn
    km = {s: r.km[s].value for s in (*r.reactants, *r.products)}
    ratio = k_mm * math.prod(km[s] ** n for s, n in r.reactants.items()) / math.prod(
        km[s] ** n for s, n in r.products.items())  # kf / kr
    if forward:
        why = (f"choice forward_equilibria ({source}): kf / (K_eq = {keq.value:g} "
               f"({keq.source}){' in mM' if dn else ''} x the Michaelis constants' ratio; "
               "Haldane)")
        return r.kcat_f, Number(r.kcat_f.value / ratio, "1/s", why)
    mean = math.sqrt(r.kcat_f.value * r.kcat_r.value)
    why = (f"choice balanced_equilibria ({source}): sqrt(kf kr) of {r.kcat_f.source} and "
           f"{r.kcat_r.source}, kf/kr from K_eq = {keq.value:g} ({keq.source}) and the "
           "Michaelis constants (Haldane)")
    return (Number(mean * math.sqrt(ratio), "1/s", why),
            Number(mean / math.sqrt(ratio), "1/s", why))


def _tabulated_mM(t: Tables, sid: str) -> Number:
    """The tabulated intracellular concentration of ``sid`` (``M_<met>``)."""
    met = sid.removeprefix("M_")
    if met not in t.metabolites_mM:
        raise MinimalCellDataError(f"minimal-cell data: {FILES['metabolites']} lacks {met}")
    return t.metabolites_mM[met]


def add_metabolite(w: _Writer, t: Tables, sid: str, count_per_mM: float) -> None:
    """Species ``sid`` (``M_<met>``) at its tabulated concentration, as a count."""
    n = _tabulated_mM(t, sid)
    w.species(sid, n.value * count_per_mM, f"{n.source} x count_per_mM at birth")


def _inside(side: Mapping[str, float], held: set[str]) -> dict[str, float]:
    """The intracellular species of ``side`` that change (not the medium, not ``held``)."""
    return {s: n for s, n in side.items() if not s.endswith("_e") and s not in held}


def _medium_of(r) -> list[str]:
    return [s for s in list(r.reactants) + list(r.products) if s.endswith("_e")]


def _binding_law(w: _Writer, b: BindingReaction, conc) -> str:
    name = b.id.removeprefix("R_")
    ids = {}
    for key, n in b.params.items():
        ids[key] = f"{key}_{name}"
        w.parameter(ids[key], n.value, n.source)
    role = {k: conc(v) for k, v in b.roles.items()}
    if b.law == "mass_action":
        rate = (f"{ids['kcatF']} * {role['Sub1']} * {role['Sub2']} - "
                f"{ids['kcatR']} * {role['Prod1']} * {role['Prod2']}")
    elif b.law == "passive":
        rate = f"{ids['P_R']} * ({role['Sub1']} - {role['Prod1']}) * 3.0 / {ids['Radius']}"
    else:
        rate = ids["K_uptake"]
    return f"({rate}) * count_per_mM"


def lipid_area(w: _Writer, t: Tables, inside: list[str]) -> None:
    """``lipid_area_nm2``: the membrane area the lipids cover (half their head-group area:
    two leaflets)."""
    terms = []
    for abbrev, met in LIPIDS.items():
        if f"M_{met}" in inside and abbrev in t.lipid_area_nm2:
            terms.append(f"M_{met} * {real(t.lipid_area_nm2[abbrev].value)}")
    if terms:
        w.rule("lipid_area_nm2", "(" + " + ".join(terms) + ") / 2.0")
