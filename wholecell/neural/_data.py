"""Perturbation screens as arrays: the CellBox / Korkut 2015 RPPA data and perturbation tables.

The CellBox benchmark (Korkut et al. 2015, eLife 4:e04640; Yuan, Shen et al. 2021, Cell
Systems 12:128, github.com/sanderlab/CellBox, MIT) measures 99 nodes of SK-MEL-133 melanoma
cells under 89 drug conditions (23 single drugs, 66 pairs of 12 drugs). Node order, as in
its ``node_Index.csv``: 82 RPPA (phospho)proteins, 5 phenotypes (G2M, G1arrest, G2arrest,
Sarrest, cellviab) and 12 drug-target activity nodes (``a*``). CellBox's own configuration
(``n_protein_nodes = 82``, ``n_activity_nodes = 87``) scores the first 87 nodes; the 12
activity nodes carry the drug input ``u`` (``pert.csv``) and are not readouts.
``loo_label.csv`` gives, per condition, the 1-based indices of its (up to two) drugs, 0
for none; it defines the leave-one-drug-out folds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: the readout nodes of the CellBox data: 82 proteins and 5 phenotypes (CellBox's
#: ``n_activity_nodes``); the last 12 nodes are drug-activity (input) nodes.
CELLBOX_READOUTS = 87


@dataclass(frozen=True)
class PerturbationData:
    """A screen: measured effects (vs control) and the inputs of every condition.

    Attributes:
        y: effects, shape (conditions, nodes), relative to the unperturbed control.
        u: inputs, shape (conditions, nodes): the perturbation added to each node's input.
        nodes: node names.
        conditions: condition names, e.g. ``"901|1.5,HN|6"`` (drug|dose, comma-joined).
        drugs: per condition, the 1-based drug indices it applies (empty for a control).
        readouts: the node indices that are measured readouts (scored and fitted).
    """

    y: np.ndarray
    u: np.ndarray
    nodes: tuple[str, ...]
    conditions: tuple[str, ...]
    drugs: tuple[tuple[int, ...], ...]
    readouts: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        c, n = len(self.conditions), len(self.nodes)
        for name in ("y", "u"):
            a = getattr(self, name)
            if a.shape != (c, n):
                raise ValueError(f"PerturbationData.{name} has shape {a.shape}, "
                                 f"expected (conditions, nodes) = {(c, n)}")
        if len(self.drugs) != c:
            raise ValueError(f"{len(self.drugs)} drug tuples for {c} conditions")

    @property
    def singles(self) -> np.ndarray:
        """Indices of the single-drug conditions."""
        return np.array([i for i, d in enumerate(self.drugs) if len(d) == 1], dtype=int)

    @property
    def pairs(self) -> np.ndarray:
        """Indices of the conditions with two drugs."""
        return np.array([i for i, d in enumerate(self.drugs) if len(d) == 2], dtype=int)

    def subset(self, conditions: np.ndarray | None = None,
               nodes: np.ndarray | None = None) -> PerturbationData:
        """The data restricted to some conditions and/or nodes (readouts re-indexed)."""
        ci = np.arange(len(self.conditions)) if conditions is None else np.asarray(conditions)
        ni = np.arange(len(self.nodes)) if nodes is None else np.asarray(nodes)
        pos = {int(j): k for k, j in enumerate(ni)}
        return PerturbationData(
            y=self.y[np.ix_(ci, ni)], u=self.u[np.ix_(ci, ni)],
            nodes=tuple(self.nodes[j] for j in ni),
            conditions=tuple(self.conditions[i] for i in ci),
            drugs=tuple(self.drugs[i] for i in ci),
            readouts=np.array([pos[int(j)] for j in self.readouts if int(j) in pos], dtype=int),
        )


def _read_matrix(path: Path) -> np.ndarray:
    if not path.exists():
        raise FileNotFoundError(f"CellBox data file {path} not found")
    return np.loadtxt(path, delimiter=",", ndmin=2)


def load_cellbox(folder: str | Path, readouts: int = CELLBOX_READOUTS) -> PerturbationData:
    """Load the CellBox data from its verbatim files in ``folder``.

    Reads ``expr.csv`` (effects), ``pert.csv`` (inputs), ``node_Index.csv`` (node names),
    ``loo_label.csv`` (drug indices) and, if present, ``expr_index.tsv`` (condition names).

    Arguments:
        folder: the folder holding the files.
        readouts: how many leading nodes are readouts (87 for CellBox).

    Returns:
        The screen as `PerturbationData`.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: the files disagree in shape.
    """
    folder = Path(folder)
    y, u = _read_matrix(folder / "expr.csv"), _read_matrix(folder / "pert.csv")
    nodes = tuple((folder / "node_Index.csv").read_text().split())
    loo = _read_matrix(folder / "loo_label.csv").astype(int)
    if not (y.shape == u.shape and y.shape[1] == len(nodes) and loo.shape[0] == y.shape[0]):
        raise ValueError(f"CellBox files disagree: expr {y.shape}, pert {u.shape}, "
                         f"{len(nodes)} nodes, loo_label {loo.shape}")
    index = folder / "expr_index.tsv"
    if index.exists():
        conditions = tuple(pd.read_csv(index, sep="\t")["condition"].astype(str))
    else:
        conditions = tuple(f"condition_{i}" for i in range(y.shape[0]))
    drugs = tuple(tuple(sorted({int(d) for d in row if d > 0})) for row in loo)
    if not 0 < readouts <= len(nodes):
        raise ValueError(f"readouts={readouts} not in 1..{len(nodes)}")
    return PerturbationData(y=y, u=u, nodes=nodes, conditions=conditions, drugs=drugs,
                            readouts=np.arange(readouts))


def perturbation_inputs(table: pd.DataFrame, nodes: tuple[str, ...] | list[str]) -> np.ndarray:
    """The input matrix ``u`` (conditions x nodes) of a perturbation table.

    ``table`` has one row per condition and one column per perturbed node (its name, e.g.
    a drug's activity node ``aMEK``); a value is the input added to that node, missing
    values mean 0. Nodes without a column get 0 in every condition.

    Arguments:
        table: the perturbation table (index: condition names).
        nodes: the model's node names, in order.

    Returns:
        ``u``, float64, shape (len(table), len(nodes)).

    Raises:
        ValueError: a column names no node.
    """
    index = {name: j for j, name in enumerate(nodes)}
    unknown = [c for c in table.columns if c not in index]
    if unknown:
        raise ValueError(f"perturbation table columns {unknown} name no node of the model")
    u = np.zeros((len(table), len(nodes)))
    values = table.astype(float).fillna(0.0).to_numpy()
    for k, c in enumerate(table.columns):
        u[:, index[c]] = values[:, k]
    return u
