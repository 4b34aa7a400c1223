"""Gradient checks of PEtab objectives: reverse mode against forward mode and central
differences (``python -m wholecell.petab --check-gradients``).

Reverse mode (`PetabProblem.value_and_grad`, checkpointed) and forward mode (`jax.jvp`
of the same objective through the plain loop) both differentiate the computed solution,
so they must agree to rounding. Central differences converge to the same derivative as
their step shrinks, until jumps of the computed solution (a changed step sequence) and
rounding take over; they are taken at several steps, and each component is judged at the
step, or Richardson extrapolation of two, where they agree best.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

#: problems with more estimated parameters are checked on a seeded sample of this many
MAX_FORWARD = 40
#: central differences on this many components (those with the largest gradient entries)
N_FD = 4
#: central-difference steps on the parameters' PEtab scales (times max(1, |theta|))
FD_STEPS = (1e-3, 1e-4, 1e-5)
#: the criterion: reverse within this relative difference of forward mode
TOLERANCE = 1e-5
#: ... relative to the component, or to this fraction of the gradient's norm where the
#: component is smaller (the criterion's 1e-8 of the norm is 1e-5 of 1e-3 of it)
FLOOR = 1e-3


def relative(a: np.ndarray, b: np.ndarray, norm: float) -> np.ndarray:
    """|a - b| / max(|b|, FLOOR * norm), elementwise."""
    return np.abs(a - b) / np.maximum(np.abs(b), max(FLOOR * norm, 1e-300))


def judge(reverse: float, diffs: list[float], steps: tuple[float, ...],
          norm: float) -> tuple[float, str]:
    """(relative difference, where) of ``reverse`` to the best of the central differences
    ``diffs`` at ``steps`` and their Richardson extrapolations over consecutive steps
    (exact for the h^2 truncation error of steps a factor 10 apart)."""
    cands = [(d, f"h = {h:g}") for d, h in zip(diffs, steps, strict=True)]
    for k in range(len(steps) - 1):
        q = (steps[k] / steps[k + 1]) ** 2
        cands.append(((q * diffs[k + 1] - diffs[k]) / (q - 1),
                      f"h = {steps[k]:g}, {steps[k + 1]:g} extrapolated"))
    rel = relative(np.full(len(cands), reverse), np.array([c[0] for c in cands]), norm)
    if not np.any(np.isfinite(rel)):
        return float("nan"), "no finite difference"
    b = int(np.nanargmin(rel))
    return float(rel[b]), cands[b][1]


def check(prob, *, seed: int = 0, max_forward: int = MAX_FORWARD, n_fd: int = N_FD,
          steps: tuple[float, ...] = FD_STEPS) -> dict:
    """Reverse mode against forward mode and central differences at the nominal point.

    Returns:
        A dict: ``value``; ``n_par``; ``checked`` (the parameters compared with forward
        mode); ``fwd_rel`` (the largest relative difference to forward mode, see
        `relative`) and ``fwd_worst`` (its parameter); ``fd_rel``, ``fd_step`` and
        ``fd_worst`` (over the ``n_fd`` components with the largest gradient entries:
        each judged at the step where it agrees best, the worst of them); ``fd_table``
        (per component: reverse and the differences at each step); timings.
    """
    th = jnp.asarray(prob.nominal, dtype=jnp.float64)
    n = th.shape[0]
    out: dict = {"n_par": int(n)}
    t = time.perf_counter()
    value, grad = prob.value_and_grad(th)
    out["reverse_s"] = time.perf_counter() - t
    value, grad = float(value), np.asarray(grad)
    out["value"] = value
    if not (np.isfinite(value) and np.all(np.isfinite(grad))):
        out["status"] = "no value" if not np.isfinite(value) else "non-finite gradient"
        return out
    if n > max_forward:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_forward, replace=False))
    else:
        idx = np.arange(n)
    out["checked"] = int(idx.size)

    def f(x):
        return prob._forward(x, "lax")[0] + prob.table.prior_nll(x)

    dirs = jnp.eye(n, dtype=jnp.float64)[idx]
    jvps = jax.jit(jax.vmap(lambda d: jax.jvp(f, (th,), (d,))[1]))
    t = time.perf_counter()
    fwd = np.asarray(jvps(dirs))
    out["forward_s"] = time.perf_counter() - t
    norm = float(np.linalg.norm(grad))
    out["grad_norm"] = norm
    rel = relative(grad[idx], fwd, norm)
    k = int(np.argmax(rel))
    out["fwd_rel"] = float(rel[k])
    out["fwd_worst"] = prob.parameter_ids[idx[k]]

    def value_at(x):
        total, _ = prob._forward_lax(x)
        return float(total + prob.table.prior_nll(x))

    t = time.perf_counter()
    fd_idx = np.argsort(-np.abs(grad), kind="stable")[:n_fd]
    rows = []
    for i in fd_idx:
        diffs = []
        for h in steps:
            hh = h * max(1.0, abs(float(th[i])))
            up, down = value_at(th.at[i].add(hh)), value_at(th.at[i].add(-hh))
            diffs.append((up - down) / (2 * hh))
        r, where = judge(float(grad[i]), diffs, steps, norm)
        rows.append({"parameter": prob.parameter_ids[i], "reverse": float(grad[i]),
                     "fd": diffs, "rel": r, "step": where})
    out["fd_s"] = time.perf_counter() - t
    worst = max(rows, key=lambda r: r["rel"] if np.isfinite(r["rel"]) else np.inf)
    out.update(fd_rel=worst["rel"], fd_step=worst["step"], fd_worst=worst["parameter"],
               fd_table=rows)
    out["status"] = "pass" if out["fwd_rel"] <= TOLERANCE else "fail"
    return out


CHILD = """
import json, sys, time
import wholecell as wc
from wholecell.petab._gradcheck import check
t0 = time.perf_counter()
prob = wc.petab.load(sys.argv[1], sensitivities="adjoint")  # the reverse mode is checked
res = check(prob)
res["load_s"] = time.perf_counter() - t0 - res.get("reverse_s", 0) - res.get("forward_s", 0) \\
    - res.get("fd_s", 0)
res["solver"] = prob.solver
print(json.dumps(res))
"""


def markdown_row(row: dict) -> str:
    """One line of the README's table."""
    def num(key, fmt="{:.1e}"):
        v = row.get(key)
        return fmt.format(v) if isinstance(v, float) and np.isfinite(v) else "–"

    checked = (f"{row['checked']} of {row['n_par']}" if row.get("checked") is not None
               else (str(row["n_par"]) if row.get("n_par") else "–"))
    fwd = num("fwd_rel") + (f" ({row['fwd_worst']})" if row.get("fwd_worst") else "")
    fd = (num("fd_rel") + f" at {row['fd_step']} ({row['fd_worst']})"
          if row.get("fd_step") else "–")
    return (f"| {row['problem']} | {row.get('status', '')} | {checked} | {fwd} | {fd} | "
            f"{row.get('detail', '')} |")


def dumps(row: dict) -> str:
    return json.dumps(row, default=float)
