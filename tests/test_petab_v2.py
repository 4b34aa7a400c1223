"""PEtab v2 problems: a v1 problem written in v2 by hand gives the same log-likelihood and
gradient; v2 forms of the bundled problems (from the petab library's converter) translate
into the v1 tables; v2 constructs without a v1 form are refused by name."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import wholecell as wc
from wholecell.petab._parameters import read_parameters
from wholecell.petab._tables import read_tables
from wholecell.petab._v2 import PREEQ_PREFIX

DATA = Path(__file__).parent / "data"
V1 = DATA / "petab" / "Rahman_MBS2016"
V2 = DATA / "petab" / "Rahman_MBS2016_v2"
#: the same simulations, so the values agree to rounding (measured: equal)
LLH_RTOL = 1e-8
#: v1 estimates on log10, v2 on the linear scale: the gradients are compared through the
#: chain rule. Forward sensitivities through the same steps; measured 1.6e-8 relative on
#: the smallest entry, 2e-11 of the largest
GRAD_RTOL = 1e-6


def test_v2_form_gives_the_v1_likelihood_and_gradient():
    # "auto" picks tsit5 for both; naming it skips the check that compiles the objective
    v1 = wc.petab.load(V1, lint=False, solver="tsit5")
    v2 = wc.petab.load(V2, solver="tsit5")  # linted by the petab library's v2 linter
    assert v1.parameter_ids == v2.parameter_ids
    assert set(v1.scales) == {"log10"} and set(v2.scales) == {"lin"}
    linear = 10.0 ** np.asarray(v1.nominal)
    np.testing.assert_allclose(v2.nominal, linear, rtol=1e-14)
    f1, g1 = v1.value_and_grad(v1.nominal)
    f2, g2 = v2.value_and_grad(v2.nominal)
    assert math.isfinite(float(f1))
    np.testing.assert_allclose(float(f2), float(f1), rtol=LLH_RTOL)
    # d/d log10(x) = d/dx * x * ln 10
    np.testing.assert_allclose(np.asarray(g2) * linear * math.log(10.0), np.asarray(g1),
                               rtol=GRAD_RTOL)
    sims = v2.simulate()
    assert (sims["experimentId"] == "model1_data1").all()
    np.testing.assert_allclose(sims["simulation"], v1.simulate()["simulation"], rtol=1e-12)


def _effective(tables, row: int) -> tuple[dict, dict]:
    """(pre-equilibration, simulation) changes a measurement row's simulation gets."""
    conds = tables.conditions.set_index("conditionId")
    meas = tables.measurements.iloc[row]

    def changes(cid):
        if not cid:
            return {}
        return {k: float(v) if _is_number(v) else v
                for k, v in conds.loc[cid].items() if v != "" and k != "conditionName"}

    pre = meas.get("preequilibrationConditionId", "")
    return changes(pre), changes(meas["simulationConditionId"])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", ["Brannmark_JBC2010", "Fujita_SciSignal2010",
                                  "Boehm_JProteomeRes2014"])
