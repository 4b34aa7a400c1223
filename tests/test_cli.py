"""The command lines on small inputs: ``wholecell simulate`` / ``wholecell models``,
``python -m wholecell.petab`` and ``python -m wholecell.testsuite``, each checked against a
reference (analytic, libRoadRunner, AMICI, the SBML Test Suite)."""

import csv
import io
import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, DECAY, ROOT

import wholecell as wc
from wholecell._cli import _write_csv
from wholecell._cli import main as wholecell_main
from wholecell.petab.__main__ import main as petab_main
from wholecell.petab.__main__ import simulated_data_difference
from wholecell.testsuite.__main__ import main as suite_main

#: tolerance on analytic solutions when solving with rtol=1e-10 (as in test_simulate)
ANALYTIC_RTOL = 1e-7
#: AMICI's published log-likelihood of Boehm_JProteomeRes2014 at its nominal parameters,
#: and the agreement asked (as in tests/test_petab.py and python -m wholecell.petab)
BOEHM_LLH, LLH_TOL = -138.22199693517703, 1e-3
#: largest relative difference allowed to the collection's simulatedData (test_petab asks
#: rtol 1e-4 of the same simulations)
SIMDATA_RTOL = 1e-4


@pytest.fixture(scope="module")
def decay_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sbml") / "decay.xml"
    path.write_text(DECAY)
    return path


def test_simulate_a_file_with_a_parameter(decay_file, tmp_path, capsys):
    out = tmp_path / "decay.csv"
    code = wholecell_main([
        "simulate", str(decay_file), "--t-end", "2", "--points", "5", "--rtol", "1e-10",
        "--atol", "1e-12", "--param", "k=0.5", "-o", str(out),
    ])
    assert code == 0
    assert "wrote" in capsys.readouterr().err
    df = pd.read_csv(out)
    t = np.linspace(0.0, 2.0, 5)
    np.testing.assert_array_equal(df["time"], t)
    # A -> B at k A, k = 0.5 from --param, A(0) = 3 in a compartment of size 2
    np.testing.assert_allclose(df["A"], 1.5 * np.exp(-0.5 * t), rtol=ANALYTIC_RTOL)
    np.testing.assert_allclose(df["A"] + df["B"], np.full(5, 1.5), rtol=ANALYTIC_RTOL)
    np.testing.assert_array_equal(df["k"], np.full(5, 0.5))


def test_simulate_a_library_model_by_name(tmp_path):
    """``wholecell simulate repressilator``: the model's default time span (0-1000, 101
    points), against libRoadRunner with the criterion of tests/test_biomodels.py."""
    out, png = tmp_path / "rep.csv", tmp_path / "rep.png"
    code = wholecell_main(["simulate", "repressilator", "--rtol", "1e-8", "--atol", "1e-12",
                           "-o", str(out), "--plot", str(png), "--quiet"])
    assert code == 0
    assert png.stat().st_size > 0
    df = pd.read_csv(out)
    ref = np.genfromtxt(DATA / "biomodels" / "BIOMD0000000012.csv", delimiter=",",
                        names=True)
    np.testing.assert_array_equal(df["time"], ref["time"])
    ids = [n for n in ref.dtype.names if n != "time"]
    scale = max(np.max(np.abs(ref[sid])) for sid in ids)
    for sid in ids:  # no hasOnlySubstanceUnits species: the columns are concentrations
        expected = ref[sid]
        tol = (1e-4 * np.abs(expected) + 1e-6 * np.max(np.abs(expected))
               + np.finfo(np.float64).eps * scale + 1e-14)
        assert np.all(np.abs(df[sid] - expected) <= tol), sid


def test_simulate_points_and_start_override_the_model_defaults(tmp_path):
    out = tmp_path / "g.csv"
    code = wholecell_main(["simulate", "growing_cell", "--t-start", "30", "--points", "4",
                           "--rtol", "1e-10", "--atol", "1e-10", "-o", str(out), "--quiet"])
    assert code == 0
    df = pd.read_csv(out)
    t = np.linspace(30.0, 60.0, 4)  # the model's t_end = 60 kept
    np.testing.assert_array_equal(df["time"], t)
    # the initial state is at --t-start; the membrane doubles every 60 minutes from there
    np.testing.assert_allclose(df["SA"], 2.0 ** ((t - 30.0) / 60.0), rtol=ANALYTIC_RTOL)


