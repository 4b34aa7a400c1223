"""Exact SSA: a birth-death process against its Poisson law; reproducibility; sharding."""

import os
import pickle
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from conftest import ROOT, parameter, sbml_model
from scipy import stats

import wholecell as wc

#: the birth-death process 0 -> X (rate lam), X -> 0 (rate mu * X), X(0) = 0
LAM, MU = 20.0, 0.5
BIRTH_DEATH = sbml_model(
    '<species id="X" compartment="C" initialAmount="0" hasOnlySubstanceUnits="true" '
    'boundaryCondition="false" constant="false"/>',
    """<reaction id="birth" reversible="false">
      <listOfProducts><speciesReference species="X" stoichiometry="1" constant="true"/>
      </listOfProducts><kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
      <ci>lam</ci></math></kineticLaw></reaction>
    <reaction id="death" reversible="false">
      <listOfReactants><speciesReference species="X" stoichiometry="1" constant="true"/>
      </listOfReactants><kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">
      <apply><times/><ci>mu</ci><ci>X</ci></apply></math></kineticLaw></reaction>""",
    parameter("lam", LAM) + parameter("mu", MU),
)
#: significance level of the distribution tests. The tests are seeded: the draws, and so
#: the outcome, are the same on every machine (a reaction choice could change only where a
#: uniform lands within rounding of a cumulative propensity). The rates below are the
#: chances that a correct simulator fails with a fresh seed.
ALPHA = 1e-3
#: two-sided tail beyond 4 standard errors: P(|Z| > 4) = 6.3e-5 per check
Z_LIMIT = 4


@pytest.fixture(scope="module")
def birth_death():
    return wc.load_sbml(BIRTH_DEATH)


def test_birth_death_is_poisson(birth_death):
    """False-failure rate (union bound): 8 checks at 4 SE (8 x 6.3e-5 = 5e-4) and the
    chi-square at ALPHA (1e-3): at most 1.5e-3."""
    ts = np.array([0.0, 0.5, 1.0, 2.0, 20.0])
    n = 4000
    res = wc.simulate(birth_death, ts, method="ssa", n=n, seed=7)
    x = res.amount("X")
    assert x.shape == (n, len(ts))
    assert np.all(x[:, 0] == 0)
    assert np.all(x == np.round(x))
    # X(t) ~ Poisson(m(t)), m(t) = lam/mu (1 - exp(-mu t)), at every t (X(0) = 0)
    for k in range(1, len(ts)):
        m = LAM / MU * (1 - np.exp(-MU * ts[k]))
        se = np.sqrt(m / n)
        assert abs(x[:, k].mean() - m) < Z_LIMIT * se
        # the variance of a Poisson law equals its mean (SE of s^2 ~ sqrt(2/n) m for large m)
        assert abs(x[:, k].var(ddof=1) - m) < Z_LIMIT * m * np.sqrt((2 + 1 / m) / n)
    # the stationary law at t = 20 (mu t = 10): chi-square against Poisson(lam / mu)
    m = LAM / MU
    values = x[:, -1].astype(int)
    edges = np.arange(int(m - 3 * np.sqrt(m)), int(m + 3 * np.sqrt(m)) + 1)
    observed = np.array([np.sum(values < edges[0])]
                        + [np.sum(values == v) for v in edges]
                        + [np.sum(values > edges[-1])])
    pmf = stats.poisson(m)
    probs = np.concatenate([[pmf.cdf(edges[0] - 1)], pmf.pmf(edges), [pmf.sf(edges[-1])]])
    chi2 = np.sum((observed - n * probs) ** 2 / (n * probs))
    assert stats.chi2.sf(chi2, len(probs) - 1) > ALPHA


def test_seed_reproducible_and_chunk_independent(birth_death):
    ts = np.linspace(0, 5, 6)
    a = wc.simulate(birth_death, ts, method="ssa", n=64, seed=3)
    b = wc.simulate(birth_death, ts, method="ssa", n=64, seed=3, chunk_size=16)
    c = wc.simulate(birth_death, ts, method="ssa", n=64, seed=4)
    np.testing.assert_array_equal(a.amount("X"), b.amount("X"))
    assert not np.array_equal(a.amount("X"), c.amount("X"))
    assert a.mean()["X"].shape == (6,)
    assert a.quantile(0.5)["X"].shape == (6,)


def _ssa_on_host_devices(count: int, out) -> np.ndarray:
    """The birth-death ensemble run in a fresh process on ``count`` CPU devices."""
    code = textwrap.dedent(f"""
        import numpy as np, jax
        import wholecell as wc
        assert len(jax.devices()) == {count}, jax.devices()
        m = wc.load_sbml({BIRTH_DEATH!r})
        r = wc.simulate(m, np.linspace(0, 5, 6), method="ssa", n=64, seed=3, chunk_size=16)
        np.save({str(out)!r}, r.amount("X"))
    """)
    # JAX_PLATFORMS=cpu: the forced device count is the host's, also on a GPU machine
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}",
               JAX_PLATFORMS="cpu", PYTHONPATH=path)
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return np.load(out)


