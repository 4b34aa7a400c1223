"""The files of a PEtab SciML problem: the PEtab v2 tables, the networks and their arrays.

Reads ``problem.yaml`` (``format_version`` 2, extension ``sciml``): the experiments,
conditions, observables, measurements, parameters and mapping tables as `wc.petab` reads
any PEtab v2 problem (`wholecell.petab._files.read_v2_files`), then the hybridization
table, each network's YAML and the HDF5 array files. What the tables mean is
`_sciml_problem`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._errors import SciMLError, UnsupportedSciMLError
from ..petab._errors import PetabError, UnsupportedPetabError
from ..petab._files import read_listed, read_v2_files
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
    try:  # the PEtab v2 files, as wc.petab reads them
        files = read_v2_files(path, spec)
    except UnsupportedPetabError as err:
        raise UnsupportedSciMLError(err.feature, path.name) from err
    except PetabError as err:
        raise SciMLError(str(err)) from err
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
    mapping = {}
    for _, row in files.mapping.iterrows():
        entity = parse_entity(row["modelEntityId"], nets)
        if entity is not None:
            mapping[row["petabEntityId"]] = entity
    try:
        hyb = read_listed(root, sciml.get("hybridization_files"))
    except PetabError as err:
        raise SciMLError(str(err)) from err
    return SciMLTables(
        root=root, sbml=files.sbml, experiments=files.experiments,
        conditions=files.conditions, observables=files.observables,
        measurements=files.measurements, parameters=files.parameters,
        hybridization=dict(zip(hyb.get("targetId", []), hyb.get("targetValue", []),
                               strict=True)),
        mapping=mapping, nets=nets, net_params=net_params, net_inputs=net_inputs,
    )
