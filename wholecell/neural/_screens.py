"""Genetic perturbation screens as `PerturbationData`: LINCS L1000 shRNA knockdowns and the
Torre 2021 melanoma CRISPR knockouts.

Both are *perturbed gene x measured gene* with every perturbed gene also measured, and a
control column. Effects are log2 fold changes against the control:

- **L1000** (``L1000_shRNA_<LINE>.npz``; meyer-lab/DE-learning, MIT; LINCS GSE92742 and
  GSE70138 Level-2 intensities): ``X[i, j]`` is gene i under the knockdown of gene j, the
  last column the LUCIFERASE control; effect = ``log2 X - log2 X[:, control]``;
- **Torre** (``torre2021_ko_rpm.csv``; Torre et al. 2021, Nat Genet 53:76; RPM, column
  ``neg`` the control): effect = ``log2(RPM + 1)`` less the control's.

Conditions are the perturbed genes; ``drugs`` holds each condition's target (1-based
index of the perturbed node), ``u`` is -1 on the target (a knockdown lowers its input).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._data import PerturbationData


def _screen(effects: np.ndarray, genes: list[str], perturbed: list[str]) -> PerturbationData:
    """Conditions = perturbed genes (rows of ``y``), nodes = measured genes."""
    pos = {g: i for i, g in enumerate(genes)}
    missing = [g for g in perturbed if g not in pos]
    if missing:
        raise ValueError(f"perturbed genes that are not measured: {missing[:5]}")
    targets = np.array([pos[g] for g in perturbed])
    u = np.zeros((len(perturbed), len(genes)))
    u[np.arange(len(perturbed)), targets] = -1.0
    return PerturbationData(
        y=np.asarray(effects, dtype=float), u=u, nodes=tuple(genes),
        conditions=tuple(perturbed), drugs=tuple((int(t) + 1,) for t in targets),
        readouts=np.arange(len(genes)))


def load_l1000(path: str | Path) -> PerturbationData:
    """One cell line of the L1000 shRNA screen (an ``L1000_shRNA_<LINE>.npz`` file)."""
    with np.load(Path(path), allow_pickle=False) as f:
        x = np.asarray(f["X"], dtype=float)
        genes = [str(g) for g in f["measured_genes"]]
        perts = [str(p) for p in f["perturbations"]]
    if perts[-1] != "LUCIFERASE" or x.shape != (len(genes), len(perts)):
        raise ValueError(f"{path}: expected X (genes, genes + 1) with the LUCIFERASE "
                         "control last")
    if not np.all(x > 0):
        raise ValueError(f"{path}: L1000 intensities must be positive")
    logx = np.log2(x)
    return _screen((logx[:, :-1] - logx[:, [-1]]).T, genes, perts[:-1])


def load_torre(path: str | Path) -> PerturbationData:
    """The Torre 2021 knockouts (``torre2021_ko_rpm.csv``: genes x knockouts + ``neg``)."""
    table = pd.read_csv(Path(path), index_col=0)
    if "neg" not in table.columns:
        raise ValueError(f"{path}: no 'neg' control column")
    logx = np.log2(table.to_numpy(dtype=float) + 1.0)
    control = logx[:, [list(table.columns).index("neg")]]
    perts = [c for c in table.columns if c != "neg"]
    cols = [list(table.columns).index(c) for c in perts]
    return _screen((logx[:, cols] - control).T, [str(g) for g in table.index], perts)


def targets_of(data: PerturbationData, conditions: np.ndarray) -> np.ndarray:
    """The perturbed node (0-based) of each condition of a single-gene screen."""
    return np.array([data.drugs[i][0] - 1 for i in np.asarray(conditions)], dtype=int)


def pool_screens(screens: Mapping[str, PerturbationData],
                 nodes: Sequence[str]) -> PerturbationData:
    """The conditions of several screens as one screen on the genes ``nodes`` (e.g. five
    cell lines pooled to train a model for a sixth).

    A condition is kept when every gene it perturbs is among ``nodes``; it is named
    ``"<screen>:<condition>"``. Effects on genes its screen does not measure are NaN
    (unmeasured: `train` leaves them out of the loss).
    """
    pos = {g: i for i, g in enumerate(nodes)}
    if len(pos) != len(nodes):
        raise ValueError("pool_screens: the nodes must be distinct")
    ys, us, names, drugs = [], [], [], []
    for name, data in screens.items():
        cols = np.array([(pos[g], j) for j, g in enumerate(data.nodes) if g in pos],
                        dtype=int).reshape(-1, 2)
        outside = np.array([g not in pos for g in data.nodes])
        for c in range(len(data.conditions)):
            if np.any(data.u[c, outside] != 0):   # it perturbs a gene not pooled
                continue
            y, u = np.full(len(nodes), np.nan), np.zeros(len(nodes))
            y[cols[:, 0]], u[cols[:, 0]] = data.y[c, cols[:, 1]], data.u[c, cols[:, 1]]
            ys.append(y)
            us.append(u)
            names.append(f"{name}:{data.conditions[c]}")
            drugs.append(tuple(int(k) + 1 for k in np.flatnonzero(u)))
    if not names:
        raise ValueError("pool_screens: no condition of these screens perturbs only the "
                         "given nodes")
    return PerturbationData(y=np.array(ys), u=np.array(us), nodes=tuple(nodes),
                            conditions=tuple(names), drugs=tuple(drugs),
                            readouts=np.arange(len(nodes)))
