"""PEtab problems against published values: AMICI's log-likelihoods at the nominal
parameters and the collection's own simulated data (tests/data/petab, see SOURCES.md)."""

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

import wholecell as wc

DATA = Path(__file__).parent / "data" / "petab"
REFERENCE_LLH = {
    "Boehm_JProteomeRes2014": -138.22199693517703,
    "Fujita_SciSignal2010": 53.08377736998929,
}


@pytest.fixture(scope="module")
def boehm():
    return wc.petab.load(DATA / "Boehm_JProteomeRes2014")


@pytest.mark.parametrize("name", sorted(REFERENCE_LLH))
def test_log_likelihood_at_nominal_matches_amici(name, boehm):
    prob = boehm if name.startswith("Boehm") else wc.petab.load(DATA / name)
    assert abs(-float(prob.objective(prob.nominal)) - REFERENCE_LLH[name]) < 1e-3
    assert abs(prob.log_likelihood() - REFERENCE_LLH[name]) < 1e-3


def test_simulation_matches_collection_simulated_data(boehm):
    ref = pd.read_csv(
        DATA / "Boehm_JProteomeRes2014" / "simulatedData_Boehm_JProteomeRes2014.tsv", sep="\t"
    )
    ours = boehm.simulate()
    key = ["observableId", "simulationConditionId", "time"]
    merged = ours.merge(ref, on=key, suffixes=("", "_ref"))
    assert len(merged) == len(ref) == len(ours)
    np.testing.assert_allclose(merged["simulation"], merged["simulation_ref"], rtol=1e-4, atol=1e-6)


#: reverse mode (checkpointed solves) against forward mode (`jacfwd` through the same
#: solves in a plain loop): the same steps, so only rounding separates them (measured on
#: Boehm at nominal + 0.05: 4e-13 relative, 9e-14 absolute for gradients up to 232).
#: Central differences are no reference at this precision: a step decision that flips
#: between the two perturbed solves moves the objective by about rtol (1e-8) times its
#: size (1.5e2), which over 2 h = 2e-5 is 0.1, and even without a flip the difference
#: quotient follows the step sizes' own dependence on theta (1.5e-5 measured).
GRAD_RTOL = 1e-9


@pytest.mark.slow  # ~140 s of compiling; CI checks reverse against forward mode on
# Fujita (test_least_squares_residuals_jacobian_and_fit: J^T r) and on an events problem
# (test_petab_gradients.py)
def test_reverse_mode_gradient_matches_forward_mode():
    boehm = wc.petab.load(DATA / "Boehm_JProteomeRes2014", sensitivities="adjoint")
    theta = boehm.nominal + 0.05
    value, grad = boehm.value_and_grad(theta)
    assert np.isfinite(float(value))
    fwd = jax.jit(jax.jacfwd(
        lambda th: boehm._forward(th, "lax")[0] + boehm.table.prior_nll(th)))(theta)
    fwd = np.asarray(fwd)
    np.testing.assert_allclose(np.asarray(grad), fwd, rtol=GRAD_RTOL,
                               atol=GRAD_RTOL * np.abs(fwd).max())
    assert np.allclose(np.asarray(jax.grad(boehm.objective)(theta)), grad)


def test_fit_returns_to_the_optimum_from_a_perturbed_start(boehm):
    rng = np.random.default_rng(1)
    start = np.clip(
        boehm.nominal + rng.normal(scale=0.1, size=boehm.nominal.size),
        boehm.lower_bounds,
        boehm.upper_bounds,
    )
    res = wc.fit(boehm, x0=[start], progress=False)
    assert res.fun <= -REFERENCE_LLH["Boehm_JProteomeRes2014"] + 0.1
    assert np.all(res.x >= boehm.lower_bounds) and np.all(res.x <= boehm.upper_bounds)
    assert res.parameter_ids == boehm.parameter_ids
    assert len(res.fvals) == 1


