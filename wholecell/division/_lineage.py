"""`Lineage`: every cell of a growing and dividing population, with its history."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


class Lineage:
    """The cells of a division run: tree, birth and division times, trajectories.

    Cells are numbered in the order they were born (generation by generation).

    Attributes:
        time: the output times (shared by all cells).
        ids: the model ids recorded.
        parent: (cells,) the mother's index, -1 for the founders.
        generation: (cells,) 0 for the founders.
        birth: (cells,) birth times.
        division: (cells,) division times, NaN for cells that had not divided at the end.
        traces: (cells, times, ids) values while the cell lived, NaN outside its life.
        birth_values, division_values: (cells, ids) values at birth and at division.
        stats: run statistics (solver, steps per cell, wall time).
    """

    def __init__(self, time, ids: Sequence[str], parent, generation, birth, division,
                 traces, birth_values, division_values, stats: dict | None = None):
        self.time = np.asarray(time)
        self.ids = tuple(ids)
        self.parent = np.asarray(parent)
        self.generation = np.asarray(generation)
        self.birth = np.asarray(birth)
        self.division = np.asarray(division)
        self.traces = np.asarray(traces)
        self.birth_values = np.asarray(birth_values)
        self.division_values = np.asarray(division_values)
        self.stats = stats or {}
        self._index = {n: i for i, n in enumerate(self.ids)}

    def __len__(self) -> int:
        return len(self.parent)

    def _col(self, name: str) -> int:
        if name not in self._index:
            raise KeyError(f"'{name}' was not recorded; ids are {', '.join(self.ids)}")
        return self._index[name]

    def __getitem__(self, name: str) -> np.ndarray:
        """The trajectories of ``name``: (cells, times), NaN outside each cell's life."""
        return self.traces[..., self._col(name)]

    def at_birth(self, name: str) -> np.ndarray:
        """The value of ``name`` at each cell's birth."""
        return self.birth_values[:, self._col(name)]

    def at_division(self, name: str) -> np.ndarray:
        """The value of ``name`` at each cell's division (NaN if it did not divide)."""
        return self.division_values[:, self._col(name)]

    @property
    def divided(self) -> np.ndarray:
        return np.isfinite(self.division)

    def daughters(self, cell: int) -> np.ndarray:
        """The indices of the daughters of ``cell`` that were kept."""
        return np.flatnonzero(self.parent == cell)

    def to_dataframe(self, ids: Sequence[str] | None = None) -> pd.DataFrame:
        """One row per cell: parent, generation, birth, division, cycle time, and each id's
        value at birth and at division (columns ``<id>_birth``, ``<id>_division``)."""
        columns = {
            "cell": np.arange(len(self)),
            "parent": self.parent,
            "generation": self.generation,
            "birth": self.birth,
            "division": self.division,
            "cycle_time": self.division - self.birth,
        }
        for name in ids if ids is not None else self.ids:  # built at once: ~900 columns
            columns[f"{name}_birth"] = self.at_birth(name)
            columns[f"{name}_division"] = self.at_division(name)
        return pd.DataFrame(columns)

    def to_xarray(self, ids: Sequence[str] | None = None):
        """An `xarray.Dataset`: ``traces`` with dims ``cell``, ``time``, ``id`` (NaN
        outside each cell's life), ``at_birth`` and ``at_division`` with dims ``cell``,
        ``id``, and the tree as coordinates along ``cell`` (``parent``, ``generation``,
        ``birth``, ``division``). Needs xarray (``pip install xarray``)."""
        try:
            import xarray as xr
        except ImportError as e:
            raise ImportError("Lineage.to_xarray needs xarray: pip install xarray") from e
        cols = list(ids) if ids is not None else list(self.ids)
        idx = [self._col(c) for c in cols]
        coords = {"cell": np.arange(len(self)), "time": self.time, "id": cols,
                  "parent": ("cell", self.parent), "generation": ("cell", self.generation),
                  "birth": ("cell", self.birth), "division": ("cell", self.division)}
        data = {"traces": (("cell", "time", "id"), self.traces[..., idx]),
                "at_birth": (("cell", "id"), self.birth_values[:, idx]),
                "at_division": (("cell", "id"), self.division_values[:, idx])}
        attrs = {k: v for k, v in self.stats.items() if isinstance(v, str | int | float)}
        return xr.Dataset(data, coords=coords, attrs=attrs)

    def subtree(self, root: int = 0, max_cells: int = 64) -> np.ndarray:
        """``root`` and its descendants in birth order (at most ``max_cells``)."""
        keep = [root]
        frontier = [root]
        while frontier and len(keep) < max_cells:
            children = np.flatnonzero(np.isin(self.parent, frontier))
            frontier = list(children[: max_cells - len(keep)])
            keep.extend(frontier)
        return np.array(keep)

    def plot(self, ids: Sequence[str] | None = None, root: int = 0, max_cells: int = 64,
             axes=None):
        """Draw the tree of ``root``'s descendants and their traces; returns the axes.

        ``ids``: what to trace (default: the first three recorded ids).
        """
        import matplotlib.pyplot as plt

        cells = self.subtree(root, max_cells)
        ids = list(ids) if ids is not None else list(self.ids[:3])
        if axes is None:
            _, axes = plt.subplots(1 + len(ids), 1, figsize=(8, 2.2 * (1 + len(ids))),
                                   sharex=True, squeeze=False)
            axes = axes[:, 0]
        end = self.time[-1]
        # leaves spread evenly, each mother midway between its daughters
        inside = set(cells.tolist())
        kids = {int(c): [int(k) for k in self.daughters(c) if int(k) in inside] for c in cells}
        y: dict[int, float] = {}

        def place(c: int) -> float:
            if not kids[c]:
                y[c] = float(len([v for v in y.values() if v is not None]))
                return y[c]
            ys = [place(k) for k in kids[c]]
            y[c] = float(np.mean(ys))
            return y[c]

        place(int(cells[0]))
        ax = axes[0]
        for c in cells:
            c = int(c)
            stop = self.division[c] if np.isfinite(self.division[c]) else end
            ax.plot([self.birth[c], stop], [y[c], y[c]], color="k", lw=1)
            if kids[c]:
                ax.plot([stop, stop], [min(y[k] for k in kids[c]), max(y[k] for k in kids[c])],
                        color="k", lw=1)
        ax.set_yticks([])
        ax.set_ylabel("lineage")
        for k, name in enumerate(ids):
            a = axes[1 + k]
            for j, c in enumerate(cells):
                a.plot(self.time, self[name][c], color=f"C{j % 10}", lw=0.8)
            a.set_ylabel(name)
        axes[-1].set_xlabel("time")
        return axes

    def _repr_html_(self) -> str:
        from .._html import html_table, short_list

        gens = int(self.generation.max()) + 1 if len(self) else 0
        cycle = self.division - self.birth
        done = np.isfinite(cycle)
        rows = [("cells", len(self)), ("generations", gens),
                ("divided", int(self.divided.sum())),
                ("times", f"{len(self.time)} from {self.time[0]:g} to {self.time[-1]:g}"
                 if len(self.time) else "none"),
                ("ids", short_list(self.ids))]
        if done.any():
            rows.append(("cycle time", f"median {np.median(cycle[done]):.4g} "
                         f"({np.min(cycle[done]):.4g} to {np.max(cycle[done]):.4g})"))
        body = [[g, int(np.sum(self.generation == g)),
                 int(np.sum(self.divided & (self.generation == g)))] for g in range(gens)]
        return html_table("Lineage", rows, (["generation", "cells", "divided"], body[:10]))

    def __repr__(self) -> str:
        return (f"Lineage(cells={len(self)}, generations={int(self.generation.max()) + 1}, "
                f"divided={int(self.divided.sum())}, ids={len(self.ids)})")
