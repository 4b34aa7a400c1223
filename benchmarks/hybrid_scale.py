"""The hybrid engine at whole-cell scale (issue 21): SSA firings per second of wall time.

    python benchmarks/hybrid_scale.py [--genes 50,200,500] [--cells 8] [--t-end 300]
        [--before-rev REV] [--t-before 20] [--repeats 2] [--write]

A generated gene-expression model with N genes (`gene_expression_sbml`): per gene,
transcription (NTP -> M_i, at k_tx,i NTP / (K + NTP)), translation (M_i -> M_i + P_i),
mRNA decay and protein decay, all stochastic; the NTP pool is an ODE species, made by
a slow zero-order reaction and used by a slow first-order one (both ODE). Every
stochastic reaction also makes one ``EV`` (read by no rate law): its final amount is the
number of firings, counted the same way in every simulator.

Simulators, each on ``--cells`` cells from 0 to ``--t-end`` (one call, the cells in one
batch):
- ``after``: this tree's ``wc.simulate(..., method="hybrid", communication_step=1)``
  (all the firings of an ODE step in one inner SSA loop);
- ``before``: the same call on the tree at ``--before-rev`` (one firing per ODE step),
  run to ``--t-before`` only (a rate is compared, and it is slow);
- GillesPy2's ``SSACSolver`` (C++, built once, not timed) on the same model with the two
  ODE reactions removed (NTP then changes only by transcription, 0.3-1.5% of it over
  the run), ``--cells`` trajectories.
Each wholecell run is a fresh process (the ``before`` tree cannot share one with this
one); its first call (compile + run) and a second call (run) are timed, compile time =
first - second. Firings per second = EV at the end, summed over the cells / run time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

import numpy as np  # noqa: E402

from benchmarks._common import header, table, write_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
#: per-gene rates (1/s): translation per mRNA, mRNA decay, protein decay (dilution)
K_TL, D_M, D_P = 0.5, 0.05, 2e-3
#: NTP pool (molecules): initial amount, half-saturation, ODE synthesis (1/s) and use
NTP0, K_NTP, V_SYN, K_USE = 1.0e6, 1.0e5, 1.0e3, 1.0e-3


def gene_rates(n: int, seed: int = 0) -> np.ndarray:
    """Transcription rate constants, log-uniform over [0.01, 0.1] per second."""
    return np.exp(np.random.default_rng(seed).uniform(np.log(0.01), np.log(0.1), n))


def reactions(n: int, ode: bool = True):
    """(id, reactants, products, rate law as text, stochastic) of the model."""
    out = []
    for i in range(n):
        out += [
            (f"tx{i}", {"NTP": 1}, {f"M{i}": 1, "EV": 1}, f"ktx{i} * NTP / (K_NTP + NTP)", True),
            (f"tl{i}", {f"M{i}": 1}, {f"M{i}": 1, f"P{i}": 1, "EV": 1}, f"k_tl * M{i}", True),
            (f"dm{i}", {f"M{i}": 1}, {"EV": 1}, f"d_m * M{i}", True),
            (f"dp{i}", {f"P{i}": 1}, {"EV": 1}, f"d_p * P{i}", True),
        ]
    if ode:
        out += [("ntp_syn", {}, {"NTP": 1}, "v_syn", False),
                ("ntp_use", {"NTP": 1}, {}, "k_use * NTP", False)]
    return out


def species(n: int) -> dict[str, float]:
    """Initial amounts: mRNA at zero, protein near its mean."""
    k = gene_rates(n)
    sp = {"NTP": NTP0, "EV": 0.0}
    for i in range(n):
        sp[f"M{i}"] = 0.0
        sp[f"P{i}"] = float(np.round(k[i] * 0.9 * K_TL / (D_M * D_P)))
    return sp


def parameters(n: int) -> dict[str, float]:
    p = {"k_tl": K_TL, "d_m": D_M, "d_p": D_P, "K_NTP": K_NTP, "v_syn": V_SYN, "k_use": K_USE}
    p.update({f"ktx{i}": float(v) for i, v in enumerate(gene_rates(n))})
    return p


def _mathml(law: str) -> str:
    """The few rate-law forms of `reactions` as MathML."""
    ci = "".join
    if " / " in law:  # k * S / (K + S)
        num, den = law.split(" / ")
        k, s = (t.strip() for t in num.split("*"))
        kk, ss = (t.strip(" ()") for t in den.split("+"))
        return (f"<apply><divide/><apply><times/><ci>{k}</ci><ci>{s}</ci></apply>"
                f"<apply><plus/><ci>{kk}</ci><ci>{ss}</ci></apply></apply>")
    terms = [t.strip() for t in law.split("*")]
    if len(terms) == 1:
        return f"<ci>{terms[0]}</ci>"
    return "<apply><times/>" + ci(f"<ci>{t}</ci>" for t in terms) + "</apply>"


def gene_expression_sbml(n: int) -> str:
    """The model with ``n`` genes as SBML L3V2 (amounts, one compartment of size 1)."""
    def refs(d):
        return "".join(f'<speciesReference species="{s}" stoichiometry="{k}" constant="true"/>'
                       for s, k in d.items())

    sp = "".join(
        f'<species id="{s}" compartment="cell" initialAmount="{v!r}" hasOnlySubstanceUnits='
        '"true" boundaryCondition="false" constant="false"/>' for s, v in species(n).items()
    )
    ps = "".join(f'<parameter id="{k}" value="{v!r}" constant="true"/>'
                 for k, v in parameters(n).items())
    rx = ""
    for rid, reac, prod, law, _ in reactions(n):
        rx += f'<reaction id="{rid}" reversible="false">'
        rx += f"<listOfReactants>{refs(reac)}</listOfReactants>" if reac else ""
        rx += f"<listOfProducts>{refs(prod)}</listOfProducts>" if prod else ""
        rx += ('<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">'
               f"{_mathml(law)}</math></kineticLaw></reaction>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<sbml xmlns="http://www.sbml.org/sbml/level3/'
        'version2/core" level="3" version="2"><model id="gene_expression">'
        '<listOfCompartments><compartment id="cell" size="1" constant="true"/>'
        f"</listOfCompartments><listOfSpecies>{sp}</listOfSpecies><listOfParameters>{ps}"
        f"</listOfParameters><listOfReactions>{rx}</listOfReactions></model></sbml>"
    )


# -- one wholecell measurement, in a process of its own ------------------------------------

_WORKER = """
import json, sys, time
import numpy as np
import wholecell as wc
from benchmarks.hybrid_scale import gene_expression_sbml, reactions
n, cells, t_end = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
model = wc.load_sbml(gene_expression_sbml(n))
stoch = [r[0] for r in reactions(n) if r[4]]
ts = np.linspace(0.0, t_end, 11)
def run(seed):
    t = time.perf_counter()
    res = wc.simulate(model, ts, method="hybrid", stochastic=stoch, n=cells, seed=seed,
                      communication_step=1.0, max_steps=10_000_000, progress=False)
    return time.perf_counter() - t, res
