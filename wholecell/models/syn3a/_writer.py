"""The SBML writer the syn3A builders share, their choices and their error.

`_Writer` wraps a libsbml model with helpers that annotate each number with its source
(``wc:source``); `Choices` holds the values the builders use where the tables differ from
the published simulations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import libsbml

from ..._errors import WholecellError

#: the namespace of the builder's annotations
NS = "https://wholecell.dev/sbml/source"
#: membrane lipids: table abbreviation -> metabolite id
LIPIDS = {"CHOL": "chsterol_c", "SM": "sm_c", "CL": "clpn_c", "PG": "pg_c", "PC": "pc_c",
          "GAL_DAG": "galfur12dgr_c"}


class BuildError(WholecellError, ValueError):
    """The tables do not make a model (a gene without counts, an empty complex, ...)."""


#: the non-oxidative pentose phosphate reactions (`Choices.balanced_equilibria`)
PENTOSE_PHOSPHATE = ("TALA", "TKT1", "TKT2", "RPE", "RPI")
#: glycolytic reactions whose sheet kcats imply equilibria far from the collected ones
#: (`Choices.forward_equilibria`)
GLYCOLYSIS_EQUILIBRIA = ("GAPD", "TPI", "PGM")
#: phosphate uptake (`Choices.modular_laws`)
PHOSPHATE_UPTAKE = ("PIabc",)
#: the nucleoside ABC transporters (`Choices.fixed_uptakes`)
NUCLEOSIDE_UPTAKES = ("ADNabc", "DADNabc", "GSNabc", "DGSNabc", "URIabc", "THMDabc",
                      "DCYTabc")


@dataclass(frozen=True)
class Choices:
    """Values the builder uses where the tables differ from the published simulations.

    Attributes:
        ribosome_binding: M^-1 s^-1; the Gene_Expression sheet says 8.9e5, the published
            simulations use 8.9e4 (the sheet's value is 10x too large).
        degradosome_binding: M^-1 s^-1; sheet 1.4e5, published simulations 1.4e4.
        dnaa_kon, dnaa_koff: DnaA on ssDNA (M^-1 s^-1, s^-1); the sheet's 1.4e5 / 0.42
            initiates in about a minute, the slower 1e5 / 0.55 gives the published ~5 min.
        filament_length: DnaA on the unwound oriC ssDNA when the replisome loads.
        charged_trna_mM: each charged tRNA pool, held fixed where tRNAs are not charged
            (step 1, or ``trna_charging=False``; the translation law's K_D is 1e-3 mM, so
            translation runs at ~91 % of kcat).
        trna_charging: in the coupled cell, each amino acid's tRNAs are species, charged
            by its synthetase (the tRNA_Charging sheet, `wholecell.models.syn3a._charging`)
            from the amino acid and ATP, used by translation and returned uncharged; the
            tRNA genes' transcripts add to them, and where the network formylates
            Met-tRNA each protein starts with an fMet-tRNA. At birth they are the 2022
            spatial model's example concentrations (~0.1 mM charged, ~0.1 mM uncharged
            each). False (the default, until its cycle is measured; models/syn3a/README.md):
            translation reads the fixed ``charged_trna_mM`` pools and takes the amino
            acids and one ATP -> AMP + PPi per residue itself.
        lipid_doubling_min: the lipid pool's doubling time: the one rate that sets growth
            in this stage (default the measured doubling, 105 min).
        radius_nm: the cell's radius at birth (Cell 2022: 200 nm); it fixes the area per
            membrane protein so that the surface area at birth is that sphere's.
        default_enzyme_count: the enzyme count of the reactions whose kinetic sheet names
            no gene (``default``: NOX, TALA, PAPA); not tabulated. None: the median
            protein count of the proteome (125 in the published tables).
        pts_phosphorylated: the phosphorylated share of each PTS carrier at birth (the
            well-stirred model's protein_metabolites_frac.csv gives 0.95 for ptsI, ptsH
            and crr; ptsG, not listed there, takes the same).
        balanced_equilibria: reactions whose forward and reverse kcat are set so that
            the convenience law's equilibrium constant (Haldane: kf/kr times the
            products' over the substrates' Michaelis constants) is a tabulated one
            (`equilibria_from`), keeping sqrt(kf kr). The sheet's values for the
            non-oxidative pentose phosphate reactions imply equilibria ~1e4 towards
            ribose 5-phosphate, which pile pentoses and PRPP up, trap the phosphate and
            block nucleoside salvage. None: those of `PENTOSE_PHOSPHATE` in the
            network; empty: the sheet's kcats everywhere.
        equilibria_from: ``priors_2019``: the equilibrium constants collected before
            the 2022 parameter balancing (2 F6P + G3P -> 3 R5P: K = 8.9e-4), with which
            ribose 5-phosphate comes from glycolysis as in the 2022 spatial model's
            fluxes; ``balanced_2022``: the balanced ones (K = 6.6e-11), with which no
            ribose comes from glucose, PRPP runs short and uracil salvage lags uridine
            uptake.
        forward_equilibria: reactions set to a tabulated equilibrium constant
            (`equilibria_from`, converted from M to mM where substrates and products
            differ in number) keeping the sheet's forward kcat, the reverse one from
            Haldane. The sheet's kcats give GAPD a K_eq of 1.18 mM^-1 against the
            collected 1.2e-4 mM^-1 (TPI 12.4 against 0.11, PGM 3.44 against 0.18), so
            that GAPD pumps phosphate into 1,3-bisphosphoglycerate (~250 mM in the
            coupled cell). `GLYCOLYSIS_EQUILIBRIA` names the three. Empty (the
            default): the sheet's kcats.
        fixed_metabolites: intracellular metabolites held at their tabulated
            concentration and left out of the stoichiometry. O2: the 2022 model holds it
            fixed (its global parameter "O2 Concentration"), and the network's O2
            transport has no kinetics in the tables; a dynamic O2 is used up by NADH
            oxidase in the first minute, after which only lactate dehydrogenase
            reoxidises NADH. In the coupled cell gene expression neither makes nor takes
            a held metabolite; one its laws read (the NTPs, ATP, GTP, amino acids) cannot
            be held (BuildError).
        fixed_uptakes: transport reactions that run at the 2022 well-stirred model's
            fixed uptake rates (mM/s per cell volume, its transport table's ``Krate``)
            instead of the complex-formation sheet's convenience kinetics, each times
            the saturation ``s / (s + K_M)`` of its intracellular substrates (the sheet's
            K_M: ATP for the ABC transporters) so that an empty pool stops it.
            `NUCLEOSIDE_UPTAKES` names the nucleoside transporters: the sheet gives them
            one rnsBACD count and kcats of 0.5-1.5/s, so guanosine comes in at ~70-100/s
            (GTP runs out at 60-70 min in the coupled cell) and the deoxynucleosides at
            ~405/s (the dNTPs pile up to 3-9 mM). Empty (the default): the sheet's
            kinetics everywhere (models/syn3a/README.md says why it stays the default).
        modular_laws: reactions that follow the 2022 well-stirred model's balanced
            nucleotide table (Nucleotide_Kinetic_Parameters.tsv): common modular
            kinetics with its fixed enzyme concentration, kcat, K_eq and Michaelis
            constants, and the medium concentrations it was balanced with. ``PIabc``:
            phosphate uptake is slowed by its product, (1 + (Pi/0.1 mM)^2) in the
            denominator, where the sheet's irreversible law takes ~4,100 Pi/s whatever
            the cell holds. None (the default): those of `PHOSPHATE_UPTAKE` in the
            network; empty: the sheet's kinetics everywhere.
        new_protein_forms: in the coupled cell, each translation of a protein that the
            network holds as metabolite forms (Protein_Metabolites.csv: the PTS carriers
            ptsI, ptsH, crr and ptsG, ACP, thioredoxin, the PdhC lipoyl domain) also makes
            one molecule of its first listed form (unphosphorylated, apo), so that their
            total follows the live protein count as the enzymes of the rate laws do.
            False: the forms keep their birth totals; glucose uptake through the PTS
            then stays at its birth rate while glycolysis grows with the proteome, and
            the cell lives on a store of glycolytic intermediates until, near 120
            minutes, glycolysis stops (models/syn3a/README.md).
    """

    ribosome_binding: float = 8.9e4
    degradosome_binding: float = 1.4e4
    dnaa_kon: float = 1e5
    dnaa_koff: float = 0.55
    filament_length: int = 30
    charged_trna_mM: float = 0.01
    trna_charging: bool = False
    lipid_doubling_min: float = 105.0
    radius_nm: float = 200.0
    default_enzyme_count: float | None = None
    pts_phosphorylated: float = 0.95
    balanced_equilibria: tuple[str, ...] | None = None
    equilibria_from: str = "priors_2019"
    forward_equilibria: tuple[str, ...] = ()
    fixed_metabolites: tuple[str, ...] = ("o2",)
    fixed_uptakes: tuple[str, ...] = ()
    modular_laws: tuple[str, ...] | None = None
    new_protein_forms: bool = True

    @property
    def held_species(self) -> frozenset[str]:
        """The species ids (``M_<met>_c``) of `fixed_metabolites`."""
        return frozenset(f"M_{m}_c" for m in self.fixed_metabolites)


class _Writer:
    """A libsbml model with helpers that annotate each number with its source."""

    def __init__(self, model_id: str):
        self.doc = libsbml.SBMLDocument(3, 2)
        self.m = self.doc.createModel()
        self.m.setId(model_id)
        self.m.setTimeUnits("second")
        self.m.setExtentUnits("item")
        self.m.setSubstanceUnits("item")
        self.ids: set[str] = set()
        #: metabolites held at a fixed concentration (`Choices.fixed_metabolites`): no
        #: reaction changes them, and no law or rule may read their (absent) count
        self.held: frozenset[str] = frozenset()

    def _annotate(self, el, source: str | None):
        if source:
            text = source.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            el.setAnnotation(f'<wc:source xmlns:wc="{NS}" from="{text}"/>')

    def compartment(self, ident: str, size: float, constant: bool = True):
        self._new(ident)
        c = self.m.createCompartment()
        c.setId(ident)
        c.setSpatialDimensions(3)
        c.setConstant(constant)
        c.setUnits("litre")
        c.setSize(float(size))
        return c

    def _new(self, ident: str):
        if ident in self.ids:
            raise BuildError(f"syn3a builder: id {ident!r} made twice")
        self.ids.add(ident)

    def parameter(self, ident: str, value: float, source: str | None = None,
                  constant: bool = True, units: str | None = None):
        self._new(ident)
        p = self.m.createParameter()
        p.setId(ident)
        p.setValue(float(value))
        p.setConstant(constant)
        if units:
            p.setUnits(units)
        self._annotate(p, source)
        return p

    def rule(self, ident: str, formula: str, value: float = 0.0):
        self.parameter(ident, value, constant=False)
        self.assign(ident, formula)

    def assign(self, ident: str, formula: str):
        self._check_held(formula, ident)
        r = self.m.createAssignmentRule()
        r.setVariable(ident)
        r.setMath(self._math(formula, ident))

    def species(self, ident: str, amount: float, source: str | None = None):
        self._new(ident)
        s = self.m.createSpecies()
        s.setId(ident)
        s.setCompartment("cell")
        s.setInitialAmount(float(amount))
        s.setHasOnlySubstanceUnits(True)
        s.setBoundaryCondition(False)
        s.setConstant(False)
        self._annotate(s, source)

    def fixed_concentration(self, ident: str, compartment: str, value: float,
                            source: str | None = None):
        """A boundary species held at ``value`` (its symbol reads as the concentration)."""
        self._new(ident)
        s = self.m.createSpecies()
        s.setId(ident)
        s.setCompartment(compartment)
        s.setInitialConcentration(float(value))
        s.setHasOnlySubstanceUnits(False)
        s.setBoundaryCondition(True)
        s.setConstant(True)
        self._annotate(s, source)

    def reaction(self, ident: str, reactants: dict[str, float], products: dict[str, float],
                 law: str, modifiers: Sequence[str] = (), reversible: bool = False):
        self._new(ident)
        self._check_held(law, ident)
        reactants = {s: n for s, n in reactants.items() if s not in self.held}
        products = {s: n for s, n in products.items() if s not in self.held}
        modifiers = [s for s in modifiers if s not in self.held]
        r = self.m.createReaction()
        r.setId(ident)
        r.setReversible(reversible)
        for sid, n in reactants.items():
            _reference(r.createReactant(), sid, n)
        for sid, n in products.items():
            _reference(r.createProduct(), sid, n)
        for sid in dict.fromkeys(modifiers):
            if sid not in reactants and sid not in products:
                r.createModifier().setSpecies(sid)
        r.createKineticLaw().setMath(self._math(law, ident))

    def add_product(self, reaction: str, species: str, n: float, source: str) -> None:
        """One more product of an existing reaction, with the source of the choice."""
        r = self.m.getReaction(reaction)
        if r is None or self.m.getSpecies(species) is None:
            raise BuildError(f"syn3a builder: cannot add {species} to reaction {reaction}: "
                             "one of them is not in the model")
        self._annotate(_reference(r.createProduct(), species, n), source)

    def _check_held(self, formula: str, where: str) -> None:
        read = sorted(self.held & set(re.findall(r"\b\w+\b", formula)))
        if read:
            raise BuildError(f"syn3a builder: choice fixed_metabolites holds {read[0]}, whose "
                             f"count the formula of {where} reads")

    @staticmethod
    def _math(formula: str, where: str):
        ast = libsbml.parseL3Formula(formula)
        if ast is None:
            raise BuildError(f"syn3a builder: formula of {where}: {libsbml.getLastParseL3Error()}")
        return ast

    def text(self) -> str:
        return libsbml.writeSBMLToString(self.doc)


def _reference(ref, species: str, n: float):
    """``ref`` (a new reactant or product of a reaction) for ``n`` of ``species``."""
    ref.setSpecies(species)
    ref.setStoichiometry(n)
    ref.setConstant(True)
    return ref
