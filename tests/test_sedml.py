"""SED-ML experiments and COMBINE archives: `wc.load`, `Experiment.run`, `wholecell run`.

Reference: libRoadRunner's CVODE run of the same SBML with the same changes, tolerances
and output times (the experiment `models/repressilator/simulation.sedml`, written by
phrasedml 1.3.0); a data generator's math against numpy. Refusals are checked by the
construct and element id they name.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

import wholecell as wc
from wholecell._cli import main
from wholecell.sedml._math import evaluate

ROOT = Path(__file__).parent.parent
EXPERIMENT = ROOT / "models" / "repressilator" / "simulation.sedml"
SBML = ROOT / "sbml" / "repressilator_BIOMD0000000012.xml"


def _roadrunner_report():
    roadrunner = pytest.importorskip("roadrunner")
    rr = roadrunner.RoadRunner(str(SBML))
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-12
    rr.setValue("init(PX)", 10.0)  # (this resets the parameters: set n after it)
    rr.n = 2.5
    out = rr.simulate(0, 600, 121, ["time", "[PX]", "[PY]", "[PZ]", "[X]", "[Y]", "[Z]",
                                    "beta"])
    t, px, py, pz, x, y, z, beta = (np.asarray(out[:, i]) for i in range(8))
    return {"task1.time": t, "task1.PX": px, "task1.PY": py, "task1.PZ": pz,
            "task1.X+task1.Y+task1.Z": x + y + z, "log10(task1.PX+1)": np.log10(px + 1),
            "task1.beta": beta}


def test_sedml_report_matches_libroadrunner(tmp_path):
    exp = wc.load(EXPERIMENT)
    assert isinstance(exp, wc.sedml.Experiment)
    assert exp.document.simulations["sim1"].options == (("rtol", 1e-10), ("atol", 1e-12))
    res = exp.run()
    report = res.reports["report_1"]
    reference = _roadrunner_report()
    assert list(report.columns) == list(reference)
    for label, expected in reference.items():
        np.testing.assert_allclose(report[label], expected, rtol=1e-6, atol=1e-9,
                                   err_msg=label)
    assert "task task1" in exp._repr_html_() and "ode, 121 points from 0 to 600" in \
        exp._repr_html_()
    assert "121 rows × 7 columns" in res._repr_html_()
    written = res.write(tmp_path / "out")
    assert sorted(p.name for p in written) == ["plot_0.png", "report_1.csv"]
    assert (tmp_path / "out" / "plot_0.png").read_bytes()[:4] == b"\x89PNG"


def _archive(path: Path, master: str | None, sedml: str) -> Path:
    fmt = "http://identifiers.org/combine.specifications/"
    entries = [("./experiment/simulation.sedml", fmt + "sed-ml"),
               ("./model/repressilator.xml", fmt + "sbml")]
    rows = "".join(
        f'<content location="{loc}" format="{f}"'
        + (' master="true"' if master and loc.endswith(master) else "") + "/>"
        for loc, f in entries
    )
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><omexManifest xmlns="http://'
                f'identifiers.org/combine.specifications/omex-manifest">{rows}</omexManifest>')
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("manifest.xml", manifest)
        z.writestr("experiment/simulation.sedml", sedml)
        z.writestr("model/repressilator.xml", SBML.read_text())
    return path


def test_combine_archive_runs_its_master_sedml_from_the_command_line(tmp_path):
    sedml = EXPERIMENT.read_text().replace(
        'source="../../sbml/repressilator_BIOMD0000000012.xml"',
        'source="../model/repressilator.xml"')
    omex = _archive(tmp_path / "repressilator.omex", "simulation.sedml", sedml)
    out = tmp_path / "reports"
    assert main(["run", str(omex), "-o", str(out), "--quiet"]) == 0
    import pandas as pd

    report = pd.read_csv(out / "report_1.csv")
    for label, expected in _roadrunner_report().items():
        np.testing.assert_allclose(report[label], expected, rtol=1e-6, atol=1e-9,
                                   err_msg=label)
    assert (out / "plot_0.png").is_file()
    # the same archive with the SBML file as master loads the model
    as_model = _archive(tmp_path / "model.omex", "repressilator.xml", sedml)
    assert isinstance(wc.load(as_model), wc.Model)
    # without a master, the only SED-ML file is the one opened
    assert isinstance(wc.load(_archive(tmp_path / "plain.omex", None, sedml)),
                      wc.sedml.Experiment)


def test_archives_without_what_they_need_are_clear_errors(tmp_path):
    bare = tmp_path / "bare.omex"
    with zipfile.ZipFile(bare, "w") as z:
        z.writestr("model.xml", SBML.read_text())
    with pytest.raises(wc.SedmlError, match="has no manifest.xml"):
        wc.load(bare)
    sedml = EXPERIMENT.read_text()  # names ../../sbml/..., not in the archive
    with pytest.raises(wc.SedmlError, match="lies outside COMBINE archive"):
        wc.load(_archive(tmp_path / "broken.omex", "simulation.sedml", sedml))
    with pytest.raises(wc.SedmlError, match="has no file 'model/other.xml'"):
        wc.load(_archive(tmp_path / "other.omex", "simulation.sedml", sedml.replace(
            "../../sbml/repressilator_BIOMD0000000012.xml", "../model/other.xml")))
    not_zip = tmp_path / "fake.omex"
    not_zip.write_text("hello")
    with pytest.raises(wc.SedmlError, match="not a zip file"):
        wc.load(not_zip)


def test_a_biomodels_urn_in_the_library_is_read_from_it():
    text = EXPERIMENT.read_text().replace(
        'source="../../sbml/repressilator_BIOMD0000000012.xml"',
        'source="urn:miriam:biomodels.db:BIOMD0000000012"')
    exp = wc.load(text)
    assert exp.models["model1"].id == "BIOMD0000000012"
    values = {p.id: p.value for p in exp.models["model2"].parameters}
    assert values["n"] == 2.5 and {p.id: p.value for p in exp.models["model1"].parameters}[
        "n"] == 2.0


def _with(old: str, new: str) -> str:
    text = EXPERIMENT.read_text()
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    ("old", "new", "error", "match"),
    [
        ('<task id="task1" modelReference="model2" simulationReference="sim1"/>',
         '<repeatedTask id="task1" range="r" resetModel="true"/>',
         wc.UnsupportedSedmlError, r"repeatedTask \(element 'task1'\)"),
        ('kisaoID="KISAO:0000019"', 'kisaoID="KISAO:0000437"',
         wc.UnsupportedSedmlError, r"algorithm KISAO:0000437 \(element 'sim1'\)"),
        ("<changeAttribute target", "<computeChange target",
         wc.UnsupportedSedmlError, r"computeChange \(element 'model2'\)"),
        ("[@id='n']/@value", "[@id='n']/@name",
         wc.UnsupportedSedmlError, r"changeAttribute target \(element 'model2'\)"),
        ('source="../../sbml/repressilator_BIOMD0000000012.xml"',
         'source="urn:miriam:biomodels.db:BIOMD0000009999"',
         wc.UnsupportedSedmlError, r"model source URN \(element 'model1'\)"),
        ('source="../../sbml/repressilator_BIOMD0000000012.xml"', 'source="missing.xml"',
         wc.SedmlError, "model file 'missing.xml' not found"),
        ('simulationReference="sim1"', 'simulationReference="sim9"',
         wc.SedmlError, "'task1' refers to simulation 'sim9'"),
        ("[@id='n']/@value", "[@id='nn']/@value",
         wc.SedmlError, "changes parameter 'nn', which its SBML model does not have"),
        ('outputEndTime="600"', 'outputEndTime="abc"',
         wc.SedmlError, "outputEndTime is not a number"),
        ("</listOfModels>", "</listOfModel>", wc.SedmlError, "malformed XML"),
    ],
    ids=["repeatedTask", "kisao", "computeChange", "attribute", "urn", "missing-file",
         "reference", "unknown-id", "nan-time", "malformed"],
)
def test_what_cannot_run_is_refused_by_name(tmp_path, old, new, error, match):
    path = tmp_path / "models" / "repressilator" / "simulation.sedml"
    path.parent.mkdir(parents=True)
    (tmp_path / "sbml").mkdir()
    (tmp_path / "sbml" / SBML.name).write_text(SBML.read_text())
    path.write_text(_with(old, new))
    with pytest.raises(error, match=match):
        wc.load(path)


def test_a_3d_plot_is_skipped_with_a_warning():
    text = _with("</listOfOutputs>", '<plot3D id="surface"/></listOfOutputs>')
    with pytest.warns(UserWarning, match=r"output 'surface' \(plot3D\) is not drawn"):
        exp = wc.load(text.replace("../../sbml/", str(SBML.parent) + "/"))
    assert "surface" not in exp.document.outputs


def test_data_generator_math_equals_numpy():
    x = np.array([0.5, 2.0, 8.0])
    mathml = ('<math xmlns="http://www.w3.org/1998/Math/MathML"><apply><plus/>'
              '<apply><log/><logbase><cn>2</cn></logbase><ci>x</ci></apply>'
              '<apply><root/><ci>x</ci></apply>'
              '<apply><max/><ci>x</ci><ci>k</ci></apply>'
              '<apply><minus/><apply><exp/><ci>k</ci></apply></apply></apply></math>')
    expected = np.log2(x) + np.sqrt(x) + np.maximum(x, 1.5) - np.exp(1.5)
    np.testing.assert_allclose(evaluate(mathml, {"x": x, "k": 1.5}, "dg"), expected,
                               rtol=1e-15)
    with pytest.raises(wc.UnsupportedSedmlError, match=r"'y' is neither"):
        evaluate(mathml.replace("<ci>k</ci>", "<ci>y</ci>", 1), {"x": x, "k": 1.5}, "dg")
