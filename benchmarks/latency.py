"""Fresh process to first result: the wait a user feels, measured as they would meet it.

    python benchmarks/latency.py [--repeats 3] [--models repressilator,schoeberl]
                                 [--petab Boehm_JProteomeRes2014] [--collection PATH]

Each measurement starts a new Python process that runs the command line
(`wholecell simulate MODEL --t-end T --points 501 -o out.csv`) and stops when it has
written its CSV: import, SBML reading, compile and the run. wholecell is timed with an
empty compilation cache (a new folder each time: the first run on a machine) and with the
cache that the run before filled (every later run); libRoadRunner in a new process that
loads the same file and simulates the same span and points. The three alternate, so a
busy machine's slow spells fall on all of them; medians are reported, with the ratios.
The first gradient of PEtab problems (default Boehm, from ``--collection``, default
``../shared/petab-benchmarks/Benchmark-Models``) is timed the same way, cold and warm.
Writes the block ``latency`` of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from math import nan
from pathlib import Path

from benchmarks._common import machine, versions, write_section

ROOT = Path(__file__).resolve().parent.parent
#: name -> (SBML file, end time); the models of the README's first command and issue 23
MODELS = {
    "repressilator": (ROOT / "sbml" / "repressilator_BIOMD0000000012.xml", 1000.0),
    "schoeberl": (ROOT / "sbml" / "egfr_mapk_schoeberl2002_BIOMD0000000019.xml", 3600.0),
}

#: PEtab problems whose first gradient in a new process is timed (``--petab``)
PETAB = ("Boehm_JProteomeRes2014",)
COLLECTION = ROOT.parent / "shared" / "petab-benchmarks" / "Benchmark-Models"

_FIRST_GRADIENT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import wholecell as wc
t1 = time.perf_counter()
prob = wc.petab.load(sys.argv[1])
t2 = time.perf_counter()
if sys.argv[2] == "fit":  # wc.fit's start-up: one start of one iteration
    value = wc.fit(prob, n_starts=1, maxiter=1, seed=0, progress=False).fun
else:
    value, grad = prob.value_and_grad(prob.nominal)
    np.asarray(grad)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first": t3 - t2,
                  "value": float(value)}))
"""

_RR = """
import sys, roadrunner
r = roadrunner.RoadRunner(sys.argv[1])
r.integrator.relative_tolerance = 1e-6
r.integrator.absolute_tolerance = 1e-9
r.simulate(0, float(sys.argv[2]), 501)
"""


def _cache_on() -> dict[str, str]:
    """This process's environment with the compilation cache left on."""
    return {k: v for k, v in os.environ.items() if k != "WHOLECELL_NO_CACHE"}


def _wall(cmd: list[str], env: dict[str, str], parts: dict | None = None) -> float:
    """Seconds the command took; ``parts`` gets the CLI's own load and simulate times."""
    t = time.perf_counter()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if parts is not None:
        for key, pattern in (("load", r"loaded .* in ([0-9.]+) s"),
                             ("simulate", r"simulated in ([0-9.]+) s")):
            found = re.search(pattern, out.stderr)
            parts.setdefault(key, []).append(float(found.group(1)) if found else float("nan"))
    return wall


def measure(path: Path, t_end: float, repeats: int) -> dict[str, float]:
    """Median seconds of: wholecell with a cold cache, with a warm one, roadrunner."""
    out = Path(tempfile.mkdtemp()) / "out.csv"
    wc_cmd = [sys.executable, "-m", "wholecell._cli", "simulate", str(path), "--t-end",
              str(t_end), "--points", "501", "-o", str(out)]
    rr_cmd = [sys.executable, "-c", _RR, str(path), str(t_end)]
    base = _cache_on()
    times: dict[str, list[float]] = {"cold": [], "warm": [], "roadrunner": []}
    cold_parts: dict[str, list[float]] = {}
    warm_parts: dict[str, list[float]] = {}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="wc-cache-") as cache:
            env = dict(base, WHOLECELL_CACHE_DIR=cache)
            times["cold"].append(_wall(wc_cmd, env, cold_parts))
            times["warm"].append(_wall(wc_cmd, env, warm_parts))
        times["roadrunner"].append(_wall(rr_cmd, base))
    shutil.rmtree(out.parent, ignore_errors=True)
    out = {k: statistics.median(v) for k, v in times.items()}
    for name, parts in (("cold", cold_parts), ("warm", warm_parts)):
        for k, v in parts.items():
            out[f"{name}_{k}"] = statistics.median(v)
    return out


