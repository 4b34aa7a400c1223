"""Evaluate every PEtab problem of a collection at its nominal parameters.

    python -m wholecell.petab [COLLECTION_DIR] [--problems A,B] [--timeout 600] [--out report.csv]
    python -m wholecell.petab --check-gradients [COLLECTION_DIR] [--out gradients.jsonl]

Each problem runs in its own process (a crash or a timeout affects only that problem).
Problems with a published reference log-likelihood (AMICI's) are compared with it to 1e-3.
``--check-gradients`` compares each problem's reverse-mode gradient at its nominal
parameters with forward mode and central differences (`wholecell.petab._gradcheck`),
smallest models first, one JSON line per problem in ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

#: AMICI's published log-likelihoods at the nominal parameters
REFERENCE_LLH = {
    "Boehm_JProteomeRes2014": -138.22199693517703,
    "Fujita_SciSignal2010": 53.08377736998929,
    "Zheng_PNAS2012": 278.33353271001477,
    "Elowitz_Nature2000": 63.20279991419332,
    "Brannmark_JBC2010": -141.889113770537,
    "Crauste_CellSystems2017": -190.96521897435176,
    "Weber_BMC2015": -296.2017922646865,
    "Bachmann_MSB2011": 418.40573341425295,
}
TOLERANCE = 1e-3
DEFAULT_DIR = Path("../shared/petab-benchmarks/Benchmark-Models")

_CHILD = """
import json, sys, time
import wholecell as wc
from wholecell.petab.__main__ import compare_simulated_data
t0 = time.perf_counter()
prob = wc.petab.load(sys.argv[1])
t1 = time.perf_counter()
llh = prob.log_likelihood()
t2 = time.perf_counter()
why = None
if llh != llh:
    from wholecell.petab.__main__ import explain_nan
    why = explain_nan(prob)
print(json.dumps({"llh": llh, "load_s": t1 - t0, "eval_s": t2 - t1,
                  "n_par": len(prob.parameter_ids), "solver": prob.solver, "why": why,
                  "simdata_rel": compare_simulated_data(prob, sys.argv[1])}))
"""
_KEYS = [
    "observableId",
    "simulationConditionId",
    "preequilibrationConditionId",
    "time",
    "observableParameters",
    "noiseParameters",
]


def explain_nan(prob) -> str:
    """Why the log-likelihood at the nominal parameters is NaN: the simulations that fail,
    from which output time, with which solver and step limit."""
    df = prob.simulate()
    bad = df[df["simulation"].isna() | df["nllh"].isna()]
    if bad.empty:
        return "every simulation is finite; a noise formula or prior gives NaN"
    sim_nan = bad[bad["simulation"].isna()]
    if sim_nan.empty:
        obs = ", ".join(sorted(set(bad["observableId"])))
        return (f"the likelihood is NaN for observable(s) {obs}"
                " although the simulation is finite (a noise or transformation domain error)")
    parts = [
        f"{c} from t = {g['time'].astype(float).min():g}"
        for c, g in sim_nan.groupby("simulationConditionId")
    ]
    return (f"the simulation fails (NaN; solver {prob.solver}, max_steps {prob.max_steps}) "
            f"in condition(s) {'; '.join(parts)}")


def compare_simulated_data(prob, folder: str) -> float | None:
    """Largest relative difference between our simulation at the nominal parameters and the
    collection's ``simulatedData_*.tsv`` (None where the problem has none, or where its
    rows cannot be matched with ours: `simulated_data_difference`)."""
    import pandas as pd

    files = sorted(Path(folder).glob("simulatedData*.tsv"))
    if not files:
        return None
    return simulated_data_difference(prob.simulate(), pd.read_csv(files[0], sep="\t"))


def _row_keys(df, keys: list[str]):
    """The key columns as comparable text: empty cells and NaN alike, numbers by value."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=df.index)
    for k in keys:
        col = df[k]
        if k == "time":
            out[k] = [repr(float(v)) for v in np.asarray(col, dtype=float)]
        else:
            text = col.astype(object).where(col.notna(), "").astype(str)
            out[k] = text.str.replace(r"\.0$", "", regex=True)
    return out


def _matched_rows(ours, ref, keys: list[str], unique: bool = False):
    """(ours' index, ref's index) pairing rows with equal keys, or None where the keys
    differ (or, with ``unique``, where a key picks more than one row)."""
    ka, kb = _row_keys(ours, keys), _row_keys(ref, keys)
    if unique and ka.duplicated().any():
        return None
    ia = ka.sort_values(keys, kind="stable").index
    ib = kb.sort_values(keys, kind="stable").index
    if not (ka.loc[ia].to_numpy() == kb.loc[ib].to_numpy()).all():
        return None
    return ia, ib


def simulated_data_difference(ours, ref) -> float | None:
    """Largest relative difference of ``ours["simulation"]`` to ``ref["simulation"]``
    (``|a - b| / max(|b|, 1e-6 max |b|)``), rows matched by their keys (observable,
    conditions, time, parameters). Some collection files name each observable as AMICI's
    importer flattens it (``obs__obsPars__noisePars__condition__preequilibration``): a
    name that is not one of ours is read up to its first ``__``; where the parameter
    columns differ, rows are matched without them if the other keys pick one row each.
    None where the keys cannot be matched (files that name the conditions of an older
    version of the problem) or where the file holds the measurements themselves."""
    import numpy as np

    if len(ref) != len(ours):
        return None
    ref = ref.copy()
    known = set(ours["observableId"].astype(str))
    ref["observableId"] = [o if o in known else o.split("__")[0]
                           for o in ref["observableId"].astype(str)]
    keys = [k for k in _KEYS if k in ref.columns and k in ours.columns]
    matched = _matched_rows(ours, ref, keys)
    if matched is None:
        # files that write the parameters' values where the table names them (Sneyd's
        # noise 0.0227 for 'sigma'): without them, where the rest picks one row each
        short = [k for k in keys if k not in ("observableParameters", "noiseParameters")]
        matched = _matched_rows(ours, ref, short, unique=True)
    if matched is None:
        return None
    ia, ib = matched
    b = ref.loc[ib, "simulation"].to_numpy(dtype=float)
    if "measurement" in ours.columns and np.allclose(
            ours.loc[ia, "measurement"].to_numpy(dtype=float), b, rtol=1e-12, atol=0.0,
            equal_nan=True):
        return None  # the measurements, to rounding (Zheng's file: 2.4e-16)
    a = ours.loc[ia, "simulation"].to_numpy(dtype=float)
    scale = np.maximum(np.abs(b), 1e-6 * max(float(np.max(np.abs(b))), 1e-300))
    return float(np.max(np.abs(a - b) / scale))


