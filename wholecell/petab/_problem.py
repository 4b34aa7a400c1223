"""`PetabProblem`: a PEtab problem compiled into a JAX objective over its parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import sympy as sp

from .._executables import StoredJit
from ..sbml._sbml_import import load_sbml
from ..solve._compiled import CompiledModel
from ..solve._compiled import compile as compile_model
from ..solve._plan import choose_solver
from ..solve._registry import stored_description
from ._conditions import build_conditions, without_overridden_assignments
from ._errors import PetabError, UnsupportedPetabError
from ._files import Tables
from ._hierarchical import HierarchicalObjective
from ._math import lower, names_in
from ._measurements import plan_observables, plan_simulations
from ._noise import nll, weighted_residuals
from ._parameters import read_parameters, to_scale
from ._steady import PREEQ_METHODS, PREEQ_TIME, steady_states

#: how `PetabProblem.value_and_grad` differentiates: ``"forward"`` sensitivities (a
#: tangent per parameter, batched), ``"adjoint"`` (reverse mode through checkpointed
#: solves), or ``"auto"``: forward for up to `FORWARD_MAX_PARAMETERS` parameters
SENSITIVITIES = ("auto", "forward", "adjoint")
#: the jitted attributes of a problem (made again after unpickling; not its state)
_JITTED = ("objective", "value_and_grad", "_forward_lax", "_lsq_jits")
#: the most parameters for which "auto" picks forward sensitivities. Measured here (one
#: core, after the compile, median of 10 gradients at nominal + 0.05): Boehm (9
#: parameters) forward 27.8 ms against adjoint 59.4 ms, Fujita (19) forward 691 ms
#: against 428 ms; the crossover lies between. The first gradient (compile included)
#: comes sooner in forward mode up to 36 parameters (Boehm 48 s against 86 s, Fujita 61 s
#: against 99 s; the collection's gradient check in benchmarks/petab_gradient_check.jsonl)
FORWARD_MAX_PARAMETERS = 12


class PetabProblem:
    """A PEtab problem whose objective is a pure JAX function of the estimated parameters.

    Attributes:
        name: the problem's name (its folder or YAML file).
        parameter_ids: ids of the estimated parameters, the order of ``theta``.
        nominal: their nominal values on their PEtab scales.
        lower_bounds, upper_bounds: their bounds on their PEtab scales.
        scales: their PEtab scales (``lin``, ``log`` or ``log10``).
        sim: the `CompiledModel`.
        measurements: the measurement table.
        sensitivities: how `value_and_grad` differentiates: ``"forward"`` or
            ``"adjoint"`` (see `SENSITIVITIES`).
        preeq_method: how pre-equilibration finds steady states: ``"newton"`` or
            ``"integrate"`` (`_steady.PREEQ_METHODS`).
    """

    def __init__(
        self,
        tables: Tables,
        *,
        solver: str = "auto",
        rtol: float = 1e-8,
        atol: float = 1e-12,
        max_steps: int = 100_000,
        preeq_time: float = PREEQ_TIME,
        batch: str = "auto",
        sensitivities: str = "auto",
        preeq_method: str = "newton",
    ):
        if preeq_method not in PREEQ_METHODS:
            raise PetabError(f"preeq_method must be one of {', '.join(PREEQ_METHODS)}, "
                             f"not {preeq_method!r}")
        if sensitivities not in SENSITIVITIES:
            raise PetabError(f"sensitivities must be one of {', '.join(SENSITIVITIES)}, "
                             f"not {sensitivities!r}")
        self.tables = tables
        self.name = tables.name
        self.table = read_parameters(tables.parameters, truncate=tables.version >= 2)
        est = self.table.estimated_index
        self.parameter_ids = tuple(self.table.ids[i] for i in est)
        self.scales = tuple(self.table.scales[i] for i in est)
        self.nominal = np.array(
            [float(to_scale(self.table.nominal[i], self.table.scales[i])) for i in est]
        )
        self.lower_bounds = np.array(
            [float(to_scale(self.table.lower[i], self.table.scales[i])) for i in est]
        )
        self.upper_bounds = np.array(
            [float(to_scale(self.table.upper[i], self.table.scales[i])) for i in est]
        )
        self.measurements = tables.measurements
        if sensitivities == "auto":
            sensitivities = ("forward" if len(self.parameter_ids) <= FORWARD_MAX_PARAMETERS
                             else "adjoint")
        self.sensitivities = sensitivities
        tindex = self.table.index()
        self._sims, flat = plan_simulations(self.measurements, batch)
        self._plans = plan_observables(tables.observables, self.measurements, flat, tindex)
        cond_ids = list(dict.fromkeys(
            [s for _, s in self._sims.pairs] + list(self._sims.preeq_ids)
        ))
        model = without_overridden_assignments(load_sbml(str(tables.sbml)),
                                               tables.conditions, cond_ids)
        self.sim: CompiledModel = compile_model(model)
        self._conds = build_conditions(self.sim, self.table, tables.conditions, cond_ids)
        cpos = {c: i for i, c in enumerate(cond_ids)}
        self._pair_cond = np.array([cpos[s] for _, s in self._sims.pairs], dtype=np.int64)
        self._pre_cond = np.array([cpos[c] for c in self._sims.preeq_ids], dtype=np.int64)
        self._columns = self._model_columns(tindex)
        self._solved = self._distinct_simulations()
        self.rtol, self.atol, self.max_steps, self.preeq_time = rtol, atol, max_steps, preeq_time
        self.preeq_method = preeq_method
        P0 = np.asarray(self._conds.params(jnp.asarray(np.nan_to_num(self.table.nominal))))
        span = max((float(g.ts[-1]) for g in self._sims.groups), default=preeq_time)
        # the conditions' simulations run as vmapped batches: stiff problems get Rosenbrock
        # steps
        self.solver = (choose_solver(self.sim, span, P0[0], 0.0, batched=True)
                       if solver == "auto" else solver)
        # pre- and post-equilibration (steady-state measurements) integrate to preeq_time
        to_steady = np.concatenate([self._pre_cond, self._pair_cond[self._sims.steady]])
        self.preeq_solver = (
            choose_solver(self.sim, preeq_time, P0[to_steady[0]], 0.0, batched=True)
            if solver == "auto" and len(to_steady) else solver
        )
        self._scalings = self._find_scalings()
        self._jit()
        if solver == "auto" and "tsit5" in (self.solver, self.preeq_solver):
            # stiffness is judged at the start; a problem that turns stiff later makes the
            # explicit solver run out of steps (NaN): then every simulation goes stiff
            total, _ = self._forward_lax(jnp.asarray(self.nominal))
            if not np.isfinite(float(total)):
                self.solver = self.preeq_solver = "rodas5"
                self._jit()

    def __getstate__(self) -> dict:
        # jitted functions do not pickle; they are made again (and compiled on first use)
        # where the problem is unpickled, e.g. on a Dask worker running fit starts
        state = dict(self.__dict__)
        for name in _JITTED:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._jit()

    def _jit(self) -> None:
        """The jitted objective, gradient and forward pass; a new process reads their
        programs from disk (`StoredJit`) when the problem can be described."""
        self.objective = StoredJit("petab objective", self._objective, self._described)
        if self.sensitivities == "forward":
            self.value_and_grad = StoredJit("petab value_and_grad forward",
                                            self._value_and_grad_forward, self._described)
        else:
            self.value_and_grad = StoredJit("petab value_and_grad adjoint",
                                            jax.value_and_grad(self._objective),
                                            self._described)
        self._forward_lax = StoredJit("petab forward lax",
                                      lambda th: self._forward(th, "lax"), self._described)

    def _described(self) -> tuple | None:
        """What determines this problem's programs besides theta and the code: the
        model (`stored_description`) and every other attribute (tables, plans,
        conditions, solver choices, tolerances), as they are when a program is first
        traced or read."""
        model = stored_description(self.sim)
        if model is None:
            return None
        return (*model, {k: v for k, v in vars(self).items()
                         if k != "sim" and k not in _JITTED})

    def _value_and_grad_forward(self, theta):
        """(objective, gradient) by forward sensitivities: one tangent per parameter,
        batched (``jax.jacfwd``), through the plain (not checkpointed) solves."""
        def both(th):
            value = self._forward(th, "lax")[0] + self.table.prior_nll(
                jnp.asarray(th, dtype=jnp.float64))
            return value, value

        grad, value = jax.jacfwd(both, has_aux=True)(jnp.asarray(theta, dtype=jnp.float64))
        return value, grad

    # -- structure --------------------------------------------------------------------
    def _model_columns(self, tindex) -> dict[str, int]:
        """Model ids the observable and noise formulas read, and their observe columns."""
        ids = {n: i for i, n in enumerate(self.sim.observable_ids)}
        cols: dict[str, int] = {}
        for plan in self._plans:
            # in name order, so the program (and its cache key) is the same in every process
            for n in sorted(names_in(plan.formula) | names_in(plan.noise)):
                if n in plan.placeholders.names or n == "time":
                    continue
                if n in ids:
                    cols.setdefault(n, len(cols))
                elif n not in tindex:
                    raise PetabError(
                        f"observable '{plan.id}' refers to '{n}', which is neither a model id, "
                        f"a parameter table id nor one of its placeholders"
                    )
        self._observe_index = np.array([ids[n] for n in cols], dtype=np.int64)
        return cols

    def _distinct_simulations(self) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
        """Per group of simulations: (the pairs to solve, for each member the row of its
        solution). Pairs whose conditions set every model input alike (the same parameter
        values or ids and initial values, after a pre-equilibration condition that does)
        have the same solution for every theta, and are solved once: Bachmann_MSB2011's
        36 condition pairs are 12 distinct simulations (they differ in observable
        parameters only)."""
        c = self._conds

        def settings(k: int) -> bytes:
            return b"".join(np.ascontiguousarray(a[k]).tobytes()
                            for a in (c.p_const, c.p_index, c.x_mask, c.x_const, c.x_index))

        out = []
        for g in self._sims.groups:
            row_of: dict[tuple[bytes, bytes], int] = {}
            solve, row = [], []
            for q in g.members.tolist():
                pre = int(self._sims.preeq_of[q])
                key = (settings(self._pair_cond[q]),
                       settings(self._pre_cond[pre]) if pre >= 0 else b"")
                if key not in row_of:
                    row_of[key] = len(solve)
                    solve.append(q)
                row.append(row_of[key])
            out.append((np.array(solve, dtype=np.int64), np.array(row, dtype=np.int64)))
        return tuple(out)

    def _find_scalings(self) -> dict[int, list[tuple[int, int]]]:
        """Estimated parameters that are pure scaling factors of observables: table index
        -> [(plan, placeholder column)]. Such a parameter ``s`` only ever enters as
        ``observable = s * g`` (g free of s) of observables with normal noise on the
        linear scale whose noise does not involve s, is used by no model parameter,
        condition or formula otherwise, and has no prior; its best value given the
        simulation is then a weighted least-squares ratio (hierarchical optimisation)."""
        est = list(self.table.estimated_index)
        with_prior = {est[pr.index] for pr in self.table.priors}
        used_elsewhere = set(np.asarray(self._conds.p_index).ravel()) | set(
            np.asarray(self._conds.x_index).ravel()
        )
        named = set()
        for plan in self._plans:
            named |= names_in(plan.formula) | names_in(plan.noise)
        found: dict[int, list[tuple[int, int]]] = {}
        bad: set[int] = set()
        for p_i, plan in enumerate(self._plans):
            ph = plan.placeholders
            for c, name in enumerate(ph.names):
                for j in set(ph.index[:, c][ph.index[:, c] >= 0].tolist()):
                    sym = sp.Symbol(name, real=True)
                    syms = {s for s in plan.formula.free_symbols if s.name == name}
                    sym = next(iter(syms), sym)
                    g = sp.simplify(plan.formula / sym) if syms else None
                    ok = (
                        g is not None
                        and name not in names_in(g)
                        and name not in names_in(plan.noise)
                        and plan.transform == "lin"
                        and plan.distribution == "normal"
                        # no other placeholder of this observable takes the same parameter
                        and not np.any((np.delete(ph.index, c, axis=1) == j).any(axis=1)
                                       & (ph.index[:, c] == j))
                    )
                    if ok:
                        found.setdefault(j, []).append((p_i, c))
                    else:
                        bad.add(j)
        return {
            j: uses for j, uses in found.items()
            if j in est and j not in bad and j not in with_prior and j not in used_elsewhere
            and self.table.ids[j] not in named and self.table.ids[j] not in self.sim.param_ids
            and self.table.lower[j] >= 0.0
        }

    @property
    def analytic_parameter_ids(self) -> tuple[str, ...]:
        """Estimated parameters that `hierarchical` computes in closed form (scalings)."""
        return tuple(self.table.ids[j] for j in self._scalings)

    # -- the pure functions -----------------------------------------------------------
    def _solve(self, ts, p, x0, solver, adjoint):
        return self.sim.solve(
            ts, p, t0=0.0, solver=solver, rtol=self.rtol, atol=self.atol,
            max_steps=self.max_steps, adjoint=adjoint, throw=False, x0=x0,
        )

    def _initial_states(self, rows, v, P):
        X = jax.vmap(lambda p: self.sim.initial_state(p, 0.0)[0])(P)
        return self._conds.initial(rows, v, P, X)

    def _simulate(self, v, adjoint: str):
        """Model values at every (simulation, output time): (n_rows, n_columns)."""
        sims, conds = self._sims, self._conds
        Pc = conds.params(v)
        P = Pc[self._pair_cond]
        X = self._initial_states(self._pair_cond, v, P)
        if len(self._pre_cond):
            Ppre = Pc[self._pre_cond]
            Xpre = self._initial_states(self._pre_cond, v, Ppre)
            Xss = self._steady_states(Ppre, Xpre, adjoint)
            has = sims.preeq_of >= 0
            # after pre-equilibration only the species the simulation condition sets restart
            Xafter = conds.initial(self._pair_cond, v, P, Xss[np.maximum(sims.preeq_of, 0)])
            X = jnp.where(has[:, None], Xafter, X)
        out = []
        cols = self._observe_index
        for g, (solve, row) in zip(sims.groups, self._solved, strict=True):
            ts = jnp.asarray(g.ts)

            def one(p, x0, ts=ts):
                ys = self._solve(ts, p, x0, self.solver, adjoint)
                return self.sim.observe(ts, ys, p, t0=0.0)[:, cols]

            vals = jax.vmap(one)(P[solve], X[solve])[row]
            out.append(vals.reshape(-1, len(cols)))
        if len(sims.steady):
            out.append(self._at_steady_state(P[sims.steady], X[sims.steady], adjoint))
        return jnp.concatenate(out, axis=0)

    def _steady_states(self, P, X, adjoint: str):
        """The steady states of the conditions ``P`` from ``X`` (`steady_states` with the
        problem's settings): pre- and post-equilibration alike."""
        return steady_states(
            self.sim, P, X, solver=self.preeq_solver, rtol=self.rtol, atol=self.atol,
            max_steps=self.max_steps, adjoint=adjoint, t_end=self.preeq_time,
            method=self.preeq_method,
        )[0]

    def _at_steady_state(self, P, X, adjoint: str):
        """Model values at the steady states of the simulations ``P`` from ``X`` (PEtab's
        post-equilibration, for measurements at time ``inf``), observed at
        ``preeq_time``."""
        Xss = self._steady_states(P, X, adjoint)
        t = jnp.asarray([self.preeq_time])
        cols = self._observe_index
        return jax.vmap(lambda p, x: self.sim.observe(t, x[None, :], p, t0=0.0)[0, cols])(
            P, Xss)

    def _evaluate(self, theta, adjoint: str, analytic: bool = False):
        """(per observable [simulation, sigma], {table index: scaling value}).

        ``analytic``: the scaling parameters of `_find_scalings` take their optimal values
        given the simulation (their entries of ``theta`` are ignored), returned by index."""
        theta = jnp.asarray(theta, dtype=jnp.float64)
        v = self.table.values(theta)
        flat = self._simulate(v, adjoint)
        tindex = self.table.index()
        scal = self._scalings if analytic else {}
        evaluated = []
        for p_i, plan in enumerate(self._plans):
            n = len(plan.rows)
            ph = plan.placeholders
            phv = jnp.where(ph.index >= 0, v[np.maximum(ph.index, 0)], ph.const)
            for j, uses in scal.items():
                for q, c in uses:
                    if q == p_i:  # the unscaled observable g (the scaling set to 1)
                        phv = phv.at[:, c].set(jnp.where(ph.index[:, c] == j, 1.0, phv[:, c]))
            env = {name: phv[:, k] for k, name in enumerate(ph.names)}
            env["time"] = jnp.asarray(plan.times)
            for name in sorted(names_in(plan.formula) | names_in(plan.noise)):
                if name in env:
                    continue
                if name in self._columns:
                    env[name] = flat[plan.flat_rows, self._columns[name]]
                else:
                    env[name] = v[tindex[name]]
            h = jnp.broadcast_to(lower(plan.formula, env), (n,))
            sigma = jnp.broadcast_to(lower(plan.noise, env), (n,))
            evaluated.append([h, sigma])
        svals = {}
        for j, uses in scal.items():
            num = jnp.zeros((), jnp.float64)
            den = jnp.zeros((), jnp.float64)
            for q, c in uses:
                h, sigma = evaluated[q]
                m = self._plans[q].placeholders.index[:, c] == j
                w = jnp.where(m, 1.0 / sigma**2, 0.0)
                num = num + jnp.sum(w * jnp.asarray(self._plans[q].y) * h)
                den = den + jnp.sum(w * h * h)
            lo, hi = float(self.table.lower[j]), float(self.table.upper[j])
            s = jnp.clip(num / jnp.where(den > 0, den, 1.0), lo, hi)
            s = jnp.where(den > 0, s, max(lo, 0.0))
            svals[j] = s
            for q, c in uses:
                m = self._plans[q].placeholders.index[:, c] == j
                evaluated[q][0] = jnp.where(m, s * evaluated[q][0], evaluated[q][0])
        return evaluated, svals

    def _forward(self, theta, adjoint: str, analytic: bool = False):
        """(total negative log-likelihood, per observable (simulation, sigma, nll)); for
        ``analytic`` see `_evaluate`."""
        evaluated, _ = self._evaluate(theta, adjoint, analytic)
        total = jnp.zeros((), jnp.float64)
        per = []
        for plan, (h, sigma) in zip(self._plans, evaluated, strict=True):
            terms = nll(jnp.asarray(plan.y), h, sigma, plan.distribution, plan.transform)
            total = total + jnp.sum(terms)
            per.append((h, sigma, terms))
        return total, per

    def _optimal_scalings(self, theta):
        """``theta`` with its analytic scaling parameters at their optimal values (the
        values `_evaluate` uses, so the full objective there equals the hierarchical one)."""
        theta = jnp.asarray(theta, dtype=jnp.float64)
        if not self._scalings:
            return theta
        _, svals = self._evaluate(theta, "lax", analytic=True)
        est = list(self.table.estimated_index)
        for j, s in svals.items():
            theta = theta.at[est.index(j)].set(to_scale(s, self.table.scales[j]))
        return theta

    def _objective(self, theta):
        total, _ = self._forward(theta, "checkpointed")
        return total + self.table.prior_nll(jnp.asarray(theta, dtype=jnp.float64))

    def hierarchical(self) -> HierarchicalObjective:
        """The objective with the observables' scaling factors computed in closed form.

        For an estimated parameter that only scales observables with fixed-form normal
        noise (``observable = s * g``), the optimal ``s`` given the simulation is a
        weighted least-squares ratio, clipped to its bounds. Optimising the remaining
        parameters with ``s`` always at that optimum (hierarchical optimisation, Loos et
        al. 2018) keeps a start from stalling where a poor scaling makes every output
        vanish. ``wc.fit(prob.hierarchical(), ...)`` returns full parameter vectors
        (the scalings filled in) whose ``prob.objective`` is the fitted value.
        """
        return HierarchicalObjective(self)

    # -- least squares ----------------------------------------------------------------
    def least_squares_refusal(self) -> str | None:
        """Why the objective is not half a sum of squared residuals plus a constant
        (None: it is). It is where every noise model is normal with a noise formula that
        depends on no estimated parameter and no model state, and there are no priors."""
        if self.table.priors:
            return f"objective prior on '{self.parameter_ids[self.table.priors[0].index]}'"
        est = {int(j) for j in self.table.estimated_index}
        tindex = self.table.index()
        for plan in self._plans:
            if plan.distribution != "normal":
                return f"observable '{plan.id}' has {plan.distribution} noise"
            ph = plan.placeholders
            for name in sorted(names_in(plan.noise)):
                if name in ph.names:
                    col = ph.index[:, ph.names.index(name)]
                    free = any(int(j) in est for j in col if j >= 0)
                elif name == "time":
                    free = False
                elif name in self._columns:
                    return f"the noise formula of observable '{plan.id}' reads '{name}'"
                else:
                    free = tindex.get(name, -1) in est
                if free:
                    return f"the noise of observable '{plan.id}' has an estimated parameter"
        return None

    def _residuals(self, theta, analytic: bool):
        total, per = self._forward(theta, "lax", analytic)
        r = jnp.concatenate([
            weighted_residuals(jnp.asarray(plan.y), h, sigma, plan.transform)
            for plan, (h, sigma, _) in zip(self._plans, per, strict=True)
        ])
        return r, (r, total)

    def _least_squares_jit(self, jacobian: bool, analytic: bool):
        """The jitted residual function (with its Jacobian if ``jacobian``), built once.

        Raises:
            UnsupportedPetabError: the objective is not a sum of squares.
        """
        cache = self.__dict__.setdefault("_lsq_jits", {})
        key = (jacobian, analytic)
        if key not in cache:
            why = self.least_squares_refusal()
            if why is not None:
                raise UnsupportedPetabError(
                    "least squares", f"{why}; fit with method='L-BFGS-B' instead"
                )

            def f(th):
                return self._residuals(th, analytic)

            # a new process reads the program from disk (`StoredJit`)
            cache[key] = StoredJit(
                f"petab residuals jacobian={jacobian} analytic={analytic}",
                jax.jacfwd(f, has_aux=True) if jacobian else lambda th: f(th)[1],
                self._described)
        return cache[key]

    def residuals_jacobian(self, theta, *, analytic: bool = False):
        """(Jacobian (n_measurements, n_parameters), residuals, objective) at ``theta``:
        the objective is ``0.5 * sum(residuals**2)`` plus a constant. Forward-mode
        sensitivities through the solver; ``analytic``: the scalings in closed form.

        Raises:
            UnsupportedPetabError: the objective is not a sum of squares (see
                `least_squares_refusal`).
        """
        J, (r, total) = self._least_squares_jit(True, analytic)(
            jnp.asarray(theta, dtype=jnp.float64)
        )
        return np.asarray(J), np.asarray(r), float(total)

    def residuals(self, theta, *, analytic: bool = False):
        """(residuals, objective) at ``theta``, without the Jacobian (see
        `residuals_jacobian`)."""
        r, total = self._least_squares_jit(False, analytic)(jnp.asarray(theta, dtype=jnp.float64))
        return np.asarray(r), float(total)

    # -- the public face --------------------------------------------------------------
    def to_pypesto(self, *, residuals: bool | None = None):
        """This problem as a `pypesto.Problem` (see `wholecell.petab.to_pypesto`): pyPESTO's
        optimisers, profile likelihoods, samplers and plots run on this objective and
        its gradient."""
        from ._pypesto import to_pypesto

        return to_pypesto(self, residuals=residuals)

    def log_likelihood(self, theta=None) -> float:
        """The log-likelihood of the data (priors excluded) at ``theta`` (default nominal)."""
        theta = self.nominal if theta is None else np.asarray(theta, dtype=np.float64)
        total, _ = self._forward_lax(jnp.asarray(theta))
        return -float(total)

    def prior(self, theta=None) -> float:
        """The negative log-density of the objective priors at ``theta``."""
        theta = self.nominal if theta is None else np.asarray(theta, dtype=np.float64)
        return float(self.table.prior_nll(jnp.asarray(theta)))

    def simulate(self, theta=None) -> pd.DataFrame:
        """The measurement table with ``simulation``, ``sigma`` and ``nllh`` columns."""
        theta = self.nominal if theta is None else np.asarray(theta, dtype=np.float64)
        _, per = self._forward_lax(jnp.asarray(theta))
        df = self.measurements.copy()
        for col in ("simulation", "sigma", "nllh"):
            df[col] = np.nan
        for plan, (h, s, t) in zip(self._plans, per, strict=True):
            df.loc[df.index[plan.rows], "simulation"] = np.asarray(h)
            df.loc[df.index[plan.rows], "sigma"] = np.asarray(s)
            df.loc[df.index[plan.rows], "nllh"] = np.asarray(t)
        df["measurement"] = df["measurement"].astype(float)
        df["time"] = df["time"].astype(float)
        return df

    def plot_fit(self, theta=None, *, ax=None):
        """Data (markers) against the simulation (lines), one panel per observable."""
        from ._plot import plot_fit

        return plot_fit(self.simulate(theta), title=self.name, axes=ax)

    def _repr_html_(self) -> str:
        from .._html import html_table

        conds = sorted({s for _, s in self._sims.pairs})
        rows = [("name", self.name),
                ("estimated parameters", len(self.parameter_ids)),
                ("conditions", len(conds)),
                ("pre-equilibrations", len(self._sims.preeq_ids)),
                ("measurements", len(self.measurements)),
                ("observables", len(self._plans)),
                ("solver", self.solver)]
        body = [[pid, scale, f"{nom:.4g}", f"[{lo:.3g}, {hi:.3g}]"] for pid, scale, nom, lo, hi
                in zip(self.parameter_ids, self.scales, self.nominal, self.lower_bounds,
                       self.upper_bounds, strict=True)][:12]
        if len(self.parameter_ids) > len(body):
            body.append([f"… ({len(self.parameter_ids)} in all)", "", "", ""])
        return html_table("PetabProblem", rows,
                          (["parameter", "scale", "nominal", "bounds"], body))

    def __repr__(self) -> str:
        return (
            f"PetabProblem('{self.name}': {len(self.parameter_ids)} estimated parameters, "
            f"{len(self._sims.pairs)} simulations, {len(self.measurements)} measurements)"
        )
