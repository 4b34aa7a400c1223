"""The four ODE tasks of issue 6, each timing wholecell and libRoadRunner in one process.

Every task function takes the model's `Spec`, its SBML path and the run's options, and
returns one row (a dict) per measured size. Times are seconds (medians of alternating
repeats); ``speedup`` is roadrunner's time over wholecell's (> 1: wholecell is faster).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

import wholecell as wc
from wholecell._devices import map_blocks, map_members, shard_batch
from wholecell.compiler._program import scalar_programs
from wholecell.ensemble._lockstep import lockstep_applies
from wholecell.ode._solvers import EXPLICIT
from wholecell.solve._plan import choose_solver

from ._amici import Amici
from ._amici import available as amici_available
from ._common import (
    ATOL,
    RTOL,
    alternate,
    log,
    lognormal,
    max_rel_diff,
    run_chunks,
    timed,
)
from ._models import Spec, free_parameters
from ._roadrunner import RR


@dataclass
class Options:
    repeats: int = 3
    ensemble_sizes: tuple[int, ...] = (1000, 10000)
    chunk: int = 1000  # wholecell ensemble members per compiled batch
    rr_budget: float = 300.0  # seconds one roadrunner loop may take before extrapolating
    ensemble_points: int = 101
    grad_points: int = 101
    sigma: float = 0.1  # log-normal spread of the ensemble and gradient parameters
    cpu_cores: int = 1  # ensembles: also time wholecell sharded over this many CPU cores
    fd_step: float = 1e-3  # relative step of roadrunner's finite differences


class WC:
    """wholecell's side of a model: the compiled model and the maps onto roadrunner's."""

    def __init__(self, spec: Spec, path, rr: RR):
        t, model = timed(lambda: wc.load_sbml(str(path), check=spec.file is not None))
        self.load_s = t
        t, self.sim = timed(lambda: wc.compile(model))
        self.compile_s = t
        self.model = model
        sim = self.sim
        self.solver = choose_solver(sim, spec.t_end, sim.param_values, 0.0)
        index = {n: i for i, n in enumerate(sim.param_ids)}
        missing = [p for p in rr.params if p not in index]
        if missing:
            raise RuntimeError(f"parameters unknown to wholecell: {missing[:5]}")
        self.pidx = jnp.asarray([index[p] for p in rr.params])
        obs = {n: i for i, n in enumerate(sim.observable_ids)}
        sp = {s.id: s for s in model.species}
        self.cols = jnp.asarray([obs[s] for s in rr.species])
        # species whose SBML value is an amount: divide by the compartment for [S]
        self.hosu = jnp.asarray([sp[s].has_only_substance_units for s in rr.species])
        self.comp_cols = jnp.asarray([obs[sp[s].compartment] for s in rr.species])
        self.rr_species = rr.species

    def params(self, q):
        """The full parameter vector with the free parameters set to ``q``."""
        return self.sim.param_values.at[self.pidx].set(q)

    def solve(self, ts, q, throw=True, solver=None, adjoint="lax"):
        """`sim.solve`; ``adjoint="lax"`` (forward only) as in `wc.simulate`."""
        return self.sim.solve(ts, self.params(q), solver=solver or self.solver, rtol=RTOL,
                              atol=ATOL, throw=throw, adjoint=adjoint)

    def concentrations(self, ts, ys, q):
        """[S] for roadrunner's floating species, from `solve`'s states."""
        obs = self.sim.observe(ts, ys, self.params(q))
        v = obs[:, self.cols]
        return jnp.where(self.hosu, v / obs[:, self.comp_cols], v)

    def simulate(self, ts):
        res = wc.simulate(self.sim, ts, rtol=RTOL, atol=ATOL)
        return np.stack([res.concentration(s) for s in self.rr_species], axis=1)


def _rr(path) -> tuple[RR, float]:
    params = free_parameters(path)
    return timed(lambda: RR(path, params))[::-1]


def _base_row(spec: Spec, rr: RR, w: WC) -> dict:
    return {
        "model": spec.name,
        "species": len(rr.species),
        "free params": len(rr.params),
        "solver": w.solver,
    }


# -- (1) load + compile ----------------------------------------------------------------


def task_compile(spec: Spec, path, opt: Options) -> list[dict]:
    """Load + compile, and the time to the first result (JIT included) of 1,000 points."""
    import roadrunner

    # roadrunner keeps compiled models in a process-wide cache keyed by the SBML; make
    # every load compile again, as wholecell's does.
    roadrunner.Config.setValue(roadrunner.Config.LOADSBMLOPTIONS_RECOMPILE, True)
    ts = np.linspace(0.0, spec.t_end, 1000)
    rows = []
    reps = opt.repeats if spec.name not in ("chen2009", "ma10000") else 1
    for i in range(reps):  # alternate: wholecell, roadrunner, roadrunner, wholecell, ...
        sides = ["wc", "rr"] if i % 2 == 0 else ["rr", "wc"]
        row: dict = {}
        for side in sides:
            if side == "wc":
                t0 = time.perf_counter()
                model = wc.load_sbml(str(path), check=spec.file is not None)
                t1 = time.perf_counter()
                sim = wc.compile(model)
                t2 = time.perf_counter()
                res = wc.simulate(sim, ts, rtol=RTOL, atol=ATOL)
                t3 = time.perf_counter()
                row.update(wc_load=t1 - t0, wc_compile=t2 - t1, wc_first=t3 - t2,
                           solver=res.stats["solver"])
                del model, sim, res
            else:
                t0 = time.perf_counter()
                rr = RR(path, [])
                t1 = time.perf_counter()
                rr.simulate(spec.t_end, 1000)
                t2 = time.perf_counter()
                row.update(rr_load=t1 - t0, rr_first=t2 - t1, species=len(rr.species))
        rows.append(row)
        log(f"compile {spec.name} repeat {i}: {row}")
    med = {k: float(np.median([r[k] for r in rows])) for k in rows[0] if k.startswith(("wc", "rr"))}
    out = {"model": spec.name, "species": rows[0]["species"], "solver": rows[0]["solver"], **med}
    out["wc load+compile"] = med["wc_load"] + med["wc_compile"]
    out["wc to 1st result"] = out["wc load+compile"] + med["wc_first"]
    out["rr to 1st result"] = med["rr_load"] + med["rr_first"]
    out["speedup"] = out["rr to 1st result"] / out["wc to 1st result"]
    out["repeats"] = reps
    return [out]


# -- (2) one simulation of 1,000 points --------------------------------------------------


def task_single(spec: Spec, path, opt: Options) -> list[dict]:
    rr, _ = _rr(path)
    w = WC(spec, path, rr)
    ts = np.linspace(0.0, spec.t_end, 1000)
    q0 = jnp.asarray(rr.nominal)
    solve = jax.jit(lambda q: w.solve(ts, q))
    t_first, _ = timed(lambda: jax.block_until_ready(solve(q0)))
    w.simulate(ts)  # warm the public path's cache too
    ref = rr.simulate(spec.t_end, 1000)
    med = alternate(
        {
            "wc.simulate": lambda: w.simulate(ts),
            "jit solve": lambda: jax.block_until_ready(solve(q0)),
            "rr": lambda: rr.simulate(spec.t_end, 1000),
        },
        opt.repeats,
    )
    row = _base_row(spec, rr, w)
    row.update(
        {
            "wc.simulate": med["wc.simulate"],
            "wc jit solve": med["jit solve"],
            "wc first (JIT)": t_first,
            "rr simulate": med["rr"],
            "speedup": med["rr"] / med["wc.simulate"],
            "speedup (jit solve)": med["rr"] / med["jit solve"],
            "max rel diff": max_rel_diff(w.simulate(ts), ref),
        }
    )
    return [row]


# -- (3) ensembles of parameter sets -------------------------------------------------


def _chunk_size(opt: Options, n_state: int, stiff: bool, points: int, lockstep: bool) -> int:
    # Stiff solves that do not run in lock step (Rosenbrock's batched dense LU, BDF one
    # member after another) gain nothing from wide batches on a CPU, so they use small
    # chunks (finer time budgets); all chunks bound memory to ~2 GB.
    per_member = 8 * n_state * (points + 16 + (4 * n_state if stiff else 0))
    small = stiff and not lockstep
    return max(1, min(opt.chunk // 10 if small else opt.chunk, int(2e9 // per_member)))


def task_ensemble(spec: Spec, path, opt: Options) -> list[dict]:
    rr, _ = _rr(path)
    w = WC(spec, path, rr)
    points = opt.ensemble_points
    ts = np.linspace(0.0, spec.t_end, points)
    ts_j = jnp.asarray(ts)
    stiff = w.solver.startswith(("rodas", "kvaerno", "bdf"))
    chunk = _chunk_size(opt, len(w.sim.state_ids), stiff, points,
                        lockstep_applies(w.sim.structure, w.solver, opt.chunk))
    explicit = w.solver in EXPLICIT

    def members(Q, split):
        # as wc.simulate runs a batch: explicit solvers in lock step (each core its block)
        if lockstep_applies(w.sim.structure, w.solver, Q.shape[0]):
            def block(Q):
                P = jax.vmap(w.params)(Q)
                return w.sim.solve_batch(ts_j, P, solver=w.solver, rtol=RTOL, atol=ATOL)[0]

            return map_blocks(block, Q) if split else block(Q)
        with scalar_programs(explicit):
            if w.solver == "bdf":  # one member after another per core, as wc.simulate
                return map_members(lambda q: w.solve(ts_j, q, throw=False), Q, split)
            return jax.vmap(lambda q: w.solve(ts_j, q, throw=False))(Q)

    batch = jax.jit(lambda Q: members(Q, False))
    batch_split = jax.jit(lambda Q: members(Q, True))
    conc = jax.jit(jax.vmap(lambda ys, q: w.concentrations(ts_j, ys, q)))
    rows = []
    first: dict[int, float] = {}  # chunk size -> its first call (JIT compile + run)
    for n in opt.ensemble_sizes:
        P = lognormal(rr.nominal, n, opt.sigma, seed=0)
        c = min(chunk, n)
        if c not in first:
            first[c], _ = timed(lambda c=c, P=P: jax.block_until_ready(batch(jnp.asarray(P[:c]))))
        t_first = first[c]
        keep = min(n, 20)
        n_chunks = -(-n // c)

        def run_wc(chunks, P=P, c=c, shard=False):
            if shard:
                return run_chunks(batch_split, P, c, chunks, shard_batch)
            return run_chunks(batch, P, c, chunks)

        # Both loops are linear in the number of chunks / members: when the whole would
        # take longer than the budget, time a part and scale it (said in the table).
        t_chunk, ys0 = timed(lambda run_wc=run_wc: run_wc(1))
        k_wc = n_chunks if t_chunk * n_chunks <= opt.rr_budget else max(
            1, int(opt.rr_budget / t_chunk))
        t_one, _ = timed(lambda P=P: rr.ensemble(spec.t_end, points, P[:3]))
        k = n if t_one / 3 * n <= opt.rr_budget else max(keep, int(opt.rr_budget / (t_one / 3)))
        k = min(k, n)
        reps = opt.repeats if n <= 1000 else max(1, opt.repeats // 3)
        if k_wc < n_chunks or k < n:
            reps = min(reps, 2)
        log(f"ensemble {spec.name} n={n}: chunk {c}, first chunk (JIT+run) {t_first:.1f} s, "
            f"one chunk {t_chunk:.2f} s, timing {k_wc} of {n_chunks} chunks and roadrunner "
            f"{k} of {n} members, {reps} repeats")
        sides = {"wc": lambda k_wc=k_wc: run_wc(k_wc),
                 "rr": lambda P=P, k=k: rr.ensemble(spec.t_end, points, P[:k])}
        cores = len(jax.devices()) if jax.default_backend() == "cpu" else 1
        if cores > 1 and c % cores == 0:
            run_wc(1, shard=True)  # compile the sharded version
            sides["wc all"] = lambda k_wc=k_wc: run_wc(k_wc, shard=True)
        med = alternate(sides, reps)
        ys = ys0[:keep]
        ref = rr.ensemble(spec.t_end, points, P[:keep], keep=keep)
        ours = np.asarray(conc(jnp.asarray(ys), jnp.asarray(P[:keep])))
        failed = int(np.sum(~np.all(np.isfinite(ys0.reshape(ys0.shape[0], -1)), axis=1)))
        rr_time = med["rr"] * n / k
        wc_time = med["wc"] * n_chunks / k_wc
        row = _base_row(spec, rr, w)
        row.update(
            {
                "n": n,
                "chunk": c,
                "wc": wc_time,
                "wc members timed": min(n, k_wc * c),
                "wc first chunk (JIT+run)": t_first,
                "rr loop": rr_time,
                "rr members timed": k,
                "speedup": rr_time / wc_time,
                "wc traj/s": n / wc_time,
                "rr traj/s": n / rr_time,
                "cores": cores,
                "wc all cores": med["wc all"] * n_chunks / k_wc if "wc all" in med else None,
                "speedup all cores": (rr_time / (med["wc all"] * n_chunks / k_wc)
                                      if "wc all" in med else None),
                "failed (1st chunk)": failed,
                "max rel diff (first 20)": max_rel_diff(ours, ref),
            }
        )
        rows.append(row)
        log(f"ensemble {spec.name} n={n}: {row}")
    return rows


# -- (4) gradient of a sum-of-squares loss --------------------------------------------


def task_gradient(spec: Spec, path, opt: Options) -> list[dict]:
    rr, _ = _rr(path)
    w = WC(spec, path, rr)
    points = opt.grad_points
    ts = jnp.asarray(np.linspace(0.0, spec.t_end, points))
    # Data from a log-normal draw q; the gradient is taken at the nominal values q0
    # (roadrunner's timeSeriesSensitivities always runs at the SBML file's values).
    q = lognormal(rr.nominal, 1, opt.sigma, seed=1)[0]
    q0 = rr.nominal
    data_rr = rr.simulate(spec.t_end, points, q)
    rr.simulate(spec.t_end, points, q0)
    data_wc = jax.jit(lambda q: w.concentrations(ts, w.solve(ts, q), q))(jnp.asarray(q))

    def loss(q):
        ys = w.solve(ts, q, adjoint="checkpointed")
        return jnp.sum((w.concentrations(ts, ys, q) - data_wc) ** 2)

    vg = jax.jit(jax.value_and_grad(loss))
    q_j = jnp.asarray(q0)
    t_first, (val, g_wc) = timed(lambda: jax.block_until_ready(vg(q_j)))
    log(f"gradient {spec.name}: wholecell first (JIT+run) {t_first:.1f} s")
    g_wc = np.asarray(g_wc)
    fns = {
        "wc": lambda: jax.block_until_ready(vg(q_j)),
        "fd": lambda: rr.fd_gradient(spec.t_end, points, q0, data_rr, opt.fd_step),
    }
    sens_note = ""
    try:
        g_sens = rr.sens_gradient(spec.t_end, points, q0, data_rr)
        fns["sens"] = lambda: rr.sens_gradient(spec.t_end, points, q0, data_rr)
    except Exception as e:  # noqa: BLE001 - reported in the table
        g_sens, sens_note = None, f"{type(e).__name__}: {str(e)[:80]}"
    g_am, am_note = _amici_gradient(path, rr, spec, points, q0, data_rr, fns)
    reps = opt.repeats if len(rr.params) * 0.01 < 10 else max(1, opt.repeats // 2)
    med = alternate(fns, reps)
    g_fd = rr.fd_gradient(spec.t_end, points, q0, data_rr, opt.fd_step)

    def gdiff(ref):
        if ref is None:
            return math.nan
        return float(np.max(np.abs(g_wc - ref)) / max(np.max(np.abs(ref)), 1e-300))

    row = _base_row(spec, rr, w)
    row.update(
        {
            "wc grad": med["wc"],
            "wc first (JIT+run)": t_first,
            "rr FD": med["fd"],
            "rr sens": med.get("sens"),
            "speedup vs FD": med["fd"] / med["wc"],
            "speedup vs sens": med["sens"] / med["wc"] if "sens" in med else None,
            "AMICI adjoint": med.get("amici"),
            "speedup vs AMICI": med["amici"] / med["wc"] if "amici" in med else None,
            "grad diff vs FD": gdiff(g_fd),
            "grad diff vs sens": gdiff(g_sens),
            "grad diff vs AMICI": gdiff(g_am),
            "loss wc/rr": float(val) / rr.loss(spec.t_end, points, q0, data_rr),
            "note": "; ".join(n for n in (sens_note, am_note) if n),
        }
    )
    return [row]


def _amici_gradient(path, rr, spec: Spec, points: int, q0, data, fns: dict):
    """AMICI's adjoint gradient of the same loss (added to ``fns`` for timing), or why
    there is none: (gradient or None, note)."""
    why = amici_available()
    if why is not None:
        return None, why
    try:
        t, am = timed(lambda: Amici(path, rr.params, rr.species))
        log(f"gradient {spec.name}: AMICI import + compile {t:.1f} s")
        _, g = am.gradient(spec.t_end, points, q0, data)
    except Exception as e:  # noqa: BLE001 - reported in the table
        return None, f"AMICI: {type(e).__name__}: {str(e)[:80]}"
    fns["amici"] = lambda: am.gradient(spec.t_end, points, q0, data)
    return g, ""


TASKS = {
    "compile": task_compile,
    "single": task_single,
    "ensemble": task_ensemble,
    "gradient": task_gradient,
}
