"""PEtab SciML problems: an SBML model joined with neural networks, and its likelihood.

A network enters a problem in one of three places (the format's hybridisation types):

- **in the right-hand side**: its inputs read the model's species (``prey``), and its
  output replaces a model parameter at every evaluation of dx/dt;
- **before the simulation**: its inputs are parameters, condition values or arrays, and
  its output sets a parameter or an initial value once per experiment;
- **in the observables**: an observable formula names its output, evaluated on the
  simulated state at each measurement.

    prob = wc.neural.load_sciml_problem("problem.yaml")
    mech, nets = prob.nominal()
    prob.log_likelihood(mech, nets)              # pure JAX: jit and grad as any function
    g_mech, g_nets = prob.gradient(mech, nets)   # d log-likelihood / d parameters

Only experiments of one period are simulated; the rest is refused by name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import sympy as sp
from jax.flatten_util import ravel_pytree

from .._errors import SciMLError, UnsupportedSciMLError
from ..petab._errors import PetabError, UnsupportedPetabError
from ..petab._math import lower, names_in, parse
from ..petab._noise import nll
from ..petab._parameters import SCALES
from ..petab._v2 import noise_model
from ..sbml._sbml_import import load_sbml
from ..solve._compiled import compile as compile_model
from ._sciml_tables import Entity, SciMLTables, read_tables


@dataclass(frozen=True)
class _Experiment:
    id: str
    t0: float
    condition_id: str
    condition: dict[str, sp.Expr]      # target id -> value formula
    rows: np.ndarray                   # its measurement rows
    ts: np.ndarray                     # output times: t0, then each measurement time
    row_time: np.ndarray               # per row, the index of its time in ts


@dataclass(frozen=True)
class SciMLEvaluation:
    """One evaluation of a problem: the objective, simulations and gradient.

    Attributes:
        log_likelihood: of the measurements.
        log_posterior: the log-likelihood plus the priors' log density.
        simulations: the measurement table with a ``simulation`` column.
        grad_mechanistic: d log-posterior / d each estimated mechanistic parameter.
        grad_nets: d log-posterior / d the network parameters, ``{net: {layer: {array:
            gradient}}}`` (zeros where a part is not estimated).
    """

    log_likelihood: float
    log_posterior: float
    simulations: pd.DataFrame
    grad_mechanistic: dict
    grad_nets: dict


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _true(text: str) -> bool:
    return str(text).strip().lower() in ("true", "1")


class SciMLProblem:
    """A PEtab SciML problem whose log-likelihood is a pure JAX function.

    Attributes:
        mechanistic_ids: the estimated mechanistic parameters (keys of ``mech``).
        nets: the networks by id.
        sim: the compiled SBML model.
    """

    def __init__(self, tables: SciMLTables, *, rtol: float = 1e-10, atol: float = 1e-12,
                 max_steps: int = 100_000):
        self.tables = tables
        self.nets = tables.nets
        self.sim = compile_model(load_sbml(str(tables.sbml)))
        self.rtol, self.atol, self.max_steps = rtol, atol, max_steps
        self._read_parameters()
        self._read_hybridization()
        self._read_observables()
        self._read_experiments()
        self._log_likelihood = jax.jit(lambda m, n: self._evaluate(m, n)[1][0])
        self._log_posterior = jax.jit(lambda m, n: self._evaluate(m, n)[0])
        self._simulations = jax.jit(lambda m, n: self._evaluate(m, n)[1][1])
        self._value_and_grad = jax.jit(jax.value_and_grad(self._evaluate, argnums=(0, 1),
                                                          has_aux=True))

    # -- the tables ------------------------------------------------------------------
    def _read_parameters(self) -> None:
        t = self.tables
        self.values: dict[str, float] = {}
        self.mechanistic_ids: list[str] = []
        self.priors: dict[str, tuple[str, list[float]]] = {}
        self._net_rows: list[tuple[str, Entity, str, bool]] = []   # id, part, nominal, est.
        for _, row in t.parameters.iterrows():
            pid = row["parameterId"]
            scale = row.get("parameterScale", "lin") or "lin"
            if scale not in SCALES:
                raise SciMLError(f"parameter '{pid}': unknown parameterScale {scale!r}")
            if scale != "lin":
                # values and gradients here are on the linear scale (PEtab v2 has no
                # parameter scales); a log row read as linear would be a wrong number
                raise UnsupportedSciMLError(
                    f"parameterScale {scale} (only lin: PEtab v2 estimates on the linear "
                    "scale)", pid)
            estimate = _true(row.get("estimate", "false"))
            if row.get("priorDistribution", ""):
                pars = [float(v) for v in str(row["priorParameters"]).split(";")]
                self.priors[pid] = (row["priorDistribution"], pars)
            if pid in t.mapping and t.mapping[pid].kind == "parameters":
                self._net_rows.append((pid, t.mapping[pid], row["nominalValue"], estimate))
                continue
            value = _number(row["nominalValue"])
            if value is None:
                raise SciMLError(f"parameter '{pid}': nominalValue "
                                 f"{row['nominalValue']!r} is not a number")
            self.values[pid] = value
            if estimate:
                self.mechanistic_ids.append(pid)
        # the more specific mapping (layer array, then layer, then network) wins
        self._net_rows.sort(key=lambda r: (r[1].layer is not None, r[1].array is not None))

    def _read_hybridization(self) -> None:
        t = self.tables
        self.input_sources: dict[str, sp.Expr | str] = {}
        self.output_targets: list[tuple[str, str]] = []     # (model id, output entity)
        for target, value in t.hybridization.items():
            entity = t.mapping.get(target)
            if entity is not None and entity.kind == "inputs":
                self.input_sources[target] = ("array" if value.strip() == "array"
                                              else parse(value, f"hybridization '{target}'"))
            elif entity is None:
                out = t.mapping.get(value.strip())
                if out is None or out.kind != "outputs":
                    raise UnsupportedSciMLError("a hybridization value that is not a "
                                                "network output", target, value)
                self.sim.param_index(target, SciMLError)
                self.output_targets.append((target, value.strip()))
            else:
                raise UnsupportedSciMLError(f"hybridization of network {entity.kind}",
                                            target)
        species = set(self.sim.state_ids) | {"time", "t"}
        self.state_nets = {
            t.mapping[i].net for i, src in self.input_sources.items()
            if not isinstance(src, str) and names_in(src) & species}
        for target, out in self.output_targets:
            if t.mapping[out].net in self.state_nets and target in self.sim.state_ids:
                raise UnsupportedSciMLError("a network in the right-hand side setting a "
                                            "species", target)
        setting = {t.mapping[o].net for _, o in self.output_targets}
        self._rhs_nets = setting & self.state_nets        # evaluated at every dx/dt
        self._static_nets = setting - self.state_nets     # once per experiment

    def _read_observables(self) -> None:
        t = self.tables
        self.observables = {}
        for _, row in t.observables.iterrows():
            oid = row["observableId"]
            try:  # PEtab v2's log-normal / log-laplace, as wc.petab reads them
                transform, dist = noise_model(row.get("noiseDistribution", ""),
                                              row.get("observableTransformation", ""),
                                              f"observable '{oid}'")
            except UnsupportedPetabError as err:
                raise UnsupportedSciMLError(err.feature, oid) from err
            except PetabError as err:
                raise SciMLError(str(err)) from err
            self.observables[oid] = (
                parse(row["observableFormula"], f"observable '{oid}'"),
                parse(row["noiseFormula"], f"noise of '{oid}'"),
                transform, dist,
            )
        m = t.measurements
        for col in ("observableParameters", "noiseParameters"):
            if col in m and (m[col].astype(str).str.strip() != "").any():
                raise UnsupportedSciMLError(f"measurement column {col}", None,
                                            "observable placeholders are not supported")
        unknown = set(m["observableId"]) - set(self.observables)
        if unknown:
            raise SciMLError(f"measurements name observables the table lacks: {unknown}")
        self.y = jnp.asarray(m["measurement"].astype(float).to_numpy())

    def _read_experiments(self) -> None:
        t = self.tables
        m = t.measurements
        conds: dict[str, dict[str, sp.Expr]] = {}
        for _, row in t.conditions.iterrows():
            conds.setdefault(row["conditionId"], {})[row["targetId"]] = parse(
                row["targetValue"], f"condition '{row['conditionId']}'")
        self.experiments = []
        for eid, periods in t.experiments.groupby("experimentId", sort=False):
            if len(periods) != 1:
                raise UnsupportedSciMLError(f"an experiment of {len(periods)} periods", eid,
                                            "one period per experiment is supported")
            (_, period), = periods.iterrows()
            t0 = _number(period["time"])
            if t0 is None or not math.isfinite(t0):
                raise UnsupportedSciMLError(f"an experiment starting at {period['time']}",
                                            eid, "pre-equilibration is not supported")
            cid = period.get("conditionId", "")    # a condition without rows changes nothing
            rows = np.flatnonzero((m["experimentId"] == eid).to_numpy())
            times = m["time"].astype(float).to_numpy()[rows]
            ts = np.unique(np.concatenate([[t0], times]))
            self.experiments.append(_Experiment(
                eid, t0, str(cid), conds.get(cid, {}), rows, ts, np.searchsorted(ts, times)))
        missing = set(m["experimentId"]) - {e.id for e in self.experiments}
        if missing:
            raise SciMLError(f"measurements name experiments the table lacks: {missing}")

    # -- parameters ------------------------------------------------------------------
    def nominal(self) -> tuple[dict[str, float], dict[str, dict]]:
        """(mechanistic estimates by id, network parameters ``{net: {layer: {array:
        value}}}``) at their nominal values."""
        mech = {pid: self.values[pid] for pid in self.mechanistic_ids}
        nets = {}
        for net_id, net in self.nets.items():
            given = self.tables.net_params.get(net_id, {})
            nets[net_id] = {lid: {a: jnp.asarray(given[lid][a], jnp.float64)
                                  if lid in given and a in given[lid] else jnp.zeros(s)
                                  for a, s in shapes.items()}
                            for lid, shapes in net.parameter_shapes().items()}
        for _, entity, nominal, _ in self._net_rows:
            value = _number(nominal)
            if value is not None:
                nets[entity.net] = self._set_part(nets[entity.net], entity,
                                                  lambda a, v=value: jnp.full_like(a, v))
        return mech, nets

    @staticmethod
    def _set_part(params: dict, entity: Entity, fn) -> dict:
        out = {}
        for lid, arrays in params.items():
            hit = entity.layer is None or entity.layer == lid
            out[lid] = {a: fn(v) if hit and entity.array in (None, a) else v
                        for a, v in arrays.items()}
        return out

    def _frozen(self, nets: dict) -> dict:
        """The network parameters with the parts not estimated cut from the gradient."""
        for _, entity, _, estimate in self._net_rows:
            fn = (lambda a: a) if estimate else jax.lax.stop_gradient
            nets = {**nets, entity.net: self._set_part(nets[entity.net], entity, fn)}
        return nets

    # -- evaluation ------------------------------------------------------------------
    def _net_inputs(self, net_id: str, env: dict, exp: _Experiment) -> list[jax.Array]:
        """The network's input arguments from the hybridization, condition, parameter
        and array sources, with ``env`` the values of ids."""
        net = self.nets[net_id]
        scalars: dict[int, dict[tuple[int, ...], jax.Array]] = {}
        whole: dict[int, jax.Array] = {}
        for pid, entity in self.tables.mapping.items():
            if entity.net != net_id or entity.kind != "inputs":
                continue
            source = self.input_sources.get(pid)
            if source is None and pid in exp.condition:
                source = exp.condition[pid]
            if source == "array" or (source is None and pid in self.tables.net_inputs):
                value = self._array_input(pid, exp)
            elif source is not None:
                value = lower(source, env)
            elif pid in env:
                value = env[pid]
            else:
                raise SciMLError(f"network input '{pid}' has no value: set it in the "
                                 "hybridization, conditions or parameters table")
            if entity.index is None:
                whole[entity.argument] = jnp.asarray(value, jnp.float64)
            else:
                scalars.setdefault(entity.argument, {})[entity.index] = value
        args = []
        for k in range(len(net.input_ids)):
            if k in whole:
                args.append(whole[k])
            elif k in scalars:
                n = 1 + max(i[0] for i in scalars[k])
                args.append(jnp.stack([jnp.asarray(scalars[k][(i,)], jnp.float64)
                                       for i in range(n)]))
            else:
                raise SciMLError(f"network '{net_id}': input argument {k} has no value")
        return args

    def _array_input(self, pid: str, exp: _Experiment) -> np.ndarray:
        data = self.tables.net_inputs.get(pid)
        if data is None:
            raise SciMLError(f"network input '{pid}' is 'array', but no array file holds it")
        for key, value in data.items():
            if key == "0" or exp.condition_id in key.split(";"):
                return value
        raise SciMLError(f"network input '{pid}': no array for experiment '{exp.id}'")

    @staticmethod
    def _output(outputs, entity: Entity) -> jax.Array:
        out = outputs if not isinstance(outputs, tuple) else outputs[entity.argument]
        if isinstance(outputs, tuple) or entity.argument == 0:
            return out[entity.index] if entity.index is not None else out
        raise SciMLError(f"network '{entity.net}' has one output argument")

    def _model_values(self, t, x, c) -> dict[str, jax.Array]:
        st = self.sim.structure
        base = jnp.concatenate([c, x, jnp.reshape(t, (1,))])
        vals = st.observe_prog(base)
        return dict(zip(self.sim.observable_ids, vals, strict=True))

    def _with_outputs(self, p, env, exp, nets, which: set[str]):
        """``p`` with the model ids the networks in ``which`` set, and their outputs by
        entity id."""
        outs = {}
        for net_id in which:
            y = self.nets[net_id](nets[net_id], *self._net_inputs(net_id, env, exp))
            for pid, entity in self.tables.mapping.items():
                if entity.net == net_id and entity.kind == "outputs":
                    outs[pid] = self._output(y, entity)
        for target, out in self.output_targets:
            if out in outs:
                value = outs[out]
                if value.size != 1:
                    raise SciMLError(f"'{target}' is set by '{out}', which has shape "
                                     f"{tuple(value.shape)}, not one value")
                p = p.at[self.sim.param_index(target)].set(value.reshape(()))
        return p, outs

    def _setup(self, exp: _Experiment, mech: dict, nets: dict):
        """(dx/dt as f(t, x), x0, parameter vector, ids' values, constants) of one
        experiment: the parameters and conditions applied, the networks before the
        simulation evaluated."""
        st = self.sim.structure
        values = self._values(mech)
        env = dict(values)
        p = self.sim.param_values
        for pid, v in values.items():
            if pid in self.sim.param_ids:
                p = p.at[self.sim.param_index(pid)].set(v)
        for target, expr in exp.condition.items():
            value = lower(expr, env)
            if target in self.tables.mapping:
                continue                         # a network input: read in _net_inputs
            p = p.at[self.sim.param_index(target, SciMLError)].set(value)
            env[target] = value
        p, static_out = self._with_outputs(p, env, exp, nets, self._static_nets)
        env.update(static_out)
        t0 = jnp.asarray(exp.t0, jnp.float64)
        x0, c = st.initial(p, t0)

        def rhs(t, x):
            if not self._rhs_nets:
                return st.rhs(t, x, c)
            local = {**env, **self._model_values(t, x, c)}
            p2, _ = self._with_outputs(p, local, exp, nets, self._rhs_nets)
            return st.rhs(t, x, st.initial(p2, t0)[1])

        return rhs, x0, p, env, c

    def _integrate(self, exp: _Experiment, rhs, x0):
        """The solution at the experiment's times (NaN where the solve failed)."""
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(lambda t, x, _: rhs(t, x)), diffrax.Tsit5(), exp.ts[0],
            exp.ts[-1], None, x0, saveat=diffrax.SaveAt(ts=jnp.asarray(exp.ts)),
            stepsize_controller=diffrax.PIDController(rtol=self.rtol, atol=self.atol),
            max_steps=self.max_steps, throw=False)
        ok = sol.result == diffrax.RESULTS.successful
        return jax.tree.map(lambda y: jnp.where(ok, y, jnp.nan), sol.ys)

    def _solve(self, exp: _Experiment, mech: dict, nets: dict) -> jax.Array:
        """The states at the experiment's times; differentiated by forward sensitivities
        whose error the step-size control bounds with the states' (as CVODES and
        ForwardDiff through an ODE solver do), not by differentiating the steps taken."""
        flat, unravel = ravel_pytree((mech, nets))

        @jax.custom_jvp
        def solve(flat):
            rhs, x0, *_ = self._setup(exp, *unravel(flat))
            return self._integrate(exp, rhs, x0)

        @solve.defjvp
        def solve_jvp(primals, tangents):
            (th,), (dth,) = primals, tangents
            x0_of = lambda f: self._setup(exp, *unravel(f))[1]
            x0, s0 = x0_of(th), jax.jacfwd(x0_of)(th)               # (n_x,), (n_x, n_th)

            def augmented(t, z):
                x, sens = z
                f = lambda x, f: self._setup(exp, *unravel(f))[0](t, x)
                dx, dsens = jax.vmap(lambda s, e: jax.jvp(f, (x, th), (s, e)),
                                     in_axes=(1, 0), out_axes=(None, 1))(
                    sens, jnp.eye(th.size, dtype=th.dtype))
                return dx, dsens

            ys, sens = self._integrate(exp, augmented, (x0, s0))
            return ys, sens @ dth

        return solve(flat)

    def _predict(self, exp: _Experiment, mech: dict, nets: dict):
        """(simulation, sigma) at the experiment's measurement rows."""
        _, _, p, env, c = self._setup(exp, mech, nets)
        ys = self._solve(exp, mech, nets)
        ids = self.tables.measurements["observableId"].to_numpy()[exp.rows]

        def at(t, x):   # every id's value at one measurement
            local = {**env, **self._model_values(t, x, c)}
            _, outs = self._with_outputs(p, local, exp, nets, self.state_nets)
            return {**local, **outs}

        local = jax.vmap(at)(jnp.asarray(exp.ts[exp.row_time], jnp.float64),
                             ys[exp.row_time])
        h = jnp.zeros(len(ids))
        sigma = jnp.zeros(len(ids))
        for oid in dict.fromkeys(ids):
            obs, noise, _, _ = self.observables[oid]
            rows = np.flatnonzero(ids == oid)
            sub = {k: v[rows] for k, v in local.items()}
            h = h.at[rows].set(jnp.broadcast_to(lower(obs, sub), rows.shape))
            sigma = sigma.at[rows].set(jnp.broadcast_to(lower(noise, sub), rows.shape))
        return h, sigma

    def _values(self, mech: dict) -> dict:
        values = {k: jnp.asarray(v, jnp.float64) for k, v in self.values.items()}
        for pid in self.mechanistic_ids:
            values[pid] = jnp.asarray(mech[pid], jnp.float64)
        return values

    def evaluate(self, mech: dict | None = None, nets: dict | None = None
                 ) -> SciMLEvaluation:
        """Log-likelihood, log-posterior, simulations and the gradient, in one compiled
        program (nominal values where ``mech`` or ``nets`` is None)."""
        mech0, nets0 = self.nominal()
        mech = mech0 if mech is None else mech
        nets = nets0 if nets is None else nets
        (post, (llh, h)), (g_mech, g_nets) = self._value_and_grad(mech, nets)
        table = self.tables.measurements.drop(columns="measurement").copy()
        table["simulation"] = np.asarray(h)
        return SciMLEvaluation(float(llh), float(post), table, g_mech, g_nets)

    def simulate(self, mech: dict | None = None, nets: dict | None = None) -> pd.DataFrame:
        """The measurement table with a ``simulation`` column in place of the data."""
        mech0, nets0 = self.nominal()
        h = self._simulations(mech0 if mech is None else mech, nets0 if nets is None else nets)
        table = self.tables.measurements.drop(columns="measurement").copy()
        table["simulation"] = np.asarray(h)
        return table

    def log_likelihood(self, mech: dict, nets: dict) -> jax.Array:
        """The log-likelihood of the measurements (one compiled program)."""
        return self._log_likelihood(mech, nets)

    def log_posterior(self, mech: dict, nets: dict) -> jax.Array:
        """The log-likelihood plus the log density of the priors (`log_prior`)."""
        return self._log_posterior(mech, nets)

    def value_and_grad(self, mech: dict, nets: dict) -> tuple[jax.Array, tuple[dict, dict]]:
        """(log-posterior, its gradient in (mechanistic estimates, network parameters));
        without priors the log-posterior is the log-likelihood. The parts of the
        networks that are not estimated get zeros."""
        (post, _), grads = self._value_and_grad(mech, nets)
        return post, grads

    def _evaluate(self, mech: dict, nets: dict):
        """(log-posterior, (log-likelihood, simulations in measurement order)), pure JAX."""
        nets = self._frozen(nets)
        ids = self.tables.measurements["observableId"].to_numpy()
        h = jnp.zeros(len(ids))
        sigma = jnp.zeros(len(ids))
        for exp in self.experiments:
            he, se = self._predict(exp, mech, nets)
            h, sigma = h.at[exp.rows].set(he), sigma.at[exp.rows].set(se)
        llh = jnp.zeros((), jnp.float64)
        for oid in dict.fromkeys(ids):
            _, _, transform, dist = self.observables[oid]
            rows = np.flatnonzero(ids == oid)
            llh = llh - jnp.sum(nll(self.y[rows], h[rows], sigma[rows], dist, transform))
        return llh + self.log_prior(mech, nets), (llh, h)

    def log_prior(self, mech: dict, nets: dict) -> jax.Array:
        """The log density of the priors the parameters table gives (0 without any)."""
        total = jnp.zeros((), jnp.float64)
        values = self._values(mech)
        for pid, (dist, pars) in self.priors.items():
            if pid in values:
                total = total + jnp.sum(_log_density(dist, pars, values[pid], pid))
        covered: dict[str, dict] = {}
        for pid, entity, _, _ in self._net_rows:     # the most specific row last: it wins
            prior = self.priors.get(pid)
            covered[entity.net] = self._set_part(
                covered.get(entity.net, jax.tree.map(lambda a: None, nets[entity.net])),
                entity, lambda a, prior=prior: prior)
        for net_id, parts in covered.items():
            for lid, arrays in parts.items():
                for a, prior in arrays.items():
                    if prior is not None:
                        total = total + jnp.sum(_log_density(*prior, nets[net_id][lid][a],
                                                             f"{net_id}.{lid}.{a}"))
        return total

    def gradient(self, mech: dict, nets: dict) -> tuple[dict, dict]:
        """d log-posterior / d (mechanistic estimates, network parameters)."""
        return self.value_and_grad(mech, nets)[1]


