"""Ensembles on a Dask cluster (``executor=``): the local run's results, bit for bit,
whatever the number of workers, also when a worker is lost mid-run.

The cluster is local (processes, 2 workers of one thread each), as a cluster of
machines would be: each worker is its own Python process that unpickles the program
and compiles it. The reference is the same ensemble run in this process.
"""

import concurrent.futures
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import distributed
import numpy as np
import pytest
from conftest import DECAY, ROOT
from test_ssa import BIRTH_DEATH

import wholecell as wc

TS = np.linspace(0.0, 5.0, 11)
N, CHUNK = 10_000, 1_000


@pytest.fixture(scope="module")
def model():
    return wc.load_sbml(BIRTH_DEATH)


@pytest.fixture(scope="module")
def cluster():
    # the workers import this repository's wholecell, not another installed copy
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
           "WHOLECELL_NO_CACHE": "1"}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address="127.0.0.1:0", env=env) as cl:
        yield cl


@pytest.fixture(scope="module")
def client(cluster):
    with distributed.Client(cluster) as c:
        yield c


def run(model, seed, executor=None):
    return wc.simulate(model, TS, method="ssa", n=N, seed=seed, chunk_size=CHUNK,
                       executor=executor, progress=False)


def same(a, b):
    """Every value and every per-member statistic equal, bit for bit."""
    assert a.amount("X").shape == (N, len(TS))
    np.testing.assert_array_equal(a.amount("X"), b.amount("X"))
    for k in ("events", "status", "t_last"):
        np.testing.assert_array_equal(a.stats[k], b.stats[k])


def test_workers_run_this_wholecell(client):
    files = client.run(lambda: __import__("wholecell").__file__)
    assert len(files) == 2
    assert set(files.values()) == {wc.__file__}


def test_ensemble_on_two_workers_equals_the_local_run(model, client):
    """10,000 SSA members in 10 chunks over 2 workers: the local run, bit for bit."""
    local = run(model, seed=11)
    remote = run(model, seed=11, executor=client)
    same(remote, local)
    # both workers ran chunks (the scheduler spreads 10 chunks over 2 idle workers):
    # each holds the program, unpickled once
    held = client.run(lambda: len(__import__("wholecell._executor")._executor._PROGRAMS))
    assert sorted(held.values()) == [1, 1]


class KillAfterFirstChunk(distributed.WorkerPlugin):
    """Kills the worker ``victim`` (SIGKILL, no goodbye) as soon as it has finished its
    first chunk, after writing the chunk's key to ``mark``: the chunk's result, held by
    that worker, is lost with it, as are the chunks queued there."""

    def __init__(self, victim: str, mark: str):
        self.victim, self.mark = victim, mark

    def setup(self, worker):
        self.address = worker.address

    def transition(self, key, start, finish, **kwargs):
        if (self.address == self.victim and finish == "memory"
                and str(key).startswith("wholecell-ssa-")):
            Path(self.mark).write_text(str(key))
            os.kill(os.getpid(), signal.SIGKILL)


def test_a_lost_worker_loses_no_member(model, client, tmp_path):
    """One of two workers dies after its first chunk; its chunks run again on the other
    (or on its replacement): every member comes back once, equal to the local run."""
    before = client.run(os.getpid)
    victim = sorted(before)[0]
    mark = tmp_path / "killed"
    client.register_plugin(KillAfterFirstChunk(victim, str(mark)), name="kill-one")
    try:
        remote = run(model, seed=12, executor=client)
    finally:
        client.unregister_worker_plugin("kill-one")
    assert mark.read_text().startswith("wholecell-ssa-")  # the kill happened mid-run
    assert victim not in client.scheduler_info()["workers"]  # that worker is gone
    same(remote, run(model, seed=12))


@pytest.mark.slow  # tau-leaping compiles for about 3 minutes here (3 processes, 2 cores)
def test_tau_ensemble_on_the_cluster_equals_the_local_run(model, client):
    """Tau-leaping runs through the same chunks: 2,000 members in 4 chunks."""
    kw = dict(method="tau", n=2_000, seed=5, chunk_size=500, progress=False)
    local = wc.simulate(model, TS, **kw)
    remote = wc.simulate(model, TS, executor=client, **kw)
    np.testing.assert_array_equal(remote.amount("X"), local.amount("X"))
    np.testing.assert_array_equal(remote.stats["events"], local.stats["events"])


@pytest.mark.slow  # 68-143 s here (the hybrid engine compiles in 3 processes on 2 cores)
def test_hybrid_ensemble_on_the_cluster_equals_the_local_run(client):
    """Hybrid SSA/ODE runs through the same chunks: 400 members in 4 chunks, the
    birth-death reactions exact, the conversion S -> Q an ODE (tests/test_hybrid.py)."""
    from test_hybrid import _model

    hybrid = wc.load_sbml(_model(False))
    kw = dict(method="hybrid", stochastic=["birth", "death"], n=400, seed=4, chunk_size=100,
              progress=False)
    local = wc.simulate(hybrid, TS, **kw)
    remote = wc.simulate(hybrid, TS, executor=client, **kw)
    for sid in ("X", "S", "Q"):
        np.testing.assert_array_equal(remote.amount(sid), local.amount(sid))
    np.testing.assert_array_equal(remote.stats["events"], local.stats["events"])