def test_library_converted_problems_translate_to_the_v1_tables(tmp_path, name):
    """Brannmark has pre-equilibration, Fujita 6 conditions, Boehm none (empty
    experimentId)."""
    pytest.importorskip("petab.v2")
    import warnings

    from petab.v2.petab1to2 import petab1to2

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        petab1to2(DATA / "petab" / name / f"{name}.yaml", tmp_path)
    v1, v2 = read_tables(DATA / "petab" / name), read_tables(tmp_path / f"{name}.yaml")
    assert v2.version == 2 and len(v1.measurements) == len(v2.measurements)
    for i in range(len(v1.measurements)):
        assert _effective(v2, i) == _effective(v1, i), i
    for col in ("measurement", "time"):
        np.testing.assert_array_equal(v1.measurements[col].astype(float),
                                      v2.measurements[col].astype(float))
    for col in ("observableParameters", "noiseParameters"):
        assert list(v1.measurements[col]) == list(v2.measurements[col])
    obs1 = v1.observables.set_index("observableId")
    obs2 = v2.observables.set_index("observableId")
    for oid, row in obs1.iterrows():
        assert obs2.loc[oid, "observableFormula"] == row["observableFormula"]
        assert obs2.loc[oid, "noiseFormula"] == row["noiseFormula"]
        assert (obs2.loc[oid, "observableTransformation"], obs2.loc[oid, "noiseDistribution"]) \
            == (row["observableTransformation"] or "lin", row["noiseDistribution"] or "normal")
    p1, p2 = read_parameters(v1.parameters), read_parameters(v2.parameters, truncate=True)
    assert p1.ids == p2.ids and set(p2.scales) == {"lin"}
    np.testing.assert_allclose(p2.nominal, p1.nominal, rtol=1e-15)
    np.testing.assert_array_equal(p2.estimated, p1.estimated)


def _copy_v2(tmp_path: Path) -> Path:
    dst = tmp_path / "Rahman_MBS2016_v2"
    shutil.copytree(V2, dst)
    yaml = dst / "Rahman_MBS2016_v2.yaml"
    yaml.write_text(yaml.read_text().replace("../Rahman_MBS2016/", str(V1) + "/"))
    return dst


def _edit(folder: Path, table: str, change) -> None:
    path = folder / f"{table}.tsv"
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    change(df).to_csv(path, sep="\t", index=False)


def test_v2_constructs_become_their_v1_forms(tmp_path):
    d = _copy_v2(tmp_path)
    (d / "mapping.tsv").write_text("petabEntityId\tmodelEntityId\nrecruitment\trecruitment_rate\n")
    with open(d / "Rahman_MBS2016_v2.yaml", "a") as f:
        f.write("mapping_files:\n  - mapping.tsv\n")
    (d / "experiments.tsv").write_text(
        "experimentId\ttime\tconditionId\nmodel1_data1\t-inf\tpre\nmodel1_data1\t0\t"
        "simCondition\n")
    (d / "conditions.tsv").write_text(
        "conditionId\ttargetId\ttargetValue\npre\trecruitment\t0\npre\tsusceptible\t1\n"
        "pre\tinfected_weak\t2\nsimCondition\tinfected_normal\t16300\n"
        "simCondition\tinfected_weak\t3\n")
    _edit(d, "observables", lambda df: df.assign(
        observableFormula="scale * prevalence", observablePlaceholders="scale",
        noiseFormula="sigma_prevalence * observable_prevalence",
        noiseDistribution="log-normal"))
    _edit(d, "measurements", lambda df: df.assign(observableParameters="2"))

    def prior(df):
        df["priorDistribution"] = ["normal"] + [""] * (len(df) - 1)
        df["priorParameters"] = ["400;100"] + [""] * (len(df) - 1)
        return df

    _edit(d, "parameters", prior)
    t = read_tables(d)
    pre = PREEQ_PREFIX + "pre"
    assert set(t.measurements["preequilibrationConditionId"]) == {pre}
    conds = t.conditions.set_index("conditionId")
    # species restart only where the simulation sets them; parameters keep the
    # pre-equilibration's value (v2 changes persist)
    assert conds.loc[pre].to_dict() == {"recruitment_rate": "0", "susceptible": "1",
                                        "infected_weak": "2", "infected_normal": ""}
    assert conds.loc["model1_data1"].to_dict() == {
        "recruitment_rate": "0", "susceptible": "", "infected_weak": "3",
        "infected_normal": "16300"}
    obs = t.observables.iloc[0]
    assert obs["observableFormula"] == "observableParameter1_observable_prevalence * prevalence"
    assert obs["noiseFormula"] == ("noiseParameter1_observable_prevalence * "
                                   "(observableParameter1_observable_prevalence * prevalence)")
    assert (obs["observableTransformation"], obs["noiseDistribution"]) == ("log", "normal")
    # the normal prior is truncated to the bounds [0.1, 1000]: divided by its mass there
    table = read_parameters(t.parameters, truncate=True)
    (pr,) = table.priors
    mass = 0.5 * (math.erf((1000 - 400) / (100 * math.sqrt(2)))
                  - math.erf((0.1 - 400) / (100 * math.sqrt(2))))
    assert pr.log_mass == pytest.approx(math.log(mass), rel=1e-12)
    theta = table.nominal[table.estimated_index]  # linear: v2 has no parameter scales
    x = 427.47
    expected = 0.5 * math.log(2 * math.pi * 100**2) + 0.5 * ((x - 400) / 100) ** 2 + math.log(mass)
    assert float(table.prior_nll(theta)) == pytest.approx(expected, rel=1e-12)


