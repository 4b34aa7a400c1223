"""Symbolic vocabulary for SBML math held as sympy.

Arithmetic uses sympy's own Add, Mul, Pow and elementary functions, so that sympy
can differentiate and solve it. SBML's logic, relations, piecewise and the few
functions whose sympy versions evaluate too eagerly are unevaluated functions
defined here: sympy keeps them as written and the JAX lowering gives them the
meaning SBML does (booleans are 1.0 / 0.0 in numeric context and vice versa).
"""

from __future__ import annotations

import functools

import sympy as sp
from sympy.core.mul import _args_sortkey

#: the symbol of simulation time (csymbol time)
TIME = sp.Symbol("@time", real=True)  # noqa: F811
#: Avogadro's number as SBML Level 3 (V1 and V2) defines it for csymbol avogadro
#: (the 2006 CODATA value the specification fixes, not the 2019 SI value)
AVOGADRO = 6.02214179e23


class _SBMLFunction(sp.Function):
    """An unevaluated function with SBML semantics, lowered by `_lower`."""

    @classmethod
    def eval(cls, *args):
        return None


class Gt(_SBMLFunction):
    nargs = 2


class Ge(_SBMLFunction):
    nargs = 2


class Lt(_SBMLFunction):
    nargs = 2


class Le(_SBMLFunction):
    nargs = 2


class Eq(_SBMLFunction):
    nargs = 2


class Ne(_SBMLFunction):
    nargs = 2


class And(_SBMLFunction):
    pass


class Or(_SBMLFunction):
    pass


class Xor(_SBMLFunction):
    pass


class Not(_SBMLFunction):
    nargs = 1


class Implies(_SBMLFunction):
    nargs = 2


class Piecewise(_SBMLFunction):
    """``Piecewise(v0, c0, v1, c1, ..., [otherwise])``: the first true condition wins."""


class Max(_SBMLFunction):
    pass


class Min(_SBMLFunction):
    pass


class Quotient(_SBMLFunction):
    nargs = 2


class Rem(_SBMLFunction):
    nargs = 2


class Factorial(_SBMLFunction):
    nargs = 1


class Delay(_SBMLFunction):
    """``Delay(expr, tau)``: the value of ``expr`` at ``time - tau``."""

    nargs = 2


class RateOf(_SBMLFunction):
    """``RateOf(symbol)``: the time derivative of a model symbol."""

    nargs = 1


class Distrib(_SBMLFunction):
    """``Distrib(kind, site, *args)``: a draw from a ``distrib`` package distribution.

    ``kind`` indexes `wholecell.sbml._distrib.NAMES`; ``site`` is an integer unique to the call
    site (so two draws with equal arguments stay independent).
    """


RELATIONS = (Gt, Ge, Lt, Le, Eq, Ne)
LOGICAL = (And, Or, Xor, Not, Implies)


def is_boolean(expr: sp.Expr) -> bool:
    """Whether ``expr`` is boolean-valued (a relation or a logical operator)."""
    return isinstance(expr, RELATIONS + LOGICAL)


def power_base(f: sp.Expr) -> sp.Symbol | None:
    """The base of ``f`` if ``f`` is a commutative symbol or its integer power, else None."""
    if isinstance(f, sp.Pow) and isinstance(f.exp, sp.Integer):
        f = f.base
    return f if isinstance(f, sp.Symbol) and f.is_commutative else None


def product(factors) -> sp.Expr:
    """``sp.Mul(*factors)``, built directly when the factors (or the factors of nested
    products) are distinct symbols and integer powers of them, as in mass-action laws
    and amount / compartment: the result is the one Mul's flatten would give (the same
    arguments in its order), about 7x faster, which matters for networks of 10,000+
    reactions."""
    flat: list[sp.Expr] = []
    for f in factors:
        parts = f.args if isinstance(f, sp.Mul) else (f,)
        if any(power_base(a) is None for a in parts):
            return sp.Mul(*factors)
        flat.extend(parts)
    bases = {power_base(a) for a in flat}
    if len(flat) < 2 or len(bases) < len(flat):
        return sp.Mul(*factors)
    return sp.Mul._from_args(tuple(sorted(flat, key=_args_sortkey)), True)


def ratio(numerator: sp.Expr, denominator: sp.Expr) -> sp.Expr:
    """``numerator / denominator`` through `product`."""
    return product((numerator, sp.Pow(denominator, -1)))


@functools.cache
def symbol(name: str) -> sp.Symbol:
    """The sympy symbol of an SBML id (every id is real; names are kept verbatim).

    Memoised: one object per name, so dictionary lookups hit the identity fast path
    (sympy's own cache holds only 1,000 entries, too few for large networks).
    """
    return sp.Symbol(name, real=True)
