"""SSA ensembles on a Dask cluster (``executor=``): 1 against 2 workers, and the cost of a
chunk sent to a worker against the same chunk run in this process.

    python benchmarks/dask_scaling.py [--n 20000] [--chunk 2500] [--repeats 3]
        [--models bursty,dimerisation] [--write]

For each model (`benchmarks/ssa.py`): the ensemble of ``--n`` trajectories in chunks of
``--chunk``, run (a) here (``executor=None``), (b) on a `LocalCluster` of 1 worker
process and (c) on one of 2 worker processes (1 thread each), the three alternating,
after a first call that compiles (here and on every worker). Times are medians.
``2 workers speedup`` = (b) / (c); ``1 worker / local`` = (b) / (a); ``overhead per
chunk`` = ((b) - (a)) / chunks, also as a fraction of a local chunk's time. Each result
is checked equal to the local one, bit for bit. ``--write`` replaces the ``dask``
block of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # noqa: A001

import numpy as np  # noqa: E402

from benchmarks._common import alternate, header, log, table, timed, write_section  # noqa: E402
from benchmarks.ssa import MODELS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def measure(name: str, n: int, chunk: int, repeats: int, clients: dict) -> dict:
    import wholecell as wc

    m = MODELS[name]()
    model = wc.load_sbml(m.sbml)
    ts = np.linspace(0.0, m.t_end, m.points)

    def run(executor):
        return wc.simulate(model, ts, method="ssa", n=n, seed=1, chunk_size=chunk,
                           executor=executor, progress=False)

    first = {}
    ref = None
    for k, c in [("local", None), *clients.items()]:
        first[k], res = timed(lambda c=c: run(c))
        x = np.stack([res.amount(s) for s in m.species])
        if ref is None:
            ref = x
        elif not np.array_equal(x, ref):
            raise AssertionError(f"{name}: the {k} run differs from the local run")
        log(f"{name} {k}: first call {first[k]:.1f} s")
    t = alternate({"local": lambda: run(None), **{k: (lambda c=c: run(c))
                                                   for k, c in clients.items()}}, repeats)
    chunks = -(-n // chunk)
    over = (t["1 worker"] - t["local"]) / chunks
    log(f"{name}: {t}")
    return {
        "model": name, "n": n, "chunks": chunks, "local (s)": t["local"],
        "1 worker (s)": t["1 worker"], "2 workers (s)": t["2 workers"],
        "2 workers speedup": t["1 worker"] / t["2 workers"],
        "1 worker / local": t["1 worker"] / t["local"],
        "overhead per chunk (s)": over,
        "overhead / local chunk": over / (t["local"] / chunks),
        "first call local / 1 / 2 workers (s)":
            f"{first['local']:.1f} / {first['1 worker']:.1f} / {first['2 workers']:.1f}",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--chunk", type=int, default=2_500)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="bursty,dimerisation")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    from distributed import Client, LocalCluster

    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    clusters = {k: LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                                dashboard_address="127.0.0.1:0", env=env)
                for k, w in (("1 worker", 1), ("2 workers", 2))}
    clients = {k: Client(c) for k, c in clusters.items()}
    try:
        rows = [measure(name, args.n, args.chunk, args.repeats, clients)
                for name in args.models.split(",")]
    finally:
        for c in clients.values():
            c.close()
        for c in clusters.values():
            c.close()
    cols = ["model", "n", "chunks", "local (s)", "1 worker (s)", "2 workers (s)",
            "2 workers speedup", "1 worker / local", "overhead per chunk (s)",
            "overhead / local chunk", "first call local / 1 / 2 workers (s)"]
    cmd = " ".join(["python benchmarks/dask_scaling.py", *sys.argv[1:]])
    text = header(
        "SSA ensembles on a Dask cluster (issue 24, `executor=`)",
        f"`{cmd}`. Local `dask.distributed.LocalCluster`s of 1 and 2 worker processes "
        "(1 thread each) on **this 2-core machine, shared with other jobs**: the two "
        "workers share the same two cores as the client, so 2 workers cannot reach 2x "
        "here; on a cluster each worker has its own cores. Medians of the alternating "
        "repeats after a first call that compiles (here and on each worker); every "
        "result equals the local run bit for bit. `overhead per chunk` = (1 worker - "
        "local) / chunks: sending a chunk's inputs, running it on the worker, returning "
        "its outputs.",
    ) + "\n" + table(rows, cols)
    print(text)
    if args.write:
        write_section("dask", text)


if __name__ == "__main__":
    main()