first, _ = run(0)
times, firings, p0 = [], [], []
for seed in range(1, 1 + int(sys.argv[4])):
    dt, res = run(seed)
    times.append(dt)
    firings.append(float(np.sum(res.amount("EV")[:, -1])))
    p0.append(res.amount("P0")[:, -1].tolist())
print(json.dumps({"first": first, "times": times, "firings": firings, "P0": p0}))
"""


def wholecell_worker(tree: Path, n: int, cells: int, t_end: float, repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{ROOT}")
    # the benchmark module comes from this tree, wholecell from ``tree``
    out = subprocess.run([sys.executable, "-c", _WORKER, str(n), str(cells), str(t_end),
                          str(repeats)], env=env, capture_output=True, text=True, cwd=ROOT)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def checkout(rev: str, where: Path) -> Path:
    """The ``wholecell`` package of ``rev`` extracted under ``where``."""
    data = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "wholecell"],
                          capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=data, check=True)
    return where


class GillesPy2:
    def __init__(self, n: int, t_end: float):
        import gillespy2

        # GillesPy2 runs SCons with the resolved interpreter; put the environment's
        # `scons` script on PATH (as benchmarks/ssa.py does)
        bindir = str(Path(sys.executable).parent)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        m = gillespy2.Model(name=f"gene_expression_{n}")
        m.add_parameter([gillespy2.Parameter(name=k, expression=repr(v))
                         for k, v in parameters(n).items()])
        m.add_species([gillespy2.Species(name=s, initial_value=int(v), mode="discrete")
                       for s, v in species(n).items()])
        m.add_reaction([gillespy2.Reaction(name=rid, reactants=reac, products=prod,
                                           propensity_function=law)
                        for rid, reac, prod, law, stoch in reactions(n, ode=False)])
        m.timespan(np.linspace(0.0, t_end, 11))
        self.model = m
        self.solver = gillespy2.SSACSolver(model=m)  # builds the C++ (untimed)

    def run(self, cells: int, seed: int) -> tuple[float, float, list]:
        t = time.perf_counter()
        res = self.model.run(solver=self.solver, number_of_trajectories=cells, seed=seed + 1)
        dt = time.perf_counter() - t
        return dt, float(sum(traj["EV"][-1] for traj in res)), [traj["P0"][-1] for traj in res]


def measure(n: int, cells: int, t_end: float, t_before: float, before: Path | None,
            repeats: int) -> list[dict]:
    rows = []
    print(f"== {n} genes: after", file=sys.stderr, flush=True)
    after = wholecell_worker(ROOT, n, cells, t_end, repeats)
    runs = {"wholecell hybrid (inner SSA loop)": (after, t_end)}
    if before is not None:
        print(f"== {n} genes: before", file=sys.stderr, flush=True)
        runs["wholecell hybrid (one firing per ODE step)"] = (
            wholecell_worker(before, n, cells, t_before, repeats), t_before)
    for name, (r, span) in runs.items():
        run_time = statistics.median(r["times"])
        fired = statistics.median(r["firings"])
        rows.append({"genes": n, "simulator": name, "cells": cells, "model time": span,
                     "firings": fired, "run (s)": run_time, "compile (s)": r["first"] - run_time,
                     "firings/s": fired / run_time})
    print(f"== {n} genes: GillesPy2", file=sys.stderr, flush=True)
    tic = time.perf_counter()
    g = GillesPy2(n, t_end)
    build = time.perf_counter() - tic
    got = [g.run(cells, seed) for seed in range(repeats)]
    run_time = statistics.median(x[0] for x in got)
    fired = statistics.median(x[1] for x in got)
    rows.append({"genes": n, "simulator": "GillesPy2 SSACSolver (ODE reactions removed)",
                 "cells": cells, "model time": t_end, "firings": fired, "run (s)": run_time,
                 "compile (s)": build, "firings/s": fired / run_time})
    ref = rows[0]["firings/s"]
    for r in rows:
        r["after / this"] = ref / r["firings/s"]
    # the same law: protein 0 at the end, pooled over repeats
    ours = np.concatenate([np.ravel(p) for p in after["P0"]])
    theirs = np.concatenate([np.ravel(x[2]) for x in got])
    se = np.sqrt(ours.var(ddof=1) / ours.size + theirs.var(ddof=1) / theirs.size)
    rows[0]["note"] = f"P0 at the end: mean {ours.mean():.1f} vs GillesPy2 {theirs.mean():.1f}" \
                      f" (z {abs(ours.mean() - theirs.mean()) / se:.1f})"
    return rows


COLUMNS = ["genes", "simulator", "cells", "model time", "firings", "run (s)", "compile (s)",
           "firings/s", "after / this", "note"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--genes", default="50,200,500")
    ap.add_argument("--cells", type=int, default=8)
    ap.add_argument("--t-end", type=float, default=300.0)
    ap.add_argument("--t-before", type=float, default=20.0)
    ap.add_argument("--before-rev", default=None,
                    help="git revision with one firing per ODE step (omit: not measured)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="write the block to RESULTS.md")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        before = checkout(args.before_rev, Path(tmp)) if args.before_rev else None
        for n in (int(g) for g in args.genes.split(",")):
            rows += measure(n, args.cells, args.t_end, args.t_before, before, args.repeats)
            print(table(rows, COLUMNS), flush=True)
    notes = (
        f"`python benchmarks/hybrid_scale.py --genes {args.genes} --cells {args.cells} "
        f"--t-end {args.t_end:g} --t-before {args.t_before:g}"
        + (f" --before-rev {args.before_rev}" if args.before_rev else "")
        + f" --repeats {args.repeats} --write`, on the CPU. "
        "The model (see the script): N genes with transcription, translation, mRNA decay "
        "and protein decay, each stochastic (4N reactions, about 1.1 firings per gene and "
        "second), transcription reading and using an NTP pool that two slow ODE reactions "
        "make and use. `firings/s` = stochastic firings (all cells) per second of run "
        "time (the median of the repeats after a first, compiling call); `compile (s)` = "
        "first call - run time (GillesPy2: the C++ build). `after / this` = the inner-loop "
        "hybrid's firings/s over that row's. Each wholecell row ran in its own process; "
        "the machine is shared, so the ratios carry its noise."
    )
    text = header("Hybrid SSA/ODE at whole-cell scale (issue 21)", notes) + "\n" + \
        table(rows, COLUMNS)
    print(text)
    if args.write:
        write_section("hybrid-scale", text)


if __name__ == "__main__":
    main()
