"""The files of a PEtab SciML problem: the PEtab v2 tables, the networks and their arrays.

Reads ``problem.yaml`` (``format_version`` 2, extension ``sciml``), the experiments,
conditions, observables, measurements, parameters, mapping and hybridization tables,
each network's YAML and the HDF5 array files. What the tables mean is `_sciml_problem`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import SciMLError, UnsupportedSciMLError
from ._sciml_arrays import read_array_file
from ._sciml_network import Network, load_network, read_yaml

_ENTITY = re.compile(
    r"^(?P<net>\w+)\.(?P<kind>inputs|outputs|parameters)"
    r"(?:\[(?P<first>[^\]]*)\])?(?:\[(?P<second>[^\]]*)\]|\.(?P<array>\w+))?"
    r"(?:\[(?P<third>[^\]]*)\])?$"
)


@dataclass(frozen=True)
class Entity:
    """A network entity a mapping-table row names (``net1.inputs[0][1]``, ...).

    ``argument`` is the input or output argument index; ``index`` the position inside it
    (None: the whole argument); for parameters ``layer`` and ``array`` (None: all)."""

    net: str
    kind: str
    argument: int | None = None
    index: tuple[int, ...] | None = None
    layer: str | None = None
    array: str | None = None


def parse_entity(text: str, nets: dict[str, Network]) -> Entity | None:
    """The network entity ``text`` names, or None when it names no network's part."""
    m = _ENTITY.match(text.strip())
    if m is None or m["net"] not in nets:
        return None
    if m["kind"] == "parameters":
        if m["third"] is not None:
            raise UnsupportedSciMLError("a single network parameter entry", text,
                                        "map whole arrays or layers")
        return Entity(m["net"], "parameters", layer=m["first"], array=m["array"])
    if m["first"] is None:
        raise SciMLError(f"mapping '{text}': give the argument index, e.g. "
                         f"{m['net']}.{m['kind']}[0]")
    index = None
    if m["second"] is not None:
        index = tuple(int(i) for i in m["second"].split(","))
    return Entity(m["net"], m["kind"], int(m["first"]), index)


@dataclass
class SciMLTables:
    """Everything a PEtab SciML problem's files hold, read but not interpreted."""

    root: Path
    sbml: Path
    experiments: pd.DataFrame
    conditions: pd.DataFrame
    observables: pd.DataFrame
    measurements: pd.DataFrame
    parameters: pd.DataFrame
    hybridization: dict[str, str]
    mapping: dict[str, Entity]
    nets: dict[str, Network]
    net_params: dict[str, dict] = field(default_factory=dict)
    net_inputs: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def _table(root: Path, files: list[str] | str | None, what: str) -> pd.DataFrame:
    if not files:
        return pd.DataFrame()
    files = [files] if isinstance(files, str) else files
    try:
        frames = [pd.read_csv(root / f, sep="\t", dtype=str, keep_default_na=False)
                  for f in files]
    except OSError as err:
        raise SciMLError(f"cannot read the {what} table: {err}") from None
    return pd.concat(frames, ignore_index=True)


def read_tables(path: str | Path) -> SciMLTables:
    """Read a PEtab SciML problem from its ``problem.yaml``."""
    path = Path(path)
    spec = read_yaml(path, "problem")
    version = str(spec.get("format_version", ""))
    if not version.startswith("2"):
        raise SciMLError(f"{path}: PEtab SciML problems are PEtab v2 (format_version "
                         f"2.x), not {version!r}; load v1 problems with wc.petab.load")
    sciml = (spec.get("extensions") or {}).get("sciml")
    if sciml is None:
        raise SciMLError(f"{path}: no 'sciml' extension; load it with wc.petab.load")
    root = path.parent
    models = spec.get("model_files") or {}
    if len(models) != 1:
        raise UnsupportedSciMLError(f"{len(models)} model files", path.name,
                                    "one SBML model is supported")
    (model,) = models.values()
    if model.get("language", "sbml") != "sbml":
        raise UnsupportedSciMLError(f"model language {model['language']}", path.name)
    nets = {}
    for net_id, entry in (sciml.get("neural_networks") or {}).items():
        if str(entry.get("format", "YAML")).upper() != "YAML":
            raise UnsupportedSciMLError(f"network format {entry['format']}", net_id,
                                        "only the PEtab SciML YAML format is read")
        net = load_network(root / entry["location"])
        nets[net_id] = net
    net_params: dict[str, dict] = {}
    net_inputs: dict[str, dict[str, np.ndarray]] = {}
    for f in sciml.get("array_files") or []:
        params, inputs = read_array_file(root / f)
        net_params.update(params)
        net_inputs.update(inputs)
    mapping_df = _table(root, spec.get("mapping_files"), "mapping")
    mapping = {}
    for _, row in mapping_df.iterrows():
        entity = parse_entity(row["modelEntityId"], nets)
        if entity is not None:
            mapping[row["petabEntityId"]] = entity
    hyb = _table(root, sciml.get("hybridization_files"), "hybridization")
    return SciMLTables(
        root=root, sbml=root / model["location"],
        experiments=_table(root, spec.get("experiment_files"), "experiments"),
        conditions=_table(root, spec.get("condition_files"), "conditions"),
        observables=_table(root, spec.get("observable_files"), "observables"),
        measurements=_table(root, spec.get("measurement_files"), "measurements"),
        parameters=_table(root, spec.get("parameter_files"), "parameters"),
        hybridization=dict(zip(hyb.get("targetId", []), hyb.get("targetValue", []),
                               strict=True)),
        mapping=mapping, nets=nets, net_params=net_params, net_inputs=net_inputs,
    )