def test_pypesto_optimises_and_profiles_our_objective(boehm):
    """pyPESTO's L-BFGS-B on `to_pypesto` from the perturbed start of the test above
    reaches AMICI's optimum, and a profile of the first parameter never goes below it."""
    import pypesto.optimize
    import pypesto.profile

    problem = boehm.to_pypesto()
    assert problem.x_names == list(boehm.parameter_ids)
    assert problem.x_scales == list(boehm.scales)
    rng = np.random.default_rng(1)
    start = np.clip(boehm.nominal + rng.normal(scale=0.1, size=boehm.nominal.size),
                    boehm.lower_bounds, boehm.upper_bounds)
    fval, grad = problem.objective(start, sensi_orders=(0, 1))
    ours, our_grad = boehm.value_and_grad(start)
    assert fval == float(ours) and np.array_equal(grad, np.asarray(our_grad))
    problem.x_guesses_full = start[None]
    optimizer = pypesto.optimize.ScipyOptimizer(method="L-BFGS-B")
    result = pypesto.optimize.minimize(problem, optimizer=optimizer, n_starts=1,
                                       progress_bar=False)
    best = result.optimize_result[0]
    assert abs(best.fval + REFERENCE_LLH["Boehm_JProteomeRes2014"]) < 1e-3
    result = pypesto.profile.parameter_profile(
        problem, result, optimizer, profile_index=np.array([0]), progress_bar=False,
        profile_options=pypesto.profile.ProfileOptions(ratio_min=0.1))
    profile = result.profile_result.list[0][0]
    path = profile.x_path[0]
    assert path.min() < best.x[0] < path.max()  # both directions were walked
    assert np.all(profile.fval_path >= best.fval - 1e-6)
    assert profile.ratio_path.min() < 0.1  # down to the likelihood ratio asked for
    with pytest.raises(wc.petab.UnsupportedPetabError, match="least squares"):
        boehm.to_pypesto(residuals=True)  # its noise parameters are estimated


def test_html_of_a_problem_names_its_parameters(boehm):
    html = boehm._repr_html_()
    assert "Boehm_JProteomeRes2014" in html and "<td>k_phos</td><td>log10</td>" in html
    assert "<th style='text-align:left'>measurements</th><td style='text-align:left'>48" in html


def test_a_problem_pickles_with_its_objective(boehm):
    """What a Dask worker running fit starts receives: the problem, whose jitted
    functions are made again on unpickling, with the same objective."""
    import cloudpickle

    copy = cloudpickle.loads(cloudpickle.dumps(boehm))
    assert float(copy.objective(boehm.nominal)) == float(boehm.objective(boehm.nominal))
    assert cloudpickle.loads(cloudpickle.dumps(boehm.hierarchical())).problem.name == \
        boehm.name


@pytest.mark.slow  # ~90 s compiling Boehm's adjoint; CI holds forward sensitivities to the
# adjoint on the events problem (test_petab_gradients.py)
def test_forward_sensitivities_equal_the_adjoint_gradient(boehm):
    """`sensitivities="auto"` picks forward mode for Boehm's 9 parameters; the adjoint
    (reverse mode through checkpointed solves) of the same steps agrees to rounding."""
    assert boehm.sensitivities == "forward"
    adjoint = wc.petab.load(DATA / "Boehm_JProteomeRes2014", sensitivities="adjoint")
    theta = boehm.nominal + 0.05
    value, grad = boehm.value_and_grad(theta)
    value_a, grad_a = adjoint.value_and_grad(theta)
    assert abs(float(value) - float(value_a)) <= 1e-12 * abs(float(value_a))
    np.testing.assert_allclose(np.asarray(grad), np.asarray(grad_a), rtol=GRAD_RTOL,
                               atol=GRAD_RTOL * np.abs(np.asarray(grad_a)).max())


