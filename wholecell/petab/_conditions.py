"""Condition-specific model inputs: parameter overrides and initial species values."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np
import pandas as pd

from ..compiler._layout import amount_sym
from ..sbml._model import Model
from ..solve._compiled import CompiledModel
from ._errors import PetabError, UnsupportedPetabError
from ._parameters import ParameterTable

_META = ("conditionId", "conditionName")


@dataclass(frozen=True)
class Conditions:
    """How each condition sets the model's inputs, as arrays (one row per condition).

    A model parameter takes ``const`` where ``index`` is -1, else the PEtab parameter
    ``index`` (so estimated values flow in). Species listed for a condition start at the
    given value (concentration unless the species has only substance units).
    """

    ids: tuple[str, ...]
    p_const: np.ndarray  # (n_cond, n_params)
    p_index: np.ndarray  # (n_cond, n_params) int
    x_mask: np.ndarray  # (n_cond, n_state) bool
    x_const: np.ndarray
    x_index: np.ndarray
    x_compartment: np.ndarray  # (n_state,) model parameter index of the volume, or -1

    def params(self, v) -> jnp.ndarray:
        """The model parameter vectors of all conditions (n_cond, n_params) given the
        PEtab parameter values ``v``."""
        idx = self.p_index
        return jnp.where(idx >= 0, v[np.maximum(idx, 0)], self.p_const)

    def initial(self, rows: np.ndarray, v, P, X) -> jnp.ndarray:
        """States ``X`` (one per entry of ``rows``, conditions' indices) with the species
        those conditions set replaced, in state units (``P``: their model parameters)."""
        mask = self.x_mask[rows]
        if not mask.any():
            return X
        idx = self.x_index[rows]
        val = jnp.where(idx >= 0, v[np.maximum(idx, 0)], self.x_const[rows])
        comp = self.x_compartment
        vol = jnp.where(comp >= 0, P[:, np.maximum(comp, 0)], 1.0)
        return jnp.where(mask, val * vol, X)


def _rows_by_id(df: pd.DataFrame) -> dict[str, dict]:
    """The condition table's rows (column -> cell) by condition id."""
    return {cid: r for cid, r in zip(df["conditionId"], df.to_dict("records"), strict=True)}


def without_overridden_assignments(model: Model, df: pd.DataFrame, ids: list[str]) -> Model:
    """``model`` without the initial assignments of the parameters and compartments that
    the condition table sets: a condition's value replaces the model's (Liu 2025's virus
    dose ``u_2`` is 1e9 by its initial assignment and 0 in the control condition).

    Raises:
        UnsupportedPetabError: a condition sets the target and another used one leaves it
            empty (the model's assignment would hold there only).
    """
    species = model.species_by_id()
    assigned = {a.symbol for a in model.initial_assignments} - set(species)
    rows = _rows_by_id(df)
    targets = [c for c in df.columns if c not in _META and c in assigned]
    drop = set()
    for col in targets:
        empty = [cid for cid in ids
                 if cid in rows and str(rows[cid][col]).strip() in ("", "nan")]
        if len(empty) == len(ids):
            continue
        if empty:
            raise UnsupportedPetabError(
                f"condition table column '{col}' sets a value with an initial assignment in "
                f"model '{model.id}' for some conditions but not for '{empty[0]}' "
                "(the assignment holding in some conditions only)")
        drop.add(col)
    if not drop:
        return model
    kept = tuple(a for a in model.initial_assignments if a.symbol not in drop)
    return dataclasses.replace(model, initial_assignments=kept)


def _entry(text: str, table_index: dict[str, int], where: str) -> tuple[float, int]:
    """(constant, -1) for a number, (nan, i) for a parameter table id."""
    if text == "":
        return math.nan, -1
    try:
        return float(text), -1
    except ValueError:
        pass
    if text not in table_index:
        raise PetabError(f"{where}: '{text}' is neither a number nor a parameter table id")
    return math.nan, table_index[text]


def build_conditions(
    sim: CompiledModel, table: ParameterTable, df: pd.DataFrame, ids: list[str]
) -> Conditions:
    """The `Conditions` for the condition ids ``ids`` (in that order).

    Raises:
        PetabError: an unknown condition id, or a column that is no model entity.
    """
    pindex = {n: i for i, n in enumerate(sim.param_ids)}
    sindex = {n: i for i, n in enumerate(sim.state_ids)}
    tindex = table.index()
    model = sim.model
    species = model.species_by_id()
    layout = sim.structure.layout
    n_c, n_p, n_x = len(ids), len(sim.param_ids), len(sim.state_ids)

    base_const = np.asarray(sim.param_values, dtype=np.float64).copy()
    base_index = np.full(n_p, -1, dtype=np.int64)
    for name, i in tindex.items():
        if name in pindex and name not in species:
            base_index[pindex[name]] = i
    p_const = np.tile(base_const, (n_c, 1))
    p_index = np.tile(base_index, (n_c, 1))
    x_mask = np.zeros((n_c, n_x), dtype=bool)
    x_const = np.zeros((n_c, n_x))
    x_index = np.full((n_c, n_x), -1, dtype=np.int64)
    x_comp = np.full(n_x, -1, dtype=np.int64)
    for name, i in sindex.items():
        s = species.get(name)
        if s is not None and layout.state_syms[i] == amount_sym(name):
            if not s.has_only_substance_units:
                x_comp[i] = pindex[s.compartment]

    rows = _rows_by_id(df)
    columns = [c for c in df.columns if c not in _META]
    for k, cid in enumerate(ids):
        if cid not in rows:
            raise PetabError(f"condition '{cid}' is not in the condition table")
        row = rows[cid]
        for col in columns:
            where = f"condition table, condition '{cid}', column '{col}'"
            const, idx = _entry(row[col], tindex, where)
            if idx < 0 and math.isnan(const):
                continue  # NaN / empty: the model's (or pre-equilibrated) value stays
            if col in species:
                if col not in sindex:
                    raise PetabError(f"{where}: species '{col}' is not a state variable")
                j = sindex[col]
                x_mask[k, j], x_const[k, j], x_index[k, j] = True, const, idx
            elif col in pindex:
                j = pindex[col]
                p_const[k, j], p_index[k, j] = const, idx
            else:
                raise PetabError(f"{where}: '{col}' is not a parameter, compartment or "
                                 f"species of model '{model.id}'")
    return Conditions(tuple(ids), p_const, p_index, x_mask, x_const, x_index, x_comp)