def _run_child(code: str, folder: Path, timeout: float, row: dict) -> dict | None:
    """Run ``code`` on ``folder`` in a subprocess under ``timeout`` s; its last stdout line
    as JSON, or None with ``row``'s status and detail set (timeout, error). Records the
    wall time in ``row["seconds"]``."""
    t = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True,
                             text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        row.update(status="timeout", detail=f"over {timeout:.0f} s")
        return None
    row["seconds"] = round(time.perf_counter() - t, 1)
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
        row.update(status="error", detail=lines[-1] if lines else f"exit {out.returncode}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def evaluate(folder: Path, timeout: float) -> dict:
    """Load and evaluate one problem in a subprocess; a dict with status and figures."""
    row = {"problem": folder.name, "status": "", "llh": "", "reference": "", "detail": ""}
    ref = REFERENCE_LLH.get(folder.name)
    if ref is not None:
        row["reference"] = ref
    res = _run_child(_CHILD, folder, timeout, row)
    if res is None:
        return row
    detail = f"{res['n_par']} parameters, {res['solver']}"
    if res.get("why"):
        detail += f": {res['why']}"
    if res.get("simdata_rel") is not None:
        row["simdata_rel"] = res["simdata_rel"]
        detail += f", max rel. diff. to simulatedData {res['simdata_rel']:.1e}"
    row.update(llh=res["llh"], detail=detail)
    if ref is None:
        row["status"] = "value"
    else:
        ok = abs(res["llh"] - ref) <= TOLERANCE
        row["status"] = "pass" if ok else "fail"
    return row


def check_gradients(folder: Path, timeout: float) -> dict:
    """`_gradcheck.check` of one problem in a subprocess; a dict of its figures."""
    from ._gradcheck import CHILD

    row = {"problem": folder.name, "status": "", "detail": ""}
    res = _run_child(CHILD, folder, timeout, row)
    if res is None:
        return row
    row.update(res)
    row["detail"] = f"{row.get('solver', '')}, {row['seconds']:.0f} s"
    return row


def _gradient_main(folders: list[Path], timeout: float, out: Path | None) -> int:
    from ._gradcheck import dumps, markdown_row

    def size(folder: Path) -> int:
        return sum(p.stat().st_size for p in folder.glob("*.xml"))

    rows = []
    print("| problem | status | parameters checked | largest rel. diff. to forward mode "
          "| central differences: largest rel. diff. at its best step | detail |")
    print("|---|---|---|---|---|---|", flush=True)
    for folder in sorted(folders, key=size):
        row = check_gradients(folder, timeout)
        rows.append(row)
        print(markdown_row(row), flush=True)
        if out:
            with open(out, "a") as f:
                f.write(dumps(row) + "\n")
    bad = [r["problem"] for r in rows if r["status"] == "fail"]
    print(f"{sum(r['status'] == 'pass' for r in rows)} pass, {len(bad)} fail"
          + (f" ({', '.join(bad)})" if bad else "")
          + f", {len(rows) - sum(r['status'] in ('pass', 'fail') for r in rows)} without a "
          "gradient (no value, timeout or error)")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("collection", nargs="?", type=Path, default=DEFAULT_DIR)
    ap.add_argument("--problems", help="comma-separated problem names (default: all)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per problem")
    ap.add_argument("--out", type=Path, help="write a CSV report here (JSON lines, appended, "
                    "with --check-gradients)")
    ap.add_argument("--check-gradients", action="store_true",
                    help="compare reverse-mode gradients with forward mode and central "
                    "differences instead")
    args = ap.parse_args(argv)
    if not args.collection.is_dir():
        ap.error(f"no PEtab collection at {args.collection}")
    folders = sorted(p for p in args.collection.iterdir() if p.is_dir())
    if args.problems:
        wanted = set(args.problems.split(","))
        folders = [p for p in folders if p.name in wanted]
    if args.check_gradients:
        return _gradient_main(folders, args.timeout, args.out)
    rows = []
    for folder in folders:
        row = evaluate(folder, args.timeout)
        rows.append(row)
        llh = f"{row['llh']:.6f}" if row["llh"] != "" else "-"
        ref = f" (reference {row['reference']:.6f})" if row["reference"] != "" else ""
        print(f"{row['problem']}: {row['status']} {llh}{ref} {row['detail']}", flush=True)
    if args.out:
        with open(args.out, "w", newline="") as f:
            fields = ["problem", "status", "llh", "reference", "simdata_rel", "seconds", "detail"]
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            w.writeheader()
            w.writerows(rows)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("pass", "fail", "value")}
    other = len(rows) - sum(counts.values())
    print(
        f"{counts['pass']} match their reference, {counts['fail']} do not, "
        f"{counts['value']} evaluated without a reference, {other} refused or failed"
    )
    return 1 if counts["fail"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
