"""``wc.fit(..., workers=n)``: the starts in new processes on this machine, one core each;
the results are those of the run in this process, bit for bit."""

import concurrent.futures
import os
import time

import numpy as np
import pytest

import wholecell as wc
from wholecell.fitting import local_workers
from wholecell.fitting._workers import available_cores


def _cores_after_a_while(_):
    time.sleep(0.5)  # both workers are busy at once, so each answers once
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None


def test_workers_fit_like_this_process():
    """Six random starts of a bounded Rosenbrock function that is NaN for x0 > 1.2 (such
    starts are redrawn, in start order): the same starts, redraws and results in two
    worker processes as here; each reaches the minimum (1, 1)."""
    import jax.numpy as jnp

    def rosenbrock(x):  # nested: sent by value to the workers
        value = (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2
        return jnp.where(x[0] > 1.2, jnp.nan, value)

    kw = dict(n_starts=6, bounds=([-2.0, -1.0], [2.0, 3.0]), seed=3, progress=False)
    here = wc.fit(rosenbrock, **kw)
    pooled = wc.fit(rosenbrock, workers=2, **kw)
    assert here.n_redrawn > 0 and pooled.n_redrawn == here.n_redrawn
    for name in ("x0s", "xs", "fvals", "n_iter", "n_fev", "n_failed", "start_index"):
        np.testing.assert_array_equal(getattr(pooled, name), getattr(here, name), name)
    np.testing.assert_allclose(pooled.xs, 1.0, atol=1e-4)


def test_each_worker_runs_on_a_core_of_its_own():
    cores = available_cores()
    with local_workers(2) as pool:
        seen = list(pool.map(_cores_after_a_while, range(2)))
    if len(cores) >= 2 and hasattr(os, "sched_setaffinity"):
        assert all(len(s) == 1 for s in seen)
        assert sorted(s[0] for s in seen) == cores[:2]
    else:  # too few cores (or no pinning here): the workers keep this process's cores
        assert all(s in (cores, None) for s in seen)


def test_bad_workers_are_refused():
    def square(x):
        return (x**2).sum()

    kw = dict(n_starts=2, bounds=([-1.0], [1.0]), progress=False)
    with pytest.raises(wc.FitError, match="positive integer"):
        wc.fit(square, workers=0, **kw)
    with concurrent.futures.ThreadPoolExecutor(1) as pool, pytest.raises(
            wc.FitError, match="not both"):
        wc.fit(square, workers=2, executor=pool, **kw)
