"""Labelled export and notebook display of results and models: `Result.to_xarray` holds
exactly the arrays `res[id]` gives (the reference), with the quantity of each id; the HTML
tables name what they show."""

import numpy as np
import pytest
from conftest import ROOT

import wholecell as wc

REPRESSILATOR = ROOT / "sbml" / "repressilator_BIOMD0000000012.xml"


@pytest.fixture(scope="module")
def model():
    return wc.load_sbml(str(REPRESSILATOR))


def test_to_xarray_of_a_single_run(model):
    res = wc.simulate(model, t=np.linspace(0.0, 50.0, 6))
    da = res.to_xarray()
    assert da.dims == ("time", "id")
    assert da.attrs["model_id"] == "BIOMD0000000012" == res.model_id
    np.testing.assert_array_equal(da["time"].values, res.time)
    for name in ("PX", "X", "beta", "tau_mRNA", "cell"):
        np.testing.assert_array_equal(da.sel(id=name).values, res[name])
    quantity = dict(zip(da["id"].values, da["quantity"].values, strict=True))
    assert quantity["PX"] == res.quantity("PX") == "amount"  # hasOnlySubstanceUnits
    assert quantity["beta"] == quantity["tau_mRNA"] == "value"
    assert str(da.sel(id="PX")["compartment"].values) == "cell"


def test_to_xarray_of_an_ensemble_has_one_member_per_parameter_set(model):
    tau = np.linspace(1.5, 2.5, 4)
    res = wc.simulate(model, t=np.linspace(0.0, 20.0, 5), params={"tau_mRNA": tau})
    da = res.to_xarray(["PX", "tau_mRNA"])
    assert da.dims == ("member", "time", "id")
    assert da.shape == (4, 5, 2)
    np.testing.assert_array_equal(da.sel(id="PX").values, res["PX"])
    np.testing.assert_array_equal(da.sel(id="tau_mRNA").values[:, 0], tau)


def test_html_tables_name_what_they_show(model):
    html = model._repr_html_()
    assert "BIOMD0000000012" in html and "species" in html and "6: PX, PY, PZ, X, Y, Z" in html
    res = wc.simulate(model, t=np.linspace(0.0, 10.0, 3), params={"tau_mRNA": [2.0, 2.5]})
    html = res._repr_html_()
    assert "members" in html and "failed members" in html and "mean at t=10" in html
    assert html.count("<tr>") >= 7  # a row per species shown, and the header
    assert "<script" not in wc.Result(np.zeros(1), ["<script>"], np.zeros((1, 1)), {},
                                      {})._repr_html_()


def test_html_of_a_fit_and_a_lineage():
    fit = wc.fit(lambda x: ((x - 0.25) ** 2).sum(), n_starts=3,
                 bounds=([0.0, 0.0], [1.0, 1.0]), seed=0, progress=False)
    html = fit._repr_html_()
    assert "FitResult" in html and "3 (3 within 0.1 of the best)" in html
    assert "<td>x0</td><td>0.25</td>" in html and "L-BFGS-B" in html
    lin = wc.division.Lineage(
        time=[0.0, 1.0, 2.0], ids=["X"], parent=[-1, 0, 0], generation=[0, 1, 1],
        birth=[0.0, 1.0, 1.0], division=[1.0, np.nan, np.nan],
        traces=np.zeros((3, 3, 1)), birth_values=np.zeros((3, 1)),
        division_values=np.zeros((3, 1)))
    ds = lin.to_xarray()
    assert ds["traces"].dims == ("cell", "time", "id") and ds["traces"].shape == (3, 3, 1)
    np.testing.assert_array_equal(ds["parent"].values, lin.parent)
    np.testing.assert_array_equal(ds["division"].values, lin.division)
    np.testing.assert_array_equal(ds["at_birth"].sel(id="X").values, lin.at_birth("X"))
    html = lin._repr_html_()
    assert "Lineage" in html and "cycle time" in html and "median 1 (1 to 1)" in html
    assert "<tr><td>1</td><td>2</td><td>0</td></tr>" in html  # generation 1: 2 cells
