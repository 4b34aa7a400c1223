"""Ensembles on an accelerator: issue 6's ODE ensemble task and issue 4's SSA benchmark.

    python benchmarks/gpu.py --out DIR [--n 10000] [--models repressilator,schoeberl]
                             [--ssa dimerisation,bursty] [--ssa-n 10000,100000]
    python benchmarks/gpu.py --compare GPU_DIR... CPU_DIR [--compare ...] [--write]

Runs wholecell alone (no peer needs to be installed) on JAX's default device, so the same
command measures a GPU and, with ``JAX_PLATFORMS=cpu``, the CPU beside it:

* ODE ensembles: ``n`` log-normal perturbations (sigma 0.1, seed 0) of the free
  parameters, 101 output points, rtol 1e-6 / atol 1e-9, the solver `choose_solver` picks;
  the whole ensemble is one batch on a GPU, CPU batches as in ``benchmarks/tasks.py``.
* SSA: ``wc.simulate(..., method="ssa", n=n, seed=0)`` for the models of
  ``benchmarks/ssa.py``.

Each is timed once with its JIT compile (``first``) and then ``--repeats`` times (median).
``DIR/gpu.json`` holds the times and trajectories per second, the device and versions;
``DIR/members.npz`` the first 20 ODE members and the SSA means and sds, so that
``--compare`` can check that both devices computed the same thing; ``--write`` puts the
tables into the ``gpu`` block of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
import traceback
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import wholecell as wc  # noqa: E402
from wholecell._simulate import _run_batch as run_batch  # noqa: E402
from wholecell._status import Status  # noqa: E402
from wholecell.solve._plan import choose_solver  # noqa: E402

from ._common import (  # noqa: E402
    ATOL,
    RTOL,
    log,
    lognormal,
    max_rel_diff,
    median_time,
    run_chunks,
    write_section,
)
from ._models import SPECS, free_parameters, sbml_path  # noqa: E402
from .ssa import MODELS as SSA_MODELS  # noqa: E402

BIOMODELS = Path(__file__).resolve().parent.parent.parent / "shared" / "biomodels"
KEEP = 20  # ensemble members kept for the comparison of devices
SUCCESS = Status.SUCCESS.value
MAX_STEPS = 100_000  # wc.simulate's default


def ode_ensemble(name: str, n: int, repeats: int, memory: float) -> tuple[dict, np.ndarray]:
    spec = SPECS[name]
    path = sbml_path(spec, BIOMODELS)
    sim = wc.compile(wc.load_sbml(str(path), check=spec.file is not None))
    index = {p: i for i, p in enumerate(sim.param_ids)}
    pidx = jnp.asarray([index[p] for p in free_parameters(path)])
    nominal = np.asarray(sim.param_values)[np.asarray(pidx)]
    solver = choose_solver(sim, spec.t_end, sim.param_values, 0.0)
    stiff = solver.startswith(("rodas", "kvaerno"))
    ts = jnp.linspace(0.0, spec.t_end, 101)
    n_state = len(sim.state_ids)
    per_member = 8 * n_state * (101 + 16 + (4 * n_state if stiff else 0))
    on_cpu = jax.default_backend() == "cpu"
    chunk = min(n, (100 if stiff else 1000) if on_cpu else n, max(1, int(memory // per_member)))

    base = jnp.asarray(sim.param_values)

    def batch(Q):
        # the batch runner of wc.simulate (lock step, vmap or one after another; sharded
        # over devices): the values of every model id per member; failed members NaN
        P = jnp.broadcast_to(base, (Q.shape[0], base.shape[0])).at[:, pidx].set(Q)
        values, stats = run_batch(sim, ts, ts[0], P, solver, RTOL, ATOL, MAX_STEPS)
        ok = np.asarray(stats.status) == SUCCESS
        return np.where(ok[:, None, None], np.asarray(values), np.nan)

    P = lognormal(nominal, n, 0.1, seed=0)

    def run():
        return run_chunks(batch, P, chunk)

    t0 = time.perf_counter()
    np.asarray(batch(jnp.asarray(P[:chunk])))
    first = time.perf_counter() - t0
    ys = run()
    t = median_time(run, repeats)
    failed = int(np.sum(~np.all(np.isfinite(ys.reshape(n, -1)), axis=1)))
    row = {"task": "ode ensemble", "model": name, "solver": solver, "n": n, "chunk": chunk,
           "first (JIT+run) s": first, "time s": t, "traj/s": n / t, "failed": failed}
    return row, ys[:KEEP]


def ssa(name: str, n: int, repeats: int, chunk: int | None = None) -> tuple[dict, np.ndarray]:
    m = SSA_MODELS[name]()
    sim = wc.compile(wc.load_sbml(m.sbml))
    ts = np.linspace(0.0, m.t_end, m.points)

    def run():
        res = wc.simulate(sim, ts, method="ssa", n=n, seed=0, progress=False,
                          chunk_size=chunk)
        return np.stack([res.amount(s) for s in m.species], axis=-1)

    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    t = median_time(run, repeats)
    x = run()
    moments = np.stack([x.mean(axis=0), x.std(axis=0, ddof=1)])  # (2, t, species)
    row = {"task": "ssa", "model": name, "n": n, "chunk": chunk or "default",
           "first (JIT+run) s": first, "time s": t, "traj/s": n / t}
    return row, moments


def device_facts() -> dict:
    d = jax.devices()[0]
    from ._common import machine

    facts = {"backend": jax.default_backend(), "device": getattr(d, "device_kind", str(d)),
             "cpu": machine(),
             "device count": jax.device_count(), "x64": bool(jax.config.jax_enable_x64)}
    for pkg in ("jax", "jaxlib", "diffrax", "equinox", "numpy"):
        try:
            facts[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return facts


def measure(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"facts": device_facts(), "rows": [], "errors": []}
    arrays: dict[str, np.ndarray] = {}
    log(f"device: {result['facts']}")

    def save():
        (out / "gpu.json").write_text(json.dumps(result, indent=1))
        np.savez_compressed(out / "members.npz", **arrays)

    jobs = [("ode", m, args.n) for m in filter(None, args.models.split(","))]
    jobs += [("ssa", m, int(k)) for m in filter(None, args.ssa.split(","))
             for k in args.ssa_n.split(",")]
    for kind, name, n in jobs:
        log(f"{kind} {name} n={n}")
        try:
            if kind == "ode":
                row, a = ode_ensemble(name, n, args.repeats, args.memory)
            else:
                row, a = ssa(name, n, args.repeats, args.ssa_chunk)
            result["rows"].append(row)
            arrays[f"{kind}_{name}_{n}"] = a
            log(f"  {row}")
        except Exception as e:  # keep the other measurements of a short lease
            result["errors"].append({"job": f"{kind} {name} {n}", "error": repr(e),
                                     "traceback": traceback.format_exc()})
            log(traceback.format_exc())
        save()


def compare(accels: list[Path], cpu: Path) -> str:
    """Markdown table: the rows of accelerator runs against the CPU run's same rows."""
    c = json.loads((cpu / "gpu.json").read_text())
    zc = np.load(cpu / "members.npz")
    facts = json.loads((accels[0] / "gpu.json").read_text())["facts"]
    lines = [
        f"{facts['device']} (jax {facts.get('jax')}) against {c['facts']['device']} "
        f"(jax {c['facts'].get('jax')}, {c['facts'].get('cpu', 'CPU')})",
        "",
        "| task | model | n | chunk | accel. traj/s | CPU traj/s (CPU n) | accel. ÷ CPU "
        "| accel. first (JIT+run) s | agreement |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for accel in accels:
        a = json.loads((accel / "gpu.json").read_text())
        za = np.load(accel / "members.npz")
        for r in a["rows"]:
            lines.append(_compare_row(r, za, c["rows"], zc))
    return "\n".join(lines)


def _key(r: dict) -> str:
    return f"{'ode' if r['task'] == 'ode ensemble' else 'ssa'}_{r['model']}_{r['n']}"


def _compare_row(r: dict, za, cpu_rows: list[dict], zc) -> str:
    # the CPU run of the same size, else its largest of the same task and model
    # (a CPU runs an ODE ensemble in fixed chunks: its rate does not depend on n)
    same = [x for x in cpu_rows if (x["task"], x["model"]) == (r["task"], r["model"])]
    rc = next((x for x in same if x["n"] == r["n"]), max(same, key=lambda x: x["n"],
                                                          default=None))
    agree = "–"
    if rc is not None:
        if r["task"] == "ode ensemble":  # the first members are the same parameters
            agree = f"max rel diff {max_rel_diff(za[_key(r)], zc[_key(rc)]):.1e}"
        else:  # the largest |z| of the difference of means (0: the same trajectories)
            (ma, sa), (mc, sc) = za[_key(r)], zc[_key(rc)]
            se = np.sqrt(sa**2 / r["n"] + sc**2 / rc["n"])
            z = np.abs(ma - mc) / np.where(se > 0, se, np.inf)
            agree = f"mean \\|z\\| ≤ {np.nanmax(z):.1f}"
    ratio = (f"{rc['traj/s']:,.0f} ({rc['n']:,}) | {r['traj/s'] / rc['traj/s']:.1f}× | "
             if rc else "– | – | ")
    chunk = r.get("chunk", "default")
    chunk = f"{chunk:,}" if isinstance(chunk, int) else chunk
    return (f"| {r['task']} | {r['model']} | {r['n']:,} | {chunk} | {r['traj/s']:,.0f} | "
            f"{ratio}{r['first (JIT+run) s']:.1f} | {agree} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="out/gpu")
    ap.add_argument("--n", type=int, default=10_000, help="ODE ensemble members")
    ap.add_argument("--models", default="repressilator,schoeberl")
    ap.add_argument("--ssa", default="dimerisation,bursty")
    ap.add_argument("--ssa-n", default="10000")
    ap.add_argument("--ssa-chunk", type=int, default=None,
                    help="trajectories per compiled SSA batch (default: wholecell's)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--memory", type=float, default=2e9,
                    help="bytes one ODE batch may take (bounds the chunk)")
    ap.add_argument("--compare", nargs="+", action="append", metavar="DIR",
                    help="accelerator run folders, then the CPU run's: print their table")
    ap.add_argument("--write", action="store_true",
                    help="with --compare: write the tables to benchmarks/RESULTS.md")
    ap.add_argument("--notes", default="", help="with --write: a paragraph after the tables")
    args = ap.parse_args(argv)
    if not args.compare:
        measure(args)
        return
    tables = [compare([Path(d) for d in dirs[:-1]], Path(dirs[-1])) for dirs in args.compare]
    print("\n\n".join(tables))
    if args.write:
        write_section("gpu", "\n\n".join([GPU_HEADER, *tables, args.notes]))


GPU_HEADER = """## Ensembles on a GPU (issue 6 task 3, issue 4's SSA benchmark)

Written by `python benchmarks/gpu.py --compare GPU_DIR... CPU_DIR --write` from runs of
`python benchmarks/gpu.py --out DIR` on each device (wholecell alone, the same script and
seeds; JAX float64). ODE ensembles: 10,000 log-normal perturbations (sigma 0.1, seed 0) of
the free parameters, 101 points, rtol 1e-6 / atol 1e-9, the whole ensemble one vmapped
batch on the GPU (chunks of 1,000, or 100 for stiff models, on a CPU, as in task 3). SSA:
`wc.simulate(..., method="ssa", n=n, seed=0)`. Times exclude the JIT compile (the first
call, shown apart); medians of 2 runs. agreement: ODE, the largest relative difference of
the first 20 members' states between the devices; SSA, the largest |z| of the difference
of the two runs' means over all times and species."""


if __name__ == "__main__":
    main()
