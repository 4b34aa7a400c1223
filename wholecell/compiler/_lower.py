"""Lower a sympy expression to JAX operations on arrays."""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp
import sympy as sp
from jax.custom_derivatives import SymbolicZero

from .._errors import CompileError, UnsupportedSBMLError
from ..sbml import _symbolic as S
from ..sbml._distrib import NAMES, draw


def as_number(x):
    """Booleans become 1.0 / 0.0; everything else passes through."""
    if hasattr(x, "dtype") and x.dtype == jnp.bool_:
        return jnp.where(x, 1.0, 0.0)
    if isinstance(x, bool):
        return 1.0 if x else 0.0
    return x


def as_bool(x):
    """Numbers become booleans (non-zero is true)."""
    if hasattr(x, "dtype") and x.dtype == jnp.bool_:
        return x
    if isinstance(x, bool):
        return x
    return jnp.asarray(x) != 0


def _pow(base, exp_expr, lowered_exp):
    if isinstance(exp_expr, sp.Integer):
        n = int(exp_expr)
        if n == 2:
            return base * base
        if n == -1:
            return 1.0 / base
        return jnp.asarray(base) ** n  # lax.integer_pow: exact, fine for negative bases
    if exp_expr == sp.Rational(1, 2):
        return jnp.sqrt(base)
    return power(base, lowered_exp)


@jax.custom_jvp
def power(x, y):
    """``x ** y`` as ``exp(y log|x|)`` with C's ``pow`` cases for negative, zero, unit and
    non-finite arguments (a negative base takes integer exponents only).

    XLA's own power costs about 5 ns per element on a CPU against 3.2 for this; a Hill
    function's ``(P/K)^n`` with a parameter ``n`` is most of a small model's right-hand
    side. Derivatives are `jnp.power`'s.
    """
    x = jnp.asarray(x)
    y = jnp.asarray(y, dtype=jnp.result_type(x, y))
    return _power(x, y)


@jax.jit
def _power(x, y):
    # A jitted body is traced once per shape and dtype and then reused: traced anew at
    # each of a model's powers it was about a third of the repressilator's trace time.
    # XLA inlines it, so the compiled program is the same.
    ax = jnp.abs(x)
    r = jnp.exp(y * jnp.log(ax))
    y_int = jnp.round(y)
    is_int = y_int == y
    odd = is_int & (jnp.abs(jnp.fmod(y_int, 2.0)) == 1.0)
    r = jnp.where(jnp.signbit(x) & odd, -r, r)
    r = jnp.where((x < 0) & ~is_int & jnp.isfinite(x), jnp.nan, r)
    return jnp.where((y == 0) | (x == 1) | ((ax == 1) & jnp.isinf(y)), jnp.ones_like(r), r)


def _power_jvp(primals, tangents):
    # Only the tangents that are not symbolically zero: a constant exponent's zero
    # tangent times log(x) would be NaN where x <= 0.
    x, y = primals
    dx, dy = tangents
    out = power(x, y)
    dtype = out.dtype
    tangent = jnp.zeros_like(out)
    if not isinstance(dx, SymbolicZero):
        tangent = tangent + jax.jvp(lambda a: jnp.power(a, jnp.asarray(y, dtype)),
                                    (jnp.asarray(x, dtype),), (jnp.asarray(dx, dtype),))[1]
    if not isinstance(dy, SymbolicZero):
        tangent = tangent + jax.jvp(lambda b: jnp.power(jnp.asarray(x, dtype), b),
                                    (jnp.asarray(y, dtype),), (jnp.asarray(dy, dtype),))[1]
    return out, tangent


power.defjvp(_power_jvp, symbolic_zeros=True)


@jax.custom_jvp
def exp(x):
    """`jnp.exp`, whose derivative stays finite where the value overflows: the tangent is
    ``min(exp(x), float max) * dx``, so a zero tangent gives zero, not ``inf * 0 = NaN``.

    A state-independent switch such as ``1 / (1 + exp(beta (R - Ca)))`` with a steep
    ``beta`` overflows to inf (the value, 0 after the division, is right); under
    `jax.jacfwd` with respect to the state its zero tangent then made the whole Jacobian
    NaN (BIOMD0000000277: BDF and rodas5 failed at t = 0).
    """
    return jnp.exp(x)


@exp.defjvp
def _exp_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    y = jnp.exp(x)
    return y, jnp.minimum(y, jnp.finfo(y.dtype).max) * dx


def _piecewise(args):
    has_otherwise = len(args) % 2 == 1
    out = args[-1] if has_otherwise else jnp.nan
    pairs = args[:-1] if has_otherwise else args
    for i in range(len(pairs) - 2, -1, -2):
        out = jnp.where(as_bool(pairs[i + 1]), as_number(pairs[i]), as_number(out))
    return out


def _xor(args):
    out = as_bool(args[0])
    for a in args[1:]:
        out = out ^ as_bool(a)
    return out


def _reduce(fn, args):
    out = args[0]
    for a in args[1:]:
        out = fn(out, a)
    return out


def _factorial(x):
    return jnp.exp(jsp.gammaln(x + 1.0))


def _quotient(a, b):
    return jnp.trunc(a / b)


def _rem(a, b):
    return a - b * jnp.trunc(a / b)


