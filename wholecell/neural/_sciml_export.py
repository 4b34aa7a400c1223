"""Our networks written in the PEtab SciML format, for AMICI and PEtab.jl users.

`export_mlp` turns an equinox MLP into a `Network` (Linear layers and activation calls)
and its parameters; `export_correction` writes CellBox's neural term
``g(x, u) = MLP([x, u]) - MLP(0)`` exactly, the second pass through the same layers
being part of the forward graph. `save_sciml` writes the YAML and the HDF5 array file.
"""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp

from .._errors import UnsupportedSciMLError
from ._cellbox import Correction
from ._sciml_arrays import save_arrays
from ._sciml_network import Network, network_from_dict, save_network

_ACTIVATIONS = {
    "tanh": jnp.tanh, "relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus, "silu": jax.nn.silu, "elu": jax.nn.elu,
    "selu": jax.nn.selu, "relu6": jax.nn.relu6, "log_sigmoid": jax.nn.log_sigmoid,
    "softsign": jax.nn.soft_sign, "hardtanh": jax.nn.hard_tanh,
}
_PROBE = jnp.array([-7.0, -2.5, -1.0, -0.3, 0.0, 0.4, 1.0, 2.2, 6.5, 9.0])


def _activation(fn, where: str) -> str | None:
    """The format's name of an elementwise activation (None: the identity), found by
    its values on a probe vector, so wrapped and jitted functions are recognised."""
    try:
        values = jnp.asarray(fn(_PROBE))
    except Exception:   # not an elementwise function of one array
        values = None
    if values is not None and values.shape == _PROBE.shape:
        if jnp.allclose(values, _PROBE, rtol=0, atol=1e-12):
            return None
        for name, known in _ACTIVATIONS.items():
            if jnp.allclose(values, known(_PROBE), rtol=0, atol=1e-12):
                return name
    raise UnsupportedSciMLError(f"activation {getattr(fn, '__name__', fn)!r}", where,
                                "supported: identity, " + ", ".join(sorted(_ACTIVATIONS)))


def _node(name: str, op: str, target: str, args: list, kwargs: dict | None = None) -> dict:
    return {"name": name, "op": op, "target": target, "args": args, "kwargs": kwargs or {}}


def _mlp_graph(mlp: eqx.nn.MLP, nn_model_id: str, source: str, prefix: str = ""
               ) -> tuple[list[dict], str]:
    """The forward nodes of one pass of ``mlp`` on node ``source``, and the last node."""
    nodes, last = [], source
    hidden = _activation(mlp.activation, nn_model_id)
    final = _activation(mlp.final_activation, nn_model_id)
    for k, _ in enumerate(mlp.layers, start=1):
        name = f"{prefix}layer{k}"
        nodes.append(_node(name, "call_module", f"layer{k}", [last]))
        last = name
        act = final if k == len(mlp.layers) else hidden
        if act is not None:
            nodes.append(_node(f"{prefix}{act}_{k}", "call_function", act, [last]))
            last = f"{prefix}{act}_{k}"
    return nodes, last


def _layers(mlp: eqx.nn.MLP) -> tuple[list[dict], dict]:
    layers, params = [], {}
    for k, lin in enumerate(mlp.layers, start=1):
        out_f, in_f = lin.weight.shape
        layers.append({"layer_id": f"layer{k}", "layer_type": "Linear",
                       "args": {"in_features": int(in_f), "out_features": int(out_f),
                                "bias": lin.bias is not None}})
        params[f"layer{k}"] = {"weight": lin.weight}
        if lin.bias is not None:
            params[f"layer{k}"]["bias"] = lin.bias
    return layers, params


def export_mlp(mlp: eqx.nn.MLP, nn_model_id: str = "net1") -> tuple[Network, dict]:
    """(network, parameters) of an equinox MLP on one input vector."""
    layers, params = _layers(mlp)
    nodes, last = _mlp_graph(mlp, nn_model_id, "input0")
    spec = {"nn_model_id": nn_model_id, "inputs": [{"input_id": "input0"}],
            "layers": layers,
            "forward": [_node("input0", "placeholder", "input0", []), *nodes,
                        _node("output", "output", "output", [last])]}
    return network_from_dict(spec, nn_model_id), params


def export_correction(correction: Correction, nn_model_id: str = "correction"
                      ) -> tuple[Network, dict]:
    """(network, parameters) of CellBox's neural term on the readout nodes: inputs ``x``
    and ``u`` (all nodes each), output ``MLP([x, u]) - MLP(0)`` (the readout nodes); a
    state-only term (``inputs="state"``) has the input ``x`` alone and ``MLP(x) - MLP(0)``."""
    layers, params = _layers(correction.mlp)
    if correction.inputs == "state":
        inputs, z = ["x"], "x"
        head = [_node("x", "placeholder", "x", [])]
    else:
        inputs, z = ["x", "u"], "z"
        head = [_node("x", "placeholder", "x", []), _node("u", "placeholder", "u", []),
                _node("z", "call_function", "cat", [["x", "u"]], {"dim": 0})]
    head.append(_node("zero", "call_function", "mul", [z, 0.0]))
    on_z, last_z = _mlp_graph(correction.mlp, nn_model_id, z)
    on_0, last_0 = _mlp_graph(correction.mlp, nn_model_id, "zero", prefix="at_zero_")
    spec = {"nn_model_id": nn_model_id, "inputs": [{"input_id": i} for i in inputs],
            "layers": layers,
            "forward": [*head, *on_z, *on_0,
                        _node("g", "call_function", "sub", [last_z, last_0]),
                        _node("output", "output", "output", ["g"])]}
    return network_from_dict(spec, nn_model_id), params


def save_sciml(net: Network, params: dict, folder: str | Path) -> tuple[Path, Path]:
    """Write ``<id>.yaml`` and ``<id>_ps.hdf5`` into ``folder``; returns both paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    yaml_path = save_network(net, folder / f"{net.nn_model_id}.yaml")
    arrays = save_arrays(folder / f"{net.nn_model_id}_ps.hdf5",
                         parameters={net.nn_model_id: params})
    return yaml_path, arrays
