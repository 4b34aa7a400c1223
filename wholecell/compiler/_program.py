"""Vectorised evaluation of many expressions: group by shape, gather, evaluate once.

A `Program` computes a set of derived symbols from a base vector. Definitions are
sorted into dependency levels; inside a level, expressions that share a shape
(the same tree once symbols and float constants are replaced by placeholders) are
evaluated together on gathered argument vectors. A network of 10,000 mass-action
reactions thus lowers to a handful of array operations, and compile time grows with
the number of distinct shapes, not with the number of reactions.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from .._errors import CompileError
from ..sbml import _symbolic as S
from ._lower import Lowerer, as_number

#: in scalar mode, programs with at most this many derived values are evaluated one
#: expression at a time on scalars
SCALAR_LIMIT = 300
_SCALAR = contextvars.ContextVar("wholecell_scalar_programs", default=False)


@contextlib.contextmanager
def scalar_programs(on: bool = True) -> Iterator[None]:
    """Trace small programs expression by expression while this context is active.

    Under `vmap` a gather of a batch of value vectors is slow on a CPU, while scalar
    expressions fuse into a few elementwise loops over the batch (about 5x faster for
    a 6-species model); unbatched, and inside Jacobian-vector products, the gathered
    form is faster and compiles sooner. Callers that trace a batched, Jacobian-free
    solve turn it on.
    """
    token = _SCALAR.set(on)
    try:
        yield
    finally:
        _SCALAR.reset(token)


def scalar_programs_active() -> bool:
    """Whether `scalar_programs` is on here (for jitted functions, which must take it as
    a static argument: a trace cached with it off would be reused with it on)."""
    return _SCALAR.get()


#: the placeholders made so far (made when first needed: a thousand of them took a tenth
#: of a second of ``import wholecell``)
_ARG: list[sp.Symbol] = []
_CONST: list[sp.Symbol] = []
#: products and functions of at most this many distinct symbols take the flat shapes
FLAT_LIMIT = 512


def _placeholder(pool: list[sp.Symbol], prefix: str, i: int) -> sp.Symbol:
    while i >= len(pool):
        pool.append(sp.Symbol(f"{prefix}{len(pool)}", real=True))
    return pool[i]


def arg(i: int) -> sp.Symbol:
    """The placeholder of a shape's ``i``-th argument (for evaluators of shapes outside
    this module, such as the hybrid inner loop's laws)."""
    return _placeholder(_ARG, "_a", i)


def const(j: int) -> sp.Symbol:
    """The placeholder of a shape's ``j``-th float constant."""
    return _placeholder(_CONST, "_c", j)


@functools.lru_cache(maxsize=1 << 17)
def _leaves(expr: sp.Expr) -> tuple[tuple[sp.Symbol, ...], tuple[sp.Float, ...]]:
    """The distinct symbols and floats of ``expr``, in preorder of first appearance."""
    syms: dict[sp.Symbol, None] = {}
    floats: dict[sp.Float, None] = {}
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, sp.Symbol):
            syms.setdefault(node)
        elif isinstance(node, sp.Float):
            floats.setdefault(node)
        else:
            stack.extend(reversed(node.args))
    return tuple(syms), tuple(floats)


def _substitute(expr: sp.Expr, mapping: dict) -> sp.Expr:
    """``expr.xreplace(mapping)``, with products rebuilt by `S.product` (fast path)."""
    if expr in mapping:
        return mapping[expr]
    if not expr.args:
        return expr
    args = [_substitute(a, mapping) for a in expr.args]
    if all(a is b for a, b in zip(args, expr.args, strict=True)):
        return expr
    return S.product(args) if isinstance(expr, sp.Mul) else expr.func(*args)


@functools.lru_cache(maxsize=1 << 17)
def _shape(expr: sp.Expr, args: tuple[sp.Symbol, ...]) -> sp.Expr:
    floats = _leaves(expr)[1]
    mapping = {a: arg(i) for i, a in enumerate(args)}
    mapping.update({f: const(j) for j, f in enumerate(floats)})
    return _substitute(expr, mapping)


