"""Stochastic benchmark of issue 4: 10,000 SSA trajectories, wholecell against its peers.

    python benchmarks/ssa.py [--quick] [--n 10000] [--repeats 3] [--models dimerisation,bursty]

Peers: GillesPy2's compiled SSA solver (`SSACSolver`, C++ built once per model, not
timed) and libRoadRunner's ``gillespie`` integrator (a Python loop of reset + simulate,
one seed per trajectory). wholecell: ``wc.simulate(model, t, method="ssa", n=n, seed=s)``
(the JIT compile of the first call is shown apart). All three alternate in one process;
the medians go into the ``ssa`` block of ``benchmarks/RESULTS.md``.

Models: the DSMTS dimerisation case (SBML Test Suite stochastic case 00030, 2P <-> P2,
100 molecules, 0-50) and a bursty gene-expression (telegraph) model written below: a gene
switching on and off, mRNA made in bursts while it is on, protein from mRNA.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

import numpy as np  # noqa: E402

import wholecell as wc  # noqa: E402
from benchmarks._common import alternate, header, table, write_section  # noqa: E402

SUITE = Path(__file__).resolve().parent.parent.parent / "shared" / "sbml-test-suite" / "stochastic"
TESTS_COPY = Path(__file__).resolve().parent.parent / "tests" / "data" / "stochastic"


@dataclass(frozen=True)
class SSAModel:
    name: str
    what: str
    sbml: str  # the document itself
    species: dict[str, int]  # initial amounts
    params: dict[str, float]
    # (reactants, products, propensity) with propensities as GillesPy2 expressions
    reactions: tuple[tuple[dict[str, int], dict[str, int], str], ...]
    t_end: float
    points: int


def _reaction_xml(rid: str, reac: dict[str, int], prod: dict[str, int], law: str) -> str:
    def refs(d):
        return "".join(
            f'<speciesReference species="{s}" stoichiometry="{k}" constant="true"/>'
            for s, k in d.items()
        )

    out = f'<reaction id="{rid}" reversible="false">'
    if reac:
        out += f"<listOfReactants>{refs(reac)}</listOfReactants>"
    if prod:
        out += f"<listOfProducts>{refs(prod)}</listOfProducts>"
    return out + f'<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">{law}</math>' \
                 "</kineticLaw></reaction>"


def _sbml(mid: str, species: dict[str, int], params: dict[str, float], reactions) -> str:
    """L3V2 in amounts (hasOnlySubstanceUnits), mass-action laws as products of ids."""
    sp = "".join(
        f'<species id="{s}" compartment="cell" initialAmount="{v}" hasOnlySubstanceUnits="true"'
        ' boundaryCondition="false" constant="false"/>' for s, v in species.items()
    )
    ps = "".join(f'<parameter id="{k}" value="{v!r}" constant="true"/>' for k, v in params.items())
    rx = ""
    for i, (reac, prod, law) in enumerate(reactions):
        terms = "".join(f"<ci>{t.strip()}</ci>" for t in law.split("*"))
        rx += _reaction_xml(f"R{i}", reac, prod, f"<apply><times/>{terms}</apply>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<sbml xmlns="http://www.sbml.org/sbml/level3/'
        f'version2/core" level="3" version="2"><model id="{mid}"><listOfCompartments>'
        '<compartment id="cell" size="1" constant="true"/></listOfCompartments>'
        f"<listOfSpecies>{sp}</listOfSpecies><listOfParameters>{ps}</listOfParameters>"
        f"<listOfReactions>{rx}</listOfReactions></model></sbml>"
    )


def dimerisation() -> SSAModel:
    path = SUITE / "00030" / "00030-sbml-l3v2.xml"
    if not path.exists():  # a clone without ../shared: the tests' copy of the case
        path = TESTS_COPY / "00030" / "00030-sbml-l3v2.xml"
    return SSAModel(
        "dimerisation",
        "DSMTS 003-01 (suite case 00030): 2P -> P2 (k1 P (P-1)/2), P2 -> 2P; P(0) = 100; "
        "0-50, 51 points",
        path.read_text(),
        {"P": 100, "P2": 0},
        {"k1": 0.001, "k2": 0.01},
        (({"P": 2}, {"P2": 1}, "k1*P*(P-1)/2"), ({"P2": 1}, {"P": 2}, "k2*P2")),
        50.0,
        51,
    )


def bursty() -> SSAModel:
    params = {"kon": 0.05, "koff": 0.5, "km": 20.0, "gm": 1.0, "kp": 5.0, "gp": 0.05}
    species = {"Goff": 1, "Gon": 0, "M": 0, "Prot": 0}
    reactions = (
        ({"Goff": 1}, {"Gon": 1}, "kon*Goff"),
        ({"Gon": 1}, {"Goff": 1}, "koff*Gon"),
        ({"Gon": 1}, {"Gon": 1, "M": 1}, "km*Gon"),
        ({"M": 1}, {}, "gm*M"),
        ({"M": 1}, {"M": 1, "Prot": 1}, "kp*M"),
        ({"Prot": 1}, {}, "gp*Prot"),
    )
    return SSAModel(
        "bursty",
        "telegraph gene expression: gene on/off (0.05, 0.5), mRNA 20/on-gene (decay 1), "
        "protein 5/mRNA (decay 0.05); about 2,000 reaction events per trajectory; 0-100, "
        "101 points",
        _sbml("bursty_expression", species, params, reactions),
        species,
        params,
        reactions,
        100.0,
        101,
    )


MODELS = {"dimerisation": dimerisation, "bursty": bursty}


# -- the three simulators ----------------------------------------------------------------


class Wholecell:
    name = "wholecell"

    def __init__(self, m: SSAModel):
        self.model = wc.load_sbml(m.sbml)
        self.sim = wc.compile(self.model)
        self.ts = np.linspace(0.0, m.t_end, m.points)
        self.species = list(m.species)

    def run(self, n: int, seed: int) -> np.ndarray:
        res = wc.simulate(self.sim, self.ts, method="ssa", n=n, seed=seed, progress=False)
        return np.stack([res.amount(s) for s in self.species], axis=-1)  # (n, t, species)


class GillesPy2:
    name = "GillesPy2 SSACSolver"

    def __init__(self, m: SSAModel):
        import gillespy2

        # GillesPy2 runs SCons with the resolved interpreter, which is the base Python,
        # not the virtual environment's; put the environment's `scons` script on PATH.
        bindir = str(Path(sys.executable).parent)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        model = gillespy2.Model(name=m.name)
        model.add_parameter([gillespy2.Parameter(name=k, expression=repr(v))
                             for k, v in m.params.items()])
        model.add_species([gillespy2.Species(name=s, initial_value=v, mode="discrete")
                           for s, v in m.species.items()])
        model.add_reaction([
            gillespy2.Reaction(name=f"R{i}", reactants=reac, products=prod,
                               propensity_function=law)
            for i, (reac, prod, law) in enumerate(m.reactions)
        ])
        model.timespan(np.linspace(0.0, m.t_end, m.points))
        self.model = model
        self.species = list(m.species)
        self.solver = gillespy2.SSACSolver(model=model)  # builds the C++ (untimed)

    def run(self, n: int, seed: int) -> np.ndarray:
        res = self.model.run(solver=self.solver, number_of_trajectories=n, seed=seed + 1)
        return np.stack([np.stack([traj[s] for s in self.species], axis=-1) for traj in res])


class RoadRunnerGillespie:
    name = "libRoadRunner gillespie"

    def __init__(self, m: SSAModel):
        import roadrunner

        roadrunner.Logger.setLevel(roadrunner.Logger.LOG_ERROR)
        r = roadrunner.RoadRunner(m.sbml)
        r.setIntegrator("gillespie")
        r.integrator.variable_step_size = False
        self.species = list(m.species)
        r.timeCourseSelections = self.species  # amounts
        self.r, self.t_end, self.points = r, m.t_end, m.points

    def run(self, n: int, seed: int) -> np.ndarray:
        r, integ = self.r, self.r.integrator
        out = np.empty((n, self.points, len(self.species)))
        for i in range(n):
            integ.seed = seed * 1_000_003 + i  # one stream per trajectory
            r.reset()
            out[i] = r.simulate(0.0, self.t_end, self.points)
        return out


PEERS = (GillesPy2, RoadRunnerGillespie)


def z_scores(a: np.ndarray, b: np.ndarray) -> float:
    """Largest |mean_a - mean_b| / standard error over times and species."""
    se = np.sqrt(a.var(axis=0) / a.shape[0] + b.var(axis=0) / b.shape[0])
    d = np.abs(a.mean(axis=0) - b.mean(axis=0))
    ok = se > 0
    return float(np.max(d[ok] / se[ok])) if ok.any() else 0.0


def measure(m: SSAModel, n: int, repeats: int) -> list[dict]:
    t0 = time.perf_counter()
    ours = Wholecell(m)
    first = time.perf_counter()
    ref = ours.run(n, seed=0)
    t_first = time.perf_counter() - first
    t_setup = first - t0
    sims, setup, notes = {}, {}, {}
    for cls in PEERS:
        t = time.perf_counter()
        try:
            sims[cls.name] = cls(m)
            setup[cls.name] = time.perf_counter() - t
        except Exception as e:  # noqa: BLE001 - a missing peer is reported, not fatal
            notes[cls.name] = f"{type(e).__name__}: {' '.join(str(e).split())[:100]}"
    outputs = {"wholecell": ref}
    seeds = iter(range(1, 10_000))

    def call(name, sim):
        def f():
            outputs[name] = sim.run(n, next(seeds))
        return f

    fns = {"wholecell": call("wholecell", ours)} | {k: call(k, s) for k, s in sims.items()}
    med = alternate(fns, repeats)
    rows = []
    for name in ["wholecell", *(c.name for c in PEERS)]:
        row = {"model": m.name, "simulator": name, "n": n}
        if name in med:
            row.update({
                "time (s)": med[name],
                "traj/s": n / med[name],
                "wholecell speedup": med[name] / med["wholecell"],
                "mean z vs wholecell": z_scores(outputs[name], outputs["wholecell"])
                if name != "wholecell" else None,
            })
        if name == "wholecell":
            row["setup (s)"] = t_setup
            row["first call (s)"] = t_first
            row["note"] = "first call = JIT compile + run"
        elif name in setup:
            row["setup (s)"] = setup[name]
            if name.startswith("GillesPy2"):
                row["note"] = "setup = C++ build"
        else:
            row["note"] = notes.get(name, "")
        rows.append(row)
    if m.name == "dimerisation":
        rows[0]["note"] += "; " + _dsmts_check(outputs["wholecell"], m)
    return rows


def _dsmts_check(values: np.ndarray, m: SSAModel) -> str:
    """The suite's own criterion for case 00030 on this run's trajectories."""
    import pandas as pd

    ref = pd.read_csv(SUITE / "00030" / "00030-results.csv")
    n = values.shape[0]
    worst_mean = 0.0
    for j, s in enumerate(m.species):
        mu, sd = ref[f"{s}-mean"].to_numpy(), ref[f"{s}-sd"].to_numpy()
        ok = sd > 0
        z = np.sqrt(n) * (values[:, :, j].mean(axis=0) - mu) / np.where(ok, sd, 1.0)
        worst_mean = max(worst_mean, float(np.max(np.abs(z[ok]))))
    return f"DSMTS mean z max {worst_mean:.2f} (suite range ±3)"


_MEMORY_SCRIPT = """
import sys, time
import numpy as np
import wholecell as wc
m = wc.load_sbml(sys.argv[1])
t = time.perf_counter()
r = wc.simulate(m, np.linspace(0.0, 50.0, 51), method="ssa", n=int(sys.argv[2]), seed=0,
                progress=False)
