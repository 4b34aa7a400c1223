"""Real models against libRoadRunner: ``python -m wholecell.testsuite --biomodels DIR``.

Every SBML file in a folder is simulated by wholecell and by libRoadRunner (CVODE, the
``bench`` extra) at the same tolerances over the same times, and every species (its
concentration, or its amount with only substance units) and every rule-driven variable
is compared: values agree where ``|a - b| <= 1e-6 max|b| + 1e-4 |b|`` (``b``
roadrunner's, the maximum over the run of that id). Each model runs in its own process
under a time limit. A mismatch is rerun by both at tighter tolerances, which shows whose
answer moves: the one that moves towards the other's was wrong.

Classes: ``match``, ``mismatch`` (worst id, time, both values, and the tighter runs),
``refused`` (wholecell refuses the model by name), ``error`` (wholecell fails),
``roadrunner`` (libRoadRunner cannot load or simulate it: nothing to compare),
``timeout``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from .._progress import progress_bar

#: the comparison of the issue: |a - b| <= ABS_OF_MAX max|b| + REL |b|
ABS_OF_MAX, REL = 1e-6, 1e-4
#: the tighter tolerances a mismatch is rerun at (rtol, atol)
TIGHT = (1e-11, 1e-16)


def _roadrunner(path: Path, ids, hosu, ts, rtol, atol):
    import roadrunner

    rr = roadrunner.RoadRunner(str(path))
    rr.setIntegrator("cvode")
    rr.integrator.relative_tolerance = rtol
    rr.integrator.absolute_tolerance = atol
    rr.integrator.maximum_num_steps = 1_000_000
    known = set(rr.model.getFloatingSpeciesIds()) | set(rr.model.getBoundarySpeciesIds())
    sel = [f"[{s}]" if (s in known and not hosu.get(s, False)) else s for s in ids]
    rr.timeCourseSelections = ["time"] + sel
    out = np.asarray(rr.simulate(float(ts[0]), float(ts[-1]), len(ts)))
    return out[:, 1:]


def _ids(model) -> tuple[list[str], dict[str, bool]]:
    """Species and rule-driven variables (parameters and compartments with rules)."""
    ids = [s.id for s in model.species]
    ruled = [r.variable for r in list(model.assignment_rules) + list(model.rate_rules)]
    ids += [v for v in ruled if v not in ids]
    return ids, {s.id: s.has_only_substance_units for s in model.species}


def _worst(a: np.ndarray, b: np.ndarray):
    """(excess, column, row): the largest |a - b| over its allowance."""
    allow = ABS_OF_MAX * np.nanmax(np.abs(b), axis=0, initial=0.0) + REL * np.abs(b)
    diff = np.abs(a - b)
    excess = np.where(np.isnan(a) != np.isnan(b), np.inf, np.nan_to_num(diff / np.where(
        allow > 0, allow, 1e-300), nan=0.0))
    k = np.unravel_index(int(np.argmax(excess)), excess.shape) if excess.size else (0, 0)
    return (float(excess[k]) if excess.size else 0.0), int(k[1]), int(k[0])


def check_one(path: Path, rtol: float, atol: float, t_end: float, n: int) -> dict:
    """One model: a dict with ``status`` and the details of the comparison."""
    import jax

    jax.config.update("jax_enable_x64", True)
    import wholecell as wc

    ts = np.linspace(0.0, t_end, n)
    out: dict = {"model": path.stem, "atol": atol}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = wc.load_sbml(path)
    except wc.SBMLError as e:
        return out | {"status": "refused", "detail": str(e).splitlines()[0][:300]}
    out["load_warnings"] = [str(w.message)[:200] for w in caught]
    ids, hosu = _ids(model)
    try:
        b = _roadrunner(path, ids, hosu, ts, rtol, atol)
    except Exception as e:  # noqa: BLE001 - any failure of the peer means no reference
        return out | {"status": "roadrunner", "detail": f"{type(e).__name__}: {e}"[:300]}

    def ours(r, a):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            res = wc.simulate(model, ts, rtol=r, atol=a, max_steps=1_000_000)
        return np.stack([np.asarray(res[i], dtype=float) for i in ids], axis=1), got, res

    try:
        t0 = time.perf_counter()
        a, got, res = ours(rtol, atol)
        out["seconds"] = round(time.perf_counter() - t0, 2)
        out["solver"] = str(res.stats.get("solver"))
    except wc.UnsupportedSBMLError as e:
        return out | {"status": "refused", "detail": str(e).splitlines()[0][:300]}
    except Exception as e:  # noqa: BLE001 - reported, never hidden
        return out | {"status": "error", "detail": f"{type(e).__name__}: {e}"[:300]}
    out["warnings"] = [str(w.message)[:200] for w in got]
    excess, col, row = _worst(a, b)
    out.update(worst_id=ids[col], time=float(ts[row]), ours=float(a[row, col]),
               roadrunner=float(b[row, col]), excess=excess,
               roadrunner_peak=float(np.nanmax(np.abs(b[:, col]), initial=0.0)))
    if excess <= 1.0:
        return out | {"status": "match"}
    out["status"] = "mismatch"
    try:  # whose error: both again, tighter
        a2 = ours(*TIGHT)[0]
        b2 = _roadrunner(path, ids, hosu, ts, *TIGHT)
        out.update(
            tight_ours=float(a2[row, col]), tight_roadrunner=float(b2[row, col]),
            ours_vs_tight_rr=_worst(a, b2)[0], rr_vs_tight_ours=_worst(b, a2)[0],
            tight_vs_tight=_worst(a2, b2)[0],
        )
    except Exception as e:  # noqa: BLE001
        out["tight_detail"] = f"{type(e).__name__}: {e}"[:200]
    return out


def _run_one(path: Path, rtol: float, atol: float, t_end: float, n: int,
             timeout: float) -> dict:
    """`check_one` of ``path`` in a child process under ``timeout`` s."""
    cmd = [sys.executable, "-m", "wholecell.testsuite._biomodels", str(path), str(rtol),
           str(atol), str(t_end), str(n)]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
        row = json.loads(lines[-1]) if lines else {
            "model": path.stem, "status": "error",
            "detail": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    except subprocess.TimeoutExpired:
        row = {"model": path.stem, "status": "timeout", "detail": f"> {timeout:g} s"}
    row["wall"] = round(time.perf_counter() - t0, 1)
    return row


def run_folder(folder: Path, *, rtol: float, atol: float, t_end: float, n: int,
               timeout: float, progress: bool = True, jobs: int = 1) -> list[dict]:
    """Every ``*.xml`` of ``folder``, each in its own process under ``timeout`` s, ``jobs``
    at a time; rows in the files' order."""
    paths = sorted(folder.glob("*.xml"))
    rows: dict[Path, dict] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
            progress_bar(len(paths), "curated models", "model", progress) as bar:
        futures = {pool.submit(_run_one, p, rtol, atol, t_end, n, timeout): p for p in paths}
        for future in as_completed(futures):
            path, row = futures[future], future.result()
            rows[path] = row
            bar.set_postfix_str(f"{path.stem}: {row['status']} ({row['wall']} s)",
                                refresh=False)
            bar.update(1)
    return [rows[p] for p in paths]


