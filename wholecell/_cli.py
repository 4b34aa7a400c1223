"""The ``wholecell`` command line: a thin layer over the public API."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="wholecell", description="Simulate SBML models.")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("simulate", help="simulate an SBML model and write its time courses")
    s.add_argument("model", type=Path, help="SBML file")
    s.add_argument("--t-end", type=float, required=True, help="end time")
    s.add_argument("--t-start", type=float, default=0.0, help="start time (default 0)")
    s.add_argument("--points", type=int, default=101, help="number of output times")
    s.add_argument("--method", default="ode", help="ode, ssa or tau (default ode)")
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
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import numpy as np

    import wholecell as wc

    def say(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr)

    try:
        if args.points < 2:
            raise wc.SimulationError("--points must be at least 2")
        params = {}
        for item in args.param:
            key, sep, value = item.partition("=")
            if not sep:
                raise wc.SimulationError(f"--param expects ID=VALUE, got '{item}'")
            params[key.strip()] = float(value)
        t0 = time.perf_counter()
        model = wc.load_sbml(args.model)
        say(f"loaded {model} in {time.perf_counter() - t0:.2f} s")
        ts = np.linspace(args.t_start, args.t_end, args.points)
        t1 = time.perf_counter()
        kwargs = {}
        if args.method != "ode":
            kwargs = {"n": args.n, "seed": args.seed}
        res = wc.simulate(
            model, ts, method=args.method, params=params or None, rtol=args.rtol,
            atol=args.atol, solver=args.solver, **kwargs,
        )
        say(f"simulated in {time.perf_counter() - t1:.2f} s (compile included)")
        df = res.to_dataframe()
        if args.output:
            df.to_csv(args.output, index=False)
            say(f"wrote {args.output}")
        else:
            df.to_csv(sys.stdout, index=False)
        if args.plot:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            ax = res.plot()
            ax.set_title(model.name or model.id)
            ax.figure.tight_layout()
            ax.figure.savefig(args.plot, dpi=120)
            plt.close(ax.figure)
            say(f"wrote {args.plot}")
    except wc.WholecellError as e:
        print(f"wholecell: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
