"""PEtab gradients after compile, wholecell against AMICI's forward and adjoint
sensitivities, side by side in one run (issue 23).

    python benchmarks/petab_amici_gradients.py [--problems Boehm_JProteomeRes2014,...]
        [--repeats 5] [--collection DIR] [--write]

Needs AMICI and ``petab`` (``pip install -e '.[amici]' petab``). Per problem, at the same
tolerances (rtol 1e-8, atol 1e-12, forward and backward):

- wholecell, in its own process: `wc.petab.load(folder, sensitivities=s)` for forward and
  adjoint sensitivities (forward only up to `FORWARD_MOST` parameters), the first
  ``value_and_grad`` (trace + compile + run) apart, then the median of ``--repeats``;
- AMICI: the problem imported by its PEtab importer (compiled to C++ once, outside the
  timing, cached in the temporary folder), the measurement data built once; the median of
  ``--repeats`` calls of `simulate_petab` with first-order forward, then adjoint,
  sensitivities (one thread), and of AMICI's solver alone (`run_simulations` on the same
  prepared data: the time the comparison uses); and, untimed, forward sensitivities at
  rtol 1e-12, atol 1e-16 as the reference.

All at nominal + ``--shift`` on the parameter scales (at the nominal values, near the
optimum, the gradient is so small that the solvers' own errors dominate it: on Boehm
AMICI's forward and adjoint gradients differ there by 5e-4 relative). The gradients are
compared as max |g - g_ref| / max |g_ref| (AMICI's ``sllh`` of the log-likelihood, on the
parameter scales; wholecell's objective is the negative log-likelihood plus the negative
log-density of the problem's objective priors, which AMICI's llh leaves out, so the
priors' value and gradient are subtracted before the comparison: Bachmann's prior on
init_EpoRJAK2, on which its likelihood does not depend). ``--write``
renders the block ``petab-amici-gradient`` of RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import header, table, write_section  # noqa: E402
from benchmarks.petab_gradients import COLLECTION, _child  # noqa: E402

PROBLEMS = ("Boehm_JProteomeRes2014", "Fujita_SciSignal2010", "Zheng_PNAS2012",
            "Bachmann_MSB2011")
RTOL, ATOL = 1e-8, 1e-12
#: wholecell's forward sensitivities are timed up to this many parameters (one tangent each)
FORWARD_MOST = 40

_CHILD = """
import os
if os.environ.get("WC_BENCH_CPU"):  # confined to one core before JAX starts its threads
    os.sched_setaffinity(0, {int(os.environ["WC_BENCH_CPU"])})
import json, statistics, sys, time
import jax, numpy as np
import wholecell as wc
folder, repeats, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")
shift = float(sys.argv[4])
out = {}
for mode in modes:
    prob = wc.petab.load(folder, sensitivities=mode)
    th = prob.nominal + shift
    def run():
        t = time.perf_counter(); r = jax.block_until_ready(prob.value_and_grad(th))
        return time.perf_counter() - t, r
    first, _ = run()
    times = []
    for _ in range(repeats):
        dt, (v, g) = run(); times.append(dt)
    # AMICI's llh has no priors: compare the likelihood part of the objective
    prior_grad = np.asarray(jax.grad(prob.table.prior_nll)(jax.numpy.asarray(th)))
    out[mode] = {"first": first, "grad": statistics.median(times),
                 "value": float(v) - prob.prior(th),
                 "gradient": (np.asarray(g) - prior_grad).tolist()}
