"""Reverse-mode gradients of PEtab objectives against forward mode and against the limit
of central differences, on two small problems built here: one with events (a time- and a
state-triggered one, whose times depend on estimated parameters) and one with
pre-equilibration.

Forward mode (the problem with `sensitivities="forward"`: `jax.jacfwd` through the plain
loop) and reverse mode (`sensitivities="adjoint"`, checkpointed) both
differentiate the computed solution, so they agree to rounding (1e-6 relative is far
above it). The limit of central differences (Richardson extrapolation of two steps) is
the derivative of the computed objective too; it also checks that nothing that changes
the value (the step sizes chosen from the error estimates) is held constant. On the
events problem the extrapolation (h = 1e-3, 1e-4) matched the gradient to 1.3e-8
relative (rtol 1e-5), far within the 1e-5 asked; with the step sizes held constant (the
earlier gradient) it differed by up to 2.1e-4 (k_y) and 5.4e-5 (k_out), which fails.
"""

from __future__ import annotations

import textwrap

import jax.numpy as jnp
import numpy as np
import pytest

import wholecell as wc


def _sbml(events: bool) -> str:
    species = "".join(
        f'<species id="{s}" compartment="c" initialConcentration="{v}" '
        f'hasOnlySubstanceUnits="false" boundaryCondition="false" constant="false"/>'
        for s, v in (("X", 0.0), ("Y", 0.0))
    )
    params = "".join(
        f'<parameter id="{p}" value="{v}" constant="{"false" if p == "u" else "true"}"/>'
        for p, v in (("k_in", 1.0), ("k_out", 0.5), ("k_xy", 0.3), ("k_y", 0.2),
                     ("u", 1.0), ("t_on", 2.0), ("x_th", 1.5))
    )

    def law(body):
        return f'<kineticLaw><math xmlns="http://www.w3.org/1998/Math/MathML">{body}</math></kineticLaw>'

    def ref(kind, s):
        return (f'<listOf{kind}><speciesReference species="{s}" stoichiometry="1" '
                f'constant="true"/></listOf{kind}>' if s else "")

    def reaction(rid, r, p, body):
        return (f'<reaction id="{rid}" reversible="false" fast="false">'
                f'{ref("Reactants", r)}{ref("Products", p)}{law(body)}</reaction>')

    times = "<apply><times/>{}</apply>"
    reactions = "".join([
        reaction("prod", None, "X", times.format("<ci>k_in</ci><ci>u</ci>")),
        reaction("deg", "X", None, times.format("<ci>k_out</ci><ci>X</ci>")),
        reaction("conv", "X", "Y", times.format("<ci>k_xy</ci><ci>X</ci>")),
        reaction("degy", "Y", None, times.format("<ci>k_y</ci><ci>Y</ci>")),
    ])
    ev = ""
    if events:
        def event(eid, trig, var, body):
            m = 'xmlns="http://www.w3.org/1998/Math/MathML"'
            return (f'<event id="{eid}" useValuesFromTriggerTime="true">'
                    f'<trigger initialValue="false" persistent="true"><math {m}>{trig}</math>'
                    f'</trigger><listOfEventAssignments>'
                    f'<eventAssignment variable="{var}"><math {m}>{body}</math></eventAssignment>'
                    f'</listOfEventAssignments></event>')

        ev = "<listOfEvents>" + event(
            "switch_on", "<apply><geq/><csymbol encoding='text' "
            "definitionURL='http://www.sbml.org/sbml/symbols/time'>time</csymbol><ci>t_on</ci></apply>",
            "u", "<cn>3</cn>",
        ) + event(
            "halve", "<apply><gt/><ci>X</ci><ci>x_th</ci></apply>", "X",
            "<apply><divide/><ci>X</ci><cn>2</cn></apply>",
        ) + "</listOfEvents>"
    return textwrap.dedent(f"""\
        <?xml version="1.0" encoding="UTF-8"?>
        <sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1">
        <model id="small"><listOfCompartments><compartment id="c" size="1" constant="true"/>
        </listOfCompartments><listOfSpecies>{species}</listOfSpecies>
        <listOfParameters>{params}</listOfParameters><listOfReactions>{reactions}</listOfReactions>
        {ev}</model></sbml>
        """)


