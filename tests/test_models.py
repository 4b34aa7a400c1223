"""The model library (`wc.models`, the repository's models/): every model loads, its metadata
is consistent with its SBML, its card and its reference, and a built package carries every
library file. The simulation of each model over its default time span against its
reference trajectory is tests/test_biomodels.py (which loads them from the library); the
growing cell, whose reference is analytic, is simulated here."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA, ROOT

import wholecell as wc

#: the reference trajectories (libRoadRunner), and the SHA-256 of the SBML they were made from
BIOMODELS = DATA / "biomodels"
NAMES = wc.models.list()
#: the bundled examples and the BioModels used in tests must all be in the library
REQUIRED = {
    "repressilator", "glycolysis_teusink2000", "growing_cell", "egfr_mapk_schoeberl2002",
    "glycolysis_nielsen1998", "cell_cycle_chen2004", "erythrocyte_holzhutter2004",
    "glycolysis_pritchard2002", "cell_cycle_tyson2001", "erbb_chen2009",
}


def test_list_is_the_folders_of_models():
    folders = sorted(p.name for p in (ROOT / "models").iterdir() if (p / "model.yaml").is_file())
    assert NAMES == folders
    assert REQUIRED <= set(NAMES), REQUIRED - set(NAMES)
    assert wc.models.root() == ROOT


def test_unknown_name_lists_the_models():
    with pytest.raises(wc.models.UnknownModelError) as err:
        wc.models.load("syn9z")
    message = str(err.value)
    assert "no model named 'syn9z'" in message
    assert "built from published tables: syn3a" in message
    for name in NAMES:
        assert name in message
    assert isinstance(err.value, wc.WholecellError)
    assert isinstance(err.value, LookupError)


def test_aliases_name_the_same_model():
    assert wc.models.info("BIOMD0000000012").name == "repressilator"
    assert wc.models.info("Chen2009_ErbB_PEtab_from_BIOMD0000000255").name == "erbb_chen2009"
    aliases = [a for n in NAMES for a in wc.models.info(n).aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & set(NAMES)


def test_every_test_biomodel_is_in_the_library_byte_for_byte():
    """The references in tests/data/biomodels were made from the library's files (their
    SHA-256 in SHA256 there), so they hold for the library's models."""
    digests = dict(line.split() for line in (BIOMODELS / "SHA256").read_text().splitlines())
    assert sorted(digests) == sorted(p.stem for p in BIOMODELS.glob("*.csv"))
    for name, digest in digests.items():
        meta = wc.models.info(name)
        assert hashlib.sha256(meta.sbml.read_bytes()).hexdigest() == digest, meta.name
        assert meta.reference["file"] == f"tests/data/biomodels/{name}.csv"


@pytest.mark.parametrize("name", NAMES)
def test_metadata_and_card(name):
    meta = wc.models.info(name)
    assert meta.sbml.is_file() and meta.sbml.parent == ROOT / "sbml"
    model = meta.load()
    ids = {s.id for s in model.species} | {p.id for p in model.parameters}
    assert meta.plot and set(meta.plot) <= ids, set(meta.plot) - ids
    assert meta.method in ("ode", "ssa", "tau", "hybrid")
    card = meta.card
    assert card.startswith(f"# {meta.title}")
    for needed in (f"`{name}`", meta.licence, "## Reference", "Tolerance", "Measured:"):
        assert needed in card, needed
    if meta.reference["kind"] == "trajectory":
        ref = np.genfromtxt(ROOT / meta.reference["file"], delimiter=",", names=True)
        # the default output times are the reference's
        np.testing.assert_array_equal(meta.times(), ref["time"])
        assert set(meta.plot) <= set(ref.dtype.names)
    else:
        assert meta.reference["kind"] == "analytic"


def test_reference_criterion_is_the_tested_one():
    """The tolerance and solver settings each card quotes are those of
    tests/test_biomodels.py, which simulates every library model that has a reference
    trajectory (loaded by name from the library) over its default time span."""
    from test_biomodels import ATOL_OF_MAX, ATOL_OF_MODEL, RTOL

    for name in NAMES:
        ref = wc.models.info(name).reference
        if ref["kind"] != "trajectory":
            continue
        assert ref["test"] == "tests/test_biomodels.py"
        assert ref["tolerance"] == {"rtol": RTOL, "atol_of_species_max": ATOL_OF_MAX,
                                    "atol_of_model_max": ATOL_OF_MODEL}
        assert ref["solve"] == {"rtol": 1e-8, "atol": 1e-12}


def test_growing_cell_against_its_analytic_solution():
    """SA doubles every 60 min; mRNA and protein amounts follow the constitutive-expression
    laws quoted on the card (k_tx = 0.5, g_m = 0.2, k_tl = 4, M0 = 1, P0 = 575)."""
    meta = wc.models.info("growing_cell")
    t = meta.times()
    solve = meta.reference["solve"]
    res = wc.simulate(wc.models.load("growing_cell"), t, rtol=float(solve["rtol"]),
                      atol=float(solve["atol"]))
    rtol = float(meta.reference["tolerance"]["rtol"])
    k_tx, g_m, k_tl, m0, p0 = 0.5, 0.2, 4.0, 1.0, 575.0
    m_star = k_tx / g_m
    m = m_star + (m0 - m_star) * np.exp(-g_m * t)
    p = p0 + k_tl * (m_star * t + (m0 - m_star) * (1 - np.exp(-g_m * t)) / g_m)
    np.testing.assert_allclose(res["SA"], 2.0 ** (t / 60.0), rtol=rtol)
    np.testing.assert_allclose(res.amount("M"), m, rtol=rtol)
    np.testing.assert_allclose(res.amount("P"), p, rtol=rtol)


def test_a_built_package_carries_the_library(tmp_path):
    """Build the package as a wheel does (setup.py's build_py, away from the checkout) and
    use wc.models from the build: every file of models/ and sbml/ is there, and the library
    is read from the package, not from the repository."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("wholecell", "models", "sbml"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    out = tmp_path / "build"
    built = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(out)],
        cwd=src, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    packaged = out / "wholecell" / "models" / "_files"
    expected = {
        p.relative_to(ROOT) for top in ("models", "sbml") for p in (ROOT / top).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    carried = {p.relative_to(packaged) for p in packaged.rglob("*") if p.is_file()}
    assert carried == expected, (expected - carried, carried - expected)
    for name in NAMES:
        assert (packaged / wc.models.info(name).sbml.relative_to(ROOT)).is_file()
    code = textwrap.dedent("""
        import json
        import wholecell as wc
        names = wc.models.list()
        print(json.dumps({"file": wc.__file__, "root": str(wc.models.root()), "names": names,
                          "sbml": [str(wc.models.info(n).sbml) for n in names],
                          "card": wc.models.info("repressilator").card[:40],
                          "model": repr(wc.models.load("repressilator"))}))
    """)
    env = {**os.environ, "PYTHONPATH": str(out)}
    ran = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    got = json.loads(ran.stdout.strip().splitlines()[-1])
    assert Path(got["file"]).is_relative_to(out)
    assert Path(got["root"]) == packaged
    assert got["names"] == NAMES
    assert all(Path(p).is_relative_to(packaged) and Path(p).is_file() for p in got["sbml"])
    assert got["card"].startswith("# Elowitz & Leibler 2000")
    assert got["model"].startswith("Model(id='BIOMD0000000012'")
