"""A network in the PEtab SciML YAML format: read, evaluate, initialise and write.

The format (PEtab SciML, ``nn_model_schema.yaml``) lists the layers by their PyTorch class
names and arguments, and the forward pass as a torch.fx graph: ``placeholder`` nodes
take the inputs, ``call_module`` applies a layer, ``call_function`` / ``call_method``
apply a function, and ``output`` returns one value or several.

    net = wc.neural.load_network("net.yaml")
    params = wc.neural.load_parameters("net_ps.hdf5")[net.nn_model_id]
    y = net(params, x)                       # pure; jit, vmap and grad as any function

Parameters are a nested dict ``{layer_id: {array_id: array}}`` (a pytree), with each
array in PyTorch's layout, as the format's HDF5 files hold them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import yaml

from .._errors import SciMLError, UnsupportedSciMLError
from ._sciml_functions import FUNCTIONS, call
from ._sciml_layers import Layer, make_layer

_OPS = ("placeholder", "call_module", "call_function", "call_method", "output")


@dataclass(frozen=True)
class Node:
    """One node of the forward graph (torch.fx's name, op, target, args and kwargs)."""

    name: str
    op: str
    target: str
    args: tuple
    kwargs: dict[str, Any]


@dataclass(frozen=True)
class Network:
    """A network read from the PEtab SciML YAML format.

    Attributes:
        nn_model_id: the network's id.
        input_ids: the ids of the forward function's inputs, in order.
        layers: the layers by id.
        nodes: the forward graph, in execution order.
    """

    nn_model_id: str
    input_ids: tuple[str, ...]
    layers: dict[str, Layer]
    nodes: tuple[Node, ...]

    @property
    def stochastic(self) -> bool:
        """Whether a layer draws random numbers in training mode (dropout)."""
        return any(layer.stochastic for layer in self.layers.values())

    def parameter_shapes(self) -> dict[str, dict[str, tuple[int, ...]]]:
        """``{layer_id: {array_id: shape}}`` for every layer with parameters."""
        return {lid: dict(layer.shapes) for lid, layer in self.layers.items() if layer.shapes}

    def init(self, key: jax.Array) -> dict[str, dict[str, jax.Array]]:
        """Parameters drawn as PyTorch's defaults: weights and biases uniform in
        ±1/sqrt(fan_in) (Linear, Bilinear, convolutions); norm weights 1, biases 0."""
        params: dict[str, dict[str, jax.Array]] = {}
        for lid, shapes in self.parameter_shapes().items():
            layer = self.layers[lid]
            params[lid] = {}
            for name, shape in shapes.items():
                key, sub = jax.random.split(key)
                if "Norm" in layer.layer_type:
                    value = jnp.ones(shape) if name == "weight" else jnp.zeros(shape)
                else:
                    bound = 1.0 / math.sqrt(_fan_in(layer, shapes["weight"]))
                    value = jax.random.uniform(sub, shape, minval=-bound, maxval=bound)
                params[lid][name] = value
        return params

    def __call__(self, params: dict, *inputs: jax.Array, key: jax.Array | None = None,
                 training: bool = False) -> jax.Array | tuple[jax.Array, ...]:
        """Evaluate the network on its inputs.

        Args:
            params: ``{layer_id: {array_id: array}}``, as `load_parameters` gives.
            inputs: one array per input, in PyTorch's layout.
            key: a PRNG key, needed in training mode by dropout layers.
            training: PyTorch's training mode (dropout on, batch statistics in
                BatchNorm); off by default, as for inference.
        """
        if len(inputs) != len(self.input_ids):
            raise SciMLError(f"network '{self.nn_model_id}' takes {len(self.input_ids)} "
                             f"input(s) ({', '.join(self.input_ids)}), got {len(inputs)}")
        values: dict[str, Any] = {}
        remaining = iter(inputs)
        for node in self.nodes:
            args = _resolve(node.args, values)
            if node.op == "placeholder":
                values[node.name] = jnp.asarray(next(remaining))
            elif node.op == "call_module":
                layer = self.layers[node.target]
                sub = None
                if layer.stochastic and key is not None:
                    key, sub = jax.random.split(key)
                x = args[0] if len(args) == 1 else tuple(args)
                values[node.name] = layer(params.get(node.target, {}), x, sub, training)
            elif node.op in ("call_function", "call_method"):
                values[node.name] = call(node.target, list(args),
                                         _resolve(node.kwargs, values))
            else:
                out = args[0]
                return tuple(out) if isinstance(out, list | tuple) else out
        raise SciMLError(f"network '{self.nn_model_id}': the forward graph has no output")


def _fan_in(layer: Layer, weight_shape: tuple[int, ...]) -> int:
    if layer.layer_type.startswith("ConvTranspose"):
        return weight_shape[1] * math.prod(weight_shape[2:])
    if layer.layer_type == "Bilinear":
        return weight_shape[1]
    return math.prod(weight_shape[1:])


def _resolve(value: Any, values: dict[str, Any]) -> Any:
    """Node arguments with each node name replaced by that node's value."""
    if isinstance(value, str) and value in values:
        return values[value]
    if isinstance(value, list | tuple):
        return [_resolve(v, values) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, values) for k, v in value.items()}
    return value