def _write_problem(folder, *, events: bool):
    """A PEtab problem over the model of `_sbml`: X and Y observed (X with an estimated
    scaling and noise), measured at six times in two conditions; with pre-equilibration
    (u = 0.2 before the conditions' own u) unless ``events``."""
    folder.mkdir()
    (folder / "model.xml").write_text(_sbml(events))
    est = ["k_in", "k_out", "k_xy", "k_y", "scale_X", "sigma_X"]
    nominal = {"k_in": 1.0, "k_out": 0.5, "k_xy": 0.3, "k_y": 0.2, "scale_X": 2.0,
               "sigma_X": 0.3, "t_on": 2.0, "x_th": 1.5}
    if events:
        est += ["t_on", "x_th"]
    rows = ["parameterId\tparameterScale\tlowerBound\tupperBound\tnominalValue\testimate"]
    for p, v in nominal.items():
        rows.append(f"{p}\tlog10\t0.001\t1000\t{v}\t{int(p in est)}")
    (folder / "parameters.tsv").write_text("\n".join(rows) + "\n")
    (folder / "conditions.tsv").write_text("conditionId\tu\nlow\t0.5\nhigh\t2\npre\t0.2\n")
    (folder / "observables.tsv").write_text(
        "observableId\tobservableFormula\tnoiseFormula\tobservableTransformation\t"
        "noiseDistribution\n"
        "obs_X\tscale_X * X\tsigma_X\tlin\tnormal\n"
        "obs_Y\tY\t0.1\tlog\tlaplace\n"
    )
    rng = np.random.default_rng(0)
    pre = "" if events else "pre"
    meas = ["observableId\tpreequilibrationConditionId\tsimulationConditionId\tmeasurement\ttime"]
    for cond in ("low", "high"):
        for t in (0.5, 1.0, 2.5, 4.0, 6.0, 9.0):
            meas.append(f"obs_X\t{pre}\t{cond}\t{rng.uniform(0.5, 3.0):.6f}\t{t}")
            meas.append(f"obs_Y\t{pre}\t{cond}\t{rng.uniform(0.2, 2.0):.6f}\t{t}")
    (folder / "measurements.tsv").write_text("\n".join(meas) + "\n")
    (folder / "problem.yaml").write_text(textwrap.dedent("""\
        format_version: 1
        parameter_file: parameters.tsv
        problems:
        - condition_files: [conditions.tsv]
          measurement_files: [measurements.tsv]
          observable_files: [observables.tsv]
          sbml_files: [model.xml]
        """))
    return folder


def _central_limit(prob, theta, h=1e-3):
    """Richardson's extrapolation of central differences at steps h and h / 10."""
    def value(x):  # the compiled value-and-gradient: one compilation less
        return float(prob.value_and_grad(jnp.asarray(x))[0])

    out = np.empty_like(theta)
    for i in range(theta.size):
        d = []
        for step in (h, h / 10):
            e = np.zeros_like(theta)
            e[i] = step
            d.append((value(theta + e) - value(theta - e)) / (2 * step))
        out[i] = (100 * d[1] - d[0]) / 99
    return out


# Each case spends about a minute compiling the reverse and the forward-mode programs;
# the pre-equilibration case runs with `pytest -m slow` to keep the default run short.
@pytest.mark.parametrize(
    "events, solver",
    [(True, "tsit5"), pytest.param(False, "rodas5", marks=pytest.mark.slow)],
    ids=["events-tsit5", "preequilibration-rodas5"],
)
def test_reverse_mode_is_the_derivative_of_the_computed_objective(tmp_path, events, solver):
    folder = _write_problem(tmp_path / "p", events=events)
    prob = wc.petab.load(folder, solver=solver, rtol=1e-5, atol=1e-8,
                         sensitivities="adjoint")
    if not events:
        assert len(prob._pre_cond) == 1
    theta = prob.nominal + 0.03
    value, grad = prob.value_and_grad(theta)
    grad = np.asarray(grad)
    assert np.isfinite(float(value)) and np.all(grad != 0)
    # forward mode: the problem's forward sensitivities (jax.jacfwd through the same,
    # uncheckpointed, solves)
    forward = wc.petab.load(folder, solver=solver, rtol=1e-5, atol=1e-8,
                            sensitivities="forward")
    value_f, fwd = forward.value_and_grad(theta)
    fwd = np.asarray(fwd)
    assert abs(float(value_f) - float(value)) <= 1e-12 * abs(float(value))
    np.testing.assert_allclose(grad, fwd, rtol=1e-6, atol=1e-9 * np.linalg.norm(fwd))
    np.testing.assert_allclose(grad, _central_limit(prob, theta), rtol=1e-5,
                               atol=1e-7 * np.linalg.norm(fwd))