def _two_periods(d):
    (d / "experiments.tsv").write_text(
        "experimentId\ttime\tconditionId\nmodel1_data1\t0\tsimCondition\nmodel1_data1\t5\t"
        "simCondition\n")


def _start_at_3(d):
    (d / "experiments.tsv").write_text(
        "experimentId\ttime\tconditionId\nmodel1_data1\t3\tsimCondition\n")


def _two_models(d):
    y = d / "Rahman_MBS2016_v2.yaml"
    y.write_text(y.read_text().replace("parameter_files:", f"  other:\n    location: "
                                       f"{V1}/model_Rahman_MBS2016.xml\nparameter_files:"))


def _sciml(d):
    shutil.rmtree(d)
    shutil.copytree(DATA / "petab_sciml" / "sciml_problem_import" / "001" / "petab", d)


@pytest.mark.parametrize(("change", "error", "match"), [
    (_two_periods, wc.petab.UnsupportedPetabError,
     "an experiment of 2 periods: experiment 'model1_data1'"),
    (_start_at_3, wc.petab.UnsupportedPetabError,
     "an experiment starting at time 3: experiment 'model1_data1'"),
    (lambda d: _edit(d, "conditions", lambda df: df.assign(targetValue="2 * mu")),
     wc.petab.UnsupportedPetabError,
     r"condition value '2 \* mu': condition 'simCondition', target 'infected_normal'"),
    (lambda d: _edit(d, "parameters", lambda df: df.assign(priorDistribution="cauchy",
                                                           priorParameters="1;1")),
     wc.petab.UnsupportedPetabError,
     "prior distribution 'cauchy': parameter table, 'infected_normal_transmission"),
    (lambda d: _edit(d, "observables", lambda df: df.assign(noiseDistribution="rayleigh")),
     wc.petab.UnsupportedPetabError,
     "noise distribution 'rayleigh': observable 'observable_prevalence'"),
    (lambda d: _edit(d, "measurements", lambda df: df.assign(experimentId="nope")),
     wc.petab.PetabError, "experiment 'nope', which the experiments table lacks"),
    (_two_models, wc.petab.UnsupportedPetabError, "2 models in one problem"),
    (_sciml, wc.petab.UnsupportedPetabError,
     "PEtab extension 'sciml'.*wc.neural.load_sciml_problem"),
], ids=["periods", "start", "expression", "prior", "noise", "experiment", "models",
        "sciml"])
def test_v2_constructs_without_a_v1_form_are_refused_by_name(tmp_path, change, error, match):
    d = _copy_v2(tmp_path)
    change(d)
    with pytest.raises(error, match=match):
        wc.petab.load(d, lint=False)


def test_a_malformed_v2_problem_gets_the_v2_linters_message(tmp_path):
    pytest.importorskip("petab.v2")
    d = _copy_v2(tmp_path)
    _edit(d, "parameters", lambda df: df.assign(lowerBound="2000"))
    with pytest.raises(wc.petab.PetabError, match="petab library finds"):
        wc.petab.load(d)
