"""The ``wholecell`` command line: a thin layer over the public API."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import wholecell as wc


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="wholecell", description="Simulate SBML models.")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="simulate an SBML model and write its time courses")
    s.add_argument("model", help="SBML file, or the name of a model of the library "
                   "(`wholecell models`)")
    s.add_argument("--t-end", type=float,
                   help="end time (required for a file; a library model has a default)")
    s.add_argument("--t-start", type=float, help="start time (default 0, or the model's)")
    s.add_argument("--points", type=int, help="number of output times (default 101, or the "
                   "model's)")
    s.add_argument("--method", help="ode, ssa, tau or hybrid (default ode, or the model's)")
    s.add_argument("--solver", default="auto", help="ODE method (default auto)")
    s.add_argument("--rtol", type=float, default=1e-6)
    s.add_argument("--atol", type=float, default=1e-9)
    s.add_argument("-n", "--n", type=int, default=1, help="trajectories for ssa/tau")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument(
        "--param", action="append", default=[], metavar="ID=VALUE", help="override a parameter"
    )
    s.add_argument("-o", "--output", type=Path, help="CSV file (default: print to stdout)")
    s.add_argument("--plot", type=Path, help="PNG file with a plot of the species")
    s.add_argument("--quiet", action="store_true", help="no timing messages on stderr")
    r = sub.add_parser("run", help="run a SED-ML simulation experiment (a .sedml file or a "
                       "COMBINE/OMEX archive) and write its reports and plots")
    r.add_argument("experiment", type=Path, help="SED-ML file or COMBINE archive")
    r.add_argument("-o", "--output-dir", type=Path, default=Path("."),
                   help="folder for the reports (<id>.csv) and plots (<id>.png); default .")
    r.add_argument("--quiet", action="store_true", help="no messages on stderr")
    m = sub.add_parser("models", help="list the models of the library, or show one's card")
    m.add_argument("name", nargs="?", help="print this model's card")
    c = sub.add_parser("minimal-cell", help="JCVI-syn3A cells through their cell cycles")
    c.add_argument("--cells", type=int, default=1, help="founder cells (default 1)")
    c.add_argument("--generations", type=int, default=1, help="cycles (default 1)")
    c.add_argument("--data", type=Path, help="the minimal-cell tables (default "
                   "$WHOLECELL_MINIMAL_CELL_DATA or ../shared/minimal-cell)")
    c.add_argument("--metabolism", action="store_true", help="couple the metabolic network "
                   "(ODEs) to gene expression, instead of fixed pools and one lipid rate")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--workers", type=int, default=1, help="processes to run the cells in "
                   "(default 1: one process, the cells in lock step), for machines with "
                   "more cores than one process keeps busy")
    c.add_argument("--minutes", type=float, default=None, help="model time to run "
                   "(default 150 per generation); a cycle not over by then is reported")
    c.add_argument("--every", type=float, default=60.0, help="recording interval, s")
    c.add_argument("-o", "--output", type=Path, help="lineage CSV (one row per cell)")
    c.add_argument("--plot", type=Path, help="PNG: one cell's cycle (volume, mRNA, "
                   "proteins, forks)")
    c.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return ap


def _minimal_cell(args) -> None:
    import numpy as np

    import wholecell as wc
    from wholecell.models.syn3a._cells import simulate_cells, summary

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr)

    if args.cells < 1 or args.generations < 1:
        raise wc.SimulationError("--cells and --generations must be at least 1")
    t0 = time.perf_counter()
    model = wc.models.load("syn3a", data=args.data,
                           stage="coupled" if args.metabolism else "gene_expression")
    say(f"loaded {model} in {time.perf_counter() - t0:.1f} s")
    t1 = time.perf_counter()
    if args.minutes is not None and not args.minutes > 0:
        raise wc.SimulationError("--minutes must be positive")
    lin = simulate_cells(model, cells=args.cells, generations=args.generations,
                         t_end_min=args.minutes, seed=args.seed, every_s=args.every,
                         progress=not args.quiet, workers=args.workers)
    say(f"simulated {len(lin)} cell cycles in {time.perf_counter() - t1:.1f} s "
        "(compile included)")
    open_cycles = int(np.sum(~np.isfinite(lin.division)))
    if open_cycles:
        print(f"wholecell: {open_cycles} of {len(lin)} cell cycles did not end in division "
              f"by minute {lin.time[-1] / 60:.0f}; the figures below count only those that "
              "did", file=sys.stderr)
    for name, f in summary(lin).items():
        say(f"  {name}: median {f['median']:.4g} ({f['p5']:.4g}-{f['p95']:.4g})"
            + (f"  published: {f['published']}" if f.get("published") else ""))
    if args.output:
        lin.to_dataframe().to_csv(args.output, index=False)
        say(f"wrote {args.output}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(2, 2, figsize=(10, 6), sharex=True)
        minutes = lin.time / 60
        for ax, ids, label in (
            (axes[0, 0], ["volume_fl"], "volume (fl)"),
            (axes[0, 1], ["mRNA_total", "mRNA_on_ribosomes"], "mRNA"),
            (axes[1, 0], ["RNAP_total", "ribosome_total", "degradosome_total"], "machines"),
            (axes[1, 1], ["fork_cw", "fork_ccw"], "fork position (segments)"),
        ):
            for i in ids:
                ax.plot(minutes, np.asarray(lin[i])[0], label=i)
            ax.set_ylabel(label)
            ax.legend(fontsize=7)
        for ax in axes[1]:
            ax.set_xlabel("time (min)")
        fig.suptitle("JCVI-syn3A: the first cell's cycle")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        plt.close(fig)
        say(f"wrote {args.plot}")


def _run_experiment(args, say) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import wholecell as wc

    t0 = time.perf_counter()
    exp = wc.load(args.experiment)
    if not isinstance(exp, wc.sedml.Experiment):
        raise wc.SedmlError(f"'{args.experiment}' holds a model, not a simulation "
                            "experiment; `wholecell simulate` runs a model")
    say(f"loaded {exp} in {time.perf_counter() - t0:.2f} s")
    t1 = time.perf_counter()
    res = exp.run()
    say(f"ran {len(res.results)} task(s) in {time.perf_counter() - t1:.2f} s (compile "
        "included)")
    for path in res.write(args.output_dir):
        say(f"wrote {path}")


def _list_models(name: str | None) -> None:
    import wholecell as wc

    if name is not None:
        print(wc.models.info(name).card, end="")
        return
    for item in wc.models.list():
        meta = wc.models.info(item)
        span = f"t = {meta.t_start:g}..{meta.t_end:g}"
        print(f"{item:28s} {span:18s} {meta.title}")


def _model(spec: str) -> tuple[wc.Model, wc.models.ModelInfo | None]:
    """The model named on the command line (a file, else a library model) and its library
    metadata (None for a file)."""
    import wholecell as wc

    path = Path(spec)
    if path.is_file():
        return wc.load_sbml(path), None
    if path.suffix.lower() in (".xml", ".sbml") or len(path.parts) > 1:
        raise wc.WholecellError(f"no such file: {spec}")
    try:
        meta = wc.models.info(spec)
    except wc.models.UnknownModelError as err:
        raise wc.WholecellError(f"'{spec}' is not a file; {err}") from err
    return meta.load(), meta


def _text(v: float) -> str:
    """A CSV field: the shortest round-trip form, NaN as an empty field."""
    return "" if v != v else repr(v)


def _write_csv(res: wc.Result, stream) -> None:
    """The table of ``res.to_dataframe().to_csv(index=False)``, written without pandas:
    importing it was about a tenth of a fresh command's time. Numbers in their shortest
    round-trip form, as pandas writes them, and NaN as an empty field."""
    import csv

    import numpy as np

    writer = csv.writer(stream, lineterminator="\n")
    values = np.asarray(res.values)
    # Python floats from ``tolist``: without NaN (the common case) ``repr`` at C speed
    text = _text if np.isnan(values).any() else repr
    if not res.batch_shape:
        writer.writerow(["time", *res.ids])
        for t, row in zip(res.time.tolist(), values.tolist(), strict=True):
            writer.writerow([text(t), *map(text, row)])
        return
    writer.writerow(["member", "time", *res.ids])
    flat = values.reshape(-1, len(res.time), len(res.ids))
    for m, member in enumerate(flat.tolist()):
        for t, row in zip(res.time.tolist(), member, strict=True):
            writer.writerow([m, text(t), *map(text, row)])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import numpy as np

    import wholecell as wc

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr)

    try:
        if args.command == "models":
            _list_models(args.name)
            return 0
        if args.command == "run":
            _run_experiment(args, say)
            return 0
        if args.command == "minimal-cell":
            _minimal_cell(args)
            return 0
        if args.points is not None and args.points < 2:
            raise wc.SimulationError("--points must be at least 2")
        params = {}
        for item in args.param:
            key, sep, value = item.partition("=")
            if not sep:
                raise wc.SimulationError(f"--param expects ID=VALUE, got '{item}'")
            params[key.strip()] = float(value)
        t0 = time.perf_counter()
        model, meta = _model(args.model)
        say(f"loaded {model} in {time.perf_counter() - t0:.2f} s")
        if args.t_end is None and meta is None:
            raise wc.SimulationError("--t-end is required for an SBML file")
        t_start = args.t_start if args.t_start is not None else meta.t_start if meta else 0.0
        t_end = args.t_end if args.t_end is not None else meta.t_end
        points = args.points if args.points is not None else meta.points if meta else 101
        method = args.method or (meta.method if meta else "ode")
        ts = np.linspace(t_start, t_end, points)
        t1 = time.perf_counter()
        kwargs = {}
        if method != "ode":
            kwargs = {"n": args.n, "seed": args.seed}
        res = wc.simulate(
            model, ts, method=method, params=params or None, rtol=args.rtol,
            atol=args.atol, solver=args.solver, **kwargs,
        )
        say(f"simulated in {time.perf_counter() - t1:.2f} s (compile included)")
        if args.output:
            with open(args.output, "w", newline="") as stream:
                _write_csv(res, stream)
            say(f"wrote {args.output}")
        else:
            _write_csv(res, sys.stdout)
        if args.plot:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            ax = res.plot(list(meta.plot) if meta else None)
            ax.set_title(model.name or model.id)
            ax.figure.tight_layout()
            ax.figure.savefig(args.plot, dpi=120)
            plt.close(ax.figure)
            say(f"wrote {args.plot}")
    except wc.WholecellError as e:
        print(f"wholecell: error: {e}", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    """The console entry point: `main`, then the process ends at once with its status.

    Tearing down the loaded modules (JAX's runtime, sympy) at a normal interpreter exit
    took 0.15-0.3 s of a 3 s command on a 2-core machine; everything `main` writes is
    closed when it returns, and the standard streams are flushed here.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
