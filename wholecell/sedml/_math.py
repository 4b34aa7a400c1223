"""The math of a SED-ML data generator, evaluated with numpy over whole time courses."""

from __future__ import annotations

from collections.abc import Mapping

import libsbml
import numpy as np

from .._errors import UnsupportedSedmlError

_NARY = {
    libsbml.AST_PLUS: lambda a: sum(a[1:], a[0]) if a else 0.0,
    libsbml.AST_TIMES: lambda a: np.prod(np.broadcast_arrays(*a), axis=0) if a else 1.0,
    libsbml.AST_FUNCTION_MIN: lambda a: np.minimum.reduce(np.broadcast_arrays(*a)),
    libsbml.AST_FUNCTION_MAX: lambda a: np.maximum.reduce(np.broadcast_arrays(*a)),
}
_UNARY = {
    libsbml.AST_FUNCTION_EXP: np.exp,
    libsbml.AST_FUNCTION_LN: np.log,
    libsbml.AST_FUNCTION_ABS: np.abs,
    libsbml.AST_FUNCTION_FLOOR: np.floor,
    libsbml.AST_FUNCTION_CEILING: np.ceil,
    libsbml.AST_FUNCTION_SIN: np.sin,
    libsbml.AST_FUNCTION_COS: np.cos,
    libsbml.AST_FUNCTION_TAN: np.tan,
    libsbml.AST_FUNCTION_ARCSIN: np.arcsin,
    libsbml.AST_FUNCTION_ARCCOS: np.arccos,
    libsbml.AST_FUNCTION_ARCTAN: np.arctan,
    libsbml.AST_FUNCTION_SINH: np.sinh,
    libsbml.AST_FUNCTION_COSH: np.cosh,
    libsbml.AST_FUNCTION_TANH: np.tanh,
}
_CONSTANTS = {libsbml.AST_CONSTANT_PI: np.pi, libsbml.AST_CONSTANT_E: np.e}


def evaluate(mathml: str, values: Mapping[str, object], owner: str) -> np.ndarray:
    """Evaluate the MathML ``mathml`` with ``values`` (id -> number or array over time).

    Raises:
        UnsupportedSedmlError: a construct outside arithmetic and the elementary
            functions (e.g. SED-ML's aggregate functions), or an unknown id; ``owner``
            (the data generator's id) is named.
    """
    ast = libsbml.readMathMLFromString(mathml)
    if ast is None:
        raise UnsupportedSedmlError("math", owner, "libsbml could not read the MathML")
    with np.errstate(all="ignore"):  # NaN and inf propagate as IEEE arithmetic says
        return np.asarray(_eval(ast, values, owner), dtype=float)


def _eval(node, values, owner):  # noqa: C901
    t = node.getType()
    args = [_eval(node.getChild(i), values, owner) for i in range(node.getNumChildren())]
    if t == libsbml.AST_INTEGER:
        return float(node.getInteger())
    if t in (libsbml.AST_REAL, libsbml.AST_REAL_E, libsbml.AST_RATIONAL):
        return node.getReal()
    if t == libsbml.AST_NAME:
        name = node.getName()
        if name not in values:
            raise UnsupportedSedmlError(
                "math", owner, f"'{name}' is neither a variable nor a parameter of it")
        return values[name]
    if t in _CONSTANTS:
        return _CONSTANTS[t]
    if t in _NARY:
        return _NARY[t](args)
    if t == libsbml.AST_MINUS:
        return -args[0] if len(args) == 1 else args[0] - args[1]
    if t == libsbml.AST_DIVIDE:
        return args[0] / args[1]
    if t in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
        return np.power(args[0], args[1])
    if t == libsbml.AST_FUNCTION_ROOT:
        return np.power(args[-1], 1.0 / args[0]) if len(args) == 2 else np.sqrt(args[0])
    if t == libsbml.AST_FUNCTION_LOG:
        return np.log(args[-1]) / np.log(args[0]) if len(args) == 2 else np.log10(args[0])
    if t in _UNARY and len(args) == 1:
        return _UNARY[t](args[0])
    what = node.getName() or libsbml.formulaToL3String(node)
    raise UnsupportedSedmlError(f"math function '{what}'", owner)
