"""Which solver the default choice takes on real models, and how it compares with CVODE.

    python benchmarks/solver_table.py [--biomodels DIR] [--petab DIR] [--repeats 3]
        [--timeout 600] [--out F.md]

For every model in the BioModels folder and every PEtab benchmark model: wholecell's default
solver choice (`solver="auto"`), its accepted steps, compile time, the median time of one
simulation after compile, and the same for libRoadRunner's CVODE at the same tolerances
(run alternately in the same process), with the largest relative difference between the two
trajectories (floor: 1e-6 of each species' largest value, and double precision of the largest
value of all). Needs the `bench` extra.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

import jax  # noqa: E402
import numpy as np  # noqa: E402

import wholecell as wc  # noqa: E402
from wholecell.ode._solvers import EXPLICIT, bdf_applies  # noqa: E402
from wholecell.solve._plan import choose_solver  # noqa: E402

from ._common import ATOL, RTOL, max_rel_diff, median_time  # noqa: E402

#: model -> end time (BioModels; PEtab models use their last measurement time)
SPANS = {
    "BIOMD0000000012": 1000.0,
    "BIOMD0000000019": 3600.0,
    "BIOMD0000000042": 200.0,
    "BIOMD0000000056": 300.0,
    "BIOMD0000000064": 100.0,
    "BIOMD0000000070": 100.0,
    "BIOMD0000000172": 100.0,
    "BIOMD0000000195": 100.0,
    "Chen2009_ErbB_PEtab_from_BIOMD0000000255": 3600.0,
}


def petab_models(root: Path) -> list[tuple[str, Path, float]]:
    import pandas as pd
    import yaml

    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        ys = sorted(d.glob("*.yaml"))
        if not ys:
            continue
        spec = yaml.safe_load(ys[0].read_text())["problems"][0]
        sbml = d / spec["sbml_files"][0]
        if not sbml.exists():
            continue
        t = pd.concat(pd.read_csv(d / m, sep="\t") for m in spec["measurement_files"])["time"]
        t = pd.to_numeric(t, errors="coerce")
        t_end = float(t[np.isfinite(t)].max()) if np.isfinite(t).any() else 100.0
        out.append((d.name, sbml, t_end if t_end > 0 else 100.0))
    return out


def measure(name: str, path: Path, t_end: float, repeats: int) -> dict:
    import roadrunner

    row = {"model": name}
    ts = np.linspace(0.0, t_end, 101)
    t = time.perf_counter()
    model = wc.load_sbml(str(path))
    sim = wc.compile(model)
    p = sim.param_values
    solver = choose_solver(sim, t_end, p, 0.0)
    def solve_with(solver):  # forward only (adjoint "lax"), as simulate() runs it
        return jax.jit(lambda p: sim.solve_with_stats(ts, p, solver=solver, rtol=RTOL,
                                                      atol=ATOL, adjoint="lax"))

    solve = solve_with(solver)
    ys, stats = jax.block_until_ready(solve(p))
    if int(stats.status) != 0 and solver in EXPLICIT:  # as simulate(): stiffness set in later
        solver = "bdf" if bdf_applies(sim.structure) else "rodas5"
        solve = solve_with(solver)
        ys, stats = jax.block_until_ready(solve(p))
    row.update(solver=solver, compile_s=time.perf_counter() - t, steps=int(stats.steps))
    if int(stats.status) != 0:
        row["note"] = f"failed at t = {float(stats.t_last):.4g}"
    t = time.perf_counter()
    rr = roadrunner.RoadRunner(str(path))
    row["rr_load_s"] = time.perf_counter() - t
    rr.integrator.relative_tolerance = RTOL
    rr.integrator.absolute_tolerance = ATOL
    rr.integrator.maximum_num_steps = 100_000
    ids = list(rr.model.getFloatingSpeciesIds())
    rr.timeCourseSelections = ["time"] + [f"[{s}]" for s in ids]

    def run_rr():
        rr.resetAll()
        return rr.simulate(0.0, t_end, len(ts))

    ours_t, rr_t = [], []
    for _ in range(repeats):  # alternate
        ours_t.append(median_time(lambda: jax.block_until_ready(solve(p)), 1))
        rr_t.append(median_time(run_rr, 1))
    row["wc_s"], row["rr_s"] = statistics.median(ours_t), statistics.median(rr_t)
    row["ratio"] = row["wc_s"] / row["rr_s"]
    ref = np.asarray(run_rr())[:, 1:]
    res = wc.simulate(model, ts, solver=solver, rtol=RTOL, atol=ATOL)
    if not ids:
        row["max_rel_diff"] = float("nan")
        row["note"] = "no floating species to compare"
        return row
    ours = np.stack([res.concentration(s) for s in ids], axis=1)
    row["max_rel_diff"] = max_rel_diff(ours, ref)
    return row


def main() -> None:
    jax.config.update("jax_enable_x64", True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--biomodels", type=Path, default=Path("../shared/biomodels"))
    ap.add_argument(
        "--petab", type=Path, default=Path("../shared/petab-benchmarks/Benchmark-Models")
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/SOLVERS.md"))
    ap.add_argument("--timeout", type=float, default=600.0,
                    help="seconds per model (each runs in its own process)")
    ap.add_argument("--row", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    jobs = [(n, args.biomodels / f"{n}.xml", te) for n, te in SPANS.items()]
    jobs += petab_models(args.petab)
    if args.only:
        jobs = [j for j in jobs if j[0] in args.only.split(",")]
    lines = [
        f"Solver choice on real models ({time.strftime('%Y-%m-%d')}, rtol {RTOL:g}, "
        f"atol {ATOL:g}, 101 output points; times are medians of {args.repeats}, "
        "alternating with libRoadRunner's CVODE)\n",
        "| model | solver | steps | compile (s) | solve (s) | roadrunner (s) | ratio "
        "| max rel. diff. | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    if args.row:  # one model, in a child process: print its row
        name, path, t_end = jobs[0]
        print(_row(name, path, t_end, args.repeats), flush=True)
        return
    for name, _, _ in jobs:
        cmd = [sys.executable, __file__, "--row", "--only", name, "--repeats",
               str(args.repeats), "--biomodels", str(args.biomodels), "--petab", str(args.petab)]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            rows = [ln for ln in out.stdout.splitlines() if ln.startswith("| ")]
            line = rows[-1] if rows else (
                f"| {name} | - | - | - | - | - | - | - | crashed: {out.stderr.strip()[-120:]} |"
            )
        except subprocess.TimeoutExpired:
            line = f"| {name} | - | - | - | - | - | - | - | not finished in {args.timeout:.0f} s |"
        print(line, flush=True)
        lines.append(line)
        args.out.write_text("\n".join(lines) + "\n")  # partial tables survive


def _row(name: str, path: Path, t_end: float, repeats: int) -> str:
    try:
        r = measure(name, path, t_end, repeats)
        return (
            f"| {name} | {r['solver']} | {r['steps']} | {r['compile_s']:.1f} | "
            f"{r['wc_s']:.4f} | {r['rr_s']:.4f} | {r['ratio']:.2f} | "
            f"{r['max_rel_diff']:.1e} | {r.get('note', '')} |"
        )
    except Exception as e:  # one model's failure is reported, not fatal
        return f"| {name} | - | - | - | - | - | - | - | {type(e).__name__}: {str(e)[:120]} |"


if __name__ == "__main__":
    main()