@pytest.mark.parametrize("argv, problem", [
    (["simulate", "no_such_model"], "'no_such_model' is not a file; no model named "
                                    "'no_such_model' in the library; the models are: "),
    (["simulate", "missing/model.xml", "--t-end", "1"], "no such file: missing/model.xml"),
    (["simulate", "repressilator", "--points", "1"], "--points must be at least 2"),
    (["simulate", "repressilator", "--param", "alpha"], "--param expects ID=VALUE"),
    (["simulate", "repressilator", "--method", "foo"], "unknown method 'foo'"),
])
def test_simulate_errors(argv, problem, capsys):
    assert wholecell_main(argv) == 1
    err = capsys.readouterr().err
    assert f"wholecell: error: {problem}" in err


def test_a_file_needs_an_end_time(decay_file, capsys):
    assert wholecell_main(["simulate", str(decay_file)]) == 1
    assert "--t-end is required for an SBML file" in capsys.readouterr().err


def test_models_lists_the_library_and_prints_a_card(capsys):
    assert wholecell_main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == wc.models.list()
    assert wholecell_main(["models", "BIOMD0000000012"]) == 0
    assert capsys.readouterr().out == wc.models.info("repressilator").card


@pytest.mark.parametrize("batch", [(), (2,)])
def test_the_csv_is_the_tables_csv(batch):
    """The command writes its CSV without pandas; the reference is pandas' own
    ``to_dataframe().to_csv(index=False)`` of the same result, byte for byte, on values
    that format differently (NaN, infinities, -0, the smallest and largest doubles)."""
    special = [np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7976931348623157e308, 1e-5,
               0.1, 123456789.0, 1.0 / 3.0]
    values = np.array(special * 3 * int(np.prod(batch, dtype=int)))
    values = values.reshape(*batch, 3, len(special))  # (members, times, ids)
    res = wc.Result(np.array([0.0, 0.5, 2e-7]), [f"s{i}" for i in range(values.shape[-1])],
                    values, {}, {})
    out = io.StringIO()
    _write_csv(res, out)
    assert out.getvalue() == res.to_dataframe().to_csv(index=False)


