"""Run SBML Test Suite semantic cases and judge them by the suite's own rule."""

from __future__ import annotations

import csv
import multiprocessing as mp
import os
import time
import traceback
from collections import defaultdict
from functools import partial
from pathlib import Path

import numpy as np

from .._progress import progress_bar
from ._cases import Case, Outcome, read_case
from ._fba import run_fba_case
from ._stochastic import run_stochastic_case

#: solve this much tighter than the case asks (the suite's own advice)
RTOL = 1e-10
ATOL_FACTOR = 1e-4
#: some cases execute 100,000 events
MAX_STEPS = 400_000




def compare(case: Case, names: list[str], actual: np.ndarray, expected: np.ndarray) -> str:
    """'' if every point is within |e - a| <= abs + rel * |e|, else where it is worst."""
    ta, tr = case.absolute, case.relative
    worst, where = 0.0, ""
    for j, name in enumerate(names):
        e, a = expected[:, j], actual[:, j]
        both_nan = np.isnan(e) & np.isnan(a)
        same_inf = np.isinf(e) & (e == a)
        with np.errstate(invalid="ignore", over="ignore"):
            err = np.abs(e - a)
            ok = (err <= ta + tr * np.abs(e)) | both_nan | same_inf
        if not np.all(ok):
            i = int(np.argmin(ok))
            excess = float(err[i] / (ta + tr * abs(e[i]))) if np.isfinite(err[i]) else np.inf
            if not where or excess > worst:
                worst = excess
                where = f"{name} at t={case.times()[i]:g}: expected {e[i]:.10g}, got {a[i]:.10g}"
    return where


def run_case(directory: str, members: int = 1) -> Outcome:
    """Simulate one case; never raises.

    ``members`` > 1 simulates that many copies of the model's parameters as one ensemble
    (`simulate`'s batch path, e.g. the lock-step loop) and judges every member.
    """
    import wholecell as wc

    t0 = time.perf_counter()
    tags: tuple[str, ...] = ()
    try:
        case = read_case(Path(directory))
        tags = case.tags + tuple(f"package:{p}" for p in case.packages)
        if case.test_type != "TimeCourse":
            return run_fba_case(case, tags, t0)
        model = wc.load_sbml(case.sbml)
        ts = case.times()
        atol = max(case.absolute, 1e-300) * ATOL_FACTOR
        params = None
        if members > 1:
            sim = wc.compile(model)
            values = np.asarray(sim.param_values)
            ruled = {r.variable for r in sim.model.assignment_rules}
            free = [i for i, pid in enumerate(sim.param_ids) if pid not in ruled]
            finite = np.array([i for i in free if np.isfinite(values[i])])  # NaN: assigned
            if not finite.size:
                num = int(Path(directory).name)
                return Outcome(num, "unsupported", "no parameter to batch over",
                               time.perf_counter() - t0, tags)
            i = int(finite[0])
            params = {sim.param_ids[i]: np.full(members, float(values[i]))}
            model = sim
        res = wc.simulate(model, ts, rtol=RTOL, atol=atol, t0=0.0, max_steps=MAX_STEPS,
                          params=params)
        header, expected = case.expected()
        expected = expected[:, 1:]
        names = header[1:]
        cols = []
        species = set(res.species_ids)
        for name in names:
            if name in case.amounts and name in species:
                cols.append(res.amount(name))
            elif name in case.concentrations and name in species:
                cols.append(res.concentration(name))
            else:
                cols.append(res[name])
        if members > 1:
            cols = [np.broadcast_to(c, (members, len(ts))) for c in cols]
            actual = np.stack(cols, axis=2) if cols else np.zeros((members, len(ts), 0))
            detail = next((d for d in (compare(case, names, a, expected) for a in actual) if d),
                          "")
        else:
            actual = np.stack(cols, axis=1) if cols else np.zeros((len(ts), 0))
            detail = compare(case, names, actual, expected)
        status = "fail" if detail else "pass"
    except wc.UnsupportedSBMLError as e:
        status, detail = "unsupported", str(e).splitlines()[0]
    except Exception as e:  # a case must never stop the run: record it
        status = "error"
        detail = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        if os.environ.get("WHOLECELL_TRACEBACK"):
            traceback.print_exc()
    num = int(Path(directory).name)
    return Outcome(num, status, detail, time.perf_counter() - t0, tags)


#: cases a worker process runs before a fresh one replaces it
CASES_PER_WORKER = 40


def _init_worker():
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
    import wholecell  # noqa: F401


def run_cases(
    directories: list[Path], jobs: int = 1, progress: bool = True,
    stochastic_runs: int | None = None, members: int = 1,
) -> list[Outcome]:
    """Run the cases, ``jobs`` at a time in worker processes.

    With ``stochastic_runs`` the cases are stochastic ones, each run that many times;
    ``members`` > 1 runs each semantic case as an ensemble of that many copies.
    """
    out: list[Outcome] = []
    total = len(directories)
    paths = [str(d) for d in directories]

    run = partial(run_case, members=members) if members > 1 else run_case
    if stochastic_runs is not None:
        run = partial(run_stochastic_case, n=stochastic_runs)
    if jobs <= 1 and total <= CASES_PER_WORKER:
        _init_worker()
        it = map(run, paths)
        pool = None
    else:
        ctx = mp.get_context("spawn")
        # Fresh worker processes every CASES_PER_WORKER cases, with one job too: a
        # single process that compiles the whole suite runs out of JIT code memory.
        pool = ctx.Pool(max(jobs, 1), initializer=_init_worker,
                        maxtasksperchild=CASES_PER_WORKER)
        it = pool.imap(run, paths, chunksize=1)
    counts: dict[str, int] = defaultdict(int)
    try:
        with progress_bar(total, "test suite", "case", progress) as bar:
            for o in it:
                out.append(o)
                counts[o.status] += 1
                bar.set_postfix_str(", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                                    refresh=False)
                bar.update(1)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return out


def summary(outcomes: list[Outcome]) -> str:
    n = defaultdict(int)
    for o in outcomes:
        n[o.status] += 1
    failed = n["fail"] + n["error"]
    return f"{n['pass']} passed, {failed} failed, {n['unsupported']} unsupported"


def tag_table(outcomes: list[Outcome]) -> str:
    """A markdown table: tag | passed | failed | unsupported | total."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for o in outcomes:
        for t in o.tags:
            rows[t][o.status] += 1
            rows[t]["total"] += 1
    lines = ["| tag | passed | failed | unsupported | total |", "|---|---:|---:|---:|---:|"]
    for t in sorted(rows, key=lambda k: (-rows[k]["total"], k)):
        r = rows[t]
        lines.append(
            f"| {t} | {r['pass']} | {r['fail'] + r['error']} | {r['unsupported']} | "
            f"{r['total']} |"
        )
    return "\n".join(lines)


def write_report(outcomes: list[Outcome], path: Path) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["case", "status", "seconds", "detail", "tags"])
        for o in sorted(outcomes, key=lambda o: o.case):
            w.writerow([f"{o.case:05d}", o.status, f"{o.seconds:.2f}", o.detail, " ".join(o.tags)])
