"""Switches of the right-hand side at times that do not depend on the state.

A relation between the simulation time and an expression of constants only
(``time > tau``, ``10 <= time``, ``time - tau < 0``; also inside ``and``/``or``/
``piecewise``) switches the
vector field at a time known before the run: the integrator ends a step there
(`wholecell.ode._integrate.integrate`'s ``jump_ts``), so the computed solution is smooth
in the parameters between switches and its derivative is that of the objective. The
switch times are a `Program` of the constants, so they follow the parameter values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import sympy as sp

from ..sbml import _symbolic as S

#: functions that switch: a right-hand side with one is not smooth in time and state
NON_SMOOTH = (S.Piecewise, S.Gt, S.Ge, S.Lt, S.Le, S.Eq, S.Ne, S.Max, S.Min, S.Quotient,
              S.Rem, sp.Piecewise, sp.floor, sp.ceiling, sp.Heaviside, sp.Abs)


class _Analysis:
    """Which symbols vary during a run, and which switches are time switches."""

    def __init__(self, defs: Mapping[sp.Symbol, sp.Expr], constants: Iterable[sp.Symbol]):
        self.defs = defs
        self.constants = set(constants)
        self._varies: dict[sp.Symbol, bool] = {}
        self.times: dict[sp.Expr, None] = {}  # the switch times, in order of appearance
        self.other = False  # a switch that is not a time switch

    def varies(self, expr: sp.Expr) -> bool:
        """Whether ``expr`` (through the definitions) depends on anything but constants."""
        return any(self._symbol_varies(s) for s in expr.free_symbols)

    def _symbol_varies(self, s: sp.Symbol) -> bool:
        if s in self.constants:
            return False
        if s not in self.defs:
            return True  # state, time, delayed values
        if s not in self._varies:
            self._varies[s] = True  # a cycle is refused elsewhere; assume the worst
            self._varies[s] = self.varies(self.defs[s])
        return self._varies[s]

    def visit(self, expr: sp.Expr) -> None:
        """Record the switches of ``expr``."""
        if not isinstance(expr, sp.Basic) or not expr.has(*NON_SMOOTH, *S.LOGICAL):
            return
        if not self.varies(expr):
            return  # constant during the run: a fixed branch
        if isinstance(expr, S.RELATIONS):
            at = self.root(expr.args[0] - expr.args[1])
            if at is None:
                self.other = True
            else:
                self.times.setdefault(at)
            return
        if isinstance(expr, S.Piecewise):
            for k, arg in enumerate(expr.args):
                if k % 2 == 1:  # v0, c0, v1, c1, ..., [otherwise]
                    self.condition(arg)
                else:
                    self.visit(arg)
            return
        if isinstance(expr, S.LOGICAL):
            for arg in expr.args:
                self.condition(arg)
            return
        if isinstance(expr, NON_SMOOTH):
            self.other = True
            return
        for arg in expr.args:
            self.visit(arg)

    def root(self, diff: sp.Expr) -> sp.Expr | None:
        """The time at which ``diff`` (a relation's left side minus its right) is zero,
        where it is ``slope * time + rest`` with constant ``slope`` and ``rest``
        (``time > tau``, ``time - tau < 0``, ``2 * time >= tau``); else None."""
        if not diff.has(S.TIME):
            return None
        slope = sp.diff(diff, S.TIME)
        rest = sp.expand(diff - slope * S.TIME)
        if slope.has(S.TIME) or rest.has(S.TIME) or slope == 0:
            return None
        if self.varies(slope) or self.varies(rest):
            return None
        return -rest if slope == 1 else -rest / slope

    def condition(self, expr: sp.Expr, seen: frozenset = frozenset()) -> None:
        """A value read as a boolean: a relation or logical operator, or anything else
        (non-zero is true), which switches with its value unless it is constant."""
        if isinstance(expr, S.RELATIONS + S.LOGICAL):
            self.visit(expr)
        elif isinstance(expr, sp.Symbol) and expr in self.defs and expr not in seen:
            # e.g. an assignment rule ``flag = time > tau``
            self.condition(self.defs[expr], seen | {expr})
        elif self.varies(expr):
            self.other = True


def time_switches(
    defs: Mapping[sp.Symbol, sp.Expr], constants: Iterable[sp.Symbol]
) -> tuple[list[sp.Expr], bool]:
    """The switch times of the definitions ``defs`` (expressions of ``constants``), and
    whether every switch of the definitions is one of them.

    A symbol defined as a relation (an assignment rule ``flag = time > tau``) that is
    read as a condition elsewhere is covered: its definition is visited too.
    """
    analysis = _Analysis(defs, constants)
    for expr in defs.values():
        analysis.visit(expr)
    return list(analysis.times), not analysis.other
