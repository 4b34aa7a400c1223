"""Populations of syn3A cells through their cycles, and the figures the papers report.

`simulate_cells` runs `wholecell.division.simulate` with the model's own division rule
(the surface area doubles), partition rules (genes as whole copies; the origin, DnaA
filament and forks start over in each daughter; molecules binomially; lipids halve) and
split (lipid synthesis as an ODE, every other reaction stochastic). `summary` turns the
lineage into the figures of the model card, each beside its published value.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Sequence

import numpy as np

from ..._errors import SimulationError
from ...division import doubled
from ...division import simulate as simulate_division
from ...division._lineage import Lineage
from ...sbml._model import Model

#: states of the replication machinery: both daughters start from the birth state
RESTART = ("oriC_free", "oriC_bound", "filament", "fork_cw", "fork_ccw", "mRNA_degraded")
#: the reactions integrated as ODEs (and, with metabolism coupled, every metabolic
#: reaction, ``R_*``); all others fire one by one
DETERMINISTIC = ("lipid_synthesis",)
#: what `simulate_cells` records by default (with every protein count)
RECORD = ("SA", "volume_fl", "mRNA_total", "mRNA_on_ribosomes", "mRNA_degraded",
          "protein_total", "RNAP_total", "RNAP_free", "ribosome_total", "ribosome_free",
          "degradosome_total", "filament", "fork_cw", "fork_ccw", "replicated", "lipid",
          "ATP_mM", "GTP_mM", "UTP_mM", "CTP_mM")

#: published figures (Thornburg et al., Cell 2022; Fu et al. 2025) for `summary`
PUBLISHED = {
    "cycle_time_min": "median 102 (93-112); experiment doubling 105",
    "volume_doubling_min": "~67",
    "initiation_min": "~5",
    "replication_done_min": "~49",
    "protein_ratio": "median 2.07 (1.46-2.71); 32 of 452 below 1.8",
    "mRNA_per_cell": "~375, ~92 % ribosome-bound",
    "translations_per_mRNA": "~7.7",
    "machines_at_birth": "RNAP ~97, ribosomes 500, degradosomes 120",
    "ATP_mM_mean": "~5.7", "GTP_mM_mean": "~4.2", "UTP_mM_mean": "~0.4",
}


def partition_rules(model: Model) -> dict[str, str]:
    """Division rules: genes as whole copies, the replication machinery restarts."""
    ids = {s.id for s in model.species}
    rules = {s: "copies" for s in ids if s.startswith("G_")}
    rules.update({s: "initial" for s in RESTART if s in ids})
    return rules


def stochastic_reactions(model: Model) -> list[str]:
    """Every reaction but lipid synthesis and metabolism."""
    return [r.id for r in model.reactions
            if r.id not in DETERMINISTIC and not r.id.startswith("R_")]


def simulate_cells(model: Model, *, cells: int = 1, generations: int = 1,
                   t_end_min: float | None = None, every_s: float = 60.0, seed: int = 0,
                   ids: Sequence[str] | None = None, progress: bool = False,
                   chunk_size: int | None = None, communication_step: float = 1.0,
                   rtol: float | None = None, atol: float | None = None,
                   max_steps: int | None = None, workers: int = 1,
                   executor=None) -> Lineage:
    """``cells`` founder cells through ``generations`` cycles (each cell divides when its
    surface area has doubled), recorded every ``every_s`` seconds.

    ``ids`` defaults to `RECORD` and every protein count (``P_<locus>``). With metabolism
    coupled (reactions ``R_*``) the firings' change of the metabolites is released over
    the next communication step (``spread``, `wholecell.stochastic._hybrid`) and the
    tolerances default to ``rtol=1e-4`` and ``atol=1e-2`` molecules, which the counts
    (integers, changed hundreds at a time by a translation) do not need tighter; with
    jumps and 1e-6 / 1e-9 the coupled cell took 8x the steps (0-10 s: 1,424 against
    359 at the looser tolerances, 0-60 s: 2,253 against 718 with spread).
    Otherwise 1e-6 and 1e-9, as `wholecell.simulate`.

    ``max_steps`` bounds the ODE steps per cell cycle: 1,000,000 with metabolism coupled
    (one coupled cell took 63,455 steps for 0-70 min and passed 100,000 at 106 min),
    otherwise 100,000.

    ``workers`` > 1 runs the cells in that many new processes (spawned; one cell per
    compiled batch unless ``chunk_size`` says otherwise), each compiling the model once,
    for machines with more cores than one process keeps busy (on the 2-core benchmark
    machine one coupled cell already uses both, and 4 cells in 2 processes took longer
    than one batch of 4: models/syn3a/README.md). Or give an ``executor`` (a
    `concurrent.futures.Executor` or a `dask.distributed.Client`,
    `wholecell.division.simulate`). The results are those of one process with the same
    ``chunk_size``, bit for bit.
    """
    coupled = any(r.id.startswith("R_") for r in model.reactions)
    rtol = rtol if rtol is not None else (1e-4 if coupled else 1e-6)
    atol = atol if atol is not None else (1e-2 if coupled else 1e-9)
    max_steps = max_steps if max_steps is not None else (1_000_000 if coupled else 100_000)
    t_end = (t_end_min or 150.0 * generations) * 60.0
    t = np.arange(0.0, t_end + every_s / 2, every_s)
    if ids is None:
        known = {s.id for s in model.species} | {p.id for p in model.parameters}
        ids = [i for i in RECORD if i in known] + [
            s.id for s in model.species if s.id.startswith("P_")]
    if workers < 1:
        raise SimulationError(f"workers must be at least 1, got {workers}")
    if workers > 1 and executor is not None:
        raise SimulationError("give workers or an executor, not both")
    pool = None
    if workers > 1:
        pool = executor = concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        chunk_size = chunk_size or 1
    try:
        return simulate_division(
            model, t, when=doubled("SA"), stochastic=stochastic_reactions(model), n=cells,
            seed=seed, partition=partition_rules(model), generations=generations,
            communication_step=communication_step, ids=ids, progress=progress,
            chunk_size=chunk_size, spread=coupled, rtol=rtol, atol=atol,
            max_steps=max_steps, executor=executor,
        )
    finally:
        if pool is not None:
            pool.shutdown()


def _first_time(times, trace, hits):
    """The first of ``times`` where ``hits(trace)`` holds, per cell (NaN if never)."""
    ok = hits(trace)
    first = np.where(ok.any(axis=1), times[np.argmax(ok, axis=1)], np.nan)
    return first


def summary(lin: Lineage) -> dict[str, dict[str, float | str]]:
    """The card's figures from a lineage: per figure the median, the 5-95 % range and the
    published value. Only cells that divided count."""
    done = np.isfinite(lin.division)
    out: dict[str, dict[str, float | str]] = {}
    if not done.any():
        return out

    def add(name, values, scale=1.0):
        v = np.asarray(values, dtype=float)[done] * scale
        v = v[np.isfinite(v)]
        if v.size:
            out[name] = {"median": float(np.median(v)), "p5": float(np.percentile(v, 5)),
                         "p95": float(np.percentile(v, 95)), "cells": int(v.size),
                         "published": PUBLISHED.get(name, "")}

    add("cycle_time_min", lin.division - lin.birth, 1 / 60)
    vol = lin["volume_fl"]
    vdbl = _first_time(lin.time, vol, lambda v: v >= 2 * lin.at_birth("volume_fl")[:, None]
                       * (1 - 1e-9))
    add("volume_doubling_min", vdbl - lin.birth, 1 / 60)
    init = _first_time(lin.time, lin["fork_cw"], lambda f: f >= 1)
    add("initiation_min", init - lin.birth, 1 / 60)
    rep = _first_time(lin.time, lin["replicated"], lambda r: r >= 1)
    add("replication_done_min", rep - lin.birth, 1 / 60)
    proteins = [i for i in lin.ids if i.startswith("P_")]
    if proteins:
        ratio = np.stack([lin.at_division(p) / lin.at_birth(p) for p in proteins], axis=1)
        per_gene = np.nanmedian(np.where(np.isfinite(ratio), ratio, np.nan)[done], axis=0)
        out["protein_ratio"] = {
            "median": float(np.nanmedian(per_gene)),
            "p5": float(np.nanpercentile(per_gene, 5)),
            "p95": float(np.nanpercentile(per_gene, 95)),
            "below_1.8": int(np.sum(per_gene < 1.8)), "genes": int(np.isfinite(per_gene).sum()),
            "published": PUBLISHED["protein_ratio"],
        }
    alive = np.isfinite(lin["mRNA_total"])
    mrna = np.where(alive, lin["mRNA_total"], np.nan)
    add("mRNA_per_cell", np.nanmean(mrna, axis=1))
    add("mRNA_ribosome_bound_fraction",
        np.nanmean(np.where(alive, lin["mRNA_on_ribosomes"], np.nan), axis=1)
        / np.nanmean(mrna, axis=1))
    made = sum(lin.at_division(p) - lin.at_birth(p) for p in proteins) if proteins else np.nan
    add("translations_per_mRNA", made / lin.at_division("mRNA_degraded"))
    for machine in ("RNAP_total", "ribosome_total", "degradosome_total"):
        add(f"{machine}_at_birth", lin.at_birth(machine))
    for pool in ("ATP_mM", "GTP_mM", "UTP_mM", "CTP_mM"):  # metabolism coupled: live pools
        if pool in lin.ids:
            add(f"{pool}_mean", np.nanmean(np.where(alive, lin[pool], np.nan), axis=1))
    return out
