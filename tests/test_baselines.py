"""The YAML store: validation with lines, comparison by direction, atomic merging writes."""

import dataclasses

import pytest
import yaml
from fake_records import phenomenon_record

from harness import Metric
from harness.results import baselines
from harness.results.schema import TimeSummary


def entry(values, direction="higher", abs_tol=0.01):
    mean = sum(values) / len(values)
    return {"recorded": {"commit": "abc", "dirty": False}, "seeds": list(range(len(values))),
            "metrics": {"acc": {"direction": direction, "mean": mean, "std": 0.0, "values": values, "abs_tol": abs_tol}}}


def test_write_merges_and_keeps_other_entries(tmp_path):
    path = tmp_path / "cpu" / "memorization.yaml"
    assert baselines.write_entries(path, "cpu", {"a[smoke]": entry([1.0, 1.0])}) == {"a[smoke]": None}
    before = baselines.write_entries(path, "cpu", {"b[smoke]": entry([0.5, 0.5])})
    assert before == {"b[smoke]": None}
    loaded = baselines.load(path, "cpu")
    assert sorted(loaded) == ["a[smoke]", "b[smoke]"]
    before = baselines.write_entries(path, "cpu", {"a[smoke]": entry([0.9, 0.9])})
    assert before["a[smoke]"]["metrics"]["acc"]["mean"] == 1.0
    assert baselines.load(path, "cpu")["a[smoke]"]["metrics"]["acc"]["mean"] == 0.9
    assert not list(path.parent.glob("*.tmp"))  # temp files renamed away


def test_refuses_to_write_over_a_broken_file(tmp_path):
    path = tmp_path / "cpu" / "g.yaml"
    path.parent.mkdir()
    path.write_text("schema: 1\nentries: [oops\n")
    with pytest.raises(baselines.BaselineError, match="line 3: not valid YAML"):
        baselines.write_entries(path, "cpu", {"a": entry([1.0])})
    assert path.read_text() == "schema: 1\nentries: [oops\n"


def test_validation_names_key_and_line(tmp_path):
    path = tmp_path / "g.yaml"
    doc = {"schema": 1, "device_class": "cpu", "entries": {"t[smoke]": entry([1.0])}}
    doc["entries"]["t[smoke]"]["metrics"]["acc"]["mean"] = float("nan")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    with pytest.raises(baselines.BaselineError, match=r"line \d+, key entries.t\[smoke\].metrics.acc: .*finite"):
        baselines.load(path, "cpu")


def test_wrong_device_class_is_refused(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("schema: 1\ndevice_class: cuda-x\nentries: {}\n")
    with pytest.raises(baselines.BaselineError, match="file is for 'cuda-x' but lies under 'cpu'"):
        baselines.load(path, "cpu")


@pytest.mark.parametrize("direction, new, regressed", [
    ("higher", [0.80, 0.80], True), ("higher", [0.99, 0.99], False),
    ("lower", [0.99, 0.99], True), ("lower", [0.80, 0.80], False),
    ("target", [0.80, 0.80], True), ("target", [0.99, 0.99], True), ("target", [0.905, 0.905], False),
])
def test_compare_respects_direction(direction, new, regressed):
    stored = entry([0.9, 0.9], direction, abs_tol=0.02)
    (verdict,) = baselines.compare("g/t", stored, {"acc": new}, {"acc": Metric(direction, 0.02)}, "cpu")
    assert verdict.passed is (not regressed)
    assert "device class cpu" in verdict.sentence and "tolerance 0.020" in verdict.sentence


def test_make_entry_rounds_and_keeps_timing():
    record = dataclasses.replace(phenomenon_record("g/test_t.py::test_t", [0.123456789] * 2),
                                 time_s=TimeSummary(median=1.23456789, iqr=0.1, rounds=[1.2, 1.3]))
    made = baselines.make_entry(record)
    assert made["recorded"]["commit"] == "abc1234" and made["seeds"] == [0, 1]
    assert made["metrics"]["acc"]["mean"] == 0.123457
    assert made["time_s"] == {"median": 1.23457, "iqr": 0.1}


def test_time_derived_regression_only_warns():
    stored = entry([2.0, 2.0], "higher", abs_tol=0.1)
    (verdict,) = baselines.compare("perf/t", stored, {"acc": [1.0, 1.0]}, {"acc": Metric("higher", 0.1, timing=True)},
                                   "cpu")
    assert verdict.passed is None and "warning only" in verdict.sentence


def test_update_without_timing_keeps_the_stored_time(tmp_path):
    path = tmp_path / "cpu" / "g.yaml"
    baselines.write_entries(path, "cpu", {"a": {**entry([1.0]), "time_s": {"median": 2.0, "iqr": 0.1}}})
    baselines.write_entries(path, "cpu", {"a": entry([0.9])})
    stored = baselines.load(path, "cpu")["a"]
    assert stored["time_s"] == {"median": 2.0, "iqr": 0.1} and stored["metrics"]["acc"]["mean"] == 0.9
