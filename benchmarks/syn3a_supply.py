"""Can the syn3A metabolism supply what gene expression takes? Metabolism alone, with
the coupled cell's uses added as constant drains.

    python benchmarks/syn3a_supply.py [--data ../shared/minimal-cell] [--minutes 60]

The metabolism stage (`build_metabolism_sbml`, enzymes fixed at birth) gets extra
reactions at the rates one coupled cell showed at 240 s (benchmarks/syn3a_coupled.py,
the rates at the reported state):

- translation: 5,766 GTP -> GDP + Pi and 2,883 ATP -> AMP + PPi per second, and
  2,883 amino acids per second (an equal share of each of the 20);
- transcription: 607 ATP, 260 GTP, 478 UTP and 189 CTP per second into RNA (-> PPi),
  and mRNA degradation returning 469 AMP, 184 GMP, 361 UMP and 130 CMP per second.

Each drain is ``rate * s / (s + 100)`` on its substrate's count ``s``, so it stops at
an empty pool instead of driving it negative. Each case runs 0 to ``--minutes``
(rodas5, rtol 1e-4, atol 1e-2) three times, each with the sheet's phosphate uptake
(``modular_laws=()``): with the builder's default (the pentose
phosphate reactions at the equilibrium constants collected before the 2022 balancing,
`Choices.equilibria_from`), with the 2022 balanced ones, and with the sheet's kcats for
them. It reports ATP, GTP, UTP, CTP, Pi, PPi, NAD, NADH, glucose 6-phosphate, ribose
5-phosphate, PRPP, uracil and uridine (mM). Writes the block ``syn3a-supply`` of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import libsbml
import numpy as np

import wholecell as wc
from benchmarks._common import machine, versions, write_section
from wholecell.models.syn3a import Choices, build_metabolism_sbml, default_folder

AMINO_ACIDS = ("ala__L", "arg__L", "asn__L", "asp__L", "cys__L", "gln__L", "glu__L", "gly",
               "his__L", "ile__L", "leu__L", "lys__L", "met__L", "phe__L", "pro__L",
               "ser__L", "thr__L", "trp__L", "tyr__L", "val__L")
TRANSLATION = [("tl_gtp", {"gtp": 1}, {"gdp": 1, "pi": 1}, 5766.0),
               ("tl_atp", {"atp": 1}, {"amp": 1, "ppi": 1}, 2883.0)]
AMINO = [(f"tl_{a}", {a: 1}, {}, 2883.0 / 20) for a in AMINO_ACIDS]
TRANSCRIPTION = [(f"tx_{n}", {n: 1}, {"ppi": 1}, r)
                 for n, r in (("atp", 607.0), ("gtp", 260.0), ("utp", 478.0), ("ctp", 189.0))]
DEGRADATION = [(f"deg_{n}", {}, {n: 1}, r)
               for n, r in (("amp", 469.0), ("gmp", 184.0), ("ump", 361.0), ("cmp", 130.0))]
CASES = {
    "none": [],
    "translation (energy)": TRANSLATION,
    "translation (energy and amino acids)": TRANSLATION + AMINO,
    "translation + transcription - degradation": TRANSLATION + AMINO + TRANSCRIPTION
    + DEGRADATION,
}
SHOWN = ("atp", "gtp", "utp", "ctp", "pi", "ppi", "nad", "nadh", "g6p", "r5p", "prpp", "ura",
         "uri")
#: the study compares the pentose phosphate choices with the sheet's phosphate uptake
#: (it was made before `Choices.modular_laws` became the default)
SHEET_PI = {"modular_laws": ()}
PPP = {"priors": Choices(**SHEET_PI),
       "balanced": Choices(equilibria_from="balanced_2022", **SHEET_PI),
       "sheet": Choices(balanced_equilibria=(), **SHEET_PI)}


def with_drains(text: str, drains) -> str:
    """The SBML ``text`` with each (id, uses, makes, rate) as a reaction."""
    doc = libsbml.readSBMLFromString(text)
    model = doc.getModel()
    for rid, uses, makes, rate in drains:
        r = model.createReaction()
        r.setId(f"drain_{rid}")
        r.setReversible(False)
        for side, add in ((uses, r.createReactant), (makes, r.createProduct)):
            for met, n in side.items():
                ref = add()
                ref.setSpecies(f"M_{met}_c")
                ref.setStoichiometry(n)
                ref.setConstant(True)
        s = f"M_{next(iter(uses))}_c" if uses else None
        law = f"{rate!r} * {s} / ({s} + 100.0)" if s else repr(rate)
        r.createKineticLaw().setMath(libsbml.parseL3Formula(law))
    return libsbml.writeSBMLToString(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_folder())
    ap.add_argument("--minutes", type=float, default=60.0)
    args = ap.parse_args()
    times = np.array([0.0, 5.0, 20.0, 40.0, args.minutes]) * 60
    rows = []
    for ppp, choices in PPP.items():
        base = build_metabolism_sbml(args.data, choices=choices)
        for name, drains in CASES.items():
            r = wc.simulate(wc.load_sbml(with_drains(base, drains)), times, solver="rodas5",
                            rtol=1e-4, atol=1e-2, throw=False)
            mm = np.asarray(r["mM_per_count"])
            for k, t in enumerate(times):
                rows.append(f"| {ppp} | {name} | {t / 60:g} | " + " | ".join(
                    f"{float(np.asarray(r[f'M_{m}_c'])[k] * mm[k]):.3g}" for m in SHOWN)
                    + " |")
    lines = [
        f"`python benchmarks/syn3a_supply.py --minutes {args.minutes:g}` "
        f"({time.strftime('%Y-%m-%d %H:%M')}; {machine()}; {versions()}).",
        "",
        "Metabolism alone (enzymes fixed at birth) with the coupled cell's uses as constant "
        "drains (see the script): concentrations in mM. `pentose phosphate` (TALA, TKT1, "
        "TKT2, RPE, RPI): priors = the builder's default (the equilibrium constants "
        "collected before the 2022 balancing), balanced = the 2022 balanced ones, sheet = "
        "the complex-formation sheet's kcats.",
        "",
        "| pentose phosphate | drains | min | " + " | ".join(m.upper() for m in SHOWN) + " |",
        "|---|---|---" + "|---" * len(SHOWN) + "|",
        *rows,
    ]
    text = "\n".join(lines)
    print(text)
    write_section("syn3a-supply", text)


if __name__ == "__main__":
    main()
