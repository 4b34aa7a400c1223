"""FluxBalanceSteadyState cases (fbc package): flux balance analysis, judged per value."""

from __future__ import annotations

import math
import time

import numpy as np

from ._cases import Case, Outcome


def run_fba_case(case: Case, tags: tuple[str, ...], t0: float):
    """Run one flux balance case; errors propagate to `run_case`, which records them."""
    import wholecell as wc


    if case.test_type != "FluxBalanceSteadyState":
        raise wc.UnsupportedSBMLError(f"test type '{case.test_type}'", f"case {case.number:05d}")
    model = wc.load_sbml(case.sbml)
    # The suite's convention: an infeasible problem has objective NaN.
    res = wc.fba(model, on_failure="nan")
    header, expected = case.expected()
    actual = np.array([_value(res, name) for name in header], dtype=np.float64)
    detail = compare_values(case, header, actual, expected[0])
    return Outcome(
        case.number, "fail" if detail else "pass", detail, time.perf_counter() - t0, tags
    )


def _value(res, name: str) -> float:
    try:
        return res[name]
    except KeyError as e:
        raise KeyError(f"the results ask for '{name}', which FBA does not compute") from e


def compare_values(case: Case, names: list[str], actual: np.ndarray, expected: np.ndarray) -> str:
    """'' if every value is within |e - a| <= abs + rel * |e|, else the worst miss."""
    ta, tr = case.absolute, case.relative
    worst, where = -1.0, ""
    for name, e, a in zip(names, expected, actual, strict=True):
        if (math.isnan(e) and math.isnan(a)) or (math.isinf(e) and e == a):
            continue
        err = abs(e - a)
        if err <= ta + tr * abs(e):
            continue
        excess = err / (ta + tr * abs(e)) if math.isfinite(err) and ta + tr * abs(e) else math.inf
        if excess > worst:
            worst, where = excess, f"{name}: expected {e:.10g}, got {a:.10g}"
    return where
