"""Plots of data against simulation (matplotlib, imported only when plotting)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def plot_fit(df: pd.DataFrame, *, title: str = "", axes=None):
    """One panel per observable: data as markers, the simulation as lines, per condition.

    Arguments:
        df: `PetabProblem.simulate`'s table (``measurement``, ``simulation`` columns).
        title: the figure's title.
        axes: a sequence of matplotlib axes to draw into (default: a new figure).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    obs = list(dict.fromkeys(df["observableId"]))
    if axes is None:
        n = len(obs)
        cols = min(3, n)
        rows = math.ceil(n / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
        axes = list(np.ravel(axes))
        for ax in axes[n:]:
            ax.set_visible(False)
    else:
        axes = list(np.ravel(axes))
        fig = axes[0].figure
    pre = df["preequilibrationConditionId"] if "preequilibrationConditionId" in df else ""
    key = df["simulationConditionId"].astype(str) + np.where(pre != "", " (pre " + pre + ")", "")
    for ax, oid in zip(axes, obs, strict=False):
        sub = df[df["observableId"] == oid]
        times = sub["time"].astype(float)
        # measurements at steady state (time inf) are drawn right of the finite times
        finite = times[np.isfinite(times)]
        at_steady = 1.1 * float(finite.max()) if len(finite) and finite.max() > 0 else 1.0
        for k, (cond, part) in enumerate(sub.groupby(key.loc[sub.index], sort=False)):
            part = part.assign(time=part["time"].astype(float)).sort_values("time")
            steady = np.isinf(part["time"])
            color = f"C{k % 10}"
            run = part[~steady]
            ax.plot(run["time"], run["measurement"], "o", ms=3.5, color=color, alpha=0.7)
            ax.plot(run["time"], run["simulation"], "-", color=color, lw=1.5,
                    label=cond if len(run) else None)
            if steady.any():
                ss = part[steady]
                ax.plot([at_steady] * len(ss), ss["measurement"], "o", ms=3.5, color=color,
                        alpha=0.7)
                ax.plot([at_steady], ss["simulation"].iloc[:1], "_", ms=14, mew=2,
                        color=color, label=None if len(run) else cond)
        if np.isinf(times).any():
            ax.annotate("steady state", (at_steady, 0), xycoords=("data", "axes fraction"),
                        xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)
        ax.set_title(oid, fontsize=9)
        ax.set_xlabel("time")
        if sub["simulationConditionId"].nunique() <= 6:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