def test_unknown_sensitivities_are_refused():
    with pytest.raises(wc.petab.PetabError, match="sensitivities must be one of"):
        wc.petab.load(DATA / "Boehm_JProteomeRes2014", sensitivities="backward")


def test_random_starts_are_reproducible_and_within_bounds():
    lo, hi = np.zeros(3), np.array([1.0, 2.0, 3.0])
    f = lambda x: ((x - 0.5) ** 2).sum()
    a = wc.fit(f, n_starts=3, bounds=(lo, hi), seed=4, progress=False)
    b = wc.fit(f, n_starts=3, bounds=(lo, hi), seed=4, progress=False)
    np.testing.assert_array_equal(a.x0s, b.x0s)
    assert np.all((a.x0s >= lo) & (a.x0s <= hi))
    np.testing.assert_allclose(a.x, 0.5, atol=1e-6)


def test_fit_rejects_bad_method_and_bounds():
    f = lambda x: (x**2).sum()
    with pytest.raises(wc.WholecellError, match="unknown method"):
        wc.fit(f, method="newton", bounds=([0.0], [1.0]))
    with pytest.raises(wc.WholecellError, match="lower <= upper"):
        wc.fit(f, bounds=([1.0], [0.0]))


def _copy_problem(tmp_path, name="Boehm_JProteomeRes2014"):
    dst = tmp_path / name
    dst.mkdir()
    for f in (DATA / name).iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


_LOAD_AND_SAY = """
import json, sys
import wholecell as wc
wc.compilation_cache(True, sys.argv[1])
try:
    wc.petab.load(sys.argv[2])
    verdict = "loaded"
except wc.petab.PetabError as err:
    verdict = str(err)
print(json.dumps({"verdict": verdict, "imported_petab": "petab" in sys.modules}))
"""