print(time.perf_counter() - t, r.amount("P").shape)
"""


def peak_memory(n: int) -> tuple[float, float]:
    """(max RSS in MiB, seconds) of a fresh process running n dimerisation trajectories
    with the default chunk size (JIT compile included)."""
    path = SUITE / "00030" / "00030-sbml-l3v2.xml"
    cmd = [sys.executable, "-c", _MEMORY_SCRIPT, str(path), str(n)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent),
               WHOLECELL_NO_CACHE="1")  # the same work whatever the cache holds
    out = subprocess.run(["/usr/bin/time", "-f", "maxrss_kb=%M", *cmd], env=env,
                         capture_output=True, text=True, check=True)
    kb = int(out.stderr.rsplit("maxrss_kb=", 1)[1].split()[0])
    return kb / 1024, float(out.stdout.split()[0])


def memory_note(n_big: int = 100_000, n_small: int = 1_000) -> str:
    import wholecell as wc

    big, t_big = peak_memory(n_big)
    small, t_small = peak_memory(n_small)
    sim = wc.compile(wc.load_sbml(str(SUITE / "00030" / "00030-sbml-l3v2.xml")))
    n_ids, n_state = len(sim.observable_ids), len(sim.state_ids)
    result = n_big * 51 * n_state * 8 / 2**20
    return (
        f"Peak memory (max RSS of a fresh process, `/usr/bin/time`, its first call, JIT "
        f"compile included): {n_big:,} dimerisation trajectories (51 points, default "
        f"chunks: one per core, at most 10,000) {big:.0f} MiB in {t_big:.1f} s, against "
        f"{small:.0f} MiB for {n_small:,} ({t_small:.1f} s). The difference is mostly the "
        f"result: its {n_state} states x 51 points x {n_big:,} in float64 = {result:.0f} MiB, "
        "held twice while the chunks are joined (the other ids of the model, "
        f"{n_ids - n_state} of {n_ids}, are computed when first asked for); the "
        "simulation's own buffers are bounded by the chunk."
    )


COLUMNS = ["model", "simulator", "n", "time (s)", "traj/s", "wholecell speedup",
           "mean z vs wholecell", "setup (s)", "first call (s)", "note"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 trajectories, 2 repeats")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--no-memory", action="store_true",
                    help="skip the peak memory of 100,000 dimerisation trajectories")
    args = ap.parse_args(argv)
    n = args.n or (1000 if args.quick else 10_000)
    repeats = args.repeats or (2 if args.quick else 3)
    rows = []
    for name in args.models.split(","):
        print(f"== ssa / {name} (n = {n})", file=sys.stderr, flush=True)
        rows += measure(MODELS[name](), n, repeats)
        print(table(rows[-3:], COLUMNS), flush=True)
    notes = (
        f"{n:,} trajectories, medians of {repeats} alternating repeats, all on the CPU. "
        "`wholecell speedup` = that simulator's time / wholecell's (> 1: wholecell is "
        "faster); the target of issue 4 is ≥ 1 against the faster peer. `mean z vs "
        "wholecell`: largest |difference of means| / its standard error over all times "
        "and species (about ≤ 4 expected when they agree). Models: "
        + "; ".join(f"`{k}`: {f().what}" for k, f in MODELS.items() if k in args.models)
    )
    if not args.no_memory:
        notes += "\n\n" + memory_note()
    text = header("SSA ensembles (issue 4)", notes) + "\n" + table(rows, COLUMNS)
    write_section("ssa" + ("-quick" if args.quick else ""), text)


if __name__ == "__main__":
    main()