@functools.cache
def _flat_shape(func, exponents: tuple[int | None, ...]) -> sp.Expr:
    """``func`` of the first placeholders, each raised to its exponent (None: as is)."""
    parts = [arg(i) if e is None else sp.Pow(arg(i), e) for i, e in enumerate(exponents)]
    return S.product(parts) if func is sp.Mul else func(*parts)


def _flat_canonical(expr: sp.Expr, is_symbol):
    """`canonical` of a function of distinct symbols, or of a product of distinct symbols
    and their integer powers (mass-action laws, amount / compartment); else None."""
    parts = expr.args
    if not 1 < len(parts) <= FLAT_LIMIT:
        return None
    is_product = isinstance(expr, sp.Mul)
    bases, exponents = [], []
    for a in parts:
        base = S.power_base(a) if is_product else (a if isinstance(a, sp.Symbol) else None)
        if base is None or not is_symbol(base):
            return None
        exponents.append(None if base is a else int(a.exp))
        bases.append(base)
    if len(set(bases)) < len(bases):
        return None
    return _flat_shape(expr.func, tuple(exponents)), bases, []


def canonical(expr: sp.Expr, is_symbol) -> tuple[sp.Expr, list[sp.Symbol], list[float]]:
    """Split ``expr`` into a shape and its arguments.

    Returns (shape, argument symbols, float constants): ``shape`` is ``expr`` with the
    i-th distinct symbol replaced by ``_a{i}`` and the j-th distinct float by ``_c{j}``.
    Memoised (the programs of one model share most expressions).
    """
    flat = _flat_canonical(expr, is_symbol)
    if flat is not None:
        return flat
    syms, floats = _leaves(expr)
    args = tuple(s for s in syms if is_symbol(s))
    if not args and not floats:
        return expr, [], []
    return _shape(expr, args), list(args), [float(f) for f in floats]


@dataclass(frozen=True)
class _Group:
    shape: sp.Expr
    n_args: int
    n_consts: int
    idx: np.ndarray  # (members, n_args) positions in the value vector
    consts: np.ndarray  # (members, n_consts)
    linear: tuple[np.ndarray, np.ndarray] | None = None  # see `_linear_form`


#: sums of at least this many terms are evaluated as one weighted row sum
LINEAR_MIN_TERMS = 16


def _linear_form(shape: sp.Expr, consts: np.ndarray):
    """A shape that is a sum of arguments with constant weights (``_a0 - _a1 + _c0*_a2``,
    such as the free RNA polymerase: all of it less the sum over 500 genes of the bound)
    as (argument column per term, weight per member and term); else None. Lowered as a
    chain, a sum of n terms is n dependent additions; as a row sum it is one reduction."""
    if not isinstance(shape, sp.Add) or len(shape.args) < LINEAR_MIN_TERMS:
        return None
    arg_pos = {a: j for j, a in enumerate(_ARG)}
    const_pos = {c: j for j, c in enumerate(_CONST)}
    cols, weights = [], []
    for term in shape.args:
        coef, rest = term.as_coeff_Mul()
        w = None
        if rest in arg_pos:
            w = np.full(consts.shape[0], float(coef))
        elif isinstance(rest, sp.Mul) and len(rest.args) == 2:
            a, b = rest.args
            if a in arg_pos:
                a, b = b, a
            if b in arg_pos and a in const_pos:
                w = float(coef) * consts[:, const_pos[a]]
                rest = b
        if w is None:
            return None
        cols.append(arg_pos[rest])
        weights.append(w)
    return np.array(cols, dtype=np.int32), np.stack(weights, axis=1)


