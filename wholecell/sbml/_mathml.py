"""Translate libsbml ASTs (SBML MathML) into sympy expressions."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping

import libsbml
import sympy as sp

from .._errors import SBMLError, UnsupportedSBMLError
from . import _symbolic as S
from ._distrib import ARITY as DISTRIB_ARITY
from ._distrib import NAMES as DISTRIB_NAMES

_UNARY = {
    libsbml.AST_FUNCTION_ABS: sp.Abs,
    libsbml.AST_FUNCTION_EXP: sp.exp,
    libsbml.AST_FUNCTION_LN: sp.log,
    libsbml.AST_FUNCTION_FLOOR: sp.floor,
    libsbml.AST_FUNCTION_CEILING: sp.ceiling,
    libsbml.AST_FUNCTION_FACTORIAL: S.Factorial,
    libsbml.AST_FUNCTION_SIN: sp.sin,
    libsbml.AST_FUNCTION_COS: sp.cos,
    libsbml.AST_FUNCTION_TAN: sp.tan,
    libsbml.AST_FUNCTION_SEC: sp.sec,
    libsbml.AST_FUNCTION_CSC: sp.csc,
    libsbml.AST_FUNCTION_COT: sp.cot,
    libsbml.AST_FUNCTION_SINH: sp.sinh,
    libsbml.AST_FUNCTION_COSH: sp.cosh,
    libsbml.AST_FUNCTION_TANH: sp.tanh,
    libsbml.AST_FUNCTION_SECH: sp.sech,
    libsbml.AST_FUNCTION_CSCH: sp.csch,
    libsbml.AST_FUNCTION_COTH: sp.coth,
    libsbml.AST_FUNCTION_ARCSIN: sp.asin,
    libsbml.AST_FUNCTION_ARCCOS: sp.acos,
    libsbml.AST_FUNCTION_ARCTAN: sp.atan,
    libsbml.AST_FUNCTION_ARCSEC: sp.asec,
    libsbml.AST_FUNCTION_ARCCSC: sp.acsc,
    libsbml.AST_FUNCTION_ARCCOT: sp.acot,
    libsbml.AST_FUNCTION_ARCSINH: sp.asinh,
    libsbml.AST_FUNCTION_ARCCOSH: sp.acosh,
    libsbml.AST_FUNCTION_ARCTANH: sp.atanh,
    libsbml.AST_FUNCTION_ARCSECH: sp.asech,
    libsbml.AST_FUNCTION_ARCCSCH: sp.acsch,
    libsbml.AST_FUNCTION_ARCCOTH: sp.acoth,
    libsbml.AST_LOGICAL_NOT: S.Not,
    libsbml.AST_FUNCTION_RATE_OF: S.RateOf,
}

_NARY_LOGIC = {
    libsbml.AST_LOGICAL_AND: (S.And, sp.Integer(1)),
    libsbml.AST_LOGICAL_OR: (S.Or, sp.Integer(0)),
    libsbml.AST_LOGICAL_XOR: (S.Xor, sp.Integer(0)),
}

_RELATIONS = {
    libsbml.AST_RELATIONAL_GT: S.Gt,
    libsbml.AST_RELATIONAL_GEQ: S.Ge,
    libsbml.AST_RELATIONAL_LT: S.Lt,
    libsbml.AST_RELATIONAL_LEQ: S.Le,
    libsbml.AST_RELATIONAL_EQ: S.Eq,
    libsbml.AST_RELATIONAL_NEQ: S.Ne,
}

_BINARY = {
    libsbml.AST_FUNCTION_QUOTIENT: S.Quotient,
    libsbml.AST_FUNCTION_REM: S.Rem,
    libsbml.AST_LOGICAL_IMPLIES: S.Implies,
    libsbml.AST_FUNCTION_DELAY: S.Delay,
}


class MathConverter:
    """Converts ASTs to sympy with a fixed table of symbols and function definitions.

    Arguments:
        symbols: SBML id -> sympy symbol for every id math may refer to.
        functions: function-definition id -> (argument names, body AST).
    """

    def __init__(
        self,
        symbols: Mapping[str, sp.Symbol],
        functions: Mapping[str, tuple[list[str], libsbml.ASTNode]] | None = None,
    ):
        self.symbols = symbols
        self.functions = dict(functions or {})
        # distrib call sites, numbered in the order this model's math is read: the same
        # document gives the same numbers (and draws) however often it is loaded
        self._sites = itertools.count()

    def convert(
        self,
        ast: libsbml.ASTNode | None,
        element: str,
        local: Mapping[str, sp.Expr] | None = None,
        on_unknown: Callable[[str], sp.Expr] | None = None,
    ) -> sp.Expr:
        """Convert one AST; ``element`` names the owner for error messages."""
        if ast is None:
            raise SBMLError(f"element '{element}' has no math")
        return self._conv(ast, element, dict(local or {}), on_unknown, 0)

    def _conv(self, node, element, local, on_unknown, depth):  # noqa: C901
        if depth > 200:
            raise SBMLError(f"math of '{element}' is nested too deeply (recursive function?)")
        t = node.getType()
        kids = [node.getChild(i) for i in range(node.getNumChildren())]

        def c(n):
            return self._conv(n, element, local, on_unknown, depth + 1)

        if t == libsbml.AST_INTEGER:
            return sp.Integer(node.getInteger())
        if t in (libsbml.AST_REAL, libsbml.AST_REAL_E):
            return _real(node.getReal())
        if t == libsbml.AST_RATIONAL:
            return sp.Rational(node.getNumerator(), node.getDenominator())
        if t == libsbml.AST_NAME:
            name = node.getName()
            if name in local:
                return local[name]
            if on_unknown is None and name in self.symbols:
                return self.symbols[name]
            if on_unknown is not None:
                return on_unknown(name)
            raise SBMLError(f"math of '{element}' refers to undefined id '{name}'")
        if t == libsbml.AST_NAME_TIME:
            return S.TIME
        if t == libsbml.AST_NAME_AVOGADRO:
            return sp.Float(S.AVOGADRO)
        if t == libsbml.AST_CONSTANT_E:
            return sp.E
        if t == libsbml.AST_CONSTANT_PI:
            return sp.pi
        if t == libsbml.AST_CONSTANT_TRUE:
            return sp.Integer(1)
        if t == libsbml.AST_CONSTANT_FALSE:
            return sp.Integer(0)
        if t in (libsbml.AST_PLUS, libsbml.AST_TIMES):
            # libsbml reads an n-ary sum as a chain of binary ones, as deep as it is long
            # (a sum over 500 genes): the operands of the chain, without recursion
            kids = _chain_operands(node, t) if kids else []
            if t == libsbml.AST_PLUS:
                return sp.Add(*[c(k) for k in kids]) if kids else sp.Integer(0)
            return S.product([c(k) for k in kids]) if kids else sp.Integer(1)
        if t == libsbml.AST_MINUS:
            if len(kids) == 1:
                return -c(kids[0])
            _arity(kids, 2, element, "minus")
            return c(kids[0]) - c(kids[1])
        if t == libsbml.AST_DIVIDE:
            _arity(kids, 2, element, "divide")
            return c(kids[0]) / c(kids[1])
        if t in (libsbml.AST_POWER, libsbml.AST_FUNCTION_POWER):
            _arity(kids, 2, element, "power")
            return _pow(c(kids[0]), c(kids[1]))
        if t == libsbml.AST_FUNCTION_ROOT:
            if len(kids) == 1:
                return _pow(c(kids[0]), sp.Rational(1, 2))
            _arity(kids, 2, element, "root")
            return _pow(c(kids[1]), 1 / c(kids[0]))
        if t == libsbml.AST_FUNCTION_LOG:
            if len(kids) == 1:
                return sp.log(c(kids[0])) / sp.log(10)
            _arity(kids, 2, element, "log")
            return sp.log(c(kids[1])) / sp.log(c(kids[0]))
        if t in _UNARY:
            _arity(kids, 1, element, node.getName() or "function")
            return _UNARY[t](c(kids[0]))
        if t in _BINARY:
            _arity(kids, 2, element, node.getName() or "function")
            return _BINARY[t](c(kids[0]), c(kids[1]))
        if t in _NARY_LOGIC:
            fn, empty = _NARY_LOGIC[t]
            if not kids:
                return empty
            return fn(*[c(k) for k in kids])
        if t in _RELATIONS:
            fn = _RELATIONS[t]
            args = [c(k) for k in kids]
            if len(args) < 2:
                return sp.Integer(1)
            if t == libsbml.AST_RELATIONAL_NEQ:
                _arity(kids, 2, element, "neq")
            pairs = [fn(a, b) for a, b in zip(args[:-1], args[1:], strict=True)]
            return pairs[0] if len(pairs) == 1 else S.And(*pairs)
        if t in (libsbml.AST_FUNCTION_MAX, libsbml.AST_FUNCTION_MIN):
            if not kids:
                raise SBMLError(f"math of '{element}': max/min needs arguments")
            args = [c(k) for k in kids]
            if len(args) == 1:
                return args[0]
            return (S.Max if t == libsbml.AST_FUNCTION_MAX else S.Min)(*args)
        if t == libsbml.AST_FUNCTION_PIECEWISE:
            args = [c(k) for k in kids]
            if not args:
                return sp.nan
            return S.Piecewise(*args)
        if t == libsbml.AST_FUNCTION:
            return self._call(node, kids, element, local, on_unknown, depth)
        if t in _DISTRIB:
            return _distrib_call(_DISTRIB[t], [c(k) for k in kids], element, next(self._sites))
        if t == libsbml.AST_CSYMBOL_FUNCTION:
            raise UnsupportedSBMLError(f"csymbol function '{node.getName()}'", element)
        if t == libsbml.AST_LAMBDA:
            raise SBMLError(f"math of '{element}' holds a lambda outside a function definition")
        name = node.getName() or libsbml.formulaToL3String(node)
        raise UnsupportedSBMLError(f"MathML element '{name}'", element)

    def _call(self, node, kids, element, local, on_unknown, depth):
        name = node.getName()
        if name not in self.functions:
            raise SBMLError(f"math of '{element}' calls undefined function '{name}'")
        params, body = self.functions[name]
        if len(params) != len(kids):
            raise SBMLError(
                f"math of '{element}' calls function '{name}' with {len(kids)} arguments; "
                f"it takes {len(params)}"
            )
        args = [self._conv(k, element, local, on_unknown, depth + 1) for k in kids]
        # A function body sees only its own arguments (and, in L3V2, csymbols).
        inner = dict(zip(params, args, strict=True))

        def unknown_in_body(n):
            raise SBMLError(
                f"function definition '{name}' refers to '{n}', which is not one of its "
                f"arguments"
            )

        return self._conv(body, f"{element} -> {name}", inner, unknown_in_body, depth + 1)


_DISTRIB = {
    getattr(libsbml, f"AST_DISTRIB_FUNCTION_{name.upper()}"): name for name in DISTRIB_NAMES
}
#: distributions whose location may be left out (it is then 0): ``cauchy(scale)``
_LOCATION_OPTIONAL = ("cauchy", "laplace")


def _distrib_call(name: str, args: list, element, site: int) -> sp.Expr:
    need, truncatable = DISTRIB_ARITY[name]
    if name in _LOCATION_OPTIONAL and len(args) == 1:
        args = [sp.Integer(0), *args]  # the one-argument form: scale, location 0
    if len(args) != need and not (truncatable and len(args) == need + 2):
        allowed = f"{need}" + (f" or {need + 2} (with min, max)" if truncatable else "")
        if name in _LOCATION_OPTIONAL:
            allowed = f"1 (scale), {allowed}"
        raise SBMLError(
            f"math of '{element}': distrib function {name} takes {allowed} arguments, "
            f"got {len(args)}"
        )
    return S.Distrib(sp.Integer(DISTRIB_NAMES.index(name)), sp.Integer(site), *args)


def _chain_operands(node, kind) -> list:
    """The operands of nested ``kind`` (plus or times) nodes under ``node``, in order."""
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        if n.getType() == kind and n.getNumChildren() > 0:
            stack.extend(n.getChild(i) for i in reversed(range(n.getNumChildren())))
        else:
            out.append(n)
    return out


def _arity(kids, n, element, what):
    if len(kids) != n:
        raise SBMLError(f"math of '{element}': {what} takes {n} arguments, got {len(kids)}")


def _real(value: float) -> sp.Expr:
    if value != value:
        return sp.nan
    if value == float("inf"):
        return sp.oo
    if value == float("-inf"):
        return -sp.oo
    return sp.Float(value)


#: a real exponent with an integral value up to this size is taken as an integer
INTEGRAL_EXPONENT = 64


def _pow(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
    # ``x^1.0`` and ``x^2.0`` (exporters write integral exponents as reals) become integer
    # powers: exact, as C's pow is for them, where a real exponent would lower to
    # exp(y log|x|) and, shared by rate laws of one shape, to a traced general power.
    if isinstance(exponent, sp.Float) and float(exponent).is_integer() \
            and abs(float(exponent)) <= INTEGRAL_EXPONENT:
        exponent = sp.Integer(int(float(exponent)))
    # sympy turns a negative number to a fractional power into a complex number;
    # SBML (and IEEE pow) gives NaN there, so keep such powers unevaluated.
    if base.is_number and exponent.is_number and base.is_negative and not exponent.is_integer:
        return sp.Pow(base, exponent, evaluate=False)
    return sp.Pow(base, exponent)


def function_definitions(model: libsbml.Model) -> dict[str, tuple[list[str], libsbml.ASTNode]]:
    """Function-definition id -> (argument names, body AST)."""
    out = {}
    for fd in model.getListOfFunctionDefinitions():
        lam = fd.getMath()
        if lam is None:
            continue  # L3V2 allows it; a call to it is then an undefined function
        if lam.getType() != libsbml.AST_LAMBDA:
            raise SBMLError(f"function definition '{fd.getId()}' is not a lambda")
        n = lam.getNumChildren()
        args = [lam.getChild(i).getName() for i in range(n - 1)]
        body = lam.getChild(n - 1) if n else None
        if body is None:
            raise SBMLError(f"function definition '{fd.getId()}' has no body")
        out[fd.getId()] = (args, body)
    return out
