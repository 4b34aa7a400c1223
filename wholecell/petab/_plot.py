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
        for k, (cond, part) in enumerate(sub.groupby(key.loc[sub.index], sort=False)):
            part = part.sort_values("time")
            color = f"C{k % 10}"
            ax.plot(part["time"], part["measurement"], "o", ms=3.5, color=color, alpha=0.7)
            ax.plot(part["time"], part["simulation"], "-", color=color, lw=1.5, label=cond)
        ax.set_title(oid, fontsize=9)
        ax.set_xlabel("time")
        if sub["simulationConditionId"].nunique() <= 6:
            ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
