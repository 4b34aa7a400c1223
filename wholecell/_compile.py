"""Compile a `Model` into pure JAX functions: `CompiledModel`."""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from jaxtyping import Array, Float

from . import _history
from . import _symbolic as S
from ._bdf import bdf_integrate
from ._errors import CompileError, SimulationError, UnsupportedSBMLError
from ._events import EventSpec, ModelHooks
from ._integrate import MESSAGES, SUCCESS, Stats, integrate
from ._jacobian import jacobian_for
from ._layout import Layout, build_layout, delayed_sym, p_sym, x0_sym
from ._lockstep import lockstep_applies, solve_members
from ._model import Model
from ._program import Program
from ._solvers import choose_solver, make_solver
from ._tolerances import state_atol, tolerance_values

#: dense stoichiometry matrix below this many entries, scatter-add above
_DENSE_LIMIT = 250_000


class RunArgs(NamedTuple):
    """What the vector field sees besides (t, x): constants and the solution's past."""

    c: jax.Array
    hist: _history.History | None
    p: jax.Array | None = None  # parameters: the past before t0 follows the initial state


class _Structure:
    """Everything static about a compiled model (hashed by identity)."""

    def __init__(self, layout: Layout):
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
        var_coefs = sorted({c for (_, _, _, c, _) in L.stoich if isinstance(c, sp.Symbol)}, key=str)
        factors = sorted({f for (*_, f) in L.stoich if f is not None}, key=str)
        outputs = (
            [sym(r) for r in self.reaction_ids]
            + [s for _, s in rate_rule_items]
            + var_coefs
            + factors
        )
        self.rhs_prog = Program(base_run, L.run_defs, outputs)
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
        n_e = len(L.stoich)
        self.e_state = np.array([e[0] for e in L.stoich], dtype=np.int32).reshape(n_e)
        self.e_rxn = np.array([rxn_pos[e[1]] for e in L.stoich], dtype=np.int32).reshape(n_e)
        self.e_sign = np.array([e[2] for e in L.stoich], dtype=np.float64).reshape(n_e)
        self.e_const = np.array(
            [e[3] if not isinstance(e[3], sp.Symbol) else 0.0 for e in L.stoich], dtype=np.float64
        ).reshape(n_e)
        self.e_var = np.array([isinstance(e[3], sp.Symbol) for e in L.stoich], dtype=bool)
        self.e_var_pos = np.array(
            [coef_pos[e[3]] if isinstance(e[3], sp.Symbol) else 0 for e in L.stoich],
            dtype=np.int32,
        ).reshape(n_e)
        self.e_has_factor = np.array([e[4] is not None for e in L.stoich], dtype=bool)
        self.e_factor_pos = np.array(
            [factor_pos[e[4]] if e[4] is not None else 0 for e in L.stoich], dtype=np.int32
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
        self.events = _event_spec(L, base_run, self) if m.events else None
        self.no_events = (
            _event_spec(L, base_run, self) if not m.events else None
        )

        # ---- observe: c, x, t -> value of every model id ----
        self.observable_ids = list(m.ids)
        self.observe_prog = Program(base_run, L.run_defs, [sym(n) for n in self.observable_ids])

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
                if _Structure._depends(defs[s_], targets, defs, seen):
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

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


class _EventPrograms:
    """The compiled expressions events need (identity-hashed, static)."""

    def __init__(self, structure, base, defs, events, assignments):
        sym = S.symbol
        n = len(events)
        defs = dict(defs)
        trig = [sym(f"@trigger:{i}") for i in range(n)]
        delay = [sym(f"@delay:{i}") for i in range(n)]
        prio = [sym(f"@priority:{i}") for i in range(n)]
        vals = [sym(f"@assign:{k}") for k in range(len(assignments))]
        comps = [sym(f"@assign_compartment:{k}") for k in range(len(assignments))]
        roots = [sym(f"@root:{i}") for i in range(n)]
        self.root_index = []
        for i, (trigger, delay_, priority) in enumerate(structure.layout.event_exprs):
            defs[trig[i]] = trigger
            defs[delay[i]] = delay_ if delay_ is not None else sp.Integer(0)
            defs[prio[i]] = priority if priority is not None else sp.Integer(0)
            if isinstance(defs[trig[i]], (S.Gt, S.Ge, S.Lt, S.Le)):
                a, b = defs[trig[i]].args
                defs[roots[i]] = a - b
                self.root_index.append(len([r for r in self.root_index if r >= 0]))
            else:
                self.root_index.append(-1)
        for k, (_, _, _, comp, math_) in enumerate(assignments):
            defs[vals[k]] = math_
            defs[comps[k]] = sym(comp) if comp is not None else sp.Integer(1)
        self.structure = structure
        self.trig_prog = Program(base, defs, trig)
        self.detail_prog = Program(base, defs, delay + prio + vals)
        self.root_prog = Program(
            base, defs, [roots[i] for i in range(n) if self.root_index[i] >= 0]
        )
        self.comp_prog = Program(base, defs, comps)
        L = structure.layout
        species = L.model.species_by_id()
        self.conc_state = [
            i for i, (name, s_) in enumerate(zip(L.state_ids, L.state_syms, strict=True))
            if name in species and s_ == sym(name) and not species[name].has_only_substance_units
        ]
        self.conc_prog = Program(
            base, defs, [sym(species[L.state_ids[i]].compartment) for i in self.conc_state]
        )
        self.n = n

    def triggers(self, t, x, c):
        return self.trig_prog(self.structure.base(t, x, c))

    def details(self, t, x, c, key=None):
        out = self.detail_prog(self.structure.base(t, x, c), key)
        n = self.n
        return out[:n], out[n : 2 * n], out[2 * n :]

    def roots(self, t, x, c):
        return self.root_prog(self.structure.base(t, x, c))

    def compartments(self, t, x, c):
        return self.comp_prog(self.structure.base(t, x, c))

    def conc_compartments(self, t, x, c):
        return self.conc_prog(self.structure.base(t, x, c))

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


def _event_spec(L: Layout, base, structure) -> EventSpec:
    events = L.model.events
    progs = _EventPrograms(structure, base, L.run_defs, events, L.event_assignments)
    return EventSpec(
        n_events=len(events),
        n_assign=len(L.event_assignments),
        capacity=max(16, 4 * len(events)),
        initial_value=tuple(bool(e.initial_value) for e in events),
        persistent=tuple(bool(e.persistent) for e in events),
        use_trigger_values=tuple(bool(e.use_values_from_trigger_time) for e in events),
        has_delay=any(e.delay is not None for e in events),
        has_priority=tuple(e.priority is not None for e in events),
        assign_event=tuple(a[0] for a in L.event_assignments),
        assign_state=tuple(a[1] for a in L.event_assignments),
        assign_amount=tuple(a[2] for a in L.event_assignments),
        root_index=tuple(progs.root_index),
        conc_state=tuple(progs.conc_state),
        programs=progs,
    )


class CompiledModel(eqx.Module):
    """A model compiled to pure JAX functions of (state, parameters, time).

    ``param_ids`` name every number the SBML file declares: global parameters, local
    parameters (as ``"reaction.id"``), compartment sizes, species' initial amounts or
    concentrations (as declared) and species-reference stoichiometries. They are inputs,
    so sweeping, batching or differentiating them never recompiles.
    """

    param_values: Float[Array, " params"]
    param_ids: tuple[str, ...] = eqx.field(static=True)
    state_ids: tuple[str, ...] = eqx.field(static=True)
    structure: _Structure = eqx.field(static=True)

    @property
    def model(self) -> Model:
        return self.structure.layout.model

    @property
    def observable_ids(self) -> tuple[str, ...]:
        return tuple(self.structure.observable_ids)

    def param_vector(self, params: Mapping[str, object] | None = None) -> jnp.ndarray:
        """The parameter vector with ``params`` (id -> value) replacing defaults."""
        p = self.param_values
        if not params:
            return p
        index = {n: i for i, n in enumerate(self.param_ids)}
        for k, v in params.items():
            if k not in index:
                raise CompileError(
                    f"'{k}' is not a parameter of model '{self.model.id}' "
                    f"(see CompiledModel.param_ids)"
                )
            self.check_settable(k, CompileError)
            p = p.at[index[k]].set(v)
        return p

    def check_settable(self, pid: str, error=CompileError) -> None:
        """Raise ``error`` when ``pid`` is the target of an assignment rule: the rule
        sets its value at every time, so a value given for it would be ignored."""
        if pid in {r.variable for r in self.model.assignment_rules}:
            raise error(
                f"'{pid}' is set by an assignment rule in model '{self.model.id}': its value "
                "follows the rule and cannot be given; set the parameters the rule reads"
            )

    def initial_state(self, params=None, t0: float = 0.0):
        """(x0, c): the initial state and the time-constant values, from parameters."""
        p = self.param_values if params is None else jnp.asarray(params)
        return self.structure.initial(p, jnp.asarray(t0, p.dtype))

    def rhs(self, x, params=None, t=0.0):
        """dx/dt at state ``x`` and time ``t``."""
        p = self.param_values if params is None else jnp.asarray(params)
        _, c = self.structure.initial(p, jnp.asarray(0.0, p.dtype))
        return self.structure.rhs(jnp.asarray(t, x.dtype), x, c)

    def rates(self, x, params=None, t=0.0):
        """Reaction rates (extent per time) at state ``x`` and time ``t``."""
        p = self.param_values if params is None else jnp.asarray(params)
        _, c = self.structure.initial(p, jnp.asarray(0.0, p.dtype))
        st = self.structure
        return st.rhs_prog(st.base(jnp.asarray(t, x.dtype), x, c))[: st.n_reactions]

    def observe(self, ts, ys, params=None, t0: float | None = None):
        """Values of every model id (``observable_ids``) at times ``ts`` for states ``ys``.

        ``ys`` is `solve`'s output, or `solve_with_stats`'s (which also holds the delayed
        values of models that use ``delay``).
        """
        p = self.param_values if params is None else jnp.asarray(params)
        ts = jnp.asarray(ts, p.dtype)
        _, c = self.structure.initial(p, ts[0] if t0 is None else jnp.asarray(t0, p.dtype))
        st = self.structure
        if st.delays and ys.shape[-1] != st.n_state + len(st.delays):
            raise CompileError("observe needs solve_with_stats' output for a model with delay")

        def one(t, y):
            base = jnp.concatenate([c, y[: st.n_state], jnp.reshape(t, (1,)), y[st.n_state:]])
            return st.observe_prog(base)

        return jax.vmap(one)(ts, ys)

    def _tolerances(self, rtol, atol):
        """``rtol`` and ``atol`` as the solvers take them: a float, or a vector with one
        value per state (also from a dict id -> value, `_tolerances.tolerance_values`)."""
        def one(v, default, name):
            if isinstance(v, Mapping):
                return jnp.asarray(tolerance_values(self.state_ids, v, default, name))
            return v

        return one(rtol, 1e-6, "rtol"), one(atol, 1e-9, "atol")

    def solve_with_stats(
        self,
        ts,
        params=None,
        *,
        t0=None,
        solver: str = "auto",
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_steps: int = 100_000,
        adjoint: str = "checkpointed",
        x0=None,
        key=None,
    ) -> tuple[jnp.ndarray, Stats]:
        """Like `solve`, also returning the solver's `Stats` (never raises on failure).

        ``key`` (a PRNG key) feeds the events' random draws and tie-breaking.
        """
        rtol, atol = self._tolerances(rtol, atol)
        p = self.param_values if params is None else jnp.asarray(params)
        ts = jnp.asarray(ts, p.dtype)
        t0 = ts[0] if t0 is None else jnp.asarray(t0, p.dtype)
        x_init, c = self.structure.initial(p, t0)
        # A given initial state (e.g. a steady state reached under other parameters)
        # replaces the one the parameters define; the constants still follow ``params``.
        x0 = x_init if x0 is None else jnp.asarray(x0, p.dtype).reshape(x_init.shape)
        st = self.structure
        # per-state absolute tolerance: ``atol`` is in the user's units (`_tolerances`)
        atol = state_atol(st, p, t0, x0, atol)
        rtol = rtol if isinstance(rtol, float) else jnp.asarray(rtol, p.dtype)
        name = solver
        if solver == "auto":
            span = _concrete_span(ts, t0)
            name = choose_solver(self, span, self.structure.nominal_params, 0.0)
        jac = jacobian_for(st) if name.startswith("rodas") or name == "bdf" else None
        if x0.shape[0] == 0 and st.events is None and not st.delays:
            ys = jnp.zeros((ts.shape[0], 0), p.dtype)
            z = jnp.array(0)
            return ys, Stats(z, z, z, ts[-1], x0)
        if name == "bdf":
            _check_bdf(st, self.model.id)
            return bdf_integrate(
                lambda t, x, args: st.rhs(t, x, args), jac, x0, t0, ts, c,
                rtol=rtol, atol=atol, max_steps=max_steps, adjoint=adjoint,
            )
        method = make_solver(name, rtol, atol, jac)
        hooks = None
        if st.events is not None or st.delays or st.fast.size:
            hooks = ModelHooks(
                st.events if st.events is not None else st.no_events,
                st,
                loop_kind=adjoint if adjoint != "forward" else "lax",
                seed=key,
            )
        return integrate(
            method,
            lambda t, x, args: st.rhs(t, x, args),
            x0,
            t0,
            ts,
            RunArgs(c, None, p) if st.delays else c,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            adjoint=adjoint,
            hooks=hooks,
            stop_at_outputs=hooks is not None,
        )

    def solve_batch(
        self,
        ts,
        params,
        *,
        t0=None,
        solver: str = "auto",
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_steps: int = 100_000,
    ) -> tuple[jnp.ndarray, Stats]:
        """Solve one trajectory per row of ``params`` (B, n_params): the states
        ``(B, len(ts), n_state)`` and `Stats` with one entry per member (never raises).

        Forward only (no ``adjoint``). Where the method and model allow it
        (`_lockstep.lockstep_applies`: Tsit5, or BDF for 16 members or more; no events,
        delays or fast reactions) the
        members advance together on batch-last arrays (`_lockstep`), taking the steps
        each would take alone (repressilator, 5,000 members: 1.6x faster than `jax.vmap`
        of `solve_with_stats`); otherwise this is that `vmap`. ``solver="auto"`` chooses
        BDF for stiff models where it runs in lock step, else as for a `vmap` batch
        (`choose_solver` with ``batched=True``).
        """
        rtol, atol = self._tolerances(rtol, atol)
        P = jnp.asarray(params)
        if P.ndim != 2 or P.shape[1] != len(self.param_ids):
            raise CompileError(
                f"solve_batch needs params of shape (B, {len(self.param_ids)}), got {P.shape}"
            )
        ts = jnp.asarray(ts, P.dtype)
        t0 = ts[0] if t0 is None else jnp.asarray(t0, P.dtype)
        st = self.structure
        name = solver
        if solver == "auto":
            # BDF where it runs in lock step; otherwise the batch is one vmap
            name = choose_solver(self, _concrete_span(ts, t0), st.nominal_params, 0.0,
                                 batched=not lockstep_applies(st, "bdf", P.shape[0]))
        if lockstep_applies(st, name, P.shape[0]):
            return solve_members(st, ts, P, t0, name, rtol=rtol, atol=atol,
                                 max_steps=max_steps)
        return jax.vmap(lambda p: self.solve_with_stats(
            ts, p, t0=t0, solver=name, rtol=rtol, atol=atol, max_steps=max_steps,
            adjoint="lax"))(P)

    def solve(
        self,
        ts,
        params=None,
        *,
        t0=None,
        solver: str = "auto",
        rtol: float = 1e-6,
        atol: float = 1e-9,
        max_steps: int = 100_000,
        adjoint: str = "checkpointed",
        throw: bool = True,
        x0=None,
    ) -> jnp.ndarray:
        """The state at each time in ``ts``: an array (len(ts), n_state).

        Pure and jit/vmap/grad-friendly. With ``throw=True`` a failed solve raises at run
        time; with ``throw=False`` failed points are NaN. ``x0``, if given, is the state
        at ``t0`` in place of the one the parameters define (``state_ids`` order).
        ``atol`` is in the units of each value (a concentration species' concentration,
        see `_tolerances`); ``rtol`` and ``atol`` may be one value per state (a vector in
        ``state_ids`` order, or a dict id -> value).
        """
        ys, stats = self.solve_with_stats(
            ts, params, t0=t0, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
            adjoint=adjoint, x0=x0,
        )
        if throw:
            ys = eqx.error_if(ys, stats.status != SUCCESS, "wholecell: the ODE solve failed")
        return ys[:, : self.structure.n_state]


def _check_bdf(st, model_id: str) -> None:
    """BDF integrates plain ODEs: refuse what needs the event-aware loop."""
    what = [
        name for name, present in (
            ("events", st.events is not None), ("delay", bool(st.delays)),
            ("fast reactions", bool(st.fast.size)),
        ) if present
    ]
    if what:
        raise SimulationError(
            f"solver 'bdf' does not support {' and '.join(what)} (model '{model_id}'); "
            "use 'rodas5' or 'auto'"
        )


def _pinv(A):
    """Pseudo-inverse that keeps NaN out of singular or zero systems."""
    return jnp.linalg.pinv(A, rtol=1e-12)


def _concrete_span(ts, t0) -> float:
    """The time span if it is known at trace time, else a long one (so stiffness shows)."""
    try:
        return float(ts[-1]) - float(t0)
    except (jax.errors.ConcretizationTypeError, TypeError):
        return 1e3


def compile(model: Model) -> CompiledModel:  # noqa: A001 - the public name of the design
    """Compile ``model`` into a `CompiledModel` (cached per model object).

    Raises:
        UnsupportedSBMLError: the model uses a construct that cannot be simulated.
        CompileError: the model's math cannot be compiled.
    """
    if isinstance(model, CompiledModel):
        return model
    if not isinstance(model, Model):
        raise CompileError(f"compile expects a wholecell Model, not {type(model).__name__}")
    key = id(model)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is model:
        return hit[1]
    _refuse_misplaced_draws(model)
    layout = build_layout(model)
    structure = _Structure(layout)
    values = np.asarray(layout.param_values, dtype=np.float64)
    compiled = CompiledModel(
        param_values=jnp.asarray(values),
        param_ids=tuple(layout.param_ids),
        state_ids=tuple(layout.state_ids),
        structure=structure,
    )
    _CACHE[key] = (weakref.ref(model), compiled)
    weakref.finalize(model, _CACHE.pop, key, None)
    return compiled


_CACHE: dict[int, tuple[weakref.ref, CompiledModel]] = {}


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


def _refuse_misplaced_draws(model: Model) -> None:
    """Random draws are taken when an event fires; anywhere else they are refused."""
    for where, element, e in _expressions(model):
        if where in ("event assignment", "event delay", "event priority"):
            continue
        if e.has(S.Distrib):
            raise UnsupportedSBMLError(
                f"distrib random draw in a {where} (draws are supported in event "
                "assignments, delays and priorities)", element,
            )


def describe_failure(sim: CompiledModel, stats: Stats) -> SimulationError:
    """A `SimulationError` saying what failed, when and which variables went non-finite."""
    status = int(np.max(np.asarray(stats.status)))
    t = float(np.min(np.asarray(stats.t_last)))
    x = np.asarray(stats.x_last).reshape(-1, len(sim.state_ids))
    bad = tuple(
        sim.state_ids[i] for i in range(len(sim.state_ids)) if not np.all(np.isfinite(x[:, i]))
    )
    msg = f"simulation of '{sim.model.id}' failed at t = {t:g}: {MESSAGES.get(status, status)}"
    if bad:
        msg += f"; non-finite: {', '.join(bad)}"
    if not math.isfinite(t):
        t = float("nan")
    return SimulationError(msg, t, bad)
