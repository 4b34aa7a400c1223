"""simulate() and Result against analytic solutions."""

import os
import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import DECAY, ROOT, mass_action, parameter, sbml_model, species

import wholecell as wc

#: tolerance on analytic solutions when solving with rtol=1e-10
ANALYTIC_RTOL = 1e-7



@pytest.fixture(scope="module")
def decay():
    return wc.load_sbml(DECAY)


@pytest.mark.parametrize("solver", ["auto", "tsit5", "rodas5", "rodas4", "kvaerno5"])
def test_first_order_decay(decay, solver):
    ts = np.linspace(0, 5, 11)
    res = wc.simulate(decay, ts, rtol=1e-10, atol=1e-12, solver=solver)
    expected = 3.0 * np.exp(-0.7 * ts)
    np.testing.assert_allclose(res.amount("A"), expected, rtol=1e-6 if solver == "rodas4"
                               else ANALYTIC_RTOL)
    np.testing.assert_allclose(res["A"], expected / 2.0, rtol=1e-6 if solver == "rodas4"
                               else ANALYTIC_RTOL)
    np.testing.assert_allclose(res.concentration("B"), (3.0 - expected) / 2.0, rtol=1e-6,
                               atol=1e-12)
    np.testing.assert_allclose(res["r1"], 0.7 * expected, rtol=1e-6)
    assert res.time.shape == (11,)


def test_parameter_ensemble(decay):
    ts = np.linspace(0, 2, 5)
    ks = np.linspace(0.1, 1.0, 7)
    res = wc.simulate(decay, ts, params={"k": ks}, rtol=1e-10, atol=1e-12)
    assert res["A"].shape == (7, 5)
    np.testing.assert_allclose(res.amount("A"), 3.0 * np.exp(-np.outer(ks, ts)),
                               rtol=ANALYTIC_RTOL)
    mean = res.mean()
    np.testing.assert_allclose(mean["k"], np.full(5, ks.mean()))


def test_ensemble_split_over_cpu_cores_matches_the_analytic_solution(tmp_path):
    # A fresh process: the CPU device count is fixed when JAX starts.
    code = textwrap.dedent(f"""
        import numpy as np, jax
        import wholecell as wc
        assert wc.use_cpu_cores(3) == 3
        assert len(jax.devices()) == 3, jax.devices()
        res = wc.simulate(wc.load_sbml({DECAY!r}), np.linspace(0, 2, 5),
                          params={{"k": np.linspace(0.1, 1.0, 7)}}, rtol=1e-10, atol=1e-12)
        np.save({str(tmp_path / "a.npy")!r}, res.amount("A"))
    """)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    subprocess.run([sys.executable, "-c", code], check=True,
                   env=dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=path))
    ks, ts = np.linspace(0.1, 1.0, 7), np.linspace(0, 2, 5)  # 7 members: 3 + 3 + 1 padded
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), 3.0 * np.exp(-np.outer(ks, ts)),
                               rtol=ANALYTIC_RTOL)


def test_use_cpu_cores_refuses_bad_counts_and_a_started_jax():
    with pytest.raises(ValueError, match="positive number of cores"):
        wc.use_cpu_cores(0)
    jnp.zeros(1).block_until_ready()  # JAX has started
    with pytest.raises(RuntimeError, match="before JAX starts"):
        wc.use_cpu_cores(2)


def test_initial_amount_is_a_parameter(decay):
    res = wc.simulate(decay, [0.0, 1.0], params={"A": 5.0}, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.amount("A"), 5.0 * np.exp(-0.7 * np.array([0, 1.0])),
                               rtol=ANALYTIC_RTOL)


