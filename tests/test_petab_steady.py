"""Pre-equilibration (`wholecell.petab._steady`): Newton's steady states against analytic
ones (values and gradients, with a conserved moiety), the fallback to integration where
Newton fails, and Newton against integration on a published problem (Brannmark 2010:
three conserved moieties)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

import wholecell as wc
from wholecell.compiler._conservation import conservation_laws
from wholecell.petab._steady import (
    STEADY_TOL,
    integrate_steady_states,
    newton_steady_states,
    steady_state,
    steady_states,
)

pytest.importorskip("antimony")

DATA = Path(__file__).parent / "data" / "petab"
#: the settings of a PEtab problem's solves (`wc.petab.load`'s defaults)
SOLVE = dict(solver="rodas5", rtol=1e-8, atol=1e-12, max_steps=100_000)
#: Newton's root is exact to rounding; integration to t = 1e6 to about its rtol
ROOT_RTOL, INTEGRATED_RTOL = 1e-10, 1e-6

#: A <-> B conserves A + B; X is made and degraded. Steady state:
#: A* = k2 T / (k1 + k2), B* = k1 T / (k1 + k2) with T = A0 + B0, X* = k3 / k4
MOIETY = """
model moiety
  compartment c = 1
  species A in c = 3; species B in c = 1; species X in c = 0
  J1: A -> B; k1 * A
  J2: B -> A; k2 * B
  J3: -> X; k3
  J4: X -> ; k4 * X
  k1 = 0.7; k2 = 0.3; k3 = 2; k4 = 0.5
end
"""

#: dX/dt = k - d X^2: at X = 0 the Jacobian is 0, so Newton from there fails;
#: the steady state is sqrt(k / d)
SQUARE = """
model square
  compartment c = 1
  species X in c = 0
  J1: -> X; k
  J2: X -> ; d * X^2
  k = 2; d = 0.5