_FUNCS = {
    sp.exp: exp,
    sp.log: jnp.log,
    sp.Abs: jnp.abs,
    sp.floor: jnp.floor,
    sp.ceiling: jnp.ceil,
    sp.sin: jnp.sin,
    sp.cos: jnp.cos,
    sp.tan: jnp.tan,
    sp.sec: lambda x: 1.0 / jnp.cos(x),
    sp.csc: lambda x: 1.0 / jnp.sin(x),
    sp.cot: lambda x: 1.0 / jnp.tan(x),
    sp.sinh: jnp.sinh,
    sp.cosh: jnp.cosh,
    sp.tanh: jnp.tanh,
    sp.sech: lambda x: 1.0 / jnp.cosh(x),
    sp.csch: lambda x: 1.0 / jnp.sinh(x),
    sp.coth: lambda x: 1.0 / jnp.tanh(x),
    sp.asin: jnp.arcsin,
    sp.acos: jnp.arccos,
    sp.atan: jnp.arctan,
    sp.asec: lambda x: jnp.arccos(1.0 / x),
    sp.acsc: lambda x: jnp.arcsin(1.0 / x),
    sp.acot: lambda x: jnp.arctan(1.0 / x),
    sp.asinh: jnp.arcsinh,
    sp.acosh: jnp.arccosh,
    sp.atanh: jnp.arctanh,
    sp.asech: lambda x: jnp.arccosh(1.0 / x),
    sp.acsch: lambda x: jnp.arcsinh(1.0 / x),
    sp.acoth: lambda x: jnp.arctanh(1.0 / x),
    S.Factorial: _factorial,
    S.Quotient: _quotient,
    S.Rem: _rem,
}

_RELATIONS = {
    S.Gt: jnp.greater,
    S.Ge: jnp.greater_equal,
    S.Lt: jnp.less,
    S.Le: jnp.less_equal,
    S.Eq: jnp.equal,
    S.Ne: jnp.not_equal,
}


class Lowerer:
    """Lowers sympy expressions given JAX values for their symbols.

    Sub-expressions are cached, so shared pieces are evaluated once.
    """

    def __init__(self, env: Mapping[sp.Basic, object], key=None):
        self.env = env
        self.key = key  # PRNG key for distrib draws (None: draws are not allowed here)
        self.cache: dict[sp.Basic, object] = {}

    def __call__(self, expr: sp.Basic):
        hit = self.cache.get(expr)
        if hit is not None:
            return hit
        out = self._lower(expr)
        self.cache[expr] = out
        return out

    def _lower(self, e):  # noqa: C901
        if e in self.env:
            return self.env[e]
        if isinstance(e, sp.Symbol):
            raise CompileError(f"no value for symbol '{e}'")
        if e.is_Number:
            if e is sp.nan:
                return jnp.nan
            if e is sp.oo:
                return jnp.inf
            if e is sp.S.NegativeInfinity:
                return -jnp.inf
            if e is sp.zoo:
                return jnp.nan
            return float(e)
        if e is sp.pi:
            return float(sp.pi)
        if e is sp.E:
            return float(sp.E)
        if isinstance(e, sp.NumberSymbol):
            return float(e)
        f = e.func
        if f is sp.Add:
            return _reduce(lambda a, b: a + b, [as_number(self(a)) for a in e.args])
        if f is sp.Mul:
            return _mul(self, e)
        if f is sp.Pow:
            base, ex = e.args
            return _pow(as_number(self(base)), ex, as_number(self(ex)))
        if f is sp.exp:
            return exp(as_number(self(e.args[0])))
        if f in _FUNCS:
            return _FUNCS[f](*[as_number(self(a)) for a in e.args])
        if f in _RELATIONS:
            a, b = (as_number(self(x)) for x in e.args)
            return _RELATIONS[f](a, b)
        if f is S.And:
            return _reduce(jnp.logical_and, [as_bool(self(a)) for a in e.args])
        if f is S.Or:
            return _reduce(jnp.logical_or, [as_bool(self(a)) for a in e.args])
        if f is S.Xor:
            return _xor([self(a) for a in e.args])
        if f is S.Not:
            return jnp.logical_not(as_bool(self(e.args[0])))
        if f is S.Implies:
            a, b = (as_bool(self(x)) for x in e.args)
            return jnp.logical_or(jnp.logical_not(a), b)
        if f is S.Piecewise:
            return _piecewise([self(a) for a in e.args])
        if f is S.Max:
            return _reduce(jnp.maximum, [as_number(self(a)) for a in e.args])
        if f is S.Min:
            return _reduce(jnp.minimum, [as_number(self(a)) for a in e.args])
        if f is S.Distrib:
            return self._draw(e)
        if f in (S.Delay, S.RateOf):
            raise UnsupportedSBMLError(f"csymbol {f.__name__}", None, str(e))
        raise CompileError(f"cannot lower '{e}' ({f.__name__}) to JAX")

    def _draw(self, e):
        """A distrib draw, from this evaluation's key folded with the call site."""
        name = NAMES[int(e.args[0])]
        if self.key is None:
            raise UnsupportedSBMLError(
                f"distrib function {name} outside an event assignment (draws are taken "
                "only when an event fires)", None, str(e)
            )
        key = jax.random.fold_in(self.key, int(e.args[1]))
        return draw(name, key, [as_number(self(a)) for a in e.args[2:]])


def _mul(low: Lowerer, e: sp.Mul):
    # a / b arrives as a * b**-1; divide instead of multiplying by a reciprocal so
    # that results match IEEE division to the last bit where it matters (x/x == 1).
    num, den = [], []
    for a in e.args:
        if isinstance(a, sp.Pow) and a.args[1] == -1:
            den.append(as_number(low(a.args[0])))
        else:
            num.append(as_number(low(a)))
    out = _reduce(lambda a, b: a * b, num) if num else 1.0
    if den:
        out = out / _reduce(lambda a, b: a * b, den)
    return out