@pytest.mark.slow  # the division program compiles in 3 processes on 2 cores
def test_division_on_the_cluster_equals_the_local_run(client):
    """A growing, dividing population (tests/test_division.py's model): 16 founders for
    three generations in chunks of 8 cells on the workers; every cell's birth, division
    and trace equal the local run's, bit for bit."""
    from test_division import EXAMPLE

    cell = wc.load_sbml(EXAMPLE)
    kw = dict(when=wc.division.doubled("SA"), n=16, generations=3, keep=32, seed=5,
              chunk_size=8)
    ts = np.linspace(0.0, 200.0, 21)

    def held():
        return sum(client.run(
            lambda: len(__import__("wholecell._executor")._executor._PROGRAMS)).values())

    before = held()
    local = wc.division.simulate(cell, ts, **kw)
    remote = wc.division.simulate(cell, ts, executor=client, **kw)
    assert held() > before  # the workers ran the cells' program
    assert len(remote) == len(local) == 16 + 32 + 32
    for name in ("parent", "generation", "birth", "division"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name))
    for sid in ("P", "SA"):
        np.testing.assert_array_equal(remote[sid], local[sid])


def test_ode_parameter_ensemble_on_the_cluster(client):
    """64 decay rates in 4 chunks of 16 on the workers: A(t) = 3 exp(-k t) within the
    solver's error (rtol 1e-10: 1e-7, as tests/test_simulate.py), and the local run of
    the whole batch to rounding (1e-12: members are solved independently, so only the
    order of floating-point operations could differ)."""
    decay = wc.load_sbml(DECAY)
    ks = np.linspace(0.1, 2.0, 64)
    kw = dict(params={"k": ks}, rtol=1e-10, atol=1e-12)
    remote = wc.simulate(decay, TS, executor=client, chunk_size=16, **kw)
    assert remote.amount("A").shape == (64, len(TS))
    np.testing.assert_allclose(remote.amount("A"), 3.0 * np.exp(-np.outer(ks, TS)), rtol=1e-7)
    np.testing.assert_allclose(remote.amount("A"), wc.simulate(decay, TS, **kw).amount("A"),
                               rtol=1e-12, atol=0)
    np.testing.assert_array_equal(remote.stats["status"], wc.Status.SUCCESS.value)


def test_fit_on_the_cluster_equals_the_local_run(client):
    """Six random starts of a bounded Rosenbrock function that is NaN for x0 > 1.2 (such
    starts are redrawn, in start order), on the workers and here: the same starts, the
    same redraws and the same results, bit for bit; each reaches the minimum (1, 1)."""
    import jax.numpy as jnp

    def rosenbrock(x):  # nested: cloudpickle sends it by value to the workers
        value = (1.0 - x[0]) ** 2 + 100.0 * (x[1] - x[0] ** 2) ** 2
        return jnp.where(x[0] > 1.2, jnp.nan, value)

    kw = dict(n_starts=6, bounds=([-2.0, -1.0], [2.0, 3.0]), seed=3, progress=False)
    local = wc.fit(rosenbrock, **kw)
    remote = wc.fit(rosenbrock, executor=client, **kw)
    assert local.n_redrawn > 0 and remote.n_redrawn == local.n_redrawn
    for name in ("x0s", "xs", "fvals", "n_iter", "n_fev", "n_failed", "start_index"):
        np.testing.assert_array_equal(getattr(remote, name), getattr(local, name), name)
    assert remote.messages == local.messages
    np.testing.assert_allclose(remote.xs, 1.0, atol=1e-4)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # any Executor will do
        pooled = wc.fit(rosenbrock, executor=pool, **kw)
    np.testing.assert_array_equal(pooled.xs, local.xs)
    np.testing.assert_array_equal(pooled.x0s, local.x0s)
    with pytest.raises(wc.SimulationError, match="dask.distributed.Client"):
        wc.fit(rosenbrock, executor="localhost:8786", **kw)


def test_a_process_pool_runs_the_ensemble_like_a_local_run(model):
    """A `concurrent.futures.ProcessPoolExecutor` (spawned processes, as JAX needs) in
    place of a Dask client: the local run's trajectories, bit for bit."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        remote = run(model, seed=5, executor=pool)
    same(remote, run(model, seed=5))


def test_executor_must_be_a_dask_client(model):
    with pytest.raises(wc.SimulationError, match="dask.distributed.Client"):
        wc.simulate(model, TS, method="ssa", n=10, executor="localhost:8786")
    with pytest.raises(wc.SimulationError, match="dask.distributed.Client"):
        wc.division.simulate(model, 1.0, when=wc.division.doubled("X"),
                             executor="localhost:8786")


def test_no_executor_imports_no_dask():
    """``executor=None`` (the default) runs here and never imports Dask."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests")!r})
        import wholecell as wc
        from test_ssa import BIRTH_DEATH
        res = wc.simulate(wc.load_sbml(BIRTH_DEATH), [0.0, 1.0], method="ssa", n=4)
        assert res.amount("X").shape == (4, 2)
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        assert not loaded, loaded
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WHOLECELL_NO_CACHE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