def test_rules():
    extra = """<listOfRules>
      <rateRule variable="P"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <ci>a</ci></math></rateRule>
      <assignmentRule variable="Q"><math xmlns="http://www.w3.org/1998/Math/MathML">
        <apply><times/><cn>2</cn><ci>P</ci></apply></math></assignmentRule>
    </listOfRules>"""
    text = sbml_model(species("A", 1.0), mass_action("r1", "A", "", "Q"),
                      parameter("a", 0.5) + parameter("P", 1.0, False)
                      + parameter("Q", 0.0, False), extra=extra)
    ts = np.linspace(0, 2, 9)
    res = wc.simulate(wc.load_sbml(text), ts, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res["P"], 1.0 + 0.5 * ts, rtol=1e-12)
    np.testing.assert_allclose(res["Q"], 2.0 + ts, rtol=1e-12)
    # dA/dt = -(2 + t) A  =>  A = exp(-(2t + t^2/2))
    np.testing.assert_allclose(res["A"], np.exp(-(2 * ts + ts**2 / 2)), rtol=ANALYTIC_RTOL)


def test_blow_up_names_time_and_variable():
    extra = """<listOfRules><rateRule variable="x"><math
      xmlns="http://www.w3.org/1998/Math/MathML"><apply><power/><ci>x</ci><cn>2</cn></apply>
      </math></rateRule></listOfRules>"""
    text = sbml_model("", "", parameter("x", 1.0, False), extra=extra)
    with pytest.raises(wc.SimulationError) as err:
        wc.simulate(wc.load_sbml(text), np.linspace(0, 2, 5), solver="tsit5")
    assert "t = 1" in str(err.value)
    assert err.value.time == pytest.approx(1.0, abs=1e-4)  # x = 1 / (1 - t)


def test_bad_inputs(decay):
    with pytest.raises(wc.SimulationError, match="increasing"):
        wc.simulate(decay, [0.0, 2.0, 1.0])
    with pytest.raises(wc.SimulationError, match="NaN"):
        wc.simulate(decay, [0.0, 1.0], params={"k": float("nan")})
    with pytest.raises(wc.SimulationError, match="not a parameter"):
        wc.simulate(decay, [0.0, 1.0], params={"nope": 1.0})


def test_functional_core_jit_vmap_grad_without_retracing(decay):
    sim = wc.compile(decay)
    ts = jnp.linspace(0.0, 2.0, 5)
    ik = sim.param_ids.index("k")

    @eqx.debug.assert_max_traces(max_traces=1)
    def final_a(p):
        return sim.solve(ts, params=p, rtol=1e-10, atol=1e-12, solver="tsit5")[-1, 0]

    f = jax.jit(final_a)
    for k in (0.3, 0.5, 0.9):
        p = sim.param_values.at[ik].set(k)
        assert float(f(p)) == pytest.approx(3.0 * np.exp(-2 * k), rel=ANALYTIC_RTOL)
    g = jax.grad(lambda p: sim.solve(ts, params=p, rtol=1e-10, atol=1e-12)[-1, 0])(
        sim.param_values
    )
    assert float(g[ik]) == pytest.approx(-2.0 * 3.0 * np.exp(-2 * 0.7), rel=1e-6)
    batch = jnp.tile(sim.param_values, (4, 1)).at[:, ik].set(jnp.linspace(0.1, 0.4, 4))
    ys = jax.vmap(lambda p: sim.solve(ts, params=p, rtol=1e-10, atol=1e-12))(batch)
    assert ys.shape == (4, 5, 2)


def test_result_dataframe_and_plot(decay):
    import matplotlib

    matplotlib.use("Agg")
    res = wc.simulate(decay, np.linspace(0, 1, 4))
    df = res.to_dataframe()
    assert list(df.columns[:3]) == ["time", "C", "A"]
    assert len(df) == 4
    ax = res.plot()
    assert len(ax.lines) == 2


def test_a_value_for_an_assignment_rule_target_is_refused():
    """BIOMD0000000012's alpha follows an assignment rule: a value given for it would be
    ignored, so it is refused with the rule named."""
    model = wc.models.load("BIOMD0000000012")
    with pytest.raises(wc.SimulationError, match="'alpha' is set by an assignment rule"):
        wc.simulate(model, [0.0, 1.0], params={"alpha": 1.0})
    with pytest.raises(wc.CompileError, match="'alpha' is set by an assignment rule"):
        wc.compile(model).param_vector({"alpha": 1.0})