def first_gradient(yaml: Path, repeats: int, what: str = "gradient") -> dict[str, float]:
    """Medians, in a new process with an empty cache (cold) and with the cache that run
    filled (warm), of: importing wholecell, `wc.petab.load`, and the first
    ``prob.value_and_grad`` at the nominal parameters (trace, compile or cache, run), or
    (``what="fit"``) a first ``wc.fit`` of one start and one iteration."""
    base = _cache_on()
    cmd = [sys.executable, "-c", _FIRST_GRADIENT, str(yaml), what]
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory(prefix="wc-cache-") as cache:
            env = dict(base, WHOLECELL_CACHE_DIR=cache)
            for run in ("cold", "warm"):
                t = time.perf_counter()
                out = subprocess.run(cmd, env=env, check=True, capture_output=True,
                                     text=True, cwd=ROOT)
                r = json.loads(out.stdout.strip().splitlines()[-1])
                r["total"] = time.perf_counter() - t
                runs[run].append(r)
    return {f"{run}_{k}": statistics.median(r[k] for r in rs)
            for run, rs in runs.items() for k in rs[0]}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--petab", default=",".join(PETAB),
                    help="PEtab problems of the benchmark collection ('' for none)")
    ap.add_argument("--collection", type=Path, default=COLLECTION)
    args = ap.parse_args(argv)
    rows = []
    for name in args.models.split(","):
        path, t_end = MODELS[name]
        r = measure(path, t_end, args.repeats)
        rows.append((name, r))
        print(f"{name}: cold {r['cold']:.2f} s, warm {r['warm']:.2f} s, "
              f"roadrunner {r['roadrunner']:.2f} s", flush=True)
    lines = [
        "## Fresh process to first result (issue 23)", "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {machine()}.", "",
        f"Versions: {versions()}.", "",
        "A new process runs `wholecell simulate MODEL --t-end T --points 501 -o out.csv` "
        "(import, SBML, compile, run, CSV) with an empty compilation cache (cold: a first "
        "run) and with the cache the cold run filled (warm: every later run); roadrunner "
        "loads the same file in a new process and simulates the same span. Medians of "
        f"{args.repeats} alternating repeats (`python benchmarks/latency.py`).", "",
        "| model | wholecell cold | wholecell warm | roadrunner | cold / roadrunner | "
        "warm / roadrunner |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['cold']:.2f} s | {r['warm']:.2f} s | "
                     f"{r['roadrunner']:.2f} s | {r['cold'] / r['roadrunner']:.1f}x | "
                     f"{r['warm'] / r['roadrunner']:.1f}x |")
    lines += [
        "", "Where wholecell's time goes (medians; the command prints its own load and "
        "simulate times; the rest is starting Python, importing, writing the CSV and "
        "exiting):", "",
        "| model | run | SBML load | simulate (trace, compile or cache, run) | the rest |",
        "|---|---|---:|---:|---:|",
    ]
    for name, r in rows:
        for run in ("cold", "warm"):
            load, sim = r.get(f"{run}_load", nan), r.get(f"{run}_simulate", nan)
            lines.append(f"| {name} | {run} | {load:.2f} s | {sim:.2f} s | "
                         f"{r[run] - load - sim:.2f} s |")
    problems = [p for p in args.petab.split(",") if p]
    if problems:
        lines += [
            "", "The first gradient of a PEtab problem in a new process: import, "
            "`wc.petab.load`, then `prob.value_and_grad(prob.nominal)` (trace, compile or "
            "read the cache, run), with an empty cache (cold) and the one that run filled "
            f"(warm); medians of {args.repeats}:", "",
            "| problem | run | import | load | the call | process in all | value |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name in problems:
            for what, label in (("gradient", "first value_and_grad"),
                                ("fit", "first wc.fit (1 start, 1 iteration)")):
                r = first_gradient(args.collection / name / f"{name}.yaml", args.repeats,
                                   what)
                print(f"{name}: {label} cold {r['cold_first']:.2f} s, warm "
                      f"{r['warm_first']:.2f} s", flush=True)
                for run in ("cold", "warm"):
                    lines.append(
                        f"| {name} | {label}, {run} | {r[run + '_import']:.2f} s | "
                        f"{r[run + '_load']:.2f} s | {r[run + '_first']:.2f} s | "
                        f"{r[run + '_total']:.2f} s | {r[run + '_value']:.6f} |")
    write_section("latency", "\n".join(lines))


if __name__ == "__main__":
    main()
