"""Benchmarks of issue 6: wholecell against libRoadRunner (and AMICI) on four tasks.

    python -m benchmarks [BIOMODELS_DIR] [--quick] [--tasks compile,single,ensemble,gradient]
                         [--models repressilator,schoeberl,chen2009,ma1000,ma10000]
    python benchmarks/run.py ...   (the same)

Each (task, model) pair runs in its own subprocess (fresh JIT caches, bounded memory, a
time limit), and inside it wholecell and roadrunner alternate, so their ratio is measured
under the same machine load; the gradient task also times AMICI's adjoint where AMICI is
installed (``pip install -e '.[amici]'``). The tables go into ``benchmarks/RESULTS.md``
(one block per task, replaced on each run of that task). ``--ssa`` also runs ``benchmarks/ssa.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

from benchmarks._common import machine, table, versions, write_section  # noqa: E402
from benchmarks._models import QUICK_MODELS, SPECS, sbml_path  # noqa: E402

MARK = "@@RESULT "
STORE = Path(__file__).resolve().parent / "results.json"

COLUMNS = {
    "compile": ["model", "species", "solver", "wc_load", "wc_compile", "wc load+compile",
                "wc_first", "wc to 1st result", "rr_load", "rr_first", "rr to 1st result",
                "speedup", "repeats", "note"],
    "single": ["model", "species", "solver", "wc.simulate", "wc jit solve", "wc first (JIT)",
               "rr simulate", "speedup", "speedup (jit solve)", "max rel diff", "note"],
    "ensemble": ["model", "free params", "solver", "n", "chunk", "wc", "wc members timed",
                 "wc first chunk (JIT+run)", "rr loop", "rr members timed", "speedup",
                 "wc traj/s", "rr traj/s", "cores", "wc all cores", "speedup all cores",
                 "failed (1st chunk)", "max rel diff (first 20)", "note"],
    "gradient": ["model", "free params", "solver", "wc grad", "wc first (JIT+run)", "rr FD",
                 "rr sens", "AMICI adjoint", "speedup vs FD", "speedup vs sens",
                 "speedup vs AMICI", "grad diff vs FD", "grad diff vs sens",
                 "grad diff vs AMICI", "loss wc/rr", "note"],
}

TITLES = {
    "compile": "(1) Load + compile",
    "single": "(2) One simulation of 1,000 output points, after compile",
    "ensemble": "(3) Ensembles of log-normally perturbed parameter sets",
    "gradient": "(4) Gradient of a sum-of-squares loss over all outputs",
}

NOTES = {
    "compile": (
        "`wc_load`: `wc.load_sbml` (libsbml consistency checks on for the BioModels, off for "
        "the generated networks); `wc_compile`: `wc.compile` (IR to JAX programs); "
        "`wc_first`: the first `wc.simulate` of 1,000 points, which traces and JIT-compiles "
        "(XLA) the solve and runs it. `rr_load`: `RoadRunner(path)` (parse + LLVM JIT); "
        "`rr_first`: its first 1,000-point simulation (roadrunner's in-process model cache "
        "is turned off with `LOADSBMLOPTIONS_RECOMPILE`, so each load compiles). "
        "speedup = rr to 1st result / wc to "
        "1st result (> 1: wholecell faster). No persistent JAX compilation cache (cold "
        "start in a fresh process each time)."
    ),
    "single": (
        "Medians of alternating repeats, after warm-up. `wc.simulate`: the public call "
        "(solver choice, observing every model id, building the Result); `wc jit solve`: "
        "the pure `jax.jit(sim.solve)` it wraps. `rr simulate`: `reset()` + "
        "`simulate(0, T, 1000)` with CVODE. Both rtol 1e-6, atol 1e-9. max rel diff: "
        "largest |wc - rr| / |rr| over all species' concentrations and times (floor 1e-6 of "
        "each species' largest value)."
    ),
    "ensemble": (
        "Parameter sets: every free parameter (global, constant, not a rule or initial "
        "assignment target) times exp(0.1 N(0,1)); 101 output points; rtol 1e-6, atol 1e-9. "
        "wholecell: chunks of `chunk` members compiled once, solved as `wc.simulate` "
        "solves a batch: `sim.solve_batch` (members in lock step on batch-last arrays, "
        "explicit solvers, since 2026-11-28; before, `jax.vmap(sim.solve)`), BDF one member "
        "after another; on one core; `wc all cores`: "
        "the same chunks split over `cores` CPU cores (`wc.use_cpu_cores()`, "
        "`--cpu-cores`), timed in the same alternation; roadrunner's loop runs on one core. "
        "Chunks are "
        "memory bounded; stiff models use chunks of 100, since batched dense LU gains "
        "nothing from wider batches on a CPU); `wc` excludes the JIT compile, which "
        "`wc first chunk (JIT+run)` shows. roadrunner: the Python loop `setValues`, `reset`, "
        "`simulate`. Both loops are linear in the number of chunks / members, so when a side "
        "would take longer than the budget (60 s; 10 s with `--quick`) only the first "
        "`wc members timed` / "
        "`rr members timed` are timed and the time is scaled to n. speedup = rr loop / wc. "
        "max rel diff: concentrations of the first 20 members against roadrunner's."
    ),
    "gradient": (
        "loss(p) = sum over 101 times and all species of ([S](t; p) - [S](t; q))^2, with data "
        "from one log-normal draw q; the gradient with respect to every free parameter is "
        "taken at the nominal p0 (roadrunner's sensitivities run only at the file's values). "
        "wholecell: `jax.jit(jax.value_and_grad(loss))` through `sim.solve` "
        "(diffrax, discretise-then-optimise, checkpointed reverse mode); `wc grad` excludes "
        "the first call's JIT compile (shown apart). roadrunner FD: forward differences, "
        "relative step 1e-3 (about the square root of rtol), n + 1 simulations; roadrunner sens: "
        "`timeSeriesSensitivities` (CVODES forward sensitivities). AMICI adjoint: AMICI's "
        "CVODES adjoint sensitivities of the same loss (model compiled to C++ once, outside "
        "the timing; `pip install -e '.[amici]'`), same rtol and atol. grad diff: "
        "max |g_wc - g_ref| / max |g_ref|."
    ),
}


def _options(args) -> dict:
    opt = {
        "repeats": args.repeats,
        "ensemble_sizes": [int(s) for s in args.ensemble_sizes.split(",")],
        "chunk": args.chunk,
        "rr_budget": args.rr_budget,
        "cpu_cores": args.cpu_cores,
    }
    return opt


def run_one(task: str, model: str, path: Path, opt: dict, timeout: float) -> list[dict]:
    """One (task, model) pair in a subprocess; its rows, or one row saying why none."""
    job = json.dumps({"task": task, "model": model, "path": str(path), "opt": opt})
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", job]
    root = Path(__file__).resolve().parent.parent
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [{"model": model, "note": f"not finished within {timeout:.0f} s"}]
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    return [{"model": model, "note": f"failed (exit {proc.returncode}) after "
             f"{time.perf_counter() - t:.0f} s; see the log"}]


def worker(job: str) -> None:
    import traceback

    from benchmarks.tasks import TASKS, Options

    spec = json.loads(job)
    if spec["opt"].get("cpu_cores", 1) > 1:
        import wholecell as wc

        wc.use_cpu_cores(spec["opt"]["cpu_cores"])
    opt = Options(**{k: tuple(v) if isinstance(v, list) else v for k, v in spec["opt"].items()})
    try:
        rows = TASKS[spec["task"]](SPECS[spec["model"]], Path(spec["path"]), opt)
    except Exception as e:  # noqa: BLE001 - the failure becomes the row
        traceback.print_exc()
        rows = [{"model": spec["model"], "note": f"{type(e).__name__}: {str(e)[:150]}"}]
    print(MARK + json.dumps(rows, default=float), flush=True)


def _store(key: str, model: str, rows: list[dict]) -> dict:
    """Keep each (task, model)'s latest rows in results.json, so runs of a few models
    update the tables without erasing the others."""
    data = json.loads(STORE.read_text()) if STORE.exists() else {}
    data.setdefault(key, {})[model] = {
        "rows": rows, "when": time.strftime("%Y-%m-%d %H:%M"), "machine": machine(),
        "versions": versions(),
    }
    STORE.write_text(json.dumps(data, indent=1, default=float) + "\n")
    return data


def render(key: str, task: str, entries: dict, quick: bool) -> str:
    order = [m for m in SPECS if m in entries]
    rows = [r for m in order for r in entries[m]["rows"]]
    runs = sorted({(e["when"], e["machine"], e["versions"]) for e in entries.values()})
    stamps = sorted({w for w, _, _ in runs})
    when = stamps[0] if len(stamps) == 1 else f"between {stamps[0]} and {stamps[-1]}"
    notes = NOTES[task] + (" **Quick mode** (`--quick`): small sizes." if quick else "")
    models_txt = "Models: " + "; ".join(
        f"`{m}`: {SPECS[m].what}, 0–{SPECS[m].t_end:g}" for m in order
    )
    cpus: dict[str, list[str]] = {}  # the processor each model's rows were measured on
    for m in order:
        cpus.setdefault(entries[m]["machine"].split(",")[0], []).append(m)
    on = runs[-1][1] if len(cpus) == 1 else "several machines: " + "; ".join(
        f"{cpu} ({', '.join(ms)})" for cpu, ms in cpus.items()) + (
        "; each row's ratios come from one run on one machine")
    text = [f"## {TITLES[task]}{' (quick)' if quick else ''}", "",
            f"Measured {when} on {on}.", "", f"Versions: {runs[-1][2]}.", "",
            notes, "", models_txt, "", table(rows, COLUMNS[task])]
    return "\n".join(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("biomodels", nargs="?", default="../shared/biomodels", type=Path,
                    help="folder of BioModels SBML files (default: ../shared/biomodels)")
    ap.add_argument("--quick", action="store_true",
                    help="small models and sizes: a few minutes")
    ap.add_argument("--tasks", default="compile,single,ensemble,gradient")
    ap.add_argument("--models", default=None, help=f"from {', '.join(SPECS)}")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--ensemble-sizes", default=None)
    ap.add_argument("--chunk", type=int, default=1000)
    ap.add_argument("--cpu-cores", type=int, default=1,
                    help="ensembles: also time wholecell sharded over this many CPU cores")
    ap.add_argument("--rr-budget", type=float, default=None,
                    help="seconds one side of a timed ensemble may take before the time is "
                    "measured on a part and scaled")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per (task, model)")
    ap.add_argument("--ssa", action="store_true", help="also run benchmarks/ssa.py")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return
    q = args.quick
    args.repeats = args.repeats or 3
    args.ensemble_sizes = args.ensemble_sizes or ("100,1000" if q else "1000,10000")
    args.rr_budget = args.rr_budget or (10.0 if q else 60.0)
    timeout = args.timeout or (300.0 if q else 1200.0)
    models = (args.models.split(",") if args.models
              else list(QUICK_MODELS if q else SPECS))
    tasks = args.tasks.split(",")
    opt = _options(args)
    for task in tasks:
        if task not in COLUMNS:
            sys.exit(f"unknown task '{task}'; choose from {', '.join(COLUMNS)}")
    unfinished: dict[str, str] = {}  # model -> why later tasks skip it
    for task in tasks:
        key = task + ("-quick" if q else "")
        for m in models:
            if q and not args.models and task == "gradient" and m != "repressilator":
                continue  # the medium model's gradient takes minutes to JIT-compile
            if m in unfinished:
                rows = [{"model": m, "note": unfinished[m]}]
            elif task in ("ensemble", "gradient") and m == "ma10000":
                rows = [{"model": m, "note": "skipped: too long for one run on this machine "
                         "(5,000 states; roadrunner FD would need 15,001 simulations)"}]
            else:
                o = dict(opt)
                if task == "ensemble" and m == "chen2009":
                    o["ensemble_sizes"] = [20] if q else [100]
                if task == "ensemble" and m.startswith("ma") and not q:
                    o["ensemble_sizes"] = [1000]
                limit = min(timeout, 300.0) if m == "chen2009" else timeout
                print(f"== {task} / {m}", file=sys.stderr, flush=True)
                rows = run_one(task, m, sbml_path(SPECS[m], args.biomodels), o, limit)
                print(table(rows, COLUMNS[task]), flush=True)
                note = rows[0].get("note", "") if len(rows) == 1 else ""
                if task == "compile" and note.startswith(("not finished", "failed")):
                    unfinished[m] = f"not run: the first simulation in task (1) {note}"
            data = _store(key, m, rows)
            write_section(key, render(key, task, data[key], q))
    if args.ssa:
        from benchmarks import ssa

        ssa.main(["--quick"] if q else [])


if __name__ == "__main__":
    main()