end
"""


def _sim(text: str):
    return wc.compile(wc.load(text))


def _moiety_analytic(sim, p):
    v = dict(zip(sim.param_ids, np.asarray(p), strict=True))
    k1, k2, k3, k4, a0, b0 = (v[n] for n in ("k1", "k2", "k3", "k4", "A", "B"))
    T = a0 + b0
    x = {"A": k2 * T / (k1 + k2), "B": k1 * T / (k1 + k2), "X": k3 / k4}
    # dA*/d(k1, k2, A0, B0); dX*/d(k3, k4)
    grad = {
        ("A", "k1"): -k2 * T / (k1 + k2) ** 2, ("A", "k2"): k1 * T / (k1 + k2) ** 2,
        ("A", "A"): k2 / (k1 + k2), ("A", "B"): k2 / (k1 + k2),
        ("X", "k3"): 1 / k4, ("X", "k4"): -k3 / k4**2,
    }
    return x, grad


def test_conservation_laws_of_a_moiety():
    sim = _sim(MOIETY)
    cons = conservation_laws(sim.structure)
    assert cons.C.shape == (3, 1)
    i = {s: k for k, s in enumerate(sim.state_ids)}
    w = cons.C[:, 0] / cons.C[i["A"], 0]
    np.testing.assert_allclose(w[[i["A"], i["B"], i["X"]]], [1.0, 1.0, 0.0], atol=1e-12)


def test_newton_keeps_the_moiety_total_and_matches_the_analytic_steady_state():
    sim = _sim(MOIETY)
    p = sim.param_values
    X, ok = newton_steady_states(sim, p[None], sim.initial_state(p)[0][None],
                                 rtol=SOLVE["rtol"], atol=SOLVE["atol"])
    assert bool(ok[0])
    x, wrms = steady_state(sim, p, None, adjoint="lax", **SOLVE)
    expected, _ = _moiety_analytic(sim, p)
    want = np.array([expected[s] for s in sim.state_ids])
    np.testing.assert_allclose(np.asarray(X[0]), want, rtol=ROOT_RTOL)
    np.testing.assert_allclose(np.asarray(x), want, rtol=ROOT_RTOL)
    assert float(wrms) < STEADY_TOL


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_newton_gradient_is_the_analytic_derivative(mode):
    """The implicit-function gradient, through the initial amounts (the moiety total)
    and the rate constants."""
    sim = _sim(MOIETY)
    p = sim.param_values
    i = {s: k for k, s in enumerate(sim.state_ids)}
    j = {n: k for k, n in enumerate(sim.param_ids)}

    def state(p):
        return steady_state(sim, p, None, adjoint="checkpointed" if mode == "reverse"
                            else "lax", **SOLVE)[0]

    jac = jax.jacrev(state)(p) if mode == "reverse" else jax.jacfwd(state)(p)
    _, grad = _moiety_analytic(sim, p)
    for (s, n), g in grad.items():
        np.testing.assert_allclose(float(jac[i[s], j[n]]), g, rtol=ROOT_RTOL, err_msg=f"{s}/{n}")


def test_where_newton_fails_the_condition_is_integrated():
    """X0 = 0: Newton's Jacobian is singular there, so that condition is integrated; the
    other (X0 = 1) keeps Newton's root. Values and gradients (through the fallback's
    integration and through Newton, in one batch) against sqrt(k / d)."""
    sim = _sim(SQUARE)
    p = sim.param_values
    X0 = jnp.asarray([[0.0], [1.0]])
    P = jnp.stack([p, p])
    _, ok = newton_steady_states(sim, P, X0, rtol=SOLVE["rtol"], atol=SOLVE["atol"])
    assert np.asarray(ok).tolist() == [False, True]
    k, d = (float(p[sim.param_ids.index(n)]) for n in ("k", "d"))
    X, wrms = steady_states(sim, P, X0, adjoint="checkpointed", **SOLVE)
    integrated = integrate_steady_states(sim, P, X0, adjoint="lax", **SOLVE)
    np.testing.assert_allclose(np.asarray(X[0]), np.asarray(integrated[0]), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(X[:, 0]), np.sqrt(k / d), rtol=INTEGRATED_RTOL)
    assert np.all(np.asarray(wrms) < STEADY_TOL)

    def total(P):
        return jnp.sum(steady_states(sim, P, X0, adjoint="checkpointed", **SOLVE)[0])

    g = np.asarray(jax.grad(total)(P))
    assert np.all(np.isfinite(g))
    for n, want in (("k", 0.5 / np.sqrt(k * d)), ("d", -0.5 * np.sqrt(k / d) / d)):
        np.testing.assert_allclose(g[:, sim.param_ids.index(n)], want, rtol=1e-5, err_msg=n)


def test_unknown_preeq_method_is_refused():
    sim = _sim(SQUARE)
    with pytest.raises(ValueError, match="method must be one of"):
        steady_state(sim, sim.param_values, None, adjoint="lax", method="bisect", **SOLVE)
    with pytest.raises(wc.petab.PetabError, match="preeq_method"):
        wc.petab.load(DATA / "Brannmark_JBC2010", preeq_method="bisect", lint=False)


#: AMICI's published log-likelihood at the nominal parameters
BRANNMARK_LLH = -141.889113770537


def test_newton_and_integration_agree_on_a_published_problem():
    """Brannmark 2010: one pre-equilibration condition, three conserved moieties; Newton
    is accepted there, and both methods give the published log-likelihood."""
    newton = wc.petab.load(DATA / "Brannmark_JBC2010", lint=False)
    assert newton.preeq_method == "newton"
    integrate = wc.petab.load(DATA / "Brannmark_JBC2010", lint=False,
                              preeq_method="integrate")
    assert conservation_laws(newton.sim.structure).C.shape[1] == 3
    v = newton.table.values(jnp.asarray(newton.nominal))
    P = newton._conds.params(v)[newton._pre_cond]
    X0 = newton._initial_states(newton._pre_cond, v, P)
    Xn, ok = newton_steady_states(newton.sim, P, X0, rtol=newton.rtol, atol=newton.atol)
    assert np.asarray(ok).all()
    Xi = integrate_steady_states(newton.sim, P, X0, adjoint="lax", solver=newton.preeq_solver,
                                 rtol=newton.rtol, atol=newton.atol, max_steps=newton.max_steps)
    np.testing.assert_allclose(np.asarray(Xn), np.asarray(Xi), rtol=INTEGRATED_RTOL,
                               atol=1e-10)
    llh_n = -float(newton.objective(newton.nominal))
    llh_i = -float(integrate.objective(integrate.nominal))
    assert abs(llh_n - BRANNMARK_LLH) < 1e-3
    assert abs(llh_i - BRANNMARK_LLH) < 1e-3
    assert abs(llh_n - llh_i) < 1e-6


def _factor_sbml() -> str:
    """A <-> B (k1 A, k2 B) with conversion factor 2 on both: A + B is still conserved,
    and the stoichiometry is no longer a constant matrix (`Structure.dense` False)."""
    m = 'xmlns="http://www.w3.org/1998/Math/MathML"'

    def reaction(rid, r, p, k):
        return (f'<reaction id="{rid}" reversible="false" fast="false"><listOfReactants>'
                f'<speciesReference species="{r}" stoichiometry="1" constant="true"/>'
                f'</listOfReactants><listOfProducts><speciesReference species="{p}" '
                f'stoichiometry="1" constant="true"/></listOfProducts><kineticLaw><math {m}>'
                f'<apply><times/><ci>{k}</ci><ci>{r}</ci></apply></math></kineticLaw>'
                f'</reaction>')

    species = "".join(
        f'<species id="{s}" compartment="c" initialAmount="{v}" hasOnlySubstanceUnits="true" '
        f'boundaryCondition="false" constant="false" conversionFactor="cf"/>'
        for s, v in (("A", 3.0), ("B", 1.0)))
    params = "".join(f'<parameter id="{p}" value="{v}" constant="true"/>'
                     for p, v in (("k1", 0.7), ("k2", 0.3), ("cf", 2.0)))
    return ('<?xml version="1.0" encoding="UTF-8"?><sbml xmlns="http://www.sbml.org/sbml/'
            'level3/version1/core" level="3" version="1"><model id="factor"><listOfCompartments>'
            '<compartment id="c" size="1" constant="true"/></listOfCompartments>'
            f'<listOfSpecies>{species}</listOfSpecies><listOfParameters>{params}'
            f'</listOfParameters><listOfReactions>{reaction("J1", "A", "B", "k1")}'
            f'{reaction("J2", "B", "A", "k2")}</listOfReactions></model></sbml>')


def test_conservation_laws_found_inside_jit_for_a_non_constant_stoichiometry():
    sim = wc.compile(wc.load_sbml(_factor_sbml()))
    assert not sim.structure.dense
    x = jax.jit(lambda p: steady_state(sim, p, None, adjoint="lax", **SOLVE)[0])(
        sim.param_values)
    i = {s: k for k, s in enumerate(sim.state_ids)}
    np.testing.assert_allclose(np.asarray(x)[[i["A"], i["B"]]], [0.3 * 4.0, 0.7 * 4.0],
                               rtol=ROOT_RTOL)
    assert conservation_laws(sim.structure).C.shape[1] == 1


#: A <-> B (kf, kr) from A = 1, B = 0: at steady state A* = T kr / (kf + kr), and at
#: time t A(t) = T (kr + kf exp(-(kf + kr) t)) / (kf + kr), T = A + B
EXCHANGE = """
model exchange
  compartment c = 1
  species A in c = 1; species B in c = 0
  J1: A -> B; kf * A
  J2: B -> A; kr * B
  kf = 1; kr = 0.5