def _log_density(dist: str, pars: list[float], x: jax.Array, where: str) -> jax.Array:
    """log p(x) of a PEtab prior (normal: mean, sd; laplace: location, scale; uniform:
    lower, upper; log-normal: the normal's mean and sd of log x)."""
    if dist == "normal":
        mu, sd = pars
        return -0.5 * ((x - mu) / sd) ** 2 - jnp.log(sd * math.sqrt(2.0 * math.pi))
    if dist == "laplace":
        mu, b = pars
        return -jnp.abs(x - mu) / b - jnp.log(2.0 * b)
    if dist == "uniform":
        lo, hi = pars
        inside = (x >= lo) & (x <= hi)
        return jnp.where(inside, -math.log(hi - lo), -jnp.inf)
    if dist in ("log-normal", "logNormal"):
        mu, sd = pars
        return (-0.5 * ((jnp.log(x) - mu) / sd) ** 2
                - jnp.log(x * sd * math.sqrt(2.0 * math.pi)))
    raise UnsupportedSciMLError(f"prior distribution {dist}", where,
                                "supported: normal, laplace, uniform, log-normal")


def load_sciml_problem(path: str | Path, **options) -> SciMLProblem:
    """Load a PEtab SciML problem from its ``problem.yaml`` (see `SciMLProblem`)."""
    return SciMLProblem(read_tables(path), **options)