def test_a_clean_lint_verdict_is_kept_for_the_same_files(tmp_path):
    """The petab library's import (about 2 s) is skipped when it passed the very same
    files before; a changed table is linted again, and refused with its message."""
    import json
    import subprocess
    import sys

    d = _copy_problem(tmp_path)
    cache = tmp_path / "cache"

    def load():
        out = subprocess.run([sys.executable, "-c", _LOAD_AND_SAY, str(cache), str(d)],
                             capture_output=True, text=True, timeout=600, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = load()
    assert first == {"verdict": "loaded", "imported_petab": True}
    assert load() == {"verdict": "loaded", "imported_petab": False}
    obs = d / "observables_Boehm_JProteomeRes2014.tsv"
    df = pd.read_csv(obs, sep="\t")
    df["noiseDistribution"] = "cauchy"  # not in the PEtab specification
    df.to_csv(obs, sep="\t", index=False)
    third = load()
    assert third["imported_petab"]
    assert "petab library finds" in third["verdict"] and "cauchy" in third["verdict"]


def _with_a_copied_condition(tmp_path, name, settings):
    """Boehm with a second condition (``settings``: its condition table columns) that
    repeats every measurement of the first."""
    (tmp_path / name).mkdir()
    d = _copy_problem(tmp_path / name)
    cond = d / "experimentalCondition_Boehm_JProteomeRes2014.tsv"
    table = pd.read_csv(cond, sep="\t")
    table = pd.concat([table, pd.DataFrame([{"conditionId": "copy", "conditionName": "copy"}])])
    for column, values in settings.items():
        table[column] = values
    table.to_csv(cond, sep="\t", index=False)
    meas = d / "measurementData_Boehm_JProteomeRes2014.tsv"
    df = pd.read_csv(meas, sep="\t", dtype=str, keep_default_na=False)
    pd.concat([df, df.assign(simulationConditionId="copy")]).to_csv(meas, sep="\t",
                                                                     index=False)
    return wc.petab.load(d, lint=False)


def test_condition_pairs_that_set_the_same_inputs_are_solved_once(tmp_path, boehm):
    """A copy of Boehm's condition that sets nothing differently is solved with it (one
    simulation for two pairs), one that sets a parameter is solved on its own; either
    way every measurement counts twice: the negative log-likelihood doubles."""
    single = float(boehm.objective(boehm.nominal))
    same = _with_a_copied_condition(tmp_path, "same", {})
    apart = _with_a_copied_condition(tmp_path, "apart", {"specC17": [None, 0.107]})
    assert [len(solve) for solve, _ in same._solved] == [1]
    assert [len(solve) for solve, _ in apart._solved] == [2]
    for prob in (same, apart):
        assert float(prob.objective(prob.nominal)) == pytest.approx(2 * single, rel=1e-12)


def test_missing_table_is_a_named_error(tmp_path):
    d = _copy_problem(tmp_path)
    (d / "measurementData_Boehm_JProteomeRes2014.tsv").unlink()
    with pytest.raises(wc.petab.PetabError, match="measurementData_Boehm"):
        wc.petab.load(d)


def test_unknown_noise_distribution_is_unsupported(tmp_path):
    d = _copy_problem(tmp_path)
    obs = d / "observables_Boehm_JProteomeRes2014.tsv"
    df = pd.read_csv(obs, sep="\t")
    df["noiseDistribution"] = "cauchy"
    df.to_csv(obs, sep="\t", index=False)
    with pytest.raises(wc.petab.PetabError, match="petab library finds .* cauchy"):
        wc.petab.load(d)  # not in the PEtab specification: the linter's message
    with pytest.raises(wc.petab.UnsupportedPetabError, match="cauchy"):
        wc.petab.load(d, lint=False)


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [("parameters", lambda df: df.assign(lowerBound=df["upperBound"] * 10),
      "lowerBound greater than upperBound for parameterId Epo_degradation_BaF3"),
     ("observables", lambda df: pd.concat([df, df.iloc[:1]]),
      r"Non-unique values found in the observableId column of the observable table: "
      r"\['pSTAT5A_rel'\]")],
    ids=["bounds", "duplicate-observable"],
)
def test_a_malformed_problem_gets_the_petab_librarys_message(tmp_path, table, change,
                                                             message):
    d = _copy_problem(tmp_path)
    path = d / f"{table}_Boehm_JProteomeRes2014.tsv"
    change(pd.read_csv(path, sep="\t")).to_csv(path, sep="\t", index=False)
    with pytest.raises(wc.petab.PetabError, match=message):
        wc.petab.load(d)


def test_hierarchical_objective_computes_scalings_in_closed_form():
    prob = wc.petab.load(DATA / "Fujita_SciSignal2010")
    h = prob.hierarchical()
    assert set(h.analytic_parameter_ids) == {
        "scaling_pAkt_tot", "scaling_pEGFR_tot", "scaling_pS6_tot"
    }
    nominal = float(prob.objective(prob.nominal))
    value = float(h.objective(prob.nominal))
    assert value <= nominal + 1e-9  # the optimal scalings fit at least as well
    full = h.complete(prob.nominal)
    np.testing.assert_allclose(float(prob.objective(full)), value, rtol=1e-10)
    # the scalings' entries of theta are ignored
    k = [prob.parameter_ids.index(i) for i in h.analytic_parameter_ids]
    other = prob.nominal.copy()
    other[k] = prob.lower_bounds[k]
    np.testing.assert_allclose(float(h.objective(other)), value, rtol=1e-12)
    # Boehm's observables have no pure scaling factor
    boehm = wc.petab.load(DATA / "Boehm_JProteomeRes2014")
    assert boehm.hierarchical().analytic_parameter_ids == ()


#: Richardson-extrapolated central differences of the residuals: step and agreement
FD_STEP, FD_RTOL = 1e-2, 1e-4