end
"""


def _steady_measurement_problem(folder: Path) -> Path:
    """Measurements of A at steady state (time inf) in conditions kf = 1 and kf = 3, the
    second also after pre-equilibrating with A = 2 (total 2), and one at t = 1."""
    import antimony

    folder.mkdir()
    antimony.clearPreviousLoads()
    assert antimony.loadAntimonyString(EXCHANGE) >= 0
    (folder / "model.xml").write_text(antimony.getSBMLString("exchange"))
    (folder / "parameters.tsv").write_text(
        "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n"
        "kr\tlin\t0.01\t10\t0.5\t1\n")
    (folder / "conditions.tsv").write_text(
        "conditionId\tkf\tA\nslow\t1\t\nfast\t3\t\nmore\t1\t2\n")
    (folder / "observables.tsv").write_text(
        "observableId\tobservableFormula\tnoiseFormula\nobs_A\tA\t0.1\n")
    (folder / "measurements.tsv").write_text(
        "observableId\tpreequilibrationConditionId\tsimulationConditionId\tmeasurement\ttime\n"
        "obs_A\t\tslow\t0.3\tinf\n"
        "obs_A\t\tslow\t0.5\t1\n"
        "obs_A\t\tfast\t0.2\tinf\n"
        "obs_A\tmore\tfast\t0.25\tinf\n")
    (folder / "problem.yaml").write_text(
        "format_version: 1\nparameter_file: parameters.tsv\nproblems:\n"
        "- condition_files: [conditions.tsv]\n  measurement_files: [measurements.tsv]\n"
        "  observable_files: [observables.tsv]\n  sbml_files: [model.xml]\n")
    return folder / "problem.yaml"


def test_measurements_at_steady_state_are_post_equilibrated(tmp_path):
    """Time-inf measurements are the steady state of their simulation condition from its
    start (after pre-equilibration where there is one): the analytic A*, beside a finite
    time's A(t). The gradient (forward sensitivities through the implicit function
    theorem) equals central differences of the objective."""
    yaml = _steady_measurement_problem(tmp_path / "exchange")
    prob = wc.petab.load(yaml, lint=False, solver="rodas5", sensitivities="forward")
    df = prob.simulate()
    kr = 0.5
    exact = [kr / (1 + kr), (kr + np.exp(-(1 + kr))) / (1 + kr), kr / (3 + kr),
             2 * kr / (3 + kr)]
    np.testing.assert_allclose(df["simulation"], exact, rtol=1e-7)
    theta, h = np.array([0.6]), 1e-5
    value, grad = prob.value_and_grad(theta)
    central = (float(prob.objective(theta + h)) - float(prob.objective(theta - h))) / (2 * h)
    assert float(value) == pytest.approx(float(prob.objective(theta)), rel=1e-12)
    assert float(np.asarray(grad)[0]) == pytest.approx(central, rel=1e-5)


def test_plot_of_steady_state_measurements_sits_right_of_the_finite_times():
    """`plot_fit` draws time-inf rows at 1.1 times the panel's last finite time (1 where
    there is none), the simulation as one mark per condition."""
    import matplotlib

    matplotlib.use("Agg")
    from wholecell.petab._plot import plot_fit

    df = pd.DataFrame({
        "observableId": ["a", "a", "a", "b"], "preequilibrationConditionId": [""] * 4,
        "simulationConditionId": ["c1"] * 4, "time": [0.0, 2.0, np.inf, np.inf],
        "measurement": [1.0, 0.5, 0.3, 0.4], "simulation": [1.0, 0.55, 0.33, 0.42],
    })
    fig = plot_fit(df)
    a, b = fig.axes[:2]
    xs = [list(line.get_xdata()) for line in a.get_lines()]
    assert xs == [[0.0, 2.0], [0.0, 2.0], [2.2], [2.2]]
    assert [list(line.get_xdata()) for line in b.get_lines()][-2:] == [[1.0], [1.0]]
    assert list(a.get_lines()[-1].get_ydata()) == [0.33]
