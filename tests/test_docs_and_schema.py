"""The documentation is generated and current, cites nothing outside the repository, and the run
record's JSON Schema says what the dataclasses write."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
from fake_records import phenomenon_record, run_record

from harness.reporting import catalogue
from harness.results import schema
from harness.results.runs import load_run_record, write_run_record
from harness.results.schema import Curve, Matrix, RunRecord

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "src" / "harness" / "results" / "run_record.schema.json"


def test_phenomena_catalogue_and_readme_table_are_current():
    generated = catalogue.generate(ROOT, ROOT / "benchmarks", ROOT / "baselines", ROOT / "docs" / "phenomena.md",
                                   ROOT / "README.md")
    stale = [str(path.relative_to(ROOT)) for path, text in generated.items() if path.read_text(encoding="utf-8") != text]
    assert not stale, f"{stale} stale: run `harness docs` and commit the result"


def test_every_benchmark_is_in_the_catalogue_with_its_stored_figures():
    text = (ROOT / "docs" / "phenomena.md").read_text(encoding="utf-8")
    for path in (ROOT / "benchmarks").glob("*/test_*.py"):
        assert f"`benchmarks/{path.parent.name}/{path.name}`" in text
    assert "### Stored figures (cpu)" in text and "| smoke | 0–11 (n=12) |" in text


def test_nothing_cites_files_outside_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    outside = ("PHENOMENA" + ".md", "../" + "shared", "DESIGN" + ".md", "STYLE" + ".md")
    citing = [f"{name}: {word}" for name in tracked if (ROOT / name).is_file() and not name.endswith((".png", ".yaml"))
              for word in outside if word in (ROOT / name).read_text(encoding="utf-8", errors="ignore")]
    assert not citing, citing


@pytest.mark.parametrize(("title", "name"), [
    ("M1 — networks memorize random labels (Zhang et al. 2017, ICLR; Table 1).", "M1 — networks memorize random labels"),
    ("R1 — blocks (the first excepted) barely matter (Veit et al. 2016 (NeurIPS)).", "R1 — blocks (the first excepted) barely matter"),
    ("Perf — no source here.", "Perf — no source here"),
])
def test_a_phenomenon_is_named_by_its_title_without_the_source(title, name):
    assert catalogue.Phenomenon("g", Path("b/g/test_x.py"), title, "", {}).name == name


def _schema():
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def test_a_written_record_validates_against_the_shipped_schema(tmp_path):
    test = dataclasses.replace(
        phenomenon_record("b/test_a.py::test_a", [0.9, 0.8, 0.7]),
        curves={"loss": Curve(x=[1, 2], y=[[1.0, None]], xlabel="epoch", ylabel="loss", figure="loss")},
        matrices={"m": Matrix(values=[[1.0, 0.0], [0.0, 1.0]], rows=["a", "b"], columns=["a", "b"])},
        notes={"anything": [1, "two"]})
    path = write_run_record(tmp_path, run_record([test], shard="1/2"))
    data = json.loads(path.read_text())
    jsonschema.validate(data, _schema())
    assert load_run_record(path).tests[0] == test  # what is written reads back equal


def test_the_schema_names_exactly_the_dataclass_fields():
    defs = _schema()["$defs"]
    pairs = {"test": schema.TestRecord, "metric": schema.MetricRecord, "verdict": schema.Verdict,
             "recorded": schema.Recorded, "time": schema.TimeSummary, "curve": schema.Curve, "matrix": schema.Matrix}
    for name, cls in pairs.items():
        assert set(defs[name]["properties"]) == {f.name for f in dataclasses.fields(cls)}, name
    run_fields = {f.name for f in dataclasses.fields(RunRecord)} - {"sources"}  # sources: where it was read from
    assert set(_schema()["properties"]) == run_fields
    assert _schema()["properties"]["schema"]["const"] == schema.SCHEMA_VERSION


def test_a_broken_record_fails_the_schema():
    data = run_record([phenomenon_record("b/test_a.py::test_a", [0.9])]).to_json()
    data["tests"][0]["metrics"]["acc"]["direction"] = "sideways"
    with pytest.raises(jsonschema.ValidationError, match="sideways"):
        jsonschema.validate(data, _schema())


def test_schema_1_records_still_read(tmp_path):
    old = run_record([phenomenon_record("b/test_a.py::test_a", [0.9, 0.9])]).to_json()
    old["schema"] = 1
    test = old["tests"][0]
    test["extras"] = {"rounds_s": [1.0, 2.0]}
    test["curves"] = {"acc": {"x": [1, 2], "y": [[0.5, 0.9]], "xlabel": "epoch", "ylabel": "acc"}}
    for key in ("matrices", "notes"):
        del test[key]
    del test["recorded"]["device"], test["recorded"]["tier"]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    record = load_run_record(path)
    assert record.schema == schema.SCHEMA_VERSION and record.tests[0].notes == {"rounds_s": [1.0, 2.0]}
    assert record.tests[0].curves["acc"].figure == "acc"


def test_an_unknown_schema_is_refused_with_the_versions_read(tmp_path):
    path = tmp_path / "future.json"
    path.write_text(json.dumps({"schema": 9, "tests": []}))
    with pytest.raises(ValueError, match="schema 1 or 2"):
        load_run_record(path)