def test_least_squares_residuals_jacobian_and_fit():
    prob = wc.petab.load(DATA / "Fujita_SciSignal2010")
    assert prob.least_squares_refusal() is None
    h = prob.hierarchical()
    theta = prob.nominal + 0.05
    J, r, value = h.residuals_jacobian(theta)
    assert J.shape == (len(prob.measurements), theta.size) and r.shape == (J.shape[0],)
    # value = half the sum of squares + the noise terms, which are constant here
    assert abs(value - float(h.objective(theta))) < 1e-8 * abs(value)
    r0, v0 = h.residuals(prob.nominal)
    sigma = prob.measurements["noiseParameters"].astype(float).to_numpy()  # fixed noise
    const = 0.5 * np.sum(np.log(2 * np.pi * sigma**2))
    assert abs(v0 - (0.5 * r0 @ r0 + const)) < 1e-8
    # forward-mode sensitivities against reverse mode through checkpointed solves: the
    # objective's gradient is J^T r (the noise terms are constant)
    _, grad = h.value_and_grad(theta)
    grad = np.asarray(grad)
    np.testing.assert_allclose(J.T @ r, grad, rtol=GRAD_RTOL,
                               atol=GRAD_RTOL * np.abs(grad).max())
    # and against Richardson-extrapolated central differences of the residuals (steps
    # FD_STEP and FD_STEP / 2 on the log10 scale): truncation O(FD_STEP^4) ~ 1e-8; a step
    # decision flipping between two perturbed solves moves a residual by about rtol (1e-8)
    # of its scale, 1e-6 of it in the quotient; the step sizes' own dependence on theta
    # adds 1e-6 of the column's largest entry (measured). FD_RTOL is 100 times that.
    def central(i, step):
        e = np.zeros_like(theta)
        e[i] = step
        return (h.residuals(theta + e)[0] - h.residuals(theta - e)[0]) / (2 * step)

    for i in (0, 4, 10):
        fd = (4 * central(i, FD_STEP / 2) - central(i, FD_STEP)) / 3
        np.testing.assert_allclose(J[:, i], fd, rtol=FD_RTOL, atol=FD_RTOL * np.abs(fd).max())
    # Gauss-Newton from a perturbed start back to the published optimum. Measured path:
    # -53.033 after 10 residual evaluations, -53.087 after 20, -53.096 after 40; then a
    # slow creep along a flat valley (-53.19 after the default 1000), so 40 suffice.
    rng = np.random.default_rng(2)
    start = prob.nominal + rng.normal(scale=0.1, size=theta.size)
    res = wc.fit(h, x0=[start], method="least_squares", progress=False, maxiter=40)
    assert res.fun <= -REFERENCE_LLH["Fujita_SciSignal2010"] + 0.1
    assert abs(float(prob.objective(res.x)) - res.fun) < 1e-6 * abs(res.fun)


# A point found by `benchmarks/fit_refine.py --seed 11` (the 18th uniform start): the
# reaction_2 rates sit at their lower bound 1e-8 and the objective is 13.5 below the
# published optimum's. Its value from libroadrunner's CVODE (rtol 1e-12) with the likelihood
# written out apart from wholecell (`benchmarks/fujita_roadrunner.py`).
FUJITA_BELOW_PUBLISHED = [
    -2.8309, -1.8562, 7.5516, 1.7418, -2.2956, -1.9301, -8.0, -8.0, -1.274, -1.3972,
    -4.9336, -3.5503, -3.9102, -1.7711, -3.0278, -1.6222, 2.0136, -7.1126, 3.9301,
]
FUJITA_BELOW_PUBLISHED_ROADRUNNER = -66.5792467701914


def test_objective_below_the_published_optimum_matches_roadrunner():
    prob = wc.petab.load(DATA / "Fujita_SciSignal2010")
    value = float(prob.objective(np.asarray(FUJITA_BELOW_PUBLISHED)))
    assert abs(value - FUJITA_BELOW_PUBLISHED_ROADRUNNER) < 1e-5
    assert value < -REFERENCE_LLH["Fujita_SciSignal2010"] - 13.0


