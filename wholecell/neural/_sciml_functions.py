"""The functions a PEtab SciML forward graph may call: PyTorch's activations and tensor ops.

A node ``call_function`` or ``call_method`` names its target as PyTorch does
(``torch.nn.functional.elu`` is ``elu``, ``Tensor.tanh`` is ``tanh``); keyword arguments
keep PyTorch's names and defaults. ``inplace`` and ``_stacklevel`` change nothing here.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from .._errors import SciMLError

_IGNORED = ("inplace", "_stacklevel")


def _softmax(fn):
    def apply(x, dim=None, dtype=None):
        if dtype is not None:
            raise SciMLError(f"softmax with dtype={dtype!r} is not supported")
        return fn(x, axis=-1 if dim is None else dim)
    return apply


def _softplus(x, beta=1.0, threshold=20.0):
    # PyTorch returns x itself where beta x > threshold
    return jnp.where(beta * x > threshold, x, jax.nn.softplus(beta * x) / beta)


def _gelu(x, approximate="none"):
    # PyTorch's default is the exact erf form; "tanh" is the approximation
    return jax.nn.gelu(x, approximate=approximate == "tanh")


def _celu(x, alpha=1.0):
    return jnp.maximum(x, 0.0) + jnp.minimum(0.0, alpha * jnp.expm1(x / alpha))


def _flatten(x, start_dim=0, end_dim=-1):
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])


FUNCTIONS: dict[str, Callable[..., jax.Array]] = {
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "hardtanh": lambda x, min_val=-1.0, max_val=1.0: jnp.clip(x, min_val, max_val),
    "hardswish": jax.nn.hard_swish,
    "hardsigmoid": jax.nn.hard_sigmoid,
    "selu": jax.nn.selu,
    "silu": jax.nn.silu,
    "leaky_relu": lambda x, negative_slope=0.01: jnp.where(x >= 0, x, negative_slope * x),
    "gelu": _gelu,
    "log_sigmoid": jax.nn.log_sigmoid,
    "logsigmoid": jax.nn.log_sigmoid,
    "tanhshrink": lambda x: x - jnp.tanh(x),
    "softsign": lambda x: x / (1.0 + jnp.abs(x)),
    "softplus": _softplus,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "mish": lambda x: x * jnp.tanh(jax.nn.softplus(x)),
    "elu": lambda x, alpha=1.0: jnp.where(x > 0, x, alpha * jnp.expm1(x)),
    "celu": _celu,
    "softmax": _softmax(jax.nn.softmax),
    "log_softmax": _softmax(jax.nn.log_softmax),
    "cat": lambda tensors, dim=0: jnp.concatenate(tensors, axis=dim),
    "stack": lambda tensors, dim=0: jnp.stack(tensors, axis=dim),
    "flatten": _flatten,
    "add": jnp.add,
    "sub": jnp.subtract,
    "mul": jnp.multiply,
    "truediv": jnp.divide,
    "div": jnp.divide,
    "neg": jnp.negative,
    "matmul": jnp.matmul,
    "exp": jnp.exp,
    "log": jnp.log,
    "abs": jnp.abs,
    "sqrt": jnp.sqrt,
    "pow": jnp.power,
}


def call(name: str, args: list, kwargs: dict) -> jax.Array:
    """Apply the function ``name`` (a key of `FUNCTIONS`) with PyTorch's arguments."""
    kwargs = {k: v for k, v in kwargs.items() if k not in _IGNORED}
    return FUNCTIONS[name](*args, **kwargs)
