"""Every `SimulationError` that `wc.simulate` raises for bad arguments names the problem."""

import numpy as np
import pytest
from conftest import DECAY

import wholecell as wc

TS = np.linspace(0.0, 1.0, 3)


@pytest.fixture(scope="module")
def decay():
    return wc.load_sbml(DECAY)


@pytest.mark.parametrize("method", ["foo", "ODE", "gillespie", ""])
def test_unknown_method(decay, method):
    with pytest.raises(wc.SimulationError, match=f"unknown method '{method}'.*'ode', 'ssa'"):
        wc.simulate(decay, TS, method=method)


def test_unknown_method_is_refused_before_compiling():
    # a model that cannot be compiled (a species without an initial value) still gets the
    # argument error: arguments are checked first
    bad = DECAY.replace('initialAmount="3.0" ', "")
    with pytest.raises(wc.SimulationError, match="unknown method 'foo'"):
        wc.simulate(wc.load_sbml(bad), TS, method="foo")


@pytest.mark.parametrize("t, problem", [
    ([0.0, 2.0, 1.0], "increasing"),
    ([0.0, float("nan"), 1.0], "finite"),
    ([0.0, float("inf")], "finite"),
    ([[0.0, 1.0], [2.0, 3.0]], "1-D"),
    (0.0, "end time and must be positive"),
    (-1.0, "end time and must be positive"),
])
def test_bad_output_times(decay, t, problem):
    with pytest.raises(wc.SimulationError, match=problem):
        wc.simulate(decay, t)


def test_start_after_the_first_output_time(decay):
    with pytest.raises(wc.SimulationError, match="t0 must not be after the first output"):
        wc.simulate(decay, TS, t0=0.5)


def test_batches_of_different_lengths(decay):
    with pytest.raises(wc.SimulationError, match=r"different lengths: \[2, 3\]"):
        wc.simulate(decay, TS, params={"k": [0.1, 0.2, 0.3], "A": [1.0, 2.0]})


@pytest.mark.parametrize("params, problem", [
    ({"nope": 1.0}, "'nope' is not a parameter of model 'test_model'; parameters are k"),
    ({"k": float("nan")}, "parameter 'k' is NaN"),
    ({"k": [[0.1, 0.2]]}, "parameter 'k' must be a scalar or a 1-D batch"),
])
def test_bad_parameters(decay, params, problem):
    with pytest.raises(wc.SimulationError, match=problem):
        wc.simulate(decay, TS, params=params)


@pytest.mark.parametrize("method, options, problem", [
    ("ode", {"stochastic": "auto"}, r"unknown option\(s\) stochastic for method 'ode' "
                                    r"\(its options: none\)"),
    ("ssa", {"foo": 1, "bar": 2}, r"unknown option\(s\) foo, bar for method 'ssa'"),
    ("hybrid", {"stochastc": "auto"}, r"unknown option\(s\) stochastc for method 'hybrid' "
                                      r"\(its options: stochastic, communication_step, spread\)"),
])
def test_unknown_option(decay, method, options, problem):
    with pytest.raises(wc.SimulationError, match=problem):
        wc.simulate(decay, TS, method=method, **options)


@pytest.mark.parametrize("method", ["ode", "ssa", "tau", "hybrid"])
@pytest.mark.parametrize("n", [0, -3, 1.5, True])
def test_n_below_one_or_not_an_integer(decay, method, n):
    with pytest.raises(wc.SimulationError, match=r"n \(the number of trajectories\) must be "
                                                 r"an integer >= 1, got " + repr(n)):
        wc.simulate(decay, TS, method=method, n=n)


def test_every_argument_error_is_a_wholecell_error(decay):
    """`SimulationError` is caught by ``except wc.WholecellError`` (the CLI does)."""
    assert issubclass(wc.SimulationError, wc.WholecellError)
    with pytest.raises(wc.WholecellError):
        wc.simulate(decay, TS, method="ode", foo=1)