def test_least_squares_is_refused_with_estimated_noise(boehm):
    why = boehm.least_squares_refusal()
    assert why is not None and "estimated parameter" in why
    with pytest.raises(wc.petab.UnsupportedPetabError, match="L-BFGS-B"):
        wc.fit(boehm, x0=[boehm.nominal], method="least_squares", progress=False)
    with pytest.raises(wc.WholecellError, match="residuals"):
        wc.fit(lambda x: (x**2).sum(), bounds=([0.0], [1.0]), method="least_squares")


_MATH = 'xmlns="http://www.w3.org/1998/Math/MathML"'
_DOSE_MODEL = f"""<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1">
<model id="dose"><listOfCompartments><compartment id="c" size="1" constant="true"/>
</listOfCompartments><listOfSpecies><species id="A" compartment="c"
hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/></listOfSpecies>
<listOfParameters><parameter id="k" value="0.5" constant="true"/>
<parameter id="u" constant="true"/></listOfParameters>
<listOfInitialAssignments>
<initialAssignment symbol="A"><math {_MATH}><ci>u</ci></math></initialAssignment>
<initialAssignment symbol="u"><math {_MATH}><cn>10</cn></math></initialAssignment>
</listOfInitialAssignments><listOfReactions><reaction id="deg" reversible="false" fast="false">
<listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/>
</listOfReactants><kineticLaw><math {_MATH}><apply><times/><ci>k</ci><ci>A</ci></apply>
</math></kineticLaw></reaction></listOfReactions></model></sbml>"""


def _dose_problem(folder, conditions: str):
    """A decays at k = 0.5 from A(0) = u, and u = 10 by an initial assignment; the
    conditions set u (Liu 2025's virus dose in the PEtab collection is built so)."""
    folder.mkdir()
    (folder / "model.xml").write_text(_DOSE_MODEL)
    (folder / "parameters.tsv").write_text(
        "parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate\n"
        "k\tlin\t0.01\t10\t0.5\t1\n")
    (folder / "conditions.tsv").write_text(conditions)
    (folder / "observables.tsv").write_text(
        "observableId\tobservableFormula\tnoiseFormula\nobs_A\tA\t1\n")
    conds = [line.split("\t")[0] for line in conditions.splitlines()[1:]]
    rows = [f"obs_A\t{c}\t1.0\t{t}" for c in conds for t in (0.0, 1.0, 3.0)]
    (folder / "measurements.tsv").write_text(
        "observableId\tsimulationConditionId\tmeasurement\ttime\n" + "\n".join(rows) + "\n")
    (folder / "problem.yaml").write_text(
        "format_version: 1\nparameter_file: parameters.tsv\nproblems:\n"
        "- condition_files: [conditions.tsv]\n  measurement_files: [measurements.tsv]\n"
        "  observable_files: [observables.tsv]\n  sbml_files: [model.xml]\n")
    return folder / "problem.yaml"


def test_a_condition_value_replaces_the_parameters_initial_assignment(tmp_path):
    """u = 0 in the control and 2 in the dose condition, not the model's 10: A = u
    exp(-k t) (before, both conditions ran from the assignment's 10, and Liu 2025's
    control condition was the virus one). A condition that leaves u empty beside one
    that sets it is refused by name."""
    yaml = _dose_problem(tmp_path / "set", "conditionId\tu\nctrl\t0\ndose\t2\n")
    df = wc.petab.load(yaml, lint=False).simulate()
    u = df["simulationConditionId"].map({"ctrl": 0.0, "dose": 2.0})
    exact = u * np.exp(-0.5 * df["time"].astype(float))
    np.testing.assert_allclose(df["simulation"], exact, rtol=1e-6, atol=1e-9)
    mixed = _dose_problem(tmp_path / "mixed", "conditionId\tu\nctrl\t0\nmodel\t\n")
    with pytest.raises(wc.petab.UnsupportedPetabError, match="'u'.*'model'"):
        wc.petab.load(mixed, lint=False)
