"""Simulation results: named time courses, single runs or ensembles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._errors import WholecellError

if TYPE_CHECKING:
    import pandas as pd


class Deferred:
    """An ensemble's values, computed when first needed (``compute()``: the whole
    (..., time, id) array). ``direct`` maps the index of an id whose column needs no
    computing (a state, a constant of the model) to a function that reads that column,
    so reading a species' amounts does not observe every id of every member at every
    time."""

    def __init__(self, shape: tuple[int, ...], direct: dict[int, Callable[[], np.ndarray]],
                 compute: Callable[[], np.ndarray]):
        self.shape = tuple(shape)
        self.direct = direct
        self.compute = compute


class Result:
    """The time courses of a simulation.

    ``res[id]`` is the value of the SBML symbol ``id``: a species' concentration (its
    amount when it has only substance units), a parameter's or compartment's value, a
    reaction's rate. Ensembles carry leading batch axes: ``res["S1"].shape == (n,
    len(time))``.

    Attributes:
        time: the output times.
        ids: every id with a value in the result.
        values: array (..., len(time), len(ids)).
        stats: solver statistics (steps, rejected steps, status), per member.
        plan: the `Plan` that ran (solver, route and the reason for each choice), when
            the result comes from ``wc.simulate``.
        solver: the plan's solver (None without a plan).
    """

    def __init__(
        self,
        time: np.ndarray,
        ids: Sequence[str],
        values: np.ndarray | Deferred,
        species_compartment: dict[str, str],
        only_substance_units: dict[str, bool],
        stats: dict[str, Any] | None = None,
        method: str = "ode",
        plan: Any = None,
        model_id: str = "",
    ):
        self.time = np.asarray(time)
        self.ids = tuple(ids)
        self._deferred = values if isinstance(values, Deferred) else None
        self._values = None if self._deferred is not None else np.asarray(values)
        self._shape = self._deferred.shape if self._deferred is not None else self._values.shape
        self._index = {n: i for i, n in enumerate(self.ids)}
        self._compartment = dict(species_compartment)
        self._hosu = dict(only_substance_units)
        self.stats = stats or {}
        self.method = method
        self.model_id = model_id
        self.plan = plan

    @property
    def values(self) -> np.ndarray:
        """Every id's value: array (..., len(time), len(ids)) (computed on first use where
        the simulation left it to be, `Deferred`)."""
        if self._values is None:
            self._values = np.asarray(self._deferred.compute())
            self._deferred = None
        return self._values

    def __getstate__(self) -> dict:
        # pickled with every value: what computes them later does not pickle
        self.values  # noqa: B018 - computes them
        return dict(self.__dict__)

    @property
    def solver(self) -> str | None:
        return None if self.plan is None else self.plan.solver

    def planned(self, plan) -> Result:
        """This result, recording ``plan`` as the one that ran (returns ``self``)."""
        self.plan = plan
        return self

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._shape[:-2]

    @property
    def species_ids(self) -> tuple[str, ...]:
        return tuple(s for s in self.ids if s in self._compartment)

    def _column(self, name: str) -> np.ndarray:
        if name not in self._index:
            raise KeyError(f"'{name}' is not in this result; ids are {', '.join(self.ids)}")
        k = self._index[name]
        if self._deferred is not None and k in self._deferred.direct:
            return self._deferred.direct[k]()
        return self.values[..., k]

    def __getitem__(self, name: str) -> np.ndarray:
        return self._column(name)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def amount(self, species: str) -> np.ndarray:
        """The amount (substance) of a species over time."""
        v = self._species(species)
        if self._hosu[species]:
            return v
        return v * self._column(self._compartment[species])

    def concentration(self, species: str) -> np.ndarray:
        """The concentration of a species over time."""
        v = self._species(species)
        if not self._hosu[species]:
            return v
        return v / self._column(self._compartment[species])

    def _species(self, species: str) -> np.ndarray:
        if species not in self._compartment:
            raise KeyError(f"'{species}' is not a species of this model")
        return self._column(species)

    # -- ensemble statistics -------------------------------------------------------------
    def mean(self) -> Result:
        """The mean over the ensemble (leading) axis, as a `Result`."""
        return self._reduce(lambda v: np.mean(v, axis=0))

    def std(self) -> Result:
        """The standard deviation over the ensemble axis (ddof=1), as a `Result`."""
        return self._reduce(lambda v: np.std(v, axis=0, ddof=1))

    def quantile(self, q: float) -> Result:
        """The ``q`` quantile over the ensemble axis, as a `Result`."""
        return self._reduce(lambda v: np.quantile(v, q, axis=0))

    def _reduce(self, fn) -> Result:
        if not self.batch_shape:
            raise WholecellError("this result is a single run, not an ensemble")
        return Result(
            self.time, self.ids, fn(self.values), self._compartment, self._hosu, {}, self.method,
            plan=self.plan, model_id=self.model_id,
        )

    # -- export ------------------------------------------------------------------------
    def to_dataframe(self, ids: Sequence[str] | None = None) -> pd.DataFrame:
        """A table with a ``time`` column and one column per id (one row per member and time
        for ensembles, with a ``member`` column)."""
        import pandas as pd  # loaded on first use: `import wholecell` stays light

        cols = list(ids) if ids is not None else list(self.ids)
        idx = [self._index[c] if c in self._index else self._column(c) for c in cols]
        vals = self.values[..., idx]
        if not self.batch_shape:
            df = pd.DataFrame(vals, columns=cols)
            df.insert(0, "time", self.time)
            return df
        flat = vals.reshape(-1, len(self.time), len(cols))
        n = flat.shape[0]
        df = pd.DataFrame(flat.reshape(-1, len(cols)), columns=cols)
        df.insert(0, "time", np.tile(self.time, n))
        df.insert(0, "member", np.repeat(np.arange(n), len(self.time)))
        return df

    def quantity(self, name: str) -> str:
        """What ``res[name]`` holds: ``"concentration"`` or ``"amount"`` for a species,
        ``"value"`` for any other id."""
        self._column(name)
        if name not in self._compartment:
            return "value"
        return "amount" if self._hosu[name] else "concentration"

    def to_xarray(self, ids: Sequence[str] | None = None):
        """An `xarray.DataArray` with dims (``member``,) ``time``, ``id``: the members of an
        ensemble along ``member`` (batch axes flattened), each id's quantity
        (`quantity`) and compartment as coordinates along ``id``, the model id, method
        and batch shape as attributes. Needs xarray (``pip install xarray``)."""
        try:
            import xarray as xr
        except ImportError as e:
            raise ImportError("Result.to_xarray needs xarray: pip install xarray") from e
        cols = list(ids) if ids is not None else list(self.ids)
        vals = np.stack([self._column(c) for c in cols], axis=-1)
        coords: dict[str, Any] = {
            "time": self.time,
            "id": cols,
            "quantity": ("id", [self.quantity(c) for c in cols]),
            "compartment": ("id", [self._compartment.get(c, "") for c in cols]),
        }
        dims: tuple[str, ...] = ("time", "id")
        if self.batch_shape:
            vals = vals.reshape((-1,) + vals.shape[-2:])
            dims = ("member",) + dims
            coords["member"] = np.arange(vals.shape[0])
        attrs = {"model_id": self.model_id, "method": self.method,
                 "batch_shape": str(self.batch_shape)}
        return xr.DataArray(vals, dims=dims, coords=coords, attrs=attrs,
                            name=self.model_id or "result")

    def _repr_html_(self) -> str:
        from ._html import html_table, short_list

        rows = [("model", self.model_id or "–"), ("method", self.method)]
        if self.solver is not None:
            rows.append(("solver", self.solver))
        rows += [
                ("times", f"{len(self.time)} from {self.time[0]:g} to {self.time[-1]:g}"
                 if len(self.time) else "none"),
                ("ids", short_list(self.ids))]
        if self.batch_shape:
            rows.append(("members", " × ".join(str(n) for n in self.batch_shape)))
        status = self.stats.get("status") if self.stats else None
        if status is not None:
            failed = int(np.sum(np.asarray(status) != 0))
            rows.append(("failed members" if self.batch_shape else "status",
                         failed if self.batch_shape else ("ok" if failed == 0 else "failed")))
        shown = list(self.species_ids or self.ids)[:8]
        last = self.values[..., -1, :] if len(self.time) else None
        if last is None or not shown:
            return html_table("Result", rows)
        if self.batch_shape:
            flat = last.reshape(-1, len(self.ids))
            body = [[n, self.quantity(n), f"{np.mean(flat[:, self._index[n]]):.4g}",
                     f"{np.std(flat[:, self._index[n]]):.3g}"] for n in shown]
            cols = ["id", "quantity", f"mean at t={self.time[-1]:g}", "sd"]
        else:
            body = [[n, self.quantity(n), f"{last[self._index[n]]:.6g}"] for n in shown]
            cols = ["id", "quantity", f"at t={self.time[-1]:g}"]
        return html_table("Result", rows, (cols, body))

    def plot(self, ids: Sequence[str] | None = None, ax=None, max_members: int = 20, **kwargs):
        """Plot time courses (species by default) with matplotlib; returns the axes.

        For an ensemble, a few members are drawn thin and the mean with a band of
        one standard deviation.
        """
        import matplotlib.pyplot as plt

        if ids is None:
            ids = self.species_ids or self.ids
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4))
        if not self.batch_shape:
            for name in ids:
                ax.plot(self.time, self[name], label=name, **kwargs)
        else:
            flat = self.values.reshape(-1, len(self.time), len(self.ids))
            for k, name in enumerate(ids):
                col = flat[..., self._index[name]]
                color = f"C{k % 10}"
                for m in range(min(max_members, col.shape[0])):
                    ax.plot(self.time, col[m], color=color, alpha=0.15, lw=0.7)
                mu, sd = col.mean(axis=0), col.std(axis=0)
                ax.fill_between(self.time, mu - sd, mu + sd, color=color, alpha=0.2)
                ax.plot(self.time, mu, color=color, label=name, lw=2)
        ax.set_xlabel("time")
        ax.set_ylabel("value")
        if len(ids) <= 15:
            ax.legend(loc="best", fontsize="small")
        return ax

    def __repr__(self) -> str:
        shape = f", batch={self.batch_shape}" if self.batch_shape else ""
        return (
            f"Result(method={self.method!r}, times={len(self.time)}, "
            f"ids={len(self.ids)}{shape})"
        )


def make_result(sim, ts, values, stats, method: str, plan=None) -> Result:
    """The `Result` of a solve of ``sim`` (a `CompiledModel`): values of every model id."""
    species = sim.structure.layout.model.species
    return Result(
        ts,
        sim.observable_ids,
        values,
        {s.id: s.compartment for s in species},
        {s.id: s.has_only_substance_units for s in species},
        stats,
        method,
        plan,
        sim.structure.layout.model.id,
    )
