"""PEtab math (observable, noise and override formulas) parsed to sympy and lowered to JAX."""

from __future__ import annotations

import re
from collections.abc import Mapping

import sympy as sp
from sympy.parsing.sympy_parser import parse_expr

from ..compiler._lower import Lowerer
from ..sbml import _symbolic as S
from ._errors import PetabError

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _log(x, base=None):
    return sp.log(x) if base is None else sp.log(x) / sp.log(base)


#: the functions PEtab v1 formulas may call, as sympy (every other name is an id)
_FUNCTIONS = {
    "exp": sp.exp,
    "log": _log,
    "ln": sp.log,
    "log10": lambda x: sp.log(x) / sp.log(10),
    "log2": lambda x: sp.log(x) / sp.log(2),
    "sqrt": sp.sqrt,
    "abs": sp.Abs,
    "pow": lambda a, b: a**b,
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "min": S.Min,
    "max": S.Max,
    "floor": sp.floor,
    "ceil": sp.ceiling,
}
_CONSTANTS = {"pi": sp.pi, "inf": sp.oo, "INF": sp.oo, "nan": sp.nan}


def parse(formula: str, where: str) -> sp.Expr:
    """The sympy expression of a PEtab formula; every identifier becomes a real symbol.

    Names such as ``E``, ``beta`` or ``gamma`` stay ids (they are never sympy's constants
    or functions), and ``^`` is a power as PEtab writes it.

    Raises:
        PetabError: the formula cannot be parsed (``where`` names its table and row).
    """
    text = str(formula).strip()
    if not text:
        raise PetabError(f"empty formula in {where}")
    names = {}
    for tok in _IDENT.findall(text):
        if tok in _FUNCTIONS:
            names[tok] = _FUNCTIONS[tok]
        elif tok in _CONSTANTS:
            names[tok] = _CONSTANTS[tok]
        else:
            names[tok] = S.symbol(tok)
    try:
        expr = parse_expr(text.replace("^", "**"), local_dict=names, global_dict={
            "Integer": sp.Integer, "Float": sp.Float, "Rational": sp.Rational,
            "Symbol": sp.Symbol,
        }, evaluate=True)
    except (SyntaxError, TypeError, ValueError, sp.SympifyError) as err:
        raise PetabError(f"cannot parse formula '{text}' in {where}: {err}") from err
    if not isinstance(expr, sp.Expr):
        raise PetabError(f"formula '{text}' in {where} is not a number-valued expression")
    return expr


def names_in(expr: sp.Expr) -> set[str]:
    """The ids an expression refers to."""
    return {str(s) for s in expr.free_symbols}


def lower(expr: sp.Expr, values: Mapping[str, object]):
    """Evaluate ``expr`` with JAX, the id ``name`` taking ``values[name]`` (arrays broadcast)."""
    env = {S.symbol(k): v for k, v in values.items()}
    return Lowerer(env)(expr)