def test_the_command_runs_as_a_program(decay_file):
    """The entry point as a process: CSV on stdout, exit status 0; 1 with the error."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    ok = subprocess.run(
        [sys.executable, "-m", "wholecell._cli", "simulate", str(decay_file), "--t-end", "1",
         "--points", "3", "--rtol", "1e-10", "--atol", "1e-12", "--quiet"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert ok.returncode == 0, ok.stderr
    rows = list(csv.DictReader(ok.stdout.splitlines()))
    assert [float(r["time"]) for r in rows] == [0.0, 0.5, 1.0]
    a = np.array([float(r["A"]) for r in rows])
    np.testing.assert_allclose(a, 1.5 * np.exp(-0.7 * np.array([0.0, 0.5, 1.0])),
                               rtol=ANALYTIC_RTOL)
    bad = subprocess.run([sys.executable, "-m", "wholecell._cli", "simulate", "nope"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert bad.returncode == 1
    assert "no model named 'nope'" in bad.stderr


def test_petab_command_on_boehm(tmp_path, capsys):
    out = tmp_path / "petab.csv"
    code = petab_main([str(DATA / "petab"), "--problems", "Boehm_JProteomeRes2014",
                       "--timeout", "600", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "1 match their reference, 0 do not" in printed
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [r["problem"] for r in rows] == ["Boehm_JProteomeRes2014"]
    row = rows[0]
    assert row["status"] == "pass"
    assert abs(float(row["llh"]) - BOEHM_LLH) <= LLH_TOL
    assert float(row["reference"]) == BOEHM_LLH
    assert float(row["simdata_rel"]) <= SIMDATA_RTOL



def _simulated_rows():
    return pd.DataFrame({
        "observableId": ["obs_a", "obs_a", "obs_b", "obs_b"],
        "simulationConditionId": ["c1", "c2", "c1", "c1"],
        "time": [1.0, 1.0, 0.0, 2.0],
        "noiseParameters": ["", "", "sd_b", "sd_b"],
        "simulation": [10.0, 20.0, 3.0, 4.0],
    })


def test_simulated_data_rows_are_matched_by_their_keys():
    """A collection file's rows in another order, its observables named as AMICI's
    importer flattens them and its empty cells as NaN are matched with ours by their keys,
    and without the parameter columns where it writes values for them (if the other keys
    pick one row each); rows whose conditions it names otherwise, or a file that holds the
    measurements, give no figure."""
    ours = _simulated_rows()
    ref = ours.iloc[[3, 1, 0, 2]].reset_index(drop=True)
    ref["observableId"] = [f"{o}__{n}__{n}__{c}" for o, n, c in zip(
        ref["observableId"], ref["noiseParameters"], ref["simulationConditionId"],
        strict=True)]
    ref["noiseParameters"] = ref["noiseParameters"].replace("", np.nan)
    ref["time"] = ref["time"].astype(int)
    ref.loc[ref["simulation"] == 20.0, "simulation"] = 20.0 * (1 + 3e-7)
    assert simulated_data_difference(ours, ref) == pytest.approx(3e-7, rel=1e-6)
    valued = ref.assign(noiseParameters=ref["noiseParameters"].replace("sd_b", "0.5"))
    assert simulated_data_difference(ours, valued) == pytest.approx(3e-7, rel=1e-6)
    twice = pd.concat([ours, ours.assign(noiseParameters="sd_c")], ignore_index=True)
    assert simulated_data_difference(twice, twice.assign(noiseParameters="0.5")) is None
    renamed = ours.assign(simulationConditionId=["d1", "d2", "d1", "d1"])
    assert simulated_data_difference(ours, renamed) is None
    measured = ours.assign(measurement=[11.0, 19.0, 3.5, 4.5])
    data = measured.assign(simulation=measured["measurement"] * (1 + 4e-16),
                           noiseParameters="0.5")
    assert simulated_data_difference(measured, data) is None
    assert simulated_data_difference(ours, ours.iloc[:3]) is None

def test_testsuite_command_on_three_cases(tmp_path, capsys):
    out = tmp_path / "suite.csv"
    code = suite_main([str(DATA / "semantic"), "--cases", "29,30,97", "--no-progress",
                           "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "3 passed, 0 failed, 0 unsupported" in printed
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [(r["case"], r["status"]) for r in rows] == [
        ("00029", "pass"), ("00030", "pass"), ("00097", "pass")]


def test_testsuite_command_reports_a_wrong_expected_result(tmp_path, capsys):
    """A copy of case 00029 whose expected S1 is 1% off (tolerance 1e-4 relative) fails."""
    case = tmp_path / "cases" / "00029"
    shutil.copytree(DATA / "semantic" / "00029", case)
    results = case / "00029-results.csv"
    df = pd.read_csv(results)
    df["S1"] *= 1.01
    df.to_csv(results, index=False)
    code = suite_main([str(tmp_path / "cases"), "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "00029 fail" in printed
    assert "0 passed, 1 failed, 0 unsupported" in printed


def test_biomodels_command_against_roadrunner(tmp_path, capsys):
    """``--biomodels DIR``: a curated model of the repository against libRoadRunner at
    rtol 1e-8 / atol 1e-12 over 0-10, in a child process: a match, in the table and in
    its JSON rows."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(DATA / "biomodels_curated" / "BIOMD0000000228.xml", folder)
    out = tmp_path / "curated.md"
    code = suite_main(["--biomodels", str(folder), "--no-progress", "--out", str(out),
                       "--t-end", "10"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "| 1 | 0 | 0 | 0 | 0 | 0 | 1 |" in printed
    import json

    (row,) = json.loads(out.with_suffix(".json").read_text())
    assert row["status"] == "match" and row["excess"] <= 1.0 and row["atol"] == 1e-12


def test_biomodels_table_names_references_below_atol():
    """A mismatch whose reference stays below atol is said to be one; counts per class."""
    from wholecell.testsuite._biomodels import table

    rows = [
        {"model": "m1", "status": "match"},
        {"model": "m2", "status": "mismatch", "worst_id": "Casp3", "time": 23.0,
         "ours": 6.4e-12, "roadrunner": 5.2e-19, "excess": 1.7e8, "tight_ours": 5.178e-19,
         "tight_roadrunner": 5.178e-19, "tight_vs_tight": 1e4, "ours_vs_tight_rr": 1.7e8,
         "rr_vs_tight_ours": 1.2e4, "roadrunner_peak": 3.7e-14, "atol": 1e-12},
        {"model": "m3", "status": "roadrunner", "detail": "CV_ILL_INPUT"},
    ]
    text = table(rows)
    assert "| 1 | 1 | 0 | 0 | 0 | 1 | 3 |" in text
    assert "stays below atol 1e-12 over the whole run (at most 3.7e-14)" in text
    assert "| m3 | roadrunner | CV_ILL_INPUT |" in text
