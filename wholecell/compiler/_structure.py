"""The compiled structure of a model: programs, stoichiometry, delays and events.

`Structure` holds everything static about a compiled model; `CompiledModel`
(`wholecell.solve`) pairs it with the parameter values. Solvers call its ``rhs``,
``initial``, ``propensities`` and friends.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp

from .._errors import UnsupportedSBMLError
from .._types import (
    EntryFlags,
    EntryFloats,
    EntryInts,
    Indices,
    ReactionFlags,
    Stoichiometry,
)
from ..sbml import _symbolic as S
from ..sbml._model import Model
from . import _history
from ._events import EventSpec, event_spec
from ._layout import Layout, p_sym, x0_sym
from ._program import Program
from ._rewrites import delayed_sym
from ._switches import NON_SMOOTH, time_switches

#: dense stoichiometry matrix below this many entries, scatter-add above
_DENSE_LIMIT = 250_000


class RunArgs(NamedTuple):
    """What the vector field sees besides (t, x): constants and the solution's past."""

    c: jax.Array
    hist: _history.History | None
    p: jax.Array | None = None  # parameters: the past before t0 follows the initial state


class Structure:
    """Everything static about a compiled model: its programs and index arrays.

    Built once by `compile` and never changed afterwards (setting an attribute raises);
    hashed by identity, so jitted functions take it as a static argument. Objects derived
    from it (a batched right-hand side, a sparse Jacobian) are kept with `cached`. The
    stoichiometry is held entry by entry (``e_*``, one per `StoichEntry` of the layout):
    dx = sum over entries of ``e_sign * coefficient * v[e_rxn]`` into state ``e_state``.
    """

    layout: Layout
    draws: bool  # events draw random numbers (distrib)
    const_syms: list[sp.Symbol]
    delays: list  # (expression, delay, expression before t0) of each ``delay`` call
    n_const: int
    n_state: int
    smooth: bool  # the right-hand side has no switch (piecewise, relation, min/max, ...)
    time_switched: bool  # it has switches, all at times set by constants (`_switches`)
    n_switches: int
    switch_prog: Program | None  # c -> the times of those switches
    init_outputs: list[sp.Symbol]
    init: Program  # (p, t0) -> (c, x0)
    reaction_ids: list[str]
    rhs_prog: Program  # base -> rates, rate rules, variable coefficients, factors
    n_reactions: int
    fast: Indices  # the fast reactions
    slow_mask: ReactionFlags
    rr_state: Indices  # states set by rate rules
    rr_pos: Indices  # their positions in ``rhs_prog``'s outputs
    e_state: EntryInts
    e_rxn: EntryInts
    e_sign: EntryFloats
    e_const: EntryFloats  # the coefficient, where it is a number
    e_var: EntryFlags  # the coefficient is a variable (a species reference id)
    e_var_pos: EntryInts  # ... at this position of ``rhs_prog``'s outputs
    e_has_factor: EntryFlags
    e_factor_pos: EntryInts
    any_var: bool
    any_factor: bool
    dense: bool  # dx = N v with the dense matrix ``N``
    N: Stoichiometry | None
    tau_prog: Program | None  # delays only: the delay times
    delayed_prog: Program | None  # delays only: the delayed expressions
    past_prog: Program | None  # delays only: the expressions before t0
    tau_rounds: int
    delay_depth: int
    events: EventSpec | None
    no_events: EventSpec | None  # the hooks' spec of a model without events
    observable_ids: list[str]
    observe_prog: Program

    def __init__(self, layout: Layout):
        self._caches: dict[str, Any] = {}
        self.N = self.tau_prog = self.delayed_prog = self.past_prog = None
        self.tau_rounds = self.delay_depth = 0
        self.layout = layout
        sym = S.symbol
        L = layout
        m = L.model
        self.draws = has_draws(m)  # events draw random numbers (distrib)
        self.const_syms = [sym(n) for n in L.const_ids]
        base_plain = self.const_syms + list(L.state_syms) + [S.TIME]
        self.delays = list(L.delays)
        base_run = base_plain + [delayed_sym(k) for k in range(len(self.delays))]
        base_init = [p_sym(n) for n in L.param_ids] + [S.TIME]
        self.n_const = len(L.const_ids)
        self.n_state = len(L.state_ids)

        # ---- init: p, t0 -> c, x0 ----
        init_defs = dict(L.init_defs)
        for n in L.param_ids:
            init_defs.setdefault(sym(n), p_sym(n))
        self.init_outputs = self.const_syms + [x0_sym(n) for n in L.state_ids]
        self.init = Program(base_init, init_defs, self.init_outputs)

        # ---- rhs: c, x, t -> reaction rates, rate rules, stoichiometry, factors ----
        self.reaction_ids = [r.id for r in m.reactions]
        rxn_pos = {r: i for i, r in enumerate(self.reaction_ids)}
        rate_rule_items = sorted(L.rate_rules.items())
        entries = L.stoich
        variable = [isinstance(e.coefficient, sp.Symbol) for e in entries]
        var_coefs = sorted({e.coefficient for e, v in zip(entries, variable, strict=True) if v},
                           key=str)
        factors = sorted({e.factor for e in L.stoich if e.factor is not None}, key=str)
        outputs = (
            [sym(r) for r in self.reaction_ids]
            + [s for _, s in rate_rule_items]
            + var_coefs
            + factors
        )
        self.rhs_prog = Program(base_run, L.run_defs, outputs)
        # switches (piecewise, relations, min/max, ...) make the computed solution jump
        # between step sequences: its step sizes are then not differentiated (`integrate`)
        self.smooth = not any(
            isinstance(e, sp.Basic) and e.has(*NON_SMOOTH) for e in L.run_defs.values()
        )
        # ... unless every switch is at a time the constants set (``time > tau``): the
        # integrator then ends a step at each (`switch_times`), and between them the
        # solution is smooth
        times, only_times = time_switches(L.run_defs, self.const_syms)
        only_times = only_times and not any(
            isinstance(e, sp.Basic) and e.has(*NON_SMOOTH, *S.LOGICAL)
            for d in L.delays for e in d[:2]
        )
        self.time_switched = bool(times) and only_times and not self.smooth
        self.n_switches = len(times)
        at = [sym(f"@switch:{k}") for k in range(len(times))]
        self.switch_prog = (
            Program(self.const_syms, {**L.run_defs, **dict(zip(at, times, strict=True))}, at)
            if times else None
        )
        self._stoichiometry(m, rxn_pos, rate_rule_items, var_coefs, factors, variable)

        # ---- delays: tau_k at the current time, e_k at time t - tau_k ----
        if self.delays:
            defs = dict(L.run_defs)
            past_defs = dict(init_defs)
            n_d = len(self.delays)
            taus = [sym(f"@tau:{k}") for k in range(n_d)]
            exprs = [sym(f"@delayed_expr:{k}") for k in range(n_d)]
            pasts = [sym(f"@delayed_past:{k}") for k in range(n_d)]
            for k, (e, tau, e_past) in enumerate(self.delays):
                defs[taus[k]] = tau
                defs[exprs[k]] = e
                past_defs[pasts[k]] = e_past
            self.tau_prog = Program(base_run, defs, taus)
            self.delayed_prog = Program(base_run, defs, exprs)
            self.past_prog = Program(base_init, past_defs, pasts)
            delayed = {delayed_sym(k) for k in range(n_d)}
            # rounds needed: a delay time may depend on other delayed values (now), and a
            # delayed expression on delayed values (then): both are acyclic
            self.tau_rounds = 1 + sum(
                1 for (_, tau, _) in self.delays if self._depends(tau, delayed, defs)
            )
            self.delay_depth = 1 + sum(
                1 for (e, _, _) in self.delays if self._depends(e, delayed, defs)
            )

        # ---- events ----
        self.events = event_spec(L, base_run, self) if m.events else None
        self.no_events = (
            event_spec(L, base_run, self) if not m.events else None
        )

        # ---- observe: c, x, t -> value of every model id ----
        self.observable_ids = list(m.ids)
        self.observe_prog = Program(base_run, L.run_defs, [sym(n) for n in self.observable_ids])
        self._frozen = True

    def _stoichiometry(self, m: Model, rxn_pos, rate_rule_items, var_coefs, factors,
                       variable) -> None:
        """The index arrays of the stoichiometry entries (``e_*``: state, reaction, sign,
        constant or variable coefficient, conversion factor), the rate rules' positions,
        the fast reactions, and the dense matrix ``N`` where it is small and constant."""
        entries = self.layout.stoich
        n_r = len(self.reaction_ids)
        self.n_reactions = n_r
        self.fast = np.array([i for i, r in enumerate(m.reactions) if r.fast], dtype=np.int32)
        self.slow_mask = np.array([not r.fast for r in m.reactions], dtype=bool)
        self.rr_state = np.array([i for i, _ in rate_rule_items], dtype=np.int32)
        self.rr_pos = np.arange(n_r, n_r + len(rate_rule_items), dtype=np.int32)
        off = n_r + len(rate_rule_items)
        coef_pos = {c: off + k for k, c in enumerate(var_coefs)}
        off += len(var_coefs)
        factor_pos = {f: off + k for k, f in enumerate(factors)}
        n_e = len(entries)
        self.e_state = np.array([e.state for e in entries], dtype=np.int32).reshape(n_e)
        self.e_rxn = np.array([rxn_pos[e.reaction] for e in entries], dtype=np.int32).reshape(n_e)
        self.e_sign = np.array([e.sign for e in entries], dtype=np.float64).reshape(n_e)
        self.e_const = np.array(
            [0.0 if v else e.coefficient for e, v in zip(entries, variable, strict=True)],
            dtype=np.float64,
        ).reshape(n_e)
        self.e_var = np.array(variable, dtype=bool)
        self.e_var_pos = np.array(
            [coef_pos[e.coefficient] if v else 0 for e, v in zip(entries, variable, strict=True)],
            dtype=np.int32,
        ).reshape(n_e)
        self.e_has_factor = np.array([e.factor is not None for e in entries], dtype=bool)
        self.e_factor_pos = np.array(
            [factor_pos[e.factor] if e.factor is not None else 0 for e in entries], dtype=np.int32
        ).reshape(n_e)
        self.any_var = bool(self.e_var.any())
        self.any_factor = bool(self.e_has_factor.any())
        self.dense = (
            not self.any_var and not self.any_factor and self.n_state * n_r <= _DENSE_LIMIT
        )
        if self.dense:
            N = np.zeros((self.n_state, n_r))
            np.add.at(N, (self.e_state, self.e_rxn), self.e_sign * self.e_const)
            self.N = N

    @property
    def nominal_params(self) -> np.ndarray:
        return np.asarray(self.layout.param_values, dtype=np.float64)

    @staticmethod
    def _depends(expr, targets, defs, seen=None) -> bool:
        """Whether ``expr`` depends (through definitions) on any of ``targets``."""
        seen = set() if seen is None else seen
        for s_ in expr.free_symbols:
            if s_ in targets:
                return True
            if s_ in defs and s_ not in seen:
                seen.add(s_)
                if Structure._depends(defs[s_], targets, defs, seen):
                    return True
        return False

    def delayed_values(self, t, x, c, hist, p=None, depth=None):
        """Each delay(e, tau): e evaluated at time t - tau.

        Before the start the past is what the initial assignments say (they may depend
        on time); after it, the state comes from the step history. Delay times that
        depend on delayed values are resolved in rounds, and delayed expressions that
        contain delays recurse into the past.
        """
        depth = self.delay_depth if depth is None else depth
        n = len(self.delays)
        t = jnp.asarray(t, x.dtype)
        d = jnp.zeros(n, x.dtype)
        if depth == 0:
            return d
        for _ in range(self.tau_rounds):
            now = jnp.concatenate([c, x, jnp.reshape(t, (1,)), d])
            when = t - self.tau_prog(now)
            if hist is None:
                xs = jnp.broadcast_to(x, (n,) + x.shape)
            else:
                xs = jax.vmap(lambda tau: _history.lookup(hist, tau, x)[0])(when)

            def one(k, tk, xk):
                dk = self.delayed_values(tk, xk, c, hist, p, depth - 1)
                base = jnp.concatenate([c, xk, jnp.reshape(tk, (1,)), dk])
                return self.delayed_prog(base)[k]

            d = jax.vmap(one)(jnp.arange(n), when, xs)
            if p is not None and hist is not None:
                def before(k, tk):
                    return self.past_prog(jnp.concatenate([p, jnp.reshape(tk, (1,))]))[k]

                past = jax.vmap(before)(jnp.arange(n), when)
                d = jnp.where(when < hist.t_start, past, d)
        return d

    def switch_times(self, args) -> jax.Array:
        """The times at which the right-hand side switches, from the constants (``args``:
        ``c`` or `RunArgs`); one entry per switch, in no particular order."""
        c = args.c if isinstance(args, RunArgs) else args
        if self.switch_prog is None:
            return jnp.zeros(0, c.dtype)
        return self.switch_prog(c)

    def base(self, t, x, args):
        """The run-time base vector (constants, state, time, delayed values).

        ``args`` is the constants vector ``c`` or `RunArgs` (with the history).
        """
        if isinstance(args, RunArgs):
            c, hist, p = args.c, args.hist, args.p
        else:
            c, hist, p = args, None, None
        t = jnp.reshape(t, (1,)).astype(x.dtype)
        if not self.delays:
            return jnp.concatenate([c, x, t])
        d = self.delayed_values(t[0], x, c, hist, p)
        return jnp.concatenate([c, x, t, d])

    def apply_stoichiometry(self, out, v, like):
        """dx from reaction rates ``v`` (``out``: the rhs program's outputs)."""
        if self.dense:
            return jnp.asarray(self.N) @ v if self.n_reactions else jnp.zeros_like(like)
        coef = self.e_sign * self.e_const
        if self.any_var:
            coef = jnp.where(self.e_var, self.e_sign * out[self.e_var_pos], coef)
        contrib = coef * v[self.e_rxn]
        if self.any_factor:
            contrib = contrib * jnp.where(self.e_has_factor, out[self.e_factor_pos], 1.0)
        return jax.ops.segment_sum(contrib, self.e_state, num_segments=self.n_state)

    def propensities(self, t, x, c):
        """Reaction propensities: the kinetic laws on amounts (SBML's stochastic reading)."""
        return self.rhs_prog(self.base(t, x, c))[: self.n_reactions]

    def reaction_change(self, j, t, x, c):
        """The change of the state when reaction ``j`` fires once."""
        out = self.rhs_prog(self.base(t, x, c))
        unit = jnp.zeros(self.n_reactions, x.dtype).at[j].set(1.0)
        dx = self.apply_stoichiometry(out, unit, x)
        if len(self.rr_state):
            dx = dx.at[self.rr_state].set(0.0)
        return dx

    def rhs(self, t, x, c):
        out = self.rhs_prog(self.base(t, x, c))
        v = out[: self.n_reactions]
        if self.fast.size:
            dx = self._fast_rhs(t, x, c, out, v)
        else:
            dx = self.apply_stoichiometry(out, v, x)
        if len(self.rr_state):
            dx = dx.at[self.rr_state].set(out[self.rr_pos])
        return dx

    # -- fast reactions: kept at equilibrium (v_fast = 0) -----------------------------
    def _fast_rates(self, t, x, c):
        return self.rhs_prog(self.base(t, x, c))[self.fast]

    def _fast_matrix(self, out, x):
        unit = jnp.eye(self.n_reactions, dtype=x.dtype)[self.fast]
        return jax.vmap(lambda e: self.apply_stoichiometry(out, e, x))(unit).T  # (n, n_f)

    def _fast_rhs(self, t, x, c, out, v):
        # dx = N_s v_s + N_f w with w such that d/dt v_f(x) = 0 (index reduction of the
        # equilibrium constraint): w = -(J_f N_f)^-1 J_f N_s v_s.
        slow = jnp.asarray(self.slow_mask, dtype=x.dtype)
        dx_slow = self.apply_stoichiometry(out, v * slow, x)
        Nf = self._fast_matrix(out, x)
        Jf = jax.jacfwd(lambda y: self._fast_rates(t, y, c))(x)
        # pinv: a fast reaction whose rate is identically zero (e.g. switched off) leaves
        # its equilibrium undetermined and simply does nothing
        w = -_pinv(Jf @ Nf) @ (Jf @ dx_slow)
        return dx_slow + Nf @ w

    def project_fast(self, t, x, c, iterations: int = 80):
        """x moved along the fast reactions to the equilibrium their own flow reaches.

        Pseudo-transient continuation on the fast extents xi: implicit Euler steps of
        d(xi)/d(tau) = v_fast(x + N_f xi) with a pseudo-time step that doubles each
        iteration, so the state follows the flow (choosing the equilibrium the fast
        reactions run into, not merely the nearest root) and ends with Newton's speed.
        """
        out = self.rhs_prog(self.base(t, x, c))
        Nf = self._fast_matrix(out, x)
        n_f = self.fast.size

        def rates(xi):
            return self._fast_rates(t, x + Nf @ xi, c)

        v0 = rates(jnp.zeros(n_f, x.dtype))
        J0 = jax.jacfwd(rates)(jnp.zeros(n_f, x.dtype))
        scale = jnp.maximum(jnp.max(jnp.abs(J0)), jnp.max(jnp.abs(v0)))
        dtau0 = 1e-3 / jnp.where(scale > 0, scale, 1.0)

        def step(k, xi):
            v = rates(xi)
            J = jax.jacfwd(rates)(xi)
            dtau = dtau0 * 2.0 ** k
            A = jnp.eye(n_f, dtype=x.dtype) / dtau - J
            dxi = _pinv(A) @ v
            # never overdraw a species (an irreversible reaction stops at zero)
            y = x + Nf @ xi
            drop = -(Nf @ dxi)
            room = jnp.where(drop > 0, y / jnp.where(drop > 0, drop, 1.0), jnp.inf)
            alpha = jnp.clip(jnp.min(room, initial=jnp.inf), 0.0, 1.0)
            return xi + alpha * dxi

        xi = jax.lax.fori_loop(0, iterations, step, jnp.zeros(n_f, x.dtype))
        y = x + Nf @ xi
        return jnp.where(jnp.all(jnp.isfinite(y)), jnp.maximum(y, jnp.where(x >= 0, 0.0, y)), x)

    def initial(self, p, t0, project: bool = True):
        out = self.init(jnp.concatenate([p, jnp.reshape(t0, (1,)).astype(p.dtype)]))
        x0, c = out[self.n_const:], out[: self.n_const]
        if self.fast.size and project:
            x0 = self.project_fast(t0, x0, c)
        return x0, c

    def cached(self, name: str, make):
        """``make(self)``, made once per structure and kept under ``name``: jitted
        functions see the same static object on every call."""
        if name not in self._caches:
            self._caches[name] = make(self)
        return self._caches[name]

    def __setattr__(self, name: str, value) -> None:
        if "_frozen" in self.__dict__:
            raise AttributeError(f"a compiled Structure is immutable (setting '{name}')")
        object.__setattr__(self, name, value)

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def _pinv(A):
    """Pseudo-inverse that keeps NaN out of singular or zero systems."""
    return jnp.linalg.pinv(A, rtol=1e-12)