class Program:
    """Computes derived symbols level by level from a base vector.

    Arguments:
        base: the symbols of the base vector, in order.
        definitions: symbol -> expression for every derived symbol that may be needed.
        outputs: the symbols the caller wants; only what they depend on is computed.
    """

    def __init__(
        self,
        base: Sequence[sp.Symbol],
        definitions: Mapping[sp.Symbol, sp.Expr],
        outputs: Sequence[sp.Symbol],
    ):
        self.n_base = len(base)
        index: dict[sp.Symbol, int] = {s: i for i, s in enumerate(base)}
        base_set = set(base)

        def is_symbol(node):
            return isinstance(node, sp.Symbol) and (node in base_set or node in definitions)

        # Resolve the symbols needed, with their dependencies.
        needed: dict[sp.Symbol, tuple[sp.Symbol, ...]] = {}
        stack = [s for s in outputs if s not in base_set]
        while stack:
            s = stack.pop()
            if s in needed:
                continue
            if s not in definitions:
                raise CompileError(f"no definition for '{s}'")
            expr = definitions[s]
            # in name order: a set's order follows the per-process string hashes, and
            # the slots, so the compiled program and its cache key, would with it
            deps = tuple(sorted((d for d in expr.free_symbols if d not in base_set),
                                key=str))
            for d in deps:
                if d not in definitions:
                    raise CompileError(f"'{s}' depends on '{d}', which has no value")
            needed[s] = deps
            stack.extend(deps)
        # Aliases (a symbol defined as another symbol) share the same slot.
        level: dict[sp.Symbol, int] = {}

        def level_of(s, trail=()):
            if s in base_set:
                return 0
            if s in level:
                return level[s]
            if s in trail:
                cycle = " -> ".join(str(x) for x in trail[trail.index(s):] + (s,))
                raise CompileError(f"circular dependency between definitions: {cycle}")
            deps = needed[s]
            lv = max((level_of(d, trail + (s,)) for d in deps), default=0)
            lv += 0 if isinstance(definitions[s], sp.Symbol) else 1
            level[s] = lv
            return lv

        import sys

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 10_000 + 4 * len(needed)))
        try:
            for s in needed:
                level_of(s)
        finally:
            sys.setrecursionlimit(limit)

        n_levels = max(level.values(), default=0)
        self.levels: list[list[_Group]] = []
        offset = self.n_base
        by_level: list[list[sp.Symbol]] = [[] for _ in range(n_levels + 1)]
        for s in needed:
            by_level[level[s]].append(s)
        for lv in range(n_levels + 1):
            aliases = [s for s in by_level[lv] if isinstance(definitions[s], sp.Symbol)]
            computed = [s for s in by_level[lv] if not isinstance(definitions[s], sp.Symbol)]
            # aliases at level lv point at symbols of lower or equal level; resolve lazily
            groups: dict[sp.Expr, list] = {}
            for s in computed:
                shape, args, consts = canonical(definitions[s], is_symbol)
                groups.setdefault(shape, [shape, []])[1].append((s, args, consts))
            level_groups = []
            for shape, members in groups.values():
                for s, _, _ in members:
                    index[s] = offset
                    offset += 1
                n_args = len(members[0][1])
                n_consts = len(members[0][2])
                idx = np.zeros((len(members), n_args), dtype=np.int32)
                cst = np.zeros((len(members), n_consts), dtype=np.float64)
                for m, (_, args, consts) in enumerate(members):
                    for j, a in enumerate(args):
                        idx[m, j] = self._resolve(a, index, definitions)
                    cst[m, :] = consts
                level_groups.append(_Group(shape, n_args, n_consts, idx, cst,
                                           _linear_form(shape, cst)))
            for s in aliases:
                index[s] = self._resolve(definitions[s], index, definitions)
            if level_groups:
                self.levels.append(level_groups)
        self.index = index
        self.size = offset
        self.outputs = tuple(outputs)
        self.output_index = np.array([index[s] for s in outputs], dtype=np.int32)

    @staticmethod
    def _resolve(sym, index, definitions):
        seen = set()
        while sym not in index:
            if sym in seen or sym not in definitions:
                raise CompileError(f"cannot resolve '{sym}'")
            seen.add(sym)
            sym = definitions[sym]
        return index[sym]

    def dependencies(self, lo: int, hi: int) -> list[frozenset[int]]:
        """For each output, the base positions in ``[lo, hi)`` it depends on (shifted by
        ``-lo``): structural, so a superset of where its derivative can be non-zero."""
        deps: dict[int, frozenset[int]] = {i: frozenset((i - lo,)) for i in range(lo, hi)}
        empty: frozenset[int] = frozenset()
        offset = self.n_base
        for groups in self.levels:
            for g in groups:
                for row in g.idx.tolist():
                    parts = [deps[i] for i in row if i in deps]
                    if parts:
                        deps[offset] = parts[0].union(*parts[1:])
                    offset += 1
        return [deps.get(int(i), empty) for i in self.output_index]

    @property
    def scalar(self) -> bool:
        """Whether to evaluate expression by expression (see `scalar_programs`)."""
        return _SCALAR.get() and self.size - self.n_base <= SCALAR_LIMIT

    def _scalar_values(self, base: jnp.ndarray) -> dict[int, jnp.ndarray]:
        """Every derived value as a scalar, by its position in the value vector."""
        vals: dict[int, jnp.ndarray] = {}

        def get(i: int):
            if i not in vals:
                vals[i] = base[i]  # base entries are sliced only where used
            return vals[i]

        offset = self.n_base
        for groups in self.levels:
            for g in groups:
                for m in range(len(g.idx)):
                    env = {arg(j): get(int(g.idx[m, j])) for j in range(g.n_args)}
                    env.update({const(j): float(g.consts[m, j]) for j in range(g.n_consts)})
                    out = as_number(Lowerer(env)(g.shape))
                    vals[offset] = jnp.asarray(out, dtype=base.dtype)
                    offset += 1
        vals.update({i: get(i) for i in self.output_index.tolist() if i < self.n_base})
        return vals

    def values(self, base: jnp.ndarray, key=None) -> jnp.ndarray:
        """The full value vector (base followed by every derived symbol).

        ``key`` is the PRNG key of distrib draws (where the definitions have any).
        """
        if self.scalar and key is None and self.size > self.n_base:
            vals = self._scalar_values(base)
            derived = [vals[i] for i in range(self.n_base, self.size)]
            return jnp.concatenate([base, jnp.stack(derived)])
        vals = base
        for groups in self.levels:
            outs = []
            for g in groups:
                env = {}
                # one gather per group (a sum over 1,000 genes is one group of one member
                # and 1,000 arguments: one gather, not 1,000)
                gathered = vals[g.idx] if g.n_args else None
                if g.linear is not None:
                    cols, weights = g.linear
                    outs.append(jnp.sum(gathered[:, cols] * weights, axis=1).astype(vals.dtype))
                    continue
                if key is None and g.n_args:
                    # the arguments as rows (1, members) of one split: a column each is a
                    # slice and a squeeze, two operations per argument to trace,
                    # differentiate and batch (half of a 25-state model's right-hand side)
                    args = jax.lax.split(gathered.T, (1,) * g.n_args, axis=0)
                    consts = [g.consts[None, :, j] for j in range(g.n_consts)]
                else:  # (distrib draws take their shape from the arguments)
                    args = [gathered[:, j] for j in range(g.n_args)]
                    consts = [g.consts[:, j] for j in range(g.n_consts)]
                env.update({arg(j): a for j, a in enumerate(args)})
                env.update({const(j): jnp.asarray(c) for j, c in enumerate(consts)})
                out = jnp.asarray(as_number(Lowerer(env, key)(g.shape)), dtype=vals.dtype)
                if out.ndim == 2:
                    out = jnp.reshape(out, (-1,))
                outs.append(jnp.broadcast_to(out, (len(g.idx),)))
            vals = jnp.concatenate([vals, *outs])
        return vals

    def __call__(self, base: jnp.ndarray, key=None) -> jnp.ndarray:
        """The outputs, in the order given at construction."""
        if self.scalar and key is None:
            if not len(self.output_index):
                return jnp.zeros((0,), base.dtype)
            vals = self._scalar_values(base)
            return jnp.stack([vals[i] for i in self.output_index.tolist()])
        return self.values(base, key)[self.output_index]
