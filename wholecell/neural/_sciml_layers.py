"""The layers of the PEtab SciML network format, in JAX, with PyTorch's semantics.

Each layer type of the format (the PyTorch ``torch.nn`` class name, with its constructor
arguments) becomes a `Layer`: the shapes of its parameter arrays and a pure function of
``(params, x, key, training)``. Arrays keep PyTorch's axis order, ``(N, C, *spatial)``
or unbatched ``(C, *spatial)``, so parameter and input files are read as they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from .._errors import SciMLError, UnsupportedSciMLError

Params = dict[str, jax.Array]
Apply = Callable[[Params, jax.Array, jax.Array | None, bool], jax.Array]

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805


@dataclass(frozen=True)
class Layer:
    """One layer: its id and type, the shapes of its parameters, and its forward pass."""

    layer_id: str
    layer_type: str
    args: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    apply: Apply
    stochastic: bool = False

    def __call__(self, params: Params, x: jax.Array, key: jax.Array | None = None,
                 training: bool = False) -> jax.Array:
        return self.apply(params, x, key, training)


def _tuple(value: Any, n: int, name: str, layer_id: str) -> tuple[int, ...]:
    """An int or a list of n ints as an n-tuple (PyTorch's ``_ntuple``)."""
    if isinstance(value, int | float):
        return (int(value),) * n
    if isinstance(value, list | tuple) and len(value) == n:
        return tuple(int(v) for v in value)
    if isinstance(value, list | tuple) and len(value) == 1:
        return (int(value[0]),) * n
    raise SciMLError(f"layer '{layer_id}': {name} must be an int or {n} ints, not {value!r}")


def _batched(x: jax.Array, n: int, layer_id: str, layer_type: str) -> tuple[jax.Array, bool]:
    """Add the batch axis to an unbatched ``(C, *spatial)`` input; say whether it was added."""
    if x.ndim == n + 1:
        return x[None], True
    if x.ndim == n + 2:
        return x, False
    raise SciMLError(f"layer '{layer_id}' ({layer_type}) takes {n + 1}-d or {n + 2}-d "
                     f"input, not shape {tuple(x.shape)}")


def _refuse(layer_id: str, layer_type: str, args: dict, name: str, allowed: Any) -> None:
    if name in args and args[name] not in (allowed, [allowed]):
        raise UnsupportedSciMLError(f"{layer_type} with {name}={args[name]!r}", layer_id,
                                    f"only {name}={allowed!r} is supported")


def _trailing(a: jax.Array, ndim: int) -> jax.Array:
    """``a`` with leading unit axes up to ``ndim`` (explicit broadcasting)."""
    return a.reshape((1,) * (ndim - a.ndim) + a.shape)


def _linear(layer_id: str, args: dict) -> Layer:
    shapes = {"weight": (args["out_features"], args["in_features"])}
    if args.get("bias", True):
        shapes["bias"] = (args["out_features"],)

    def apply(p, x, key, training):
        y = x @ p["weight"].T
        return y + _trailing(p["bias"], y.ndim) if "bias" in p else y
    return Layer(layer_id, "Linear", args, shapes, apply)


def _bilinear(layer_id: str, args: dict) -> Layer:
    out = args["out_features"]
    shapes = {"weight": (out, args["in1_features"], args["in2_features"])}
    if args.get("bias", True):
        shapes["bias"] = (out,)

    def apply(p, x, key, training):
        x1, x2 = x
        y = jnp.einsum("...i,kij,...j->...k", x1, p["weight"], x2)
        return y + _trailing(p["bias"], y.ndim) if "bias" in p else y
    return Layer(layer_id, "Bilinear", args, shapes, apply)


def _conv_padding(args: dict, n: int, kernel: tuple[int, ...], dilation: tuple[int, ...],
                  layer_id: str) -> list[tuple[int, int]] | str:
    padding = args.get("padding", 0)
    if padding == "valid":
        return "VALID"
    if padding == "same":
        pads = []
        for k, d in zip(kernel, dilation, strict=True):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return pads
    return [(q, q) for q in _tuple(padding, n, "padding", layer_id)]


def _conv(n: int, transposed: bool) -> Callable[[str, dict], Layer]:
    layer_type = f"ConvTranspose{n}d" if transposed else f"Conv{n}d"

    def make(layer_id: str, args: dict) -> Layer:
        _refuse(layer_id, layer_type, args, "padding_mode", "zeros")
        kernel = _tuple(args["kernel_size"], n, "kernel_size", layer_id)
        stride = _tuple(args.get("stride", 1), n, "stride", layer_id)
        dilation = _tuple(args.get("dilation", 1), n, "dilation", layer_id)
        groups = int(args.get("groups", 1))
        c_in, c_out = args["in_channels"], args["out_channels"]
        if transposed:
            if groups != 1:
                raise UnsupportedSciMLError(f"{layer_type} with groups={groups}", layer_id,
                                            "only groups=1 is supported")
            shapes = {"weight": (c_in, c_out, *kernel)}
        else:
            shapes = {"weight": (c_out, c_in // groups, *kernel)}
        if args.get("bias", True):
            shapes["bias"] = (c_out,)
        spatial = "DHW"[3 - n:]
        numbers = ("NC" + spatial, "OI" + spatial, "NC" + spatial)

        if transposed:
            pad = _tuple(args.get("padding", 0), n, "padding", layer_id)
            extra = _tuple(args.get("output_padding", 0), n, "output_padding", layer_id)
            padding = [(d * (k - 1) - q, d * (k - 1) - q + e)
                       for k, d, q, e in zip(kernel, dilation, pad, extra, strict=True)]
        else:
            padding = _conv_padding(args, n, kernel, dilation, layer_id)

        def apply(p, x, key, training):
            xb, added = _batched(x, n, layer_id, layer_type)
            w = p["weight"]
            if transposed:   # a convolution of the stride-dilated input with the flipped kernel
                w = jnp.flip(jnp.swapaxes(w, 0, 1), axis=tuple(range(2, n + 2)))
                y = lax.conv_general_dilated(xb, w, (1,) * n, padding, lhs_dilation=stride,
                                             rhs_dilation=dilation, dimension_numbers=numbers)
            else:
                y = lax.conv_general_dilated(xb, w, stride, padding, rhs_dilation=dilation,
                                             dimension_numbers=numbers,
                                             feature_group_count=groups)
            if "bias" in p:
                y = y + p["bias"].reshape((1, -1) + (1,) * n)
            return y[0] if added else y
        return Layer(layer_id, layer_type, args, shapes, apply)
    return make


def _pool_window(args: dict, n: int, layer_id: str, layer_type: str):
    _refuse(layer_id, layer_type, args, "ceil_mode", False)
    _refuse(layer_id, layer_type, args, "return_indices", False)
    kernel = _tuple(args["kernel_size"], n, "kernel_size", layer_id)
    stride = args.get("stride")
    stride = kernel if stride is None or stride == [] else _tuple(stride, n, "stride",
                                                                   layer_id)
    padding = _tuple(args.get("padding", 0), n, "padding", layer_id)
    dilation = _tuple(args.get("dilation", 1), n, "dilation", layer_id)
    return kernel, stride, padding, dilation


def _reduce(x, n, init, op, kernel, stride, padding, dilation):
    return lax.reduce_window(x, init, op, (1, 1) + kernel, (1, 1) + stride,
                             [(0, 0), (0, 0)] + [(q, q) for q in padding],
                             window_dilation=(1, 1) + dilation)


def _pool(n: int, kind: str) -> Callable[[str, dict], Layer]:
    layer_type = f"{kind}Pool{n}d"

    def make(layer_id: str, args: dict) -> Layer:
        kernel, stride, padding, dilation = _pool_window(args, n, layer_id, layer_type)
        size = math.prod(kernel)

        def apply(p, x, key, training):
            xb, added = _batched(x, n, layer_id, layer_type)
            if kind == "Max":
                y = _reduce(xb, n, -jnp.inf, lax.max, kernel, stride, padding, dilation)
            elif kind == "Avg":
                total = _reduce(xb, n, 0.0, lax.add, kernel, stride, padding, dilation)
                if args.get("divisor_override"):
                    y = total / args["divisor_override"]
                elif args.get("count_include_pad", True):
                    y = total / size
                else:
                    ones = jnp.ones((1, 1) + xb.shape[2:], xb.dtype)
                    y = total / _reduce(ones, n, 0.0, lax.add, kernel, stride, padding,
                                        dilation)
            else:   # LP: (sum x^p)^(1/p) over the window
                norm = float(args["norm_type"])
                total = _reduce(xb ** norm, n, 0.0, lax.add, kernel, stride, padding,
                                dilation)
                y = jnp.sign(total) * jax.nn.relu(jnp.abs(total)) ** (1.0 / norm)
            return y[0] if added else y
        return Layer(layer_id, layer_type, args, {}, apply)
    return make


def _adaptive(n: int, kind: str) -> Callable[[str, dict], Layer]:
    layer_type = f"Adaptive{kind}Pool{n}d"

    def make(layer_id: str, args: dict) -> Layer:
        _refuse(layer_id, layer_type, args, "return_indices", False)
        size = args["output_size"]
        sizes = size if isinstance(size, list | tuple) else [size] * n
        reduce = jnp.max if kind == "Max" else jnp.mean

        def apply(p, x, key, training):
            xb, added = _batched(x, n, layer_id, layer_type)
            for axis, out in enumerate(sizes, start=2):   # max and mean over a box are
                length = xb.shape[axis]                  # separable: one axis at a time
                out = length if out is None else int(out)
                cells = [lax.slice_in_dim(xb, (i * length) // out,
                                          -(-((i + 1) * length) // out), axis=axis)
                         for i in range(out)]
                xb = jnp.stack([reduce(c, axis=axis) for c in cells], axis=axis)
            return xb[0] if added else xb
        return Layer(layer_id, layer_type, args, {}, apply)
    return make


def _affine(args: dict, features: int) -> dict[str, tuple[int, ...]]:
    if args.get("affine", True):
        return {"weight": (features,), "bias": (features,)}
    return {}


def _batch_norm(n: int) -> Callable[[str, dict], Layer]:
    layer_type = f"BatchNorm{n}d"

    def make(layer_id: str, args: dict) -> Layer:
        c = args["num_features"]
        eps = float(args.get("eps", 1e-5))
        shapes = _affine(args, c)

        def apply(p, x, key, training):
            if x.ndim not in ((2, 3) if n == 1 else (n + 2,)):
                raise SciMLError(f"layer '{layer_id}' ({layer_type}): input of shape "
                                 f"{tuple(x.shape)} has no batch and channel axes")
            shape = (1, c) + (1,) * (x.ndim - 2)
            axes = (0,) + tuple(range(2, x.ndim))
            if training:
                mean, var = x.mean(axis=axes), x.var(axis=axes)
            elif "running_mean" in p:
                mean, var = p["running_mean"], p["running_var"]
            else:   # PyTorch's running statistics before any training
                mean, var = jnp.zeros(c, x.dtype), jnp.ones(c, x.dtype)
            y = (x - mean.reshape(shape)) / jnp.sqrt(var.reshape(shape) + eps)
            if "weight" in p:
                y = y * p["weight"].reshape(shape) + p["bias"].reshape(shape)
            return y
        return Layer(layer_id, layer_type, args, shapes, apply)
    return make


def _instance_norm(n: int) -> Callable[[str, dict], Layer]:
    layer_type = f"InstanceNorm{n}d"

    def make(layer_id: str, args: dict) -> Layer:
        _refuse(layer_id, layer_type, args, "track_running_stats", False)
        c = args["num_features"]
        eps = float(args.get("eps", 1e-5))
        shapes = _affine({"affine": args.get("affine", False)}, c)

        def apply(p, x, key, training):
            xb, added = _batched(x, n, layer_id, layer_type)
            axes = tuple(range(2, n + 2))
            mean = xb.mean(axis=axes, keepdims=True)
            var = xb.var(axis=axes, keepdims=True)
            y = (xb - mean) / jnp.sqrt(var + eps)
            if "weight" in p:
                shape = (1, c) + (1,) * n
                y = y * p["weight"].reshape(shape) + p["bias"].reshape(shape)
            return y[0] if added else y
        return Layer(layer_id, layer_type, args, shapes, apply)
    return make


def _layer_norm(layer_id: str, args: dict) -> Layer:
    normalized = args["normalized_shape"]
    normalized = tuple(normalized) if isinstance(normalized, list | tuple) else (normalized,)
    eps = float(args.get("eps", 1e-5))
    shapes = {}
    if args.get("elementwise_affine", True):
        shapes["weight"] = normalized
        if args.get("bias", True):
            shapes["bias"] = normalized

    def apply(p, x, key, training):
        axes = tuple(range(x.ndim - len(normalized), x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        y = (x - mean) / jnp.sqrt(x.var(axis=axes, keepdims=True) + eps)
        if "weight" in p:
            y = y * _trailing(p["weight"], y.ndim)
        return y + _trailing(p["bias"], y.ndim) if "bias" in p else y
    return Layer(layer_id, "LayerNorm", args, shapes, apply)


def _dropout(n: int | None, alpha: bool = False) -> Callable[[str, dict], Layer]:
    layer_type = "AlphaDropout" if alpha else ("Dropout" if n is None else f"Dropout{n}d")

    def make(layer_id: str, args: dict) -> Layer:
        rate = float(args.get("p", 0.5))

        def apply(p, x, key, training):
            if not training or rate == 0.0:
                return x
            if key is None:
                raise SciMLError(f"layer '{layer_id}' ({layer_type}) needs a random key "
                                 "in training mode")
            if n is None:
                mask_shape = x.shape
            else:   # whole channels: (N, C, 1, ...) or unbatched (C, 1, ...)
                keep = x.ndim - n
                mask_shape = x.shape[:keep] + (1,) * n
            kept = jax.random.bernoulli(key, 1.0 - rate, mask_shape)
            if not alpha:
                return jnp.where(kept, x / (1.0 - rate), 0.0)
            # keeps SELU's zero mean and unit variance (Klambauer et al. 2017)
            prime = -SELU_SCALE * SELU_ALPHA
            a = ((1.0 - rate) * (1.0 + rate * prime ** 2)) ** -0.5
            return a * jnp.where(kept, x, prime) - a * prime * rate
        return Layer(layer_id, layer_type, args, {}, apply, stochastic=True)
    return make


def _flatten(layer_id: str, args: dict) -> Layer:
    start, end = int(args.get("start_dim", 1)), int(args.get("end_dim", -1))

    def apply(p, x, key, training):
        s, e = start % x.ndim, end % x.ndim
        return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])
    return Layer(layer_id, "Flatten", args, {}, apply)


LAYERS: dict[str, Callable[[str, dict], Layer]] = {
    "Linear": _linear,
    "Bilinear": _bilinear,
    "Flatten": _flatten,
    "LayerNorm": _layer_norm,
    "Dropout": _dropout(None),
    "AlphaDropout": _dropout(None, alpha=True),
}
for _n in (1, 2, 3):
    LAYERS[f"Conv{_n}d"] = _conv(_n, transposed=False)
    LAYERS[f"ConvTranspose{_n}d"] = _conv(_n, transposed=True)
    LAYERS[f"BatchNorm{_n}d"] = _batch_norm(_n)
    LAYERS[f"InstanceNorm{_n}d"] = _instance_norm(_n)
    LAYERS[f"Dropout{_n}d"] = _dropout(_n)
    for _kind in ("Max", "Avg", "LP"):
        LAYERS[f"{_kind}Pool{_n}d"] = _pool(_n, _kind)
    for _kind in ("Max", "Avg"):
        LAYERS[f"Adaptive{_kind}Pool{_n}d"] = _adaptive(_n, _kind)


def make_layer(layer_id: str, layer_type: str, args: dict | None) -> Layer:
    """The `Layer` for one entry of a network file's ``layers`` list."""
    if layer_type not in LAYERS:
        raise UnsupportedSciMLError(f"layer type {layer_type}", layer_id,
                                    "supported: " + ", ".join(sorted(LAYERS)))
    try:
        return LAYERS[layer_type](layer_id, dict(args or {}))
    except KeyError as err:
        raise SciMLError(f"layer '{layer_id}' ({layer_type}) lacks the argument "
                         f"{err.args[0]!r}") from None