def test_same_numbers_on_four_devices(birth_death, tmp_path):
    four = _ssa_on_host_devices(4, tmp_path / "four.npy")
    if jax.default_backend() == "cpu":
        one = wc.simulate(birth_death, np.linspace(0, 5, 6), method="ssa", n=64, seed=3)
        one = one.amount("X")
    else:  # the same numbers are promised on one device of the same kind
        one = _ssa_on_host_devices(1, tmp_path / "one.npy")
    np.testing.assert_array_equal(four, one)


def test_model_without_reactions_runs_its_rate_rules_exactly_in_ssa():
    extra = """<listOfRules><rateRule variable="P"><math
      xmlns="http://www.w3.org/1998/Math/MathML"><cn>1</cn></math></rateRule></listOfRules>"""
    text = sbml_model("", "", parameter("P", 0.0, constant=False), extra=extra)
    res = wc.simulate(wc.load_sbml(text), [0.0, 1.0], method="ssa", n=4)
    np.testing.assert_allclose(res["P"], [[0.0, 1.0]] * 4, rtol=1e-8)  # dP/dt = 1


def test_tau_leaping_birth_death_mean_and_variance(birth_death):
    """The means and variances of the Poisson law. Leaps keep each propensity's change
    within EPSILON = 0.03, and here (about 40 molecules, total propensity 40) a leap would
    be shorter than 10 mean SSA steps, so exact steps are taken: no leaping bias enters.
    False-failure rate: 6 checks at 4 SE, at most 6 x 6.3e-5 = 4e-4."""
    ts = np.array([0.0, 0.5, 2.0, 20.0])
    n = 2000
    x = wc.simulate(birth_death, ts, method="tau", n=n, seed=5).amount("X")
    for k in range(1, len(ts)):
        m = LAM / MU * (1 - np.exp(-MU * ts[k]))
        assert abs(x[:, k].mean() - m) < Z_LIMIT * np.sqrt(m / n)
        assert abs(x[:, k].var(ddof=1) - m) < Z_LIMIT * m * np.sqrt((2 + 1 / m) / n)


def test_exponential_variate_matches_log1p_on_the_uniform_grid():
    """The SSA's written-out -log(1 - u) against the C library's, on uniforms as
    `_uniform2` makes them (multiples of 2^-52 in [0, 1)), the ends included."""
    from wholecell.stochastic._ssa import _exponential

    rng = np.random.default_rng(0)
    grid = 2.0**-52
    u = np.concatenate([np.floor(rng.random(200_000) / grid) * grid,
                        np.arange(1000) * grid, 1 - np.arange(1, 1000) * grid, [0.5]])
    got = np.asarray(jax.jit(_exponential)(u))
    ref = -np.log1p(-u)
    assert got[u == 0].tolist() == [0.0] * int(np.sum(u == 0))
    pos = ref > 0
    assert np.max(np.abs(got[pos] - ref[pos]) / ref[pos]) < 5e-16


def test_rows_and_several_reactions_per_step_give_the_same_trajectories(birth_death,
                                                                        monkeypatch):
    """The SSA's fast paths against its general step alone (`ssa_step` under vmap, one
    action per step): several reactions per lane step (no events), and the lanes taken
    on rows (`_fire_rows`, `_step_rows`) or one by one under vmap. The same draws, so
    the same numbers."""
    import wholecell.stochastic._ssa as ssa

    assert ssa._rows_apply(wc.compile(birth_death).structure)
    rows_apply = ssa._rows_apply
    default_fires = ssa.FIRES_PER_STEP
    ts = np.linspace(0, 10, 21)

    def run(fires: int, rows: bool):
        monkeypatch.setattr(ssa, "FIRES_PER_STEP", fires)
        monkeypatch.setattr(ssa, "_rows_apply", rows_apply if rows else lambda st: False)
        jax.clear_caches()
        return wc.simulate(wc.compile(birth_death), ts, method="ssa", n=300, seed=11)

    ref = run(1, False)
    assert ref.amount("X").sum() > 0
    for fires, rows in ((default_fires, True), (4, True), (1, True), (4, False),
                        (default_fires, False)):
        res = run(fires, rows)
        np.testing.assert_array_equal(res.amount("X"), ref.amount("X"))
        np.testing.assert_array_equal(res.stats["events"], ref.stats["events"])


def test_ensemble_values_observed_when_asked(birth_death):
    """An SSA ensemble reads its states and constants directly and observes the other ids
    (here a reaction's rate, mu X) only when asked: every id's column is the same read
    either way, and the rate is its law on the amounts."""
    ts = np.linspace(0.0, 5.0, 11)
    res = wc.simulate(birth_death, ts, method="ssa", n=50, seed=4)
    columns = {i: np.array(res[i]) for i in ("X", "mu", "C")}
    np.testing.assert_array_equal(columns["mu"], np.full((50, len(ts)), MU))
    np.testing.assert_array_equal(columns["C"], np.ones((50, len(ts))))
    death = res["death"]  # not a state nor a constant: every id is observed now
    np.testing.assert_allclose(death, MU * columns["X"], rtol=1e-15)
    assert res.values.shape == (50, len(ts), len(res.ids))
    for name, col in columns.items():
        np.testing.assert_array_equal(res.values[..., res.ids.index(name)], col)
    assert res.mean()["X"].shape == (len(ts),)
    fresh = wc.simulate(birth_death, ts, method="ssa", n=50, seed=4)
    copy = pickle.loads(pickle.dumps(fresh))  # before any value was computed
    np.testing.assert_array_equal(copy.values, res.values)
