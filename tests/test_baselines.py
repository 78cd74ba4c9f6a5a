"""The YAML store: validation with lines, comparison by direction, atomic merging writes."""

import dataclasses
import re
import statistics

import pytest
import yaml
from fake_records import phenomenon_record

from harness import Metric
from harness.results import baselines
from harness.results.schema import MetricRecord, TimeSummary


def entry(values, direction="higher", abs_tol=0.01):
    mean = sum(values) / len(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"recorded": {"commit": "abc", "dirty": False, "date": "2026-11-23"}, "seeds": list(range(len(values))),
            "metrics": {"acc": {"direction": direction, "mean": mean, "std": std, "values": values, "abs_tol": abs_tol}}}


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
    with pytest.raises(baselines.BaselineError, match=r"line \d+, key entries.t\[smoke\].metrics.acc.mean: expected a finite number"):
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
    assert "device class cpu" in verdict.sentence and "mean tolerance 0.020" in verdict.sentence


def test_a_collapsed_seed_fails_although_the_new_spread_is_large():
    """The new run's own spread never widens its tolerance: one diverged seed is a regression."""
    stored = entry([0.94, 0.95, 0.96], "higher", abs_tol=0.01)
    (verdict,) = baselines.compare("g/t", stored, {"acc": [0.95, 0.10, 0.95]}, {"acc": Metric("higher", 0.01)},
                                   "cpu", seeds=[0, 1, 2])
    assert verdict.passed is False
    assert "seed 1 at 0.100" in verdict.sentence and "collapsed or diverged seed" in verdict.sentence


def test_one_bad_seed_fails_even_when_the_mean_stays_within_tolerance():
    stored = entry([0.5, 0.6, 0.7, 0.5, 0.6, 0.7, 0.6], "lower", abs_tol=0.2)  # a noisy metric, wide mean band
    (verdict,) = baselines.compare("g/t", stored, {"acc": [0.5, 0.6, 0.55, 0.6, 1.6]},
                                   {"acc": Metric("lower", 0.2)}, "cpu", seeds=[10, 11, 12, 13, 14])
    assert verdict.passed is False and "seed 14 at 1.600" in verdict.sentence


def test_a_shifted_mean_fails_and_a_new_seed_draw_passes():
    stored = entry([0.90, 0.91, 0.92] * 4, "higher", abs_tol=0.01)  # 12 stored seeds, as smoke baselines have
    spec = {"acc": Metric("higher", 0.01)}
    (shifted,) = baselines.compare("g/t", stored, {"acc": [0.855, 0.86, 0.865]}, spec, "cpu")
    (redrawn,) = baselines.compare("g/t", stored, {"acc": [0.905, 0.92, 0.90]}, spec, "cpu")
    assert shifted.passed is False and "fell from 0.910" in shifted.sentence
    assert redrawn.passed is True


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


@pytest.mark.parametrize(("text", "message"), [
    ("entries:\n  a:\n    {entry}\n  a:\n    {entry}\n", "line 6, key entries.a: duplicate key (first at line 4)"),
    ("entries:\n  a:\n    {entry_mean_twice}\n", "key entries.a.metrics.acc.mean: duplicate key"),
    ("entries:\n  a:\n    {entry_bool}\n", "key entries.a.metrics.acc.mean: expected a finite number, got True"),
    ("entries:\n  a:\n    {entry_time_null}\n", "key entries.a.time_s: expected median and iqr"),
    ("entries:\n  a:\n    {entry_no_recorded}\n", "key entries.a.recorded: expected a mapping with at least commit"),
])
def test_hand_edits_that_would_mislead_are_errors_with_line_and_key(tmp_path, text, message):
    metric = "acc: {direction: higher, mean: %s, std: 0.0, values: [0.9], abs_tol: 0.01}"
    recorded = "recorded: {commit: abc, date: 2026-11-23}, seeds: [0]"
    entries = {
        "entry": "{%s, metrics: {%s}}" % (recorded, metric % "0.9"),
        "entry_mean_twice": "{%s, metrics: {acc: {direction: higher, mean: 0.9, mean: 0.5, std: 0.0, values: [0.9], "
                            "abs_tol: 0.01}}}" % recorded,
        "entry_bool": "{%s, metrics: {%s}}" % (recorded, metric % "true"),
        "entry_time_null": "{%s, time_s: null, metrics: {%s}}" % (recorded, metric % "0.9"),
        "entry_no_recorded": "{seeds: [0], metrics: {%s}}" % (metric % "0.9"),
    }
    path = tmp_path / "cpu" / "g.yaml"
    path.parent.mkdir()
    path.write_text("schema: 1\ndevice_class: cpu\n" + text.format(**entries))
    with pytest.raises(baselines.BaselineError, match=re.escape(message)):
        baselines.load(path, "cpu")


def test_a_write_keeps_the_mode_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "cpu" / "g.yaml"
    baselines.write_entries(path, "cpu", {"a": entry([1.0])})
    path.chmod(0o640)
    baselines.write_entries(path, "cpu", {"b": entry([0.5])})
    assert path.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in path.parent.iterdir()) == [".g.yaml.lock", "g.yaml"]


def test_a_merged_document_that_would_not_read_back_is_never_written(tmp_path):
    path = tmp_path / "cpu" / "g.yaml"
    baselines.write_entries(path, "cpu", {"a": entry([1.0])})
    before = path.read_text()
    broken = entry([1.0])
    broken["metrics"]["acc"]["mean"] = float("nan")
    with pytest.raises(baselines.BaselineError, match="expected a finite number"):
        baselines.write_entries(path, "cpu", {"b": broken})
    assert path.read_text() == before and len(list(path.parent.iterdir())) == 2


def test_records_with_non_finite_values_or_odd_names_are_refused(tmp_path):
    nan = dataclasses.replace(phenomenon_record("g/test_t.py::test_t", [1.0, 2.0]),
                              metrics={"acc": MetricRecord("higher", 0.1, [1.0, float("nan")], float("nan"),
                                                           float("nan"), 2, 0.0)})
    with pytest.raises(baselines.BaselineError, match="not all finite"):
        baselines.write_records(tmp_path, "cpu", [nan])
    escape = dataclasses.replace(phenomenon_record("g/test_t.py::test_t", [1.0]), group="../../outside")
    for device_class, record in (("cpu", escape), ("../cpu", phenomenon_record("g/test_t.py::test_t", [1.0]))):
        with pytest.raises(baselines.BaselineError, match="not a plain group or device-class name"):
            baselines.write_records(tmp_path / "store", device_class, [record])
    assert not list(tmp_path.rglob("*.yaml"))
