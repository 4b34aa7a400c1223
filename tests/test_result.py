"""`Result.to_dataframe` for single runs and ensembles (parameter batches, SSA): its shape,
columns and values against the result's arrays and exact references."""

import numpy as np
import pytest
from conftest import DECAY

import wholecell as wc

#: analytic solutions when solving with rtol 1e-10 (as in test_simulate)
ANALYTIC_RTOL = 1e-7
TS = np.linspace(0.0, 2.0, 5)


@pytest.fixture(scope="module")
def decay():
    return wc.load_sbml(DECAY)


def test_single_run(decay):
    res = wc.simulate(decay, TS, rtol=1e-10, atol=1e-12)
    df = res.to_dataframe()
    assert list(df.columns) == ["time", *res.ids]
    assert df.shape == (len(TS), 1 + len(res.ids))
    np.testing.assert_array_equal(df["time"], TS)
    for name in res.ids:
        np.testing.assert_array_equal(df[name], res[name])
    # A -> B at k A in a compartment of size 2: [A] = 3 exp(-0.7 t) / 2
    np.testing.assert_allclose(df["A"], 1.5 * np.exp(-0.7 * TS), rtol=ANALYTIC_RTOL)


def test_parameter_batch(decay):
    ks = np.array([0.1, 0.4, 0.7, 1.3])
    res = wc.simulate(decay, TS, params={"k": ks}, rtol=1e-10, atol=1e-12)
    df = res.to_dataframe()
    n, m = len(ks), len(TS)
    assert list(df.columns) == ["member", "time", *res.ids]
    assert df.shape == (n * m, 2 + len(res.ids))
    np.testing.assert_array_equal(df["member"], np.repeat(np.arange(n), m))
    np.testing.assert_array_equal(df["time"], np.tile(TS, n))
    for name in res.ids:
        np.testing.assert_array_equal(df[name].to_numpy().reshape(n, m), res[name])
    np.testing.assert_array_equal(df["k"], np.repeat(ks, m))
    np.testing.assert_allclose(
        df["A"], (1.5 * np.exp(-np.outer(ks, TS))).ravel(), rtol=ANALYTIC_RTOL
    )


def test_ssa_ensemble(decay):
    n = 6
    res = wc.simulate(decay, TS, method="ssa", n=n, seed=3)
    df = res.to_dataframe()
    m = len(TS)
    assert list(df.columns) == ["member", "time", *res.ids]
    assert df.shape == (n * m, 2 + len(res.ids))
    np.testing.assert_array_equal(df["member"], np.repeat(np.arange(n), m))
    np.testing.assert_array_equal(df["time"], np.tile(TS, n))
    for name in res.ids:
        np.testing.assert_array_equal(df[name].to_numpy().reshape(n, m), res[name])
    # 3 molecules of A in a compartment of size 2: whole molecules, conserved, none made
    amounts_a, amounts_b = 2.0 * df["A"].to_numpy(), 2.0 * df["B"].to_numpy()
    np.testing.assert_array_equal(amounts_a, np.round(amounts_a))
    np.testing.assert_array_equal(amounts_a + amounts_b, np.full(n * m, 3.0))
    first = df[df["time"] == 0.0]
    np.testing.assert_array_equal(first["A"], np.full(n, 1.5))
    # each trajectory only ever loses A
    for _, member in df.groupby("member"):
        assert np.all(np.diff(member["A"].to_numpy()) <= 0)


def test_selected_ids_in_order(decay):
    res = wc.simulate(decay, TS, params={"k": [0.2, 0.5]}, rtol=1e-10, atol=1e-12)
    df = res.to_dataframe(["B", "A"])
    assert list(df.columns) == ["member", "time", "B", "A"]
    np.testing.assert_array_equal(df["B"].to_numpy().reshape(2, len(TS)), res["B"])
