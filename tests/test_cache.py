"""The persistent compilation cache: programs stored by one process are used by the next,
and two models of the same shapes but different expressions keep their own programs
(JAX keys each program by its HLO, so by every expression in it).

Each step runs in a fresh Python process with its own cache folder (tmp_path); the
reference is the analytic solution of each model.
"""

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from conftest import mass_action, sbml_model

import wholecell as wc

#: Tsit5 at rtol 1e-10 against the closed forms
RTOL = 1e-7

_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import wholecell as wc
    wc.compilation_cache(True, sys.argv[1], min_compile_seconds=0.0)
    model = wc.load_sbml(sys.argv[2])
    t = np.linspace(0.0, float(sys.argv[4]), 6)
    res = wc.simulate(model, t=t, solver="tsit5", rtol=1e-10, atol=1e-14)
    print(json.dumps(np.asarray(res[sys.argv[3]]).tolist()))
""")
REPRESSILATOR = Path(__file__).parent.parent / "sbml" / "repressilator_BIOMD0000000012.xml"


def _decay(order: int) -> str:
    """dA/dt = -k A^order, in a compartment of size 1."""
    reaction = mass_action("r", "A", "", "k")
    once = "<ci>A</ci>"
    assert reaction.count(once) == 1
    reaction = reaction.replace(once, once * order)
    return sbml_model('<species id="A" compartment="C" initialConcentration="1" '
                      'hasOnlySubstanceUnits="false" boundaryCondition="false" '
                      'constant="false"/>', reaction,
                      '<parameter id="k" value="0.5" constant="true"/>')


def _child_env(hash_seed=None) -> dict[str, str]:
    """The environment of a child process: the cache on (the tests turn it off), and the
    given string-hash seed."""
    env = {k: v for k, v in os.environ.items() if k != "WHOLECELL_NO_CACHE"}
    if hash_seed is not None:
        env["PYTHONHASHSEED"] = str(hash_seed)
    return env


def _run(cache, model_file, species="A", t_end=5.0, hash_seed=None) -> np.ndarray:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(cache), str(model_file), species, str(t_end)],
        capture_output=True, text=True, env=_child_env(hash_seed), timeout=600, check=True)
    return np.array(json.loads(out.stdout.strip().splitlines()[-1]))


def _files(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_a_warm_cache_gives_each_model_its_own_program(tmp_path):
    first, second = tmp_path / "first.xml", tmp_path / "second.xml"
    first.write_text(_decay(1))
    second.write_text(_decay(2))
    cache = tmp_path / "cache"
    t = np.linspace(0.0, 5.0, 6)
    exact_first, exact_second = np.exp(-0.5 * t), 1.0 / (1.0 + 0.5 * t)

    np.testing.assert_allclose(_run(cache, first), exact_first, rtol=RTOL)
    stored = _files(cache)
    assert stored, "the first process stored no program"
    np.testing.assert_allclose(_run(cache, second), exact_second, rtol=RTOL)
    both = _files(cache)
    assert set(stored) < set(both), "the second model reused the first model's programs"
    # warm: both again, each from its own programs, and nothing new compiled
    np.testing.assert_allclose(_run(cache, first), exact_first, rtol=RTOL)
    np.testing.assert_allclose(_run(cache, second), exact_second, rtol=RTOL)
    assert _files(cache) == both


def test_a_new_process_finds_the_program_whatever_its_string_hashes(tmp_path):
    """Each process hashes strings with its own seed, so anything built in the order of a
    set of symbols changes from one process to the next. The repressilator's compiled
    programs once did (the slots of its derived values), and a new process missed the
    cache about as often as it hit. Reference: the same run's values, to rounding."""
    cache = tmp_path / "cache"
    first = _run(cache, REPRESSILATOR, "PX", 100.0, hash_seed=1)
    stored = _files(cache)
    assert stored, "the first process stored no program"
    second = _run(cache, REPRESSILATOR, "PX", 100.0, hash_seed=2)
    assert _files(cache) == stored, "the second process compiled its programs again"
    np.testing.assert_allclose(second, first, rtol=1e-12)


def _counting_script(module: str, name: str, body: str) -> str:
    """A child process's script: the compilation cache in ``sys.argv[1]`` (``"off"``: none),
    ``module.name`` wrapped to count the times it is traced (``traced``), then ``body``."""
    return textwrap.dedent(f"""
        import json, sys
        import numpy as np
        import wholecell as wc
        import {module} as counted
        if sys.argv[1] != "off":
            wc.compilation_cache(True, sys.argv[1], min_compile_seconds=0.0)
        else:
            wc.compilation_cache(False)
        traced = []
        original = counted.{name}

        def counting(*args):
            traced.append(1)
            return original(*args)

        counted.{name} = counting
    """) + textwrap.dedent(body)


