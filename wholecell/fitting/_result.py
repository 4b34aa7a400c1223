"""The outcome of `fit`: `FitResult`, and `FitError` for a fit that cannot start."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._errors import WholecellError


class FitError(WholecellError, ValueError):
    """The fit cannot start: no bounds to draw starts in, a bad method or bad bounds."""


@dataclass(frozen=True)
class FitResult:
    """The outcome of a multi-start fit, starts ordered best first.

    Attributes:
        x: the best parameters found (on the objective's scale).
        fun: the objective there.
        parameter_ids: names of the parameters (if the objective has them).
        xs: every start's final parameters, best first: (n_starts, n_params).
        fvals: every start's final objective value, sorted: the waterfall.
        x0s: the starting points, in the same order as ``xs``.
        n_iter, n_fev: iterations and objective evaluations of each start.
        times: wall time of each start (seconds).
        messages: the optimiser's message for each start.
        wall_time: the wall time of the whole fit (seconds, compilation included).
        n_failed: failed evaluations (objective or gradient not finite) of each start.
        n_redrawn: random starts redrawn because the objective was not finite there.
        start_index: each start's position in the order the starts ran (0 ran first).
        problem: the fitted problem (for `plot_fit`), if it was one.
    """

    x: np.ndarray
    fun: float
    parameter_ids: tuple[str, ...]
    xs: np.ndarray
    fvals: np.ndarray
    x0s: np.ndarray
    n_iter: np.ndarray
    n_fev: np.ndarray
    times: np.ndarray
    messages: tuple[str, ...]
    wall_time: float
    method: str
    n_failed: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    n_redrawn: int = 0
    start_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    problem: object = field(default=None, repr=False)

    @property
    def n_starts(self) -> int:
        return len(self.fvals)

    def n_converged(self, tol: float = 0.1) -> int:
        """How many starts ended within ``tol`` of the best objective value."""
        return int(np.sum(self.fvals <= self.fun + tol))

    def starts_to_reach(self, target: float, tol: float = 0.1) -> tuple[int, float] | None:
        """(starts run, their summed wall time in seconds) until the first start that ended
        within ``tol`` of ``target``, in the order the starts ran; None if none did."""
        if len(self.start_index) != self.n_starts:
            return None
        run = np.argsort(self.start_index)  # sorted positions in running order
        for n, i in enumerate(run, start=1):
            if self.fvals[i] <= target + tol:
                return n, float(np.sum(self.times[run[:n]]))
        return None

    def as_dict(self) -> dict[str, float]:
        """The best parameters by id."""
        return dict(zip(self.parameter_ids, map(float, self.x), strict=True))

    def plot_waterfall(self, ax=None):
        """The sorted final objective values of all starts (a waterfall plot)."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(5, 3.5))
        finite = np.isfinite(self.fvals)
        ax.plot(np.flatnonzero(finite) + 1, self.fvals[finite], "o-", ms=4)
        ax.set_xlabel("start (sorted)")
        ax.set_ylabel("final objective value")
        ax.set_title(f"waterfall: {self.n_converged()} of {self.n_starts} starts within 0.1")
        return ax.figure

    def plot_fit(self, **kwargs):
        """Data against the simulation at the best parameters (needs a PEtab problem)."""
        if self.problem is None or not hasattr(self.problem, "plot_fit"):
            raise FitError("plot_fit needs a fit of a problem with plot_fit (a PEtab problem)")
        return self.problem.plot_fit(self.x, **kwargs)

    def _repr_html_(self) -> str:
        from .._html import html_table

        rows = [("best objective", f"{self.fun:.8g}"),
                ("starts", f"{self.n_starts} ({self.n_converged()} within 0.1 of the best"
                 + (f", {self.n_redrawn} redrawn" if self.n_redrawn else "") + ")"),
                ("method", self.method), ("wall time", f"{self.wall_time:.1f} s")]
        shown = list(zip(self.parameter_ids, self.x, strict=False))[:12]
        body = [[pid, f"{v:.6g}"] for pid, v in shown]
        if len(self.parameter_ids) > len(shown):
            body.append([f"… ({len(self.parameter_ids)} in all)", ""])
        return html_table("FitResult", rows, (["parameter", "best value"], body))

    def __repr__(self) -> str:
        return (
            f"FitResult(best={self.fun:.6g}, {self.n_converged()}/{self.n_starts} starts "
            f"within 0.1, method='{self.method}', wall_time={self.wall_time:.1f}s)"
        )
