"""`harness` commands on hand-made run records and baseline files."""

import dataclasses

import pytest
import yaml
from fake_records import phenomenon_record, write
from fake_records import run_record as fake_run

from harness import cli


def run_record(values, rounds=(1.0, 1.01, 0.99, 1.0, 1.02), direction="higher"):
    return fake_run([phenomenon_record("b/test_t.py::test_t", values, direction=direction, rounds=rounds)])


def test_compare_exits_0_on_a_rerun_and_1_on_a_regression(tmp_path, capsys):
    a = write(tmp_path, "a.json", run_record([0.90, 0.91, 0.92, 0.91, 0.90]))
    same = write(tmp_path, "same.json", run_record([0.91, 0.90, 0.91, 0.92, 0.90]))
    worse = write(tmp_path, "worse.json", run_record([0.80, 0.81, 0.79, 0.80, 0.81]))
    assert cli.main(["compare", str(a), str(same)]) == 0
    assert cli.main(["compare", str(a), str(worse)]) == 1
    assert "REGRESSED" in capsys.readouterr().out


@pytest.mark.parametrize(("change", "message"), [
    ({"device_class": "cuda-nvidia-h200"}, "different device classes (cpu and cuda-nvidia-h200)"),
    ({"tier": "full"}, "different tiers (smoke and full)"),
])
def test_compare_refuses_runs_of_another_device_class_or_tier(tmp_path, capsys, change, message):
    a = write(tmp_path, "a.json", run_record([0.9] * 5))
    other = run_record([0.5] * 5)
    other = dataclasses.replace(other, tier=change.get("tier", other.tier),
                                env={**other.env, "device_class": change.get("device_class", "cpu")})
    b = write(tmp_path, "b.json", other)
    assert cli.main(["compare", str(a), str(b)]) == 2
    assert message in capsys.readouterr().err


def test_compare_p_values_never_exceed_one(tmp_path, capsys):
    a = write(tmp_path, "a.json", run_record([0.90, 0.91, 0.92], direction="target"))
    b = write(tmp_path, "b.json", run_record([0.90, 0.91, 0.92], direction="target"))
    assert cli.main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    p_values = [float(part.split("=")[1].rstrip(",")) for part in out.split() if part.startswith("p=")]
    assert p_values and all(p <= 1 for p in p_values)


def test_compare_flags_a_significant_slowdown_past_the_ratio(tmp_path, capsys):
    a = write(tmp_path, "a.json", run_record([0.9] * 5))
    slow = write(tmp_path, "slow.json", run_record([0.9] * 5, rounds=(2.5, 2.52, 2.49, 2.51, 2.5)))
    noisy = write(tmp_path, "noisy.json", run_record([0.9] * 5, rounds=(1.5, 1.52, 1.49, 1.51, 1.5)))
    assert cli.main(["compare", str(a), str(slow)]) == 1
    assert "SLOWER" in capsys.readouterr().out
    assert cli.main(["compare", str(a), str(noisy)]) == 0  # within the run-to-run spread of a shared machine
    assert cli.main(["compare", str(a), str(noisy), "--time-ratio", "1.2"]) == 1  # a dedicated runner


def test_compare_says_when_rounds_are_too_few_to_judge(tmp_path, capsys):
    a = write(tmp_path, "a.json", run_record([0.9] * 5, rounds=(1.0, 1.0, 1.0)))
    slow = write(tmp_path, "slow.json", run_record([0.9] * 5, rounds=(3.0, 3.1, 3.2)))
    assert cli.main(["compare", str(a), str(slow)]) == 0
    assert "too few rounds ever to reach p < 0.01" in capsys.readouterr().out


def test_update_from_run_then_show_and_diff(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    run = write(tmp_path, "run.json", run_record([0.9, 0.91, 0.92]))
    store = tmp_path / "baselines"
    assert cli.main(["baselines", "update", "--from", str(run), "--dir", str(store)]) == 0
    doc = yaml.safe_load((store / "cpu" / "memorization.yaml").read_text())
    assert doc["entries"]["test_t.py::test_t[smoke]"]["metrics"]["acc"]["values"] == [0.9, 0.91, 0.92]
    assert cli.main(["baselines", "show", "--dir", str(store), "-k", "test_t"]) == 0
    assert "memorization/test_t.py::test_t[smoke]" in capsys.readouterr().out
    newer = run_record([0.5, 0.5, 0.5])
    assert cli.main(["baselines", "diff", str(write(tmp_path, "new.json", newer)), "--dir", str(store)]) == 0
    assert "-0.410" in capsys.readouterr().out


def test_update_refused_in_ci(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    assert cli.main(["baselines", "update", "--from", "x.json"]) == 2
    assert "never written in CI" in capsys.readouterr().err


def test_not_a_run_record_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert cli.main(["compare", str(bad), str(bad)]) == 2
    assert "not a harness run record" in capsys.readouterr().err


def test_help_for_every_command(capsys):
    for argv in (["--help"], ["baselines", "--help"], ["baselines", "update", "--help"], ["compare", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 0
    assert "(default: smoke)" in capsys.readouterr().out


def test_a_run_with_a_planted_fault_never_becomes_a_baseline(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    record = run_record([0.9, 0.91, 0.92])
    record = dataclasses.replace(record, env={**record.env, "planted_fault": "init"})
    run = write(tmp_path, "run.json", record)
    assert cli.main(["baselines", "update", "--from", str(run), "--dir", str(tmp_path / "store")]) == 2
    assert "planted fault 'init'" in capsys.readouterr().err and not (tmp_path / "store").exists()


def test_orphans_lists_entries_without_a_test_and_deletes_them_when_asked(tmp_path, monkeypatch, capsys):
    from harness.results import baselines

    (tmp_path / "benchmarks" / "memorization").mkdir(parents=True)
    (tmp_path / "benchmarks" / "memorization" / "test_a.py").write_text("def test_kept():\n    pass\n")
    entry = baselines.make_entry(phenomenon_record("benchmarks/memorization/test_a.py::test_kept", [0.9, 0.91, 0.92]))
    path = baselines.group_path(tmp_path / "baselines", "cpu", "memorization")
    baselines.write_entries(path, "cpu", {"test_a.py::test_kept[smoke]": entry, "test_a.py::test_gone[smoke]": entry})
    monkeypatch.chdir(tmp_path)
    assert cli.main(["baselines", "orphans"]) == 1
    assert "test_a.py::test_gone[smoke] (no such test" in capsys.readouterr().out
    assert cli.main(["baselines", "orphans", "--delete"]) == 0
    assert list(baselines.load(path, "cpu")) == ["test_a.py::test_kept[smoke]"]
    assert cli.main(["baselines", "orphans"]) == 0


def test_version_and_bare_commands(capsys):
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"harness {version('harness')}"
    assert cli.main(["baselines"]) == 2
    assert "usage: harness baselines" in capsys.readouterr().out
    assert cli.main(["data"]) == 2
    assert "fetch" in capsys.readouterr().out


@pytest.mark.parametrize("ratio", ["1", "0.5", "-2", "nan", "fast"])
def test_time_ratio_must_be_a_slowdown(tmp_path, capsys, ratio):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["compare", "a.json", "b.json", "--time-ratio", ratio])
    assert exit_.value.code == 2 and "--time-ratio must be a number above 1" in capsys.readouterr().err