out["ids"] = list(prob.parameter_ids)
print(json.dumps(out))
"""


def wholecell_run(folder: Path, repeats: int, modes: list[str], shift: float,
                  timeout: float, cpu: int | None = None) -> dict:
    # an empty compilation cache: the first call compiles, as in a user's first session
    with tempfile.TemporaryDirectory(prefix="wc_amici_bench_") as cache:
        env = dict(os.environ, WHOLECELL_CACHE_DIR=cache)
        if cpu is not None:
            env["WC_BENCH_CPU"] = str(cpu)
        return _child(_CHILD, [str(folder), str(repeats), ",".join(modes), repr(shift)],
                      timeout, env)


def _solver(model, method: str, rtol: float, atol: float):
    import amici.sim.sundials as asim

    solver = model.create_solver()
    solver.set_relative_tolerance(rtol)
    solver.set_absolute_tolerance(atol)
    solver.set_relative_tolerance_b(rtol)
    solver.set_absolute_tolerance_b(atol)
    solver.set_relative_tolerance_quadratures(rtol)
    solver.set_absolute_tolerance_quadratures(atol)
    solver.set_max_steps(1_000_000)
    solver.set_sensitivity_order(asim.SensitivityOrder_first)
    solver.set_sensitivity_method(getattr(asim, f"SensitivityMethod_{method}"))
    return solver


def amici_run(folder: Path, name: str, repeats: int, shift: float) -> dict:
    """AMICI's llh and sllh at nominal + ``shift`` (on the parameter scales), forward and
    adjoint, timed; and an untimed forward run at rtol 1e-12, atol 1e-16 (the
    reference)."""
    import amici.sim.sundials as asim
    import petab.v1 as petab
    from amici.importers.petab.v1 import import_petab_problem
    from amici.sim.sundials.petab.v1 import create_parameterized_edatas, simulate_petab

    problem = petab.Problem.from_yaml(folder / f"{name}.yaml")
    tic = time.perf_counter()
    model = import_petab_problem(problem, Path(tempfile.gettempdir()) / f"amici_petab_{name}")
    setup = time.perf_counter() - tic
    est = problem.parameter_df[problem.parameter_df["estimate"] == 1]
    params = {pid: float(petab.scale(row["nominalValue"], row["parameterScale"])) + shift
              for pid, row in est.iterrows()}
    edatas = create_parameterized_edatas(model, problem, params, scaled_parameters=True)
    out = {"setup": setup}
    for method, rtol, atol, n in (("forward", RTOL, ATOL, repeats),
                                  ("adjoint", RTOL, ATOL, repeats),
                                  ("reference", 1e-12, 1e-16, 0)):
        solver = _solver(model, "forward" if method == "reference" else method, rtol, atol)

        def call(solver=solver):
            t = time.perf_counter()
            r = simulate_petab(problem, amici_model=model, solver=solver,
                               problem_parameters=params, scaled_parameters=True,
                               edatas=edatas, scaled_gradients=True,
                               log_level=logging.ERROR)
            return time.perf_counter() - t, r

        try:
            dt, res = call()
            times = [dt]
            for _ in range(n):
                dt, res = call()
                times.append(dt)
            if n:
                times = times[1:]
        except RuntimeError as err:
            out[method] = {"note": str(err)[:120]}
            continue
        sllh = res["sllh"]
        out[method] = {"grad": statistics.median(times), "llh": float(res["llh"]),
                       "sllh": {k: float(v) for k, v in sllh.items()} if sllh else None,
                       "status": [int(r.status) for r in res["rdatas"]]}
        if n:  # the solver alone: the simulations of the prepared data, no PEtab mapping
            solo = []
            for _ in range(n):
                t = time.perf_counter()
                asim.run_simulations(model, solver, edatas, num_threads=1)
                solo.append(time.perf_counter() - t)
            out[method]["solver only"] = statistics.median(solo)
    return out


def _grad_diff(g: np.ndarray, ids: list[str], theirs: dict) -> float:
    """max |g + sllh| / max |sllh| (g: of the negative log-likelihood, in ``ids`` order)."""
    ref = -np.array([theirs["sllh"][k] for k in ids])
    return float(np.max(np.abs(g - ref)) / np.max(np.abs(ref)))


@contextlib.contextmanager
def _confined(cpu: int | None):
    """This process on CPU ``cpu`` alone while the block runs (None: as it is)."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def run_problem(name: str, collection: Path, repeats: int, shift: float,
                timeout: float, cpu: int | None = None) -> dict:
    folder = collection / name
    import petab.v1 as petab

    problem = petab.Problem.from_yaml(folder / f"{name}.yaml")
    n_par = int((problem.parameter_df["estimate"] == 1).sum())
    modes = ["forward", "adjoint"] if n_par <= FORWARD_MOST else ["adjoint"]
    wc_out = wholecell_run(folder, repeats, modes, shift, timeout, cpu)
    with _confined(cpu):
        am = amici_run(folder, name, repeats, shift)
    row = {"problem": name, "n_par": n_par, "cores": "all" if cpu is None else "1",
           "amici setup": am["setup"]}
    if "note" in wc_out:
        row["note"] = wc_out["note"]
    done = [m for m in modes if m in wc_out]
    for mode in done:
        row[f"wc {mode}"] = wc_out[mode]["grad"]
        row[f"wc {mode} first"] = wc_out[mode]["first"]
    for method in ("forward", "adjoint"):
        if "grad" in am[method]:
            row[f"AMICI {method}"] = am[method]["grad"]
            row[f"AMICI {method} solver only"] = am[method]["solver only"]
    for method in ("forward", "adjoint", "reference"):
        if "note" in am[method]:
            row["note"] = (row.get("note", "") + f" AMICI {method}: {am[method]['note']}").strip()
    wc_best = min((row[f"wc {m}"] for m in done), default=None)
    am_best = min((row[f"AMICI {m} solver only"] for m in ("forward", "adjoint")
                   if f"AMICI {m}" in row), default=None)
    if wc_best and am_best:
        row["AMICI best / wc best"] = am_best / wc_best
    ids = wc_out.get("ids")
    grads = {m: np.asarray(wc_out[m]["gradient"]) for m in done}
    if grads and am["forward"].get("sllh"):
        row["grad diff vs AMICI"] = max(_grad_diff(g, ids, am["forward"])
                                        for g in grads.values())
    ref = am["reference"]
    if grads and ref.get("sllh"):
        row["wc vs reference"] = max(_grad_diff(g, ids, ref) for g in grads.values())
        row["value diff"] = max(abs(wc_out[m]["value"] + ref["llh"]) / abs(ref["llh"])
                                for m in done)
        for method in ("forward", "adjoint"):
            if am[method].get("sllh"):
                theirs = -np.array([am[method]["sllh"][k] for k in ids])
                row[f"AMICI {method} vs reference"] = _grad_diff(theirs, ids, ref)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS))
    ap.add_argument("--collection", type=Path, default=COLLECTION)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=1800.0,
                    help="seconds for wholecell's process per problem")
    ap.add_argument("--shift", type=float, default=0.05,
                    help="evaluate at nominal + shift on the parameter scales (at the "
                         "nominal values, near the optimum, the gradient is small and "
                         "both solvers' errors dominate it)")
    ap.add_argument("--one-core", action="store_true",
                    help="confine wholecell's process and AMICI's timing to one core each "
                         "(the last this process may use), as AMICI runs one thread")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args(argv)
    cpu = max(os.sched_getaffinity(0)) if args.one_core else None
    rows = []
    for name in args.problems.split(","):
        row = run_problem(name, args.collection, args.repeats, args.shift, args.timeout,
                          cpu)
        rows.append(row)
        print(json.dumps(row), flush=True)
    if args.write:
        notes = (
            "Gradient of the negative log-likelihood at nominal + "
            f"{args.shift:g} on every parameter's scale, after compile, seconds (median of "
            f"{args.repeats} calls; rtol {RTOL:g}, atol {ATOL:g}, forward and backward). "
            "wc forward / adjoint: `prob.value_and_grad` with `sensitivities=` forward "
            f"(up to {FORWARD_MOST} parameters) or adjoint; `first`: the first call "
            "(trace, compile, run) in a new process with an empty compilation cache. "
            "AMICI forward / adjoint: "
            "`simulate_petab` with the measurement data built once, first-order "
            "sensitivities, one thread; solver only: `run_simulations` on the same "
            "prepared data (no PEtab mapping or summing, less than a user's objective "
            "costs); AMICI setup: its PEtab import and C++ build (once "
            "per model; read from the cache folder when it is there). AMICI best / wc best: "
            "> 1 where wholecell's faster mode beats AMICI's faster solver-only time. "
            "Gradient differences "
            "are max |g - g_ref| / max |g_ref|: grad diff vs AMICI against AMICI's forward "
            "sensitivities at the same tolerances (the larger of wholecell's modes); "
            "... vs reference against AMICI's forward sensitivities at rtol 1e-12, atol "
            "1e-16; value diff: wholecell's objective less its priors against the reference's "
            "-llh. cores: all (wholecell's process may use every core; AMICI runs one "
            "thread) or 1 (`--one-core`: wholecell's process and AMICI's timing each "
            "confined to one core). "
            "Written by `python benchmarks/petab_amici_gradients.py --write`.")
        cols = ["problem", "n_par", "cores", "wc forward", "wc adjoint", "AMICI forward",
                "AMICI adjoint", "AMICI forward solver only", "AMICI adjoint solver only",
                "AMICI best / wc best", "wc forward first",
                "wc adjoint first", "amici setup", "grad diff vs AMICI", "wc vs reference",
                "AMICI forward vs reference", "AMICI adjoint vs reference", "value diff",
                "note"]
        text = header("PEtab gradients against AMICI (issue 23)", notes) + "\n" + table(
            rows, cols)
        write_section("petab-amici-gradient", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
