"""Step 3 of the minimal cell: metabolism coupled to gene expression, one cell, as far as
it runs.

    python -m benchmarks.syn3a_coupled [--data ../shared/minimal-cell] [--minutes 30]
        [--nucleoside-uptakes-2022 | --fixed-uptakes GSNabc] [--modular-laws PIabc]
        [--hold o2,pi] [--trna-charging] [--save run.npz] [--no-write]

Loads `wc.models.load("syn3a", stage="coupled")` (built from the published tables),
runs one cell with the hybrid method as `simulate_cells` does (metabolism as ODEs,
every other reaction by SSA, 1 s communication step, the firings' metabolite changes
spread over the next step) and reports, each minute until the run ends or fails:
ATP, GTP, UTP and CTP (mM), the proteins made, and the free RNA polymerases and
ribosomes. Also the run's steps, firings and status, and the time to load, compile
and run. Writes the block ``syn3a-coupled`` of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

import wholecell as wc
from benchmarks._common import machine, versions, write_section
from wholecell._status import Status
from wholecell.models.syn3a import NUCLEOSIDE_UPTAKES, Choices, default_folder
from wholecell.models.syn3a._cells import stochastic_reactions

POOLS = ("ATP_mM", "GTP_mM", "UTP_mM", "CTP_mM")
SHOWN = (*POOLS, "protein_total", "RNAP_free", "ribosome_free", "volume_fl")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_folder())
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--nucleoside-uptakes-2022", action="store_true",
                    help="the nucleoside transporters at the 2022 model's fixed rates "
                         "(Choices.fixed_uptakes = NUCLEOSIDE_UPTAKES)")
    ap.add_argument("--fixed-uptakes", default="",
                    help="transporters at the 2022 model's fixed rates, comma-separated "
                         "(Choices.fixed_uptakes; e.g. GSNabc)")
    ap.add_argument("--modular-laws", default=None,
                    help="reactions with the 2022 balanced table's modular law, "
                         "comma-separated, or 'none' (Choices.modular_laws; default "
                         "PIabc)")
    ap.add_argument("--forward-equilibria", default="",
                    help="reactions at the collected equilibrium constant keeping the sheet's "
                         "forward kcat, comma-separated (Choices.forward_equilibria; e.g. "
                         "GAPD,TPI,PGM)")
    ap.add_argument("--hold", default="o2",
                    help="intracellular metabolites held at their tabulated concentration, "
                         "comma-separated (Choices.fixed_metabolites; default o2)")
    ap.add_argument("--trna-charging", action="store_true",
                    help="charge each amino acid's tRNAs by its synthetase "
                         "(Choices.trna_charging; default: fixed charged pools)")
    ap.add_argument("--no-write", action="store_true",
                    help="print the block without writing it to benchmarks/RESULTS.md")
    ap.add_argument("--save", type=Path, default=None,
                    help="also write every value of the result (ids, values) to this .npz")
    args = ap.parse_args()
    os.environ.setdefault("WHOLECELL_MINIMAL_CELL_DATA", str(args.data))

    t0 = time.perf_counter()
    held = tuple(h for h in args.hold.split(",") if h)
    fixed = tuple(f for f in args.fixed_uptakes.split(",") if f)
    choices = Choices(fixed_uptakes=NUCLEOSIDE_UPTAKES if args.nucleoside_uptakes_2022
                      else fixed, fixed_metabolites=held,
                      modular_laws=None if args.modular_laws is None else tuple(
                          m for m in args.modular_laws.split(",") if m and m != "none"),
                      forward_equilibria=tuple(f for f in args.forward_equilibria.split(",") if f),
                      trna_charging=args.trna_charging)
    model = wc.models.load("syn3a", data=args.data, stage="coupled", choices=choices)
    sim = wc.compile(model)
    t_load = time.perf_counter() - t0
    times = np.arange(0.0, args.minutes * 60 + 1, 60.0)
    opts = dict(method="hybrid", n=1, seed=args.seed, stochastic=stochastic_reactions(model),
                solver="rodas5", throw=False, max_steps=1_000_000, rtol=1e-4, atol=1e-2,
                spread=True)
    t0 = time.perf_counter()
    # the same output grid over the first second: compiles the run (times are inputs)
    wc.simulate(sim, times / times[-1], **opts)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = wc.simulate(sim, times, **opts)
    t_run = time.perf_counter() - t0

    if args.save is not None:
        np.savez_compressed(args.save, times=times, ids=np.array(r.ids),
                            values=np.asarray(r.values)[0])
    status = Status(int(r.stats["status"][0])).name
    t_last = float(r.stats["t_last"][0])
    rows = [f"| {t / 60:.0f} | " + " | ".join(
        f"{float(np.asarray(r[k])[0, i]):.3g}" for k in SHOWN) + " |"
        for i, t in enumerate(times) if np.isfinite(np.asarray(r["ATP_mM"])[0, i])]
    lines = [
        f"`python benchmarks/syn3a_coupled.py --minutes {args.minutes:g}"
        + (" --nucleoside-uptakes-2022" if args.nucleoside_uptakes_2022 else "")
        + (f" --fixed-uptakes {args.fixed_uptakes}" if fixed else "")
        + (f" --modular-laws {args.modular_laws}" if args.modular_laws is not None else "")
        + (f" --forward-equilibria {args.forward_equilibria}" if args.forward_equilibria
           else "")
        + (f" --hold {args.hold}" if held != ("o2",) else "")
        + (" --trna-charging" if args.trna_charging else "") + "` "
        f"({time.strftime('%Y-%m-%d %H:%M')}; {machine()}; {versions()}).",
        "",
        f"The coupled cell (step 3 of models/syn3a/README.md): {len(sim.state_ids)} states, "
        f"{len(sim.structure.reaction_ids)} reactions; one cell, hybrid with a 1 s "
        "communication step and spread release, rodas5 at rtol 1e-4, atol 1e-2 molecules.",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| load + compile the model | {t_load:.1f} |",
        f"| the first second of model time (compiles the run) | {t_compile:.1f} |",
        f"| the run, 0 to {t_last / 60:.1f} min of model time | {t_run:.1f} |",
        "",
        f"Run: status {status} at {t_last:.0f} s of {times[-1]:.0f}; "
        f"{int(r.stats['steps'][0])} ODE steps ({int(r.stats['rejected'][0])} rejected), "
        f"{int(r.stats['events'][0])} stochastic firings.",
        "",
        "| min | " + " | ".join(SHOWN) + " |",
        "|---" * (len(SHOWN) + 1) + "|",
        *rows,
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("syn3a-coupled", text)


if __name__ == "__main__":
    main()
