"""Array data files of PEtab SciML (HDF5): network inputs and parameters, in and out.

Layout (the format's ``array_data_schema``)::

    metadata/pytorch_format       bool: arrays are in PyTorch's layout
    inputs/<inputId>/<conditions> an input, for all conditions ("0") or for the
                                  semicolon-separated conditions named
    parameters/<netId>/<layerId>/<arrayId>

h5py is imported only when a file is read or written (the ``sciml`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._errors import SciMLError


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("PEtab SciML array files need h5py: pip install "
                          "'wholecell[sciml]'") from None
    return h5py


def _tree(group: Any) -> dict:
    """A nested dict of numpy arrays mirroring an HDF5 group."""
    out = {}
    for name, item in group.items():
        out[name] = _tree(item) if hasattr(item, "items") else np.asarray(item[()])
    return out


def _open(path: str | Path):
    h5py = _h5py()
    try:
        return h5py.File(Path(path), "r")
    except OSError as err:
        raise SciMLError(f"cannot read the array file {path}: {err}") from None


def _check_layout(f: Any, path: str | Path) -> None:
    flag = f.get("metadata/pytorch_format")
    if flag is not None and not bool(np.asarray(flag[()])):
        raise SciMLError(f"{path}: metadata/pytorch_format is false; wholecell reads "
                         "arrays in PyTorch's layout only")


def _group(path: str | Path, name: str) -> dict:
    """The group ``name`` of an array file as a nested dict; an error when it lacks it."""
    with _open(path) as f:
        _check_layout(f, path)
        if name not in f:
            raise SciMLError(f"{path}: no '{name}' group")
        return _tree(f[name])


def load_parameters(path: str | Path) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """Network parameters from an array file: ``{net_id: {layer_id: {array_id: array}}}``."""
    return _group(path, "parameters")


def load_inputs(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Network inputs from an array file: ``{input_id: {conditions: array}}``, where
    ``conditions`` is ``"0"`` for all conditions or a semicolon-separated list."""
    return _group(path, "inputs")


def read_array_file(path: str | Path) -> tuple[dict, dict]:
    """(parameters, inputs) of an array file, as `load_parameters` and `load_inputs`
    give them; either is empty when the file has no such group."""
    with _open(path) as f:
        _check_layout(f, path)
        return (_tree(f["parameters"]) if "parameters" in f else {},
                _tree(f["inputs"]) if "inputs" in f else {})


def load_outputs(path: str | Path) -> dict[str, np.ndarray]:
    """Reference network outputs from an array file: ``{output_id: array}`` (the test
    suite's ``outputs/<id>/data`` layout)."""
    with _open(path) as f:
        if "outputs" not in f:
            raise SciMLError(f"{path}: no 'outputs' group")
        return {k: np.asarray(v["data"][()]) for k, v in f["outputs"].items()}


def save_arrays(path: str | Path, *, parameters: dict | None = None,
                inputs: dict | None = None) -> Path:
    """Write parameters ``{net_id: {layer_id: {array_id: array}}}`` and/or inputs
    ``{input_id: {conditions: array}}`` as a PEtab SciML array file."""
    h5py = _h5py()
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.create_dataset("metadata/pytorch_format", data=True)
        for group, tree in (("parameters", parameters), ("inputs", inputs)):
            if tree:
                _write(f.create_group(group), tree)
    return path


def _write(group: Any, tree: dict) -> None:
    for name, value in tree.items():
        if isinstance(value, dict):
            _write(group.create_group(name), value)
        else:
            group.create_dataset(name, data=np.asarray(value))