def table(rows: list[dict]) -> str:
    """A markdown report: counts per class, then every model that is not a match."""
    classes = ["match", "mismatch", "refused", "error", "timeout", "roadrunner"]
    counts = {c: sum(r["status"] == c for r in rows) for c in classes}
    lines = ["| " + " | ".join(classes) + " | total |", "|" + "---|" * (len(classes) + 1),
             "| " + " | ".join(str(counts[c]) for c in classes) + f" | {len(rows)} |", "",
             "| model | class | detail |", "|---|---|---|"]
    for r in rows:
        if r["status"] == "match":
            continue
        if r["status"] == "mismatch":
            d = (f"`{r['worst_id']}` at t = {r['time']:g}: {r['ours']:.6g} (wholecell) vs "
                 f"{r['roadrunner']:.6g} (roadrunner), {r['excess']:.3g}x the allowance")
            if "tight_ours" in r:
                d += (f"; at rtol {TIGHT[0]:g}/atol {TIGHT[1]:g}: {r['tight_ours']:.6g} vs "
                      f"{r['tight_roadrunner']:.6g} (tight vs tight {r['tight_vs_tight']:.3g}x, "
                      f"wholecell vs tight roadrunner {r['ours_vs_tight_rr']:.3g}x, roadrunner "
                      f"vs tight wholecell {r['rr_vs_tight_ours']:.3g}x)")
            peak, atol = r.get("roadrunner_peak"), r.get("atol")
            if peak is not None and atol is not None and peak < atol:
                d += (f"; the reference stays below atol {atol:g} over the whole run (at most "
                      f"{peak:.3g}), where the error test of neither tool resolves it")
        else:
            d = r.get("detail", "")
        lines.append(f"| {r['model']} | {r['status']} | {d.replace('|', '/')} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """The child process: one model, one JSON line on stdout."""
    path, rtol, atol, t_end, n = Path(argv[0]), *map(float, argv[1:4]), int(argv[4])
    print(json.dumps(check_one(path, rtol, atol, t_end, n)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
