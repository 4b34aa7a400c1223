"""PEtab SciML: the format's public test suite (PEtab-dev/petab_sciml_testsuite, copied in
``tests/data/petab_sciml``), and our own checks of networks and problems.

The suite's references and tolerances judge every case (`wholecell.neural._sciml_suite`).
Set ``WHOLECELL_SCIML_SUITE`` to a checkout's ``test_cases`` folder to run another copy.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import wholecell as wc
from wholecell.neural._sciml_suite import (
    check_network_case,
    initialization_error,
    network_case_sets,
    problem_errors,
)

pytest.importorskip("h5py")

DATA = Path(os.environ.get("WHOLECELL_SCIML_SUITE", Path(__file__).parent / "data/petab_sciml"))
SUITE = DATA / "ml_model_import"
CASES = sorted(p.name for p in SUITE.iterdir() if p.name[:1].isdigit())
# 10 of the suite's 39 problem cases are copied: the network in the right-hand side (001),
# before the simulation with inputs from conditions (003), in an observable (004), setting
# an initial value (007), array inputs per condition (015), two outputs (019), a frozen
# layer (023), priors (033), an expression as input (035), and ReLU in the right-hand
# side with array inputs (038); `python -m wholecell.neural.sciml_suite` runs all 39
PROBLEMS = sorted(p.name for p in (DATA / "sciml_problem_import").iterdir()
                  if p.name[:1].isdigit())
INITIALIZATION = ("001", "002", "003")


def _case(name: str, i: int):
    return network_case_sets(SUITE / name, i)


def test_the_suite_is_here():
    assert len(CASES) == 54
    assert len(PROBLEMS) == 10


@pytest.mark.parametrize("name", CASES)
def test_network_import(name):
    passed, worst = check_network_case(SUITE / name)
    assert passed, f"case {name}: error {worst:.3g} x the tolerance"


@pytest.mark.parametrize("name", PROBLEMS)
def test_problem_import(name):
    """Log-likelihood (or log-posterior), simulations and gradient against the suite's
    references, to the tolerances its solutions.yaml gives."""
    for what, (err, tol) in problem_errors(DATA / "sciml_problem_import" / name).items():
        assert err <= tol, f"case {name}: {what} off by {err:.3g} (tolerance {tol:g})"


@pytest.mark.parametrize("name", INITIALIZATION)
def test_initialization(name):
    err, tol = initialization_error(DATA / "initialization" / name)
    assert err <= tol


def test_inference_mode_ignores_dropout():
    net, params, xs, _, _ = _case("019", 0)
    np.testing.assert_array_equal(net(params, *xs), net(params, *xs, training=False))
    assert net.stochastic


def test_alpha_dropout_mean_is_exact():
    """AlphaDropout's expected output is a (1 - p) x (Klambauer et al. 2017), checked on
    case 020 (one Linear after it) with 400,000 passes."""
    net, params, xs, _, _ = _case("020", 0)
    p = 0.5
    a = 1.0 / np.sqrt((1.7580993408473766 ** 2 * p + 1.0) * (1.0 - p))
    w, b = params["layer1"]["weight"], params["layer1"]["bias"]
    exact = np.asarray(w @ (a * (1 - p) * xs[0]) + b)
    keys = jax.random.split(jax.random.PRNGKey(7), 400_000)
    ys = np.asarray(jax.jit(jax.vmap(lambda k: net(params, *xs, key=k, training=True)))(keys))
    se = ys.std(axis=0) / np.sqrt(len(keys))
    assert np.max(np.abs(ys.mean(axis=0) - exact) / se) < 4.5


def test_batch_norm_inference_uses_running_statistics():
    net, params, xs, ref, _ = _case("043", 0)
    h = xs[0] @ params["layer1"]["weight"].T + params["layer1"]["bias"][None]
    bn = params["norm1"]
    # PyTorch's running statistics before training: mean 0, variance 1
    h = h / np.sqrt(1.0 + 1e-5) * bn["weight"][None] + bn["bias"][None]
    expected = h @ params["layer2"]["weight"].T + params["layer2"]["bias"][None]
    np.testing.assert_allclose(net(params, *xs), expected, rtol=1e-12)


def test_network_is_jit_and_grad_friendly():
    net, params, xs, _, _ = _case("018", 0)        # LeNet: convolutions, pooling, flatten
    loss = lambda p: jnp.sum(net(p, *xs) ** 2)
    g = jax.jit(jax.grad(loss))(params)
    w = params["fc3"]["weight"]
    e = jnp.zeros_like(w).at[1, 2].set(1e-6)
    bumped = lambda s: {**params, "fc3": {**params["fc3"], "weight": w + s * e}}
    fd = (loss(bumped(1.0)) - loss(bumped(-1.0))) / 2e-6
    np.testing.assert_allclose(g["fc3"]["weight"][1, 2], fd, rtol=1e-6)


def test_round_trip(tmp_path):
    net, params, xs, _, _ = _case("052", 0)        # two inputs, Bilinear
    wc.neural.save_network(net, tmp_path / "net.yaml")
    wc.neural.save_arrays(tmp_path / "ps.hdf5", parameters={net.nn_model_id: params},
                          inputs={"x": {"0": xs[0]}})
    again = wc.neural.load_network(tmp_path / "net.yaml")
    ps = wc.neural.load_parameters(tmp_path / "ps.hdf5")[net.nn_model_id]
    np.testing.assert_array_equal(again(ps, *xs), net(params, *xs))
    np.testing.assert_array_equal(wc.neural.load_inputs(tmp_path / "ps.hdf5")["x"]["0"], xs[0])


def test_init_matches_the_shapes():
    net = wc.neural.load_network(SUITE / "018/net.yaml")
    params = net.init(jax.random.PRNGKey(0))
    shapes = jax.tree.map(lambda a: a.shape, params)
    ref = wc.neural.load_parameters(SUITE / "018/net_ps_1.hdf5")["net0"]
    assert shapes == jax.tree.map(lambda a: a.shape, ref)
    bound = 1.0 / np.sqrt(64)
    assert np.all(np.abs(params["fc1"]["weight"]) <= bound)


def _spec(layer_type="Linear", args=None, target="tanh", op="call_method"):
    return {"nn_model_id": "n", "inputs": [{"input_id": "x"}],
            "layers": [{"layer_id": "l1", "layer_type": layer_type,
                        "args": args or {"in_features": 2, "out_features": 1}}],
            "forward": [{"name": "x", "op": "placeholder", "target": "x", "args": []},
                        {"name": "h", "op": "call_module", "target": "l1", "args": ["x"]},
                        {"name": "a", "op": op, "target": target, "args": ["h"]},
                        {"name": "output", "op": "output", "target": "output",
                         "args": ["a"]}]}


def test_errors_name_the_construct():
    with pytest.raises(wc.UnsupportedSciMLError, match="LSTM.*'l1'"):
        wc.neural.network_from_dict(_spec("LSTM", {"input_size": 2}))
    with pytest.raises(wc.UnsupportedSciMLError, match="function frobnicate.*'a'"):
        wc.neural.network_from_dict(_spec(target="frobnicate"))
    with pytest.raises(wc.UnsupportedSciMLError, match="ceil_mode"):
        wc.neural.network_from_dict(_spec("MaxPool1d", {"kernel_size": 2, "ceil_mode": True}))
    with pytest.raises(wc.SciMLError, match="lacks the argument 'out_features'"):
        wc.neural.network_from_dict(_spec(args={"in_features": 2}))
    bad = _spec()
    bad["forward"][1]["args"] = ["y"]
    with pytest.raises(wc.SciMLError, match="'h' uses 'y' before"):
        wc.neural.network_from_dict(bad)
    net = wc.neural.network_from_dict(_spec())
    with pytest.raises(wc.SciMLError, match="takes 1 input"):
        net({}, jnp.ones(2), jnp.ones(2))


def test_unreadable_files(tmp_path):
    (tmp_path / "net.yaml").write_text("layers: [\n")
    with pytest.raises(wc.SciMLError, match="cannot read the network file"):
        wc.neural.load_network(tmp_path / "net.yaml")
    (tmp_path / "ps.hdf5").write_text("not hdf5")
    with pytest.raises(wc.SciMLError, match="cannot read the array file"):
        wc.neural.load_parameters(tmp_path / "ps.hdf5")


def _problem(name: str, **options):
    return wc.neural.load_sciml_problem(
        DATA / "sciml_problem_import" / name / "petab/problem.yaml", **options)


def test_problem_gradient_equals_finite_differences():
    """Case 038 (a ReLU network in the right-hand side, inputs per condition): the
    forward-sensitivity gradient against central differences of the log-likelihood
    (tight tolerances and a small step: the curvature is large, at h = 1e-3 the
    difference quotient is 0.04 % off)."""
    prob = _problem("038", rtol=1e-12, atol=1e-14)
    mech, nets = prob.nominal()
    ev = prob.evaluate(mech, nets)
    assert ev.log_likelihood == pytest.approx(float(prob.log_likelihood(mech, nets)), abs=1e-5)
    np.testing.assert_allclose(ev.simulations["simulation"],
                               prob.simulate(mech, nets)["simulation"], atol=1e-7)
    h = 1e-5
    for pid in ("alpha", "delta"):
        up = prob.log_likelihood({**mech, pid: mech[pid] + h}, nets)
        down = prob.log_likelihood({**mech, pid: mech[pid] - h}, nets)
        fd = float(up - down) / (2 * h)
        assert float(ev.grad_mechanistic[pid]) == pytest.approx(fd, rel=2e-5)
    w = nets["net6"]["layer3"]["weight"]
    e = jnp.zeros_like(w).at[0, 1].set(h)
    bump = lambda s: {"net6": {**nets["net6"], "layer3": {**nets["net6"]["layer3"],
                                                          "weight": w + s * e}}}
    fd = float(prob.log_likelihood(mech, bump(1.0)) - prob.log_likelihood(mech, bump(-1.0)))
    assert float(ev.grad_nets["net6"]["layer3"]["weight"][0, 1]) == pytest.approx(
        fd / (2 * h), rel=2e-5)


def test_frozen_parts_get_zero_gradient():
    prob = _problem("023")                     # layer1 of net1 is not estimated
    g = prob.evaluate().grad_nets["net1"]
    assert float(jnp.abs(g["layer1"]["weight"]).max()) == 0.0
    assert float(jnp.abs(g["layer2"]["weight"]).max()) > 0.0


def _copy_problem(tmp_path, name="001"):
    import shutil
    dst = tmp_path / name
    shutil.copytree(DATA / "sciml_problem_import" / name / "petab", dst)
    return dst


@pytest.mark.parametrize("file, old, new, error, match", [
    ("problem.yaml", 'format_version: "2.0.0"', "format_version: 1", wc.SciMLError,
     "PEtab v2"),
    ("experiments.tsv", "e1\t0.0\t", "e1\t-inf\t\ne1\t0.0\t", wc.UnsupportedSciMLError,
     "2 periods.*'e1'"),
    ("parameters.tsv", "1.3", "fast", wc.SciMLError, "'alpha'.*not a number"),
    ("parameters.tsv", "alpha\tlin", "alpha\tlog10", wc.UnsupportedSciMLError,
     "parameterScale log10.*'alpha'"),
    ("hybridization.tsv", "net1_output1", "prey * 2", wc.UnsupportedSciMLError,
     "not a network output.*'gamma'"),
])
def test_problem_errors_name_what_is_wrong(tmp_path, file, old, new, error, match):
    d = _copy_problem(tmp_path)
    text = (d / file).read_text()
    assert old in text
    (d / file).write_text(text.replace(old, new))
    with pytest.raises(error, match=match):
        wc.neural.load_sciml_problem(d / "problem.yaml")


def test_cellbox_correction_written_in_the_format(tmp_path):
    """The CellBox neural term g(x, u) = MLP([x, u]) - MLP(0), written as YAML + HDF5 and
    read back, gives the same values (its readout nodes)."""
    model = wc.neural.cellbox(6, 4, 5, key=jax.random.PRNGKey(0), hybrid=True, width=8)
    net, params = wc.neural.export_correction(model.correction)
    yaml_path, arrays = wc.neural.save_sciml(net, params, tmp_path)
    again = wc.neural.load_network(yaml_path)
    ps = wc.neural.load_parameters(arrays)["correction"]
    x, u = jax.random.normal(jax.random.PRNGKey(1), (2, 6))
    np.testing.assert_allclose(again(ps, x, u), model.correction(x, u)[:5], rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(again(ps, jnp.zeros(6), jnp.zeros(6)), 0.0, atol=1e-15)


def test_state_only_correction_written_in_the_format(tmp_path):
    """g(x) = MLP(x) - MLP(0): the network has the one input x, ignores u, and reads back
    to the same values."""
    model = wc.neural.cellbox(6, 4, 5, key=jax.random.PRNGKey(0), hybrid=True, width=8,
                              correction_inputs="state")
    x, u = jax.random.normal(jax.random.PRNGKey(1), (2, 6))
    np.testing.assert_array_equal(model.correction(x, u), model.correction(x, 0 * u))
    assert float(jnp.abs(model.correction(x, u)).max()) > 0
    net, params = wc.neural.export_correction(model.correction)
    yaml_path, arrays = wc.neural.save_sciml(net, params, tmp_path)
    again = wc.neural.load_network(yaml_path)
    ps = wc.neural.load_parameters(arrays)["correction"]
    np.testing.assert_allclose(again(ps, x), model.correction(x, u)[:5], rtol=1e-12,
                               atol=1e-15)
    with pytest.raises(ValueError, match="Correction inputs must be one of"):
        wc.neural.cellbox(6, key=jax.random.PRNGKey(0), hybrid=True, correction_inputs="u")


def test_mlp_export_and_refusal():
    import equinox as eqx
    mlp = eqx.nn.MLP(3, 2, 4, 2, activation=jax.nn.relu, key=jax.random.PRNGKey(3))
    net, params = wc.neural.export_mlp(mlp)
    x = jnp.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(net(params, x), mlp(x), rtol=1e-12)
    odd = eqx.nn.MLP(3, 2, 4, 1, activation=lambda v: v ** 3, key=jax.random.PRNGKey(3))
    with pytest.raises(wc.UnsupportedSciMLError, match="activation"):
        wc.neural.export_mlp(odd)
