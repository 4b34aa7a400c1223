"""Shared pieces of the benchmarks: alternating timing, accuracy, machine facts, RESULTS.md."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: tolerances every ODE simulator gets
RTOL, ATOL = 1e-6, 1e-9


def alternate(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each function, calling them in turn ``repeats`` times.

    Alternating (A B A B ...) rather than A A B B keeps a shared, busy machine's slow
    spells from landing on one side only; the medians are then compared as ratios.
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(repeats):
        order = list(fns) if i % 2 == 0 else list(fns)[::-1]
        for k in order:
            t = time.perf_counter()
            fns[k]()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def median_time(f: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls of ``f``."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_chunks(batch: Callable, P: np.ndarray, chunk: int, chunks: int | None = None,
               place: Callable = lambda a: a) -> np.ndarray:
    """``batch`` over the first ``chunks`` chunks (default all) of the rows of ``P``, the
    last padded to the compiled size with copies of its last row; ``place`` puts each
    chunk where it runs (e.g. sharded). The outputs of the real rows, concatenated."""
    import jax.numpy as jnp

    chunks = -(-P.shape[0] // chunk) if chunks is None else chunks
    out = []
    for k in range(chunks):
        Pk = P[k * chunk:(k + 1) * chunk]
        m = Pk.shape[0]
        if m < chunk:
            Pk = np.concatenate([Pk, np.repeat(Pk[-1:], chunk - m, axis=0)])
        out.append(np.asarray(batch(place(jnp.asarray(Pk))))[:m])
    return np.concatenate(out)


def timed(f: Callable[[], object]) -> tuple[float, object]:
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def max_rel_diff(ours, ref, floor: float = 1e-6) -> float:
    """Largest |ours - ref| / |ref| over all entries, with each column's (last axis) floor
    at ``floor`` times its largest |ref| (so species near zero do not dominate), and at
    double precision of the largest |ref| of all (differences below it are rounding)."""
    ours, ref = np.asarray(ours, float), np.asarray(ref, float)
    axes = tuple(range(ref.ndim - 1))
    scale = np.max(np.abs(ref), axis=axes, keepdims=True) if ref.ndim > 1 else np.abs(ref).max()
    rounding = np.finfo(float).eps * (np.max(np.abs(ref)) if ref.size else 0.0)
    denom = np.maximum(np.abs(ref), np.maximum(floor * scale, rounding) + 1e-300)
    return float(np.nanmax(np.abs(ours - ref) / denom)) if ref.size else 0.0


def lognormal(nominal: np.ndarray, n: int, sigma: float = 0.1, seed: int = 0) -> np.ndarray:
    """``n`` log-normal perturbations (median the nominal values) of a parameter vector."""
    rng = np.random.default_rng(seed)
    return nominal[None, :] * np.exp(sigma * rng.standard_normal((n, nominal.size)))


def versions() -> str:
    out = [f"Python {platform.python_version()}"]
    for pkg in ("wholecell", "jax", "jaxlib", "diffrax", "equinox", "numpy", "libroadrunner",
                "gillespy2", "amici"):
        try:
            out.append(f"{pkg} {importlib.metadata.version(pkg)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = f", load average {os.getloadavg()[0]:.1f} at start"
    except OSError:
        load = ""
    try:
        import jax

        dev = ", JAX devices: " + ", ".join(sorted({d.device_kind for d in jax.devices()}))
    except Exception:  # noqa: BLE001 - informational only
        dev = ""
    return f"{cpu}, {os.cpu_count()} cores{load}{dev}"


def header(title: str, notes: str = "") -> str:
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    lines = [f"## {title}", "", f"Run {stamp} on {machine()}.", "", f"Versions: {versions()}."]
    if notes:
        lines += ["", notes]
    return "\n".join(lines) + "\n"


def table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        if v is None:
            return "–"
        if isinstance(v, float):
            if not np.isfinite(v):
                return "–"
            if v == 0:
                return "0"
            if abs(v) >= 100:
                return f"{v:.0f}"
            if abs(v) >= 0.01:
                return f"{v:.3g}"
            return f"{v:.2e}"
        return str(v)

    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(out) + "\n"


INTRO = """\
Written by `python -m benchmarks` (tasks 1-4 of issue 6; `--quick` for a few-minute run)
and `python benchmarks/ssa.py` (issue 4). Each block says when and on what it was measured.
Every (task, model) runs in its own process, in which wholecell and its peers alternate;
times are medians of the repeats, and **speedup = peer time / wholecell time** (> 1: wholecell
is faster). The raw rows are kept in `benchmarks/results.json`.

Peers (`pip install -e '.[bench]'`): libRoadRunner 2.10 (CVODE; `gillespie` for SSA) and
GillesPy2 1.8.3 (`SSACSolver`). AMICI is not in the extra: PyPI has no wheel for it here, and
building it from source (swig and OpenBLAS from apt first) took about 13 minutes on this
2-core machine, before any model's own C++ build; it was not benchmarked.

The machine is shared: its load average was 7-14 on 2 cores during these runs, so absolute
times are slow and noisy; only the ratios within one process are meaningful.
"""


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the block ``name`` of RESULTS.md, keeping the other blocks."""
    begin, end = f"<!-- begin {name} -->", f"<!-- end {name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    old = path.read_text() if path.exists() else (
        "# Benchmarks: wholecell side by side with its peers\n\n" + INTRO + "\n"
    )
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(old):
        new = pattern.sub(lambda _: block, old)
    else:
        new = old.rstrip() + "\n\n" + block
    path.write_text(new.rstrip() + "\n")