def has_draws(model: Model) -> bool:
    """Whether the model's math draws random numbers (distrib package)."""
    return any(e.has(S.Distrib) for _, _, e in _expressions(model))


def _expressions(model: Model):
    """(where, element id, expression) for every expression of the model."""
    for r in model.reactions:
        if r.kinetic_law is not None:
            yield "kinetic law", r.id, r.kinetic_law
    for rule in model.assignment_rules:
        yield "assignment rule", rule.variable, rule.math
    for rule in model.rate_rules:
        yield "rate rule", rule.variable, rule.math
    for rule in model.algebraic_rules:
        yield "algebraic rule", rule.id, rule.math
    for ia in model.initial_assignments:
        yield "initial assignment", ia.symbol, ia.math
    for ev in model.events:
        yield "event trigger", ev.id, ev.trigger
        for what, e in (("event delay", ev.delay), ("event priority", ev.priority)):
            if e is not None:
                yield what, ev.id, e
        for a in ev.assignments:
            yield "event assignment", ev.id, a.math


def refuse_misplaced_draws(model: Model) -> None:
    """Random draws are taken when an event fires; anywhere else they are refused."""
    for where, element, e in _expressions(model):
        if where in ("event assignment", "event delay", "event priority"):
            continue
        if e.has(S.Distrib):
            raise UnsupportedSBMLError(
                f"distrib random draw in a {where} (draws are supported in event "
                "assignments, delays and priorities)", element,
            )