_COUNTING = _counting_script("wholecell._simulate", "_run_batch_jit", """
    model = wc.load_sbml(sys.argv[2])
    t = np.linspace(0.0, 5.0, 6)
    res = wc.simulate(model, t=t, solver="tsit5", rtol=1e-10, atol=1e-14)
    print(json.dumps({"A": np.asarray(res["A"]).tolist(), "traced": len(traced)}))
""")


def _run_counting(cache, model_file) -> tuple[np.ndarray, int]:
    """A model's values in a new process, and how many times it traced the solve."""
    out = subprocess.run(
        [sys.executable, "-c", _COUNTING, str(cache), str(model_file)],
        capture_output=True, text=True, env=_child_env(), timeout=600, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return np.array(r["A"]), r["traced"]


def test_a_new_process_runs_each_models_stored_solve_without_tracing(tmp_path):
    """The solve is kept on disk under a key computed from the model itself
    (`wholecell._executables`): a warm process traces nothing, and two models of the
    same shapes and different expressions each get their own program back (and XLA's
    executable of it), damaged files included (they are deleted and made again)."""
    files = {1: tmp_path / "first.xml", 2: tmp_path / "second.xml"}
    for order, path in files.items():
        path.write_text(_decay(order))
    cache = tmp_path / "cache"
    t = np.linspace(0.0, 5.0, 6)
    exact = {1: np.exp(-0.5 * t), 2: 1.0 / (1.0 + 0.5 * t)}
    for order, path in files.items():  # cold: each traces its solve once
        values, traced = _run_counting(cache, path)
        np.testing.assert_allclose(values, exact[order], rtol=RTOL)
        assert traced == 1
    stored = sorted((cache / "executables").glob("*.bin"))
    assert len(stored) >= 2, "the two models' solves were not stored"
    for order, path in files.items():  # warm: no trace, each model's own values
        values, traced = _run_counting(cache, path)
        np.testing.assert_allclose(values, exact[order], rtol=RTOL)
        assert traced == 0, "a warm process traced the solve again"
    machine = sorted((cache / "executables").glob("*.xla"))
    assert machine, "no XLA executable was stored"
    for f in machine:  # damaged executables: compiled again from the stored programs
        f.write_bytes(b"not an executable")
    values, traced = _run_counting(cache, files[2])
    np.testing.assert_allclose(values, exact[2], rtol=RTOL)
    assert traced == 0
    for f in stored + machine:
        f.write_bytes(b"not a program")
    values, traced = _run_counting(cache, files[2])
    np.testing.assert_allclose(values, exact[2], rtol=RTOL)
    assert traced == 1
    values, traced = _run_counting(cache, files[2])
    np.testing.assert_allclose(values, exact[2], rtol=RTOL)
    assert traced == 0


_STOCHASTIC_RUN = """
    model = wc.load_sbml(sys.argv[2])
    options = {"stochastic": "auto"} if sys.argv[3] == "hybrid" else {}
    res = wc.simulate(model, np.linspace(0.0, 20.0, 11), method=sys.argv[3], n=64, seed=5,
                      progress=False, **options)
    print(json.dumps({"values": np.asarray(res.values).tolist(), "traced": len(traced)}))
"""
_COUNTING_STOCHASTIC = {
    "ssa": _counting_script("wholecell.stochastic._stochastic", "_chunk", _STOCHASTIC_RUN),
    "hybrid": _counting_script("wholecell.stochastic._hybrid", "_chunk", _STOCHASTIC_RUN),
}
_COUNTING_STOCHASTIC["tau"] = _COUNTING_STOCHASTIC["ssa"]


def test_stochastic_runs_read_their_stored_programs(tmp_path):
    """SSA, tau-leaping and hybrid chunks are stored too: a warm process traces none and
    draws the same trajectories, number for number, as a process without any cache."""
    model_file = tmp_path / "birth_death.xml"
    model_file.write_text(sbml_model(
        '<species id="X" compartment="C" initialAmount="10" hasOnlySubstanceUnits="true" '
        'boundaryCondition="false" constant="false"/>',
        '<reaction id="birth" reversible="false"><listOfProducts><speciesReference '
        'species="X" stoichiometry="1" constant="true"/></listOfProducts><kineticLaw><math '
        'xmlns="http://www.w3.org/1998/Math/MathML"><ci>kb</ci></math></kineticLaw>'
        '</reaction>' + mass_action("death", "X", "", "kd"),
        '<parameter id="kb" value="5" constant="true"/>'
        '<parameter id="kd" value="0.5" constant="true"/>'))

    def run(cache, method):
        out = subprocess.run(
            [sys.executable, "-c", _COUNTING_STOCHASTIC[method], str(cache), str(model_file),
             method],
            capture_output=True, text=True, env=_child_env(), timeout=600, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        return np.array(r["values"]), r["traced"]

    cache = tmp_path / "cache"
    for method in ("ssa", "tau", "hybrid"):
        reference, _ = run("off", method)
        cold, traced = run(cache, method)
        assert traced >= 1
        np.testing.assert_array_equal(cold, reference)
        warm, traced = run(cache, method)
        assert traced == 0, f"a warm {method} process traced its chunk again"
        np.testing.assert_array_equal(warm, reference)


_COUNTING_DIVISION = _counting_script("wholecell.division._driver", "_cells", """
    model = wc.load_sbml(sys.argv[2])
    lin = wc.division.simulate(model, np.linspace(0.0, 200.0, 21), n=4, seed=2,
                               when=wc.division.doubled("SA"), generations=2, chunk_size=8)
    print(json.dumps({"division": np.asarray(lin.division).tolist(),
                      "traces": np.asarray(lin.traces).tolist(), "traced": len(traced)}))
""")


def test_a_division_run_reads_its_stored_program(tmp_path):
    """Cells that divide when their surface area has doubled (`doubled` is described by
    its id and factor): a warm process traces no generation and gives the lineage of a
    process without any cache, number for number."""
    model_file = Path(__file__).parent.parent / "sbml" / "growing_cell.xml"

    def run(cache):
        out = subprocess.run(
            [sys.executable, "-c", _COUNTING_DIVISION, str(cache), str(model_file)],
            capture_output=True, text=True, env=_child_env(), timeout=900, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        return np.array(r["division"]), np.array(r["traces"]), r["traced"]

    div_ref, traces_ref, _ = run("off")
    assert np.isfinite(div_ref).any(), "no cell divided"
    for expect_traced in (True, False):
        div, traces, traced = run(tmp_path / "cache")
        assert (traced > 0) == expect_traced
        np.testing.assert_array_equal(div, div_ref)
        np.testing.assert_array_equal(traces, traces_ref)


def test_the_stored_programs_key_tells_models_apart(tmp_path):
    """The key's digest of a model covers every number and expression of it: the same
    file read twice gives one digest; a rate constant one ulp away, or another rate
    law, gives another. A value it cannot describe is refused (nothing is stored)."""
    from wholecell import _executables

    path = tmp_path / "m.xml"
    path.write_text(_decay(1))
    nudged = tmp_path / "nudged.xml"
    nudged.write_text(_decay(1).replace('value="0.5"', f'value="{float(np.nextafter(0.5, 1))!r}"'))
    other = tmp_path / "other.xml"
    other.write_text(_decay(2))
    digest = [_executables._digest((wc.load_sbml(p),)) for p in (path, path, nudged, other)]
    assert digest[0] == digest[1]
    assert len(set(digest[1:])) == 3
    with pytest.raises(_executables._Uncacheable):
        _executables._digest((object(),))


_PROGRAM_TEXT = textwrap.dedent("""
    import hashlib, sys
    import jax
    import wholecell as wc
    prob = wc.petab.load(sys.argv[1])
    text = jax.jit(prob.objective).lower(prob.nominal).as_text()
    print(hashlib.sha256(text.encode()).hexdigest())
""")
BOEHM = Path(__file__).parent / "data" / "petab" / "Boehm_JProteomeRes2014"


def test_a_petab_objective_is_the_same_program_in_every_process():
    """The same PEtab problem lowers to the same program whatever a process's string
    hashes: the observable formulas' ids were gathered in the order of a set (Boehm's
    programs differed from one process to the next, so the cache never served them)."""
    digests = set()
    for seed in (1, 2):
        out = subprocess.run(
            [sys.executable, "-c", _PROGRAM_TEXT, str(BOEHM / "Boehm_JProteomeRes2014.yaml")],
            capture_output=True, text=True, env=_child_env(seed), timeout=600, check=True)
        digests.add(out.stdout.strip().splitlines()[-1])
    assert len(digests) == 1


def test_the_cache_is_turned_off_cleared_and_placed(tmp_path, monkeypatch):
    monkeypatch.setenv("WHOLECELL_CACHE_DIR", str(tmp_path / "home-cache"))
    assert wc._cache.default_cache_dir() == tmp_path / "home-cache"
    folder = tmp_path / "c"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x-cache").write_bytes(b"0")
    (folder / "y-cache").write_bytes(b"0")
    assert wc.clear_compilation_cache(folder) == 2
    assert not folder.exists()
    assert wc.clear_compilation_cache(folder) == 0
    # the tests share one cache per run (conftest), in WHOLECELL_TEST_CACHE_DIR,
    # unless WHOLECELL_TEST_CACHE=0 turned it off; turned off, compilation_cache_dir is None
    in_use = wc.compilation_cache_dir()
    if os.environ.get("WHOLECELL_NO_CACHE"):
        assert in_use is None
    else:
        assert in_use == Path(os.environ["WHOLECELL_TEST_CACHE_DIR"])
    try:
        wc.compilation_cache(False)
        assert wc.compilation_cache_dir() is None
    finally:
        if in_use is not None:
            wc.compilation_cache(True, in_use)
    assert wc.compilation_cache_dir() == in_use


@contextlib.contextmanager
def _cache_in(folder, **options):
    """This process's compilation cache in ``folder`` for the block, then as it was."""
    in_use = wc.compilation_cache_dir()
    wc.compilation_cache(True, folder, **options)
    try:
        yield
    finally:
        if in_use is None:
            wc.compilation_cache(False)
        else:
            wc.compilation_cache(True, in_use)


def test_a_stored_jit_computes_what_jax_jit_does(tmp_path):
    """`StoredJit` (PEtab's objective and gradient) stores its program on a positional
    call, and behaves as `jax.jit` for keyword calls and inside transformations."""
    import jax.numpy as jnp

    from wholecell._executables import StoredJit

    with _cache_in(tmp_path):
        f = StoredJit("tests: sum of squares", lambda x: jnp.sum(x**2), lambda: ("tests",))
        x = np.array([1.0, 2.0, 3.0])
        assert float(f(x)) == 14.0
        assert list((tmp_path / "executables").glob("*.bin")), "no program was stored"
        assert float(f(x=x)) == 14.0
        np.testing.assert_allclose(jax.grad(f)(x), 2.0 * x, rtol=1e-15)
        np.testing.assert_allclose(jax.vmap(f)(np.stack([x, 2.0 * x])), [14.0, 56.0])


def test_an_executable_xla_cannot_run_falls_back_to_the_stored_program(tmp_path,
                                                                       monkeypatch):
    """A stored XLA executable that fails at its first run (a foreign or damaged one that
    still loads) is deleted, and the call runs the stored program instead (compiled
    afresh, its executable stored in the failing one's place)."""
    from wholecell import _executables

    path = tmp_path / "decay.xml"
    path.write_text(_decay(1))
    t = np.linspace(0.0, 5.0, 6)
    with _cache_in(tmp_path / "cache", min_compile_seconds=0.0):
        model = wc.load_sbml(path)
        wc.simulate(model, t=t, solver="tsit5", rtol=1e-10, atol=1e-14)
        machine = list((tmp_path / "cache" / "executables").glob("*.xla"))
        assert machine, "no XLA executable was stored"
        for f in machine:  # read by `broken` below, which fails at its first run
            f.write_bytes(b"failing executable")

        def broken(path):
            def run(*leaves):
                raise jax.errors.JaxRuntimeError("NOT_FOUND: a function of the executable")
            return run if path.exists() else None

        monkeypatch.setattr(_executables, "_read_machine", broken)
        _executables._LOADED.clear()
        try:
            res = wc.simulate(model, t=t, solver="tsit5", rtol=1e-10, atol=1e-14)
        finally:
            _executables._LOADED.clear()
        np.testing.assert_allclose(res["A"], np.exp(-0.5 * t), rtol=RTOL)
        assert all(not f.exists() or f.read_bytes() != b"failing executable"
                   for f in machine), "the failing executable was kept"


def test_an_executable_is_stored_even_where_xla_cached_the_program_before(tmp_path):
    """A program whose HLO is already in XLA's cache (there from an earlier version, or
    with its executable deleted) still gets its executable stored, compiled afresh: one
    read from XLA's cache would not run in a new process. The next process runs the
    stored executable and gets the closed form."""
    path = tmp_path / "decay.xml"
    path.write_text(_decay(2))
    cache = tmp_path / "cache"
    exact = 1.0 / (1.0 + 0.5 * np.linspace(0.0, 5.0, 6))
    np.testing.assert_allclose(_run(cache, path), exact, rtol=RTOL)
    machine = sorted((cache / "executables").glob("*.xla"))
    assert machine, "no XLA executable was stored"
    for f in machine:  # XLA's cache still holds the programs
        f.unlink()
    np.testing.assert_allclose(_run(cache, path), exact, rtol=RTOL)
    again = sorted((cache / "executables").glob("*.xla"))
    assert [f.name for f in again] == [f.name for f in machine], \
        "the executables were not stored again"
    np.testing.assert_allclose(_run(cache, path), exact, rtol=RTOL)
