"""Compile a `Model` into pure JAX functions: `CompiledModel`."""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import sympy as sp
from jaxtyping import Array, Float

from . import _symbolic as S
from ._errors import CompileError, SimulationError
from ._integrate import MESSAGES, SUCCESS, Stats, integrate
from ._layout import Layout, build_layout, p_sym, x0_sym
from ._model import Model
from ._program import Program
from ._solvers import choose_solver, make_solver

#: dense stoichiometry matrix below this many entries, scatter-add above
_DENSE_LIMIT = 250_000


class _Structure:
    """Everything static about a compiled model (hashed by identity)."""

    def __init__(self, layout: Layout):
        self.layout = layout
        sym = S.symbol
        L = layout
        m = L.model
        self.const_syms = [sym(n) for n in L.const_ids]
        base_run = self.const_syms + list(L.state_syms) + [S.TIME]
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

        # ---- observe: c, x, t -> value of every model id ----
        self.observable_ids = list(m.ids)
        self.observe_prog = Program(base_run, L.run_defs, [sym(n) for n in self.observable_ids])

    @property
    def nominal_params(self) -> np.ndarray:
        return np.asarray(self.layout.param_values, dtype=np.float64)

    def run_base(self, t, x, c):
        return jnp.concatenate([c, x, jnp.reshape(t, (1,)).astype(x.dtype)])

    def rhs(self, t, x, c):
        out = self.rhs_prog(self.run_base(t, x, c))
        v = out[: self.n_reactions]
        if self.dense:
            dx = jnp.asarray(self.N) @ v if self.n_reactions else jnp.zeros_like(x)
        else:
            coef = self.e_sign * self.e_const
            if self.any_var:
                coef = jnp.where(self.e_var, self.e_sign * out[self.e_var_pos], coef)
            contrib = coef * v[self.e_rxn]
            if self.any_factor:
                contrib = contrib * jnp.where(self.e_has_factor, out[self.e_factor_pos], 1.0)
            dx = jax.ops.segment_sum(contrib, self.e_state, num_segments=self.n_state)
        if len(self.rr_state):
            dx = dx.at[self.rr_state].set(out[self.rr_pos])
        return dx

    def initial(self, p, t0):
        out = self.init(jnp.concatenate([p, jnp.reshape(t0, (1,)).astype(p.dtype)]))
        return out[self.n_const:], out[: self.n_const]

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other


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
            p = p.at[index[k]].set(v)
        return p

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
        return st.rhs_prog(st.run_base(jnp.asarray(t, x.dtype), x, c))[: st.n_reactions]

    def observe(self, ts, ys, params=None, t0: float | None = None):
        """Values of every model id (``observable_ids``) at times ``ts`` for states ``ys``."""
        p = self.param_values if params is None else jnp.asarray(params)
        ts = jnp.asarray(ts, p.dtype)
        _, c = self.structure.initial(p, ts[0] if t0 is None else jnp.asarray(t0, p.dtype))
        st = self.structure
        return jax.vmap(lambda t, x: st.observe_prog(st.run_base(t, x, c)))(ts, ys)

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
    ) -> tuple[jnp.ndarray, Stats]:
        """Like `solve`, also returning the solver's `Stats` (never raises on failure)."""
        p = self.param_values if params is None else jnp.asarray(params)
        ts = jnp.asarray(ts, p.dtype)
        t0 = ts[0] if t0 is None else jnp.asarray(t0, p.dtype)
        x0, c = self.structure.initial(p, t0)
        st = self.structure
        name = solver
        if solver == "auto":
            span = _concrete_span(ts, t0)
            name = choose_solver(self, span, self.structure.nominal_params, 0.0)
        method = make_solver(name, rtol, atol)
        if x0.shape[0] == 0:
            ys = jnp.zeros((ts.shape[0], 0), p.dtype)
            z = jnp.array(0)
            return ys, Stats(z, z, z, ts[-1], x0)
        return integrate(
            method,
            lambda t, x, args: st.rhs(t, x, args),
            x0,
            t0,
            ts,
            c,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            adjoint=adjoint,
        )

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
    ) -> jnp.ndarray:
        """The state at each time in ``ts``: an array (len(ts), n_state).

        Pure and jit/vmap/grad-friendly. With ``throw=True`` a failed solve raises at run
        time; with ``throw=False`` failed points are NaN.
        """
        ys, stats = self.solve_with_stats(
            ts, params, t0=t0, solver=solver, rtol=rtol, atol=atol, max_steps=max_steps,
            adjoint=adjoint,
        )
        if throw:
            ys = eqx.error_if(ys, stats.status != SUCCESS, "wholecell: the ODE solve failed")
        return ys


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
