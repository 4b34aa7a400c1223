"""Step 2 of the minimal cell: metabolism alone as ODEs, with the enzymes fixed at birth.

    python benchmarks/syn3a_metabolism.py [--data ../shared/minimal-cell] [--minutes 105]

Builds `wholecell.models.syn3a.build_metabolism_sbml` from the published tables, integrates
it over one cycle (default 105 min, the measured doubling time) at the birth volume, and
reports the checks of the model's path:

- the time-averaged NTPs beside the published whole-cell figures (which include the
  consumption by gene expression that this stage lacks);
- the time the lipids' membrane area takes to double (the target is ~100 min);
- a flux sanity check against flux balance analysis (`wc.fba`) of the same published
  network: fluxes relative to glucose uptake, averaged after the first 10 minutes, and
  the share of reactions carrying flux in both whose direction agrees.

Timings: build, load + compile, the first run (with JIT) and a second run. Writes the block
``syn3a-metabolism`` of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import wholecell as wc
from benchmarks._common import machine, versions, write_section
from wholecell.models.syn3a import build_metabolism_sbml, default_folder
from wholecell.models.syn3a._metabolic_tables import METABOLISM_FILES

PUBLISHED_MM = {"atp": "~5.7", "gtp": "~4.2", "utp": "~0.4", "ctp": "-"}
#: reactions compared with FBA, relative to glucose uptake (PTS in the kinetic model)
COMPARED = ("R_PGI", "R_PFK", "R_GAPD", "R_PYK", "R_LDH_L", "R_L_LACt2r", "R_ATPase")


def kinetic_fluxes(sim, r, times) -> dict[str, np.ndarray]:
    """Every reaction's rate (molecules/s) at the output times, from the recorded state."""
    x = jnp.asarray(np.stack([np.asarray(r[s]) for s in sim.state_ids], axis=1))
    rates = jax.vmap(lambda t, xi: sim.rates(xi, t=t))(jnp.asarray(times), x)
    return dict(zip(sim.structure.reaction_ids, np.asarray(rates).T, strict=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_folder())
    ap.add_argument("--minutes", type=float, default=105.0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    text = build_metabolism_sbml(args.data)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim = wc.compile(wc.load_sbml(text))
    t_compile = time.perf_counter() - t0
    times = np.linspace(0.0, args.minutes * 60, int(args.minutes) * 2 + 1)
    t0 = time.perf_counter()
    r = wc.simulate(sim, times, max_steps=1_000_000)
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    r = wc.simulate(sim, times, max_steps=1_000_000)
    t_second = time.perf_counter() - t0

    mm = np.asarray(r["mM_per_count"])
    ntp = {m: float(np.mean(np.asarray(r[f"M_{m}_c"]) * mm)) for m in PUBLISHED_MM}
    start = {m: float(np.asarray(r[f"M_{m}_c"])[0] * mm[0]) for m in PUBLISHED_MM}
    end = {m: float(np.asarray(r[f"M_{m}_c"])[-1] * mm[-1]) for m in PUBLISHED_MM}
    area = np.asarray(r["lipid_area_nm2"])
    doubled = np.nonzero(area >= 2 * area[0])[0]
    if doubled.size:
        doubling = f"{np.interp(2 * area[0], area, times) / 60:.1f} min"
    else:  # extrapolate the last 10 minutes' slope
        k = times >= times[-1] - 600
        slope = np.polyfit(times[k], area[k], 1)[0]
        doubling = (f"{(times[-1] + (2 * area[0] - area[-1]) / slope) / 60:.1f} min "
                    f"(extrapolated; {area[-1] / area[0]:.3f}x at {args.minutes:g} min)")

    v = kinetic_fluxes(sim, r, times)
    late = times >= 600
    mean_v = {k: float(np.mean(val[late])) for k, val in v.items()}
    glc = mean_v["R_GLCpts4"]
    network = wc.load_sbml(args.data / METABOLISM_FILES["network"])
    f = wc.fba(network)
    glc_fba = f.fluxes["R_GLCpts"]
    shared = [k for k in mean_v if k in f.fluxes]
    carrying = [k for k in shared if abs(mean_v[k]) > 0.01 * abs(glc)
                and abs(f.fluxes[k]) > 0.01 * abs(glc_fba)]
    agree = sum(np.sign(mean_v[k]) == np.sign(f.fluxes[k]) for k in carrying)
    disagree = [k for k in carrying if np.sign(mean_v[k]) != np.sign(f.fluxes[k])]

    lines = [
        f"`python benchmarks/syn3a_metabolism.py` ({time.strftime('%Y-%m-%d %H:%M')}; "
        f"{machine()}; {versions()}).",
        "",
        f"Metabolism alone (step 2 of models/syn3a/README.md): {len(sim.state_ids)} states "
        f"({sum(1 for s in sim.state_ids if s.endswith('_e'))} of them the fixed medium), "
        f"{len(v)} reactions; enzymes fixed at their counts at birth, the birth volume, "
        f"0-{args.minutes:g} min, solver {r.solver}.",
        "",
        "| step | seconds |",
        "|---|---|",
        f"| build the SBML from the tables | {t_build:.2f} |",
        f"| load + compile | {t_compile:.2f} |",
        f"| first run (with JIT) | {t_first:.1f} |",
        f"| second run | {t_second:.1f} |",
        "",
        "| pool | start (mM) | time average (mM) | end (mM) | published (whole cell) |",
        "|---|---|---|---|---|",
        *[f"| {m.upper()} | {start[m]:.2f} | {ntp[m]:.2f} | {end[m]:.2f} | {PUBLISHED_MM[m]} |"
          for m in PUBLISHED_MM],
        "",
        f"Lipid membrane area doubles at: {doubling} (target ~100 min; measured doubling "
        "105 min).",
        "",
        f"Flux sanity check against `wc.fba` on {METABOLISM_FILES['network']} (its own "
        f"objective, {f.objective_value:.3f}); fluxes per glucose taken up (kinetic: mean "
        "after 10 min):",
        "",
        "| reaction | kinetic / glucose | FBA / glucose |",
        "|---|---|---|",
        *[f"| {k} | {mean_v[k] / glc:.3f} | {f.fluxes[k] / glc_fba:.3f} |"
          for k in COMPARED if k in mean_v and k in f.fluxes],
        "",
        f"Reactions carrying flux in both (> 1 % of glucose uptake): {len(carrying)} of "
        f"{len(shared)} shared; the direction agrees for {agree}"
        + (f" (not: {', '.join(sorted(disagree))})" if disagree else "") + ".",
        "",
        "Without gene expression nothing consumes the NTPs, amino acids and dNTPs, so pools "
        "that feed polymerisation rise through the cycle; the published averages come from "
        "the coupled whole cell (step 3, not built).",
    ]
    text = "\n".join(lines)
    print(text)
    write_section("syn3a-metabolism", text)


if __name__ == "__main__":
    main()
