"""FluxBalanceSteadyState cases (fbc package)."""

from __future__ import annotations

import time


def run_fba_case(case, tags, t0):
    from ._runner import Outcome

    return Outcome(
        case.number,
        "unsupported",
        "unsupported SBML construct: flux balance analysis (fbc package)",
        time.perf_counter() - t0,
        tags,
    )