def _node(entry: dict, layers: dict[str, Layer], known: set[str], where: str) -> Node:
    name, op, target = entry.get("name"), entry.get("op"), entry.get("target")
    if not name or op is None:
        raise SciMLError(f"{where}: a forward node lacks its name or op: {entry!r}")
    if op not in _OPS:
        raise UnsupportedSciMLError(f"forward op {op}", name,
                                    "supported: " + ", ".join(_OPS))
    if op == "call_module" and target not in layers:
        raise SciMLError(f"{where}: node '{name}' calls layer '{target}', which the "
                         f"layers list lacks")
    if op in ("call_function", "call_method") and target not in FUNCTIONS:
        raise UnsupportedSciMLError(f"function {target}", name,
                                    "supported: " + ", ".join(sorted(FUNCTIONS)))
    args = tuple(entry.get("args") or ())
    for ref in _names(args):
        if ref not in known and op != "placeholder":
            raise SciMLError(f"{where}: node '{name}' uses '{ref}' before it is computed")
    return Node(name, op, target, args, dict(entry.get("kwargs") or {}))


def _names(args: Any) -> list[str]:
    if isinstance(args, str):
        return [args]
    if isinstance(args, list | tuple):
        return [n for a in args for n in _names(a)]
    return []


def network_from_dict(spec: dict, where: str = "network") -> Network:
    """A `Network` from the parsed YAML of one network (keys nn_model_id, inputs,
    layers, forward)."""
    for key in ("nn_model_id", "layers", "forward"):
        if key not in spec:
            raise SciMLError(f"{where}: the network lacks '{key}'")
    layers = {}
    for entry in spec["layers"]:
        lid = entry.get("layer_id")
        if not lid or "layer_type" not in entry:
            raise SciMLError(f"{where}: a layer lacks its layer_id or layer_type: {entry!r}")
        layers[lid] = make_layer(lid, entry["layer_type"], entry.get("args"))
    nodes: list[Node] = []
    known: set[str] = set()
    for entry in spec["forward"]:
        node = _node(entry, layers, known, where)
        nodes.append(node)
        known.add(node.name)
    placeholders = [n.name for n in nodes if n.op == "placeholder"]
    declared = [i["input_id"] for i in spec.get("inputs") or []]
    if declared and len(declared) != len(placeholders):
        raise SciMLError(f"{where}: {len(declared)} inputs declared, but the forward graph "
                         f"takes {len(placeholders)}")
    if not any(n.op == "output" for n in nodes):
        raise SciMLError(f"{where}: the forward graph has no output node")
    return Network(str(spec["nn_model_id"]), tuple(declared or placeholders), layers,
                   tuple(nodes))


def read_yaml(path: str | Path, what: str) -> dict:
    """A YAML mapping from ``path``; a `SciMLError` naming ``what`` the file should be."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SciMLError(f"cannot read the {what} file {path}: {err}") from None
    if not isinstance(spec, dict):
        raise SciMLError(f"{path}: not a PEtab SciML {what} (a YAML mapping)")
    return spec


def load_network(path: str | Path) -> Network:
    """Read a network in the PEtab SciML YAML format."""
    return network_from_dict(read_yaml(path, "network"), str(path))


def network_to_dict(net: Network) -> dict:
    """The network as the format's YAML mapping (inverse of `network_from_dict`)."""
    return {
        "nn_model_id": net.nn_model_id,
        "inputs": [{"input_id": i} for i in net.input_ids],
        "layers": [{"layer_id": lid, "layer_type": layer.layer_type, "args": layer.args}
                   for lid, layer in net.layers.items()],
        "forward": [{"name": n.name, "op": n.op, "target": n.target, "args": list(n.args),
                     "kwargs": n.kwargs} for n in net.nodes],
    }


def save_network(net: Network, path: str | Path) -> Path:
    """Write the network in the PEtab SciML YAML format."""
    path = Path(path)
    path.write_text(yaml.safe_dump(network_to_dict(net), sort_keys=False))
    return path
