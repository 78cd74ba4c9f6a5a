"""The plugin end to end, through pytester: options, skips, baselines, failures, outputs."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
import yaml

TOY = '''
import os
import pytest
from harness import Metric

pytestmark = pytest.mark.memorization

def test_toy(claim, seeds):
    shift = float(os.environ.get("TOY_SHIFT", "0"))
    claim.record({"acc": [0.90 + 0.01 * s + shift for s in seeds]}, {"acc": Metric("higher", abs_tol=0.02)})
    claim.at_least("acc", 0.5)

@pytest.mark.full_only
def test_big(claim):
    claim.record({"acc": [1.0]}, {"acc": Metric("higher", abs_tol=0.0)})
    claim.at_least("acc", 0.5)

@pytest.mark.gpu_only
def test_gpu(claim):
    pass
'''


@pytest.fixture
def toy(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("TOY_SHIFT", raising=False)
    pytester.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n")
    pytester.mkdir("bench")
    pytester.path.joinpath("bench", "test_toy.py").write_text(TOY)
    return pytester


PERF_HEADER = "import pytest\nfrom harness import Metric\npytestmark = pytest.mark.perf\n"


def write_bench(pytester, name: str, body: str, header: str = PERF_HEADER) -> str:
    """bench/<name>.py holding `header` + `body`; returns its path for the command line."""
    pytester.path.joinpath("bench", f"{name}.py").write_text(header + body)
    return f"bench/{name}.py"


def claiming(name: str) -> str:
    """The source of test_<name>: records x = 1 on three seeds and claims x ≤ 2 (so it passes)."""
    return (f"def test_{name}(claim):\n    claim.record({{'x': [1, 1, 1]}}, {{'x': Metric('target', 0.0)}})\n"
            "    claim.at_most('x', 2)\n")


def newest_record(pytester) -> dict:
    """The run record the last session wrote (two sessions in one second are told apart by -2)."""
    paths = list((pytester.path / ".harness" / "runs").glob("*.json"))
    return json.loads(max(paths, key=lambda p: p.stat().st_mtime_ns).read_text())


def baseline_file(pytester):
    return pytester.path / "baselines" / "cpu" / "memorization.yaml"


def test_help_lists_options_with_defaults(toy):
    result = toy.runpytest("--help")
    out = result.stdout.str()
    for option, default in [("--device", "cpu"), ("--tier", "smoke"), ("--results-dir", ".harness/runs"),
                            ("--baselines-dir", "baselines")]:
        assert option in out and f"(default: {default})" in out.replace("\n", " ").replace("  ", " ") or \
            f"default: {default}" in out, option
    for flag in ("--seeds", "--update-baselines", "--require-baselines"):
        assert flag in out


def test_tier_and_device_skips_name_the_flag(toy):
    result = toy.runpytest("bench", "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*needs --tier full*", "*needs --device cuda*"])


def test_missing_baseline_is_a_warning_naming_the_record_command(toy):
    result = toy.runpytest("bench/test_toy.py::test_toy")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*no baseline for cpu*harness baselines update -k*"])


def test_require_baselines_turns_missing_into_failure(toy):
    result = toy.runpytest("bench/test_toy.py::test_toy", "--require-baselines")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no baseline for cpu*--require-baselines*"])


def test_update_writes_the_entry_then_check_passes(toy):
    result = toy.runpytest("bench/test_toy.py::test_toy", "--update-baselines")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*baselines updated*", "*test_toy.py::test_toy*acc*(new)*0.910*"])
    doc = yaml.safe_load(baseline_file(toy).read_text())
    entry = doc["entries"]["test_toy.py::test_toy[smoke]"]
    assert doc["schema"] == 1 and doc["device_class"] == "cpu"
    assert entry["seeds"] == [0, 1, 2]
    assert entry["metrics"]["acc"] == {"direction": "higher", "mean": 0.91, "std": 0.01,
                                       "values": [0.9, 0.91, 0.92], "abs_tol": 0.02}
    assert entry["recorded"]["tier"] == "smoke"
    again = toy.runpytest("bench/test_toy.py::test_toy", "--require-baselines")
    again.assert_outcomes(passed=1)


def test_planted_regression_fails_with_its_sentence(toy, monkeypatch):
    toy.runpytest("bench/test_toy.py::test_toy", "--update-baselines").assert_outcomes(passed=1)
    monkeypatch.setenv("TOY_SHIFT", "-0.2")
    result = toy.runpytest("bench/test_toy.py::test_toy")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([("*memorization/toy::toy acc fell from 0.910±0.010 (n=3) to 0.710±0.010 (n=3)"
                                  ", mean tolerance 0.144, per-seed tolerance 0.255 (direction: higher is better, "
                                  "device class cpu)*")])


def test_an_interrupted_update_writes_no_baseline(toy):
    toy.path.joinpath("bench", "test_zstop.py").write_text(
        "import pytest\npytestmark = pytest.mark.memorization\n"
        "def test_zstop(claim):\n    raise KeyboardInterrupt\n")
    result = toy.runpytest_subprocess("bench/test_toy.py::test_toy", "bench/test_zstop.py", "--update-baselines")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*baselines not updated: the session was interrupted*"])
    assert not baseline_file(toy).exists()


def test_a_missing_baselines_dir_is_a_usage_error_unless_updating(toy):
    for folder in ("nowhere", str(toy.path / "nowhere")):
        result = toy.runpytest("bench/test_toy.py::test_toy", "--baselines-dir", folder)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines(["*--baselines-dir */nowhere does not exist*"])
    toy.runpytest("bench/test_toy.py::test_toy", "--baselines-dir", "nowhere", "--update-baselines") \
        .assert_outcomes(passed=1)
    assert (toy.path / "nowhere" / "cpu" / "memorization.yaml").exists()


def test_seed_offset_runs_other_seeds_against_the_same_baseline(toy):
    toy.runpytest("bench/test_toy.py::test_toy", "--update-baselines").assert_outcomes(passed=1)
    result = toy.runpytest("bench/test_toy.py::test_toy", "--seed-offset", "2")
    result.assert_outcomes(passed=1)  # values 0.92..0.94: a new draw within the stored spread
    records = [json.loads(p.read_text()) for p in (toy.path / ".harness" / "runs").glob("*.json")]
    (record,) = [r for r in records if r["seed_offset"] == 2]
    assert record["seed_offset"] == 2 and record["tests"][0]["seeds"] == [2, 3, 4]
    bad = toy.runpytest("bench/test_toy.py::test_toy", "--seed-offset", "-1")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_two_runs_in_one_second_keep_both_records(tmp_path):
    from fake_records import phenomenon_record, run_record

    from harness.results.runs import write_run_record

    record = run_record([phenomenon_record("b/test_a.py::test_a", [0.9])])
    first, second = write_run_record(tmp_path, record), write_run_record(tmp_path, record)
    assert first != second and second.name.endswith("-cpu-2.json") and first.exists()


def test_a_timing_only_test_needs_no_claim(toy):
    path = write_bench(toy, "test_speed", "def test_speed(claim):\n"
                       "    claim.record({'speedup': [1.2]}, {'speedup': Metric('higher', 0.1, timing=True)}, "
                       "seeds=[0])\n")
    toy.runpytest(path).assert_outcomes(passed=1)


def test_improvement_within_direction_passes(toy, monkeypatch):
    toy.runpytest("bench/test_toy.py::test_toy", "--update-baselines").assert_outcomes(passed=1)
    monkeypatch.setenv("TOY_SHIFT", "0.05")
    toy.runpytest("bench/test_toy.py::test_toy").assert_outcomes(passed=1)


@pytest.mark.parametrize("shift, sentence", [
    ("-0.8", "*memorization/toy::toy acc: observed 0.110 ± 0.010 (n=3), expected >= 0.500*"),
    ("nan", "*acc is not finite*"),
], ids=["claim-fails", "nan"])
def test_failing_values_are_sentences_and_never_stored(toy, monkeypatch, shift, sentence):
    monkeypatch.setenv("TOY_SHIFT", shift)
    result = toy.runpytest("bench/test_toy.py::test_toy", "--update-baselines")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([sentence])
    assert not baseline_file(toy).exists()


@pytest.mark.parametrize("claims", [
    "claim.each_within('x', 0, 1)", "claim.greater('x', 'y')", "claim.greater('y', 'x', paired=True)",
    "claim.at_least('x', 0)", "claim.below('x', 1)",
])
def test_a_non_finite_metric_fails_the_same_under_every_claim(toy, claims):
    path = write_bench(toy, "test_nan", "def test_nan(claim):\n"
                       "    claim.record({'x': [1.0, float('nan'), 1.0], 'y': [1.0, 1.0, 1.0]},\n"
                       "                 {'x': Metric('higher', 0.1), 'y': Metric('higher', 0.1)})\n"
                       f"    {claims}\n")
    result = toy.runpytest(path)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*perf/nan::nan x is not finite: [[]1.0, nan, 1.0[]]*"])
    assert "KeyError" not in result.stdout.str()


@pytest.mark.parametrize("broken, message", [
    ("schema: 1\ndevice_class: cpu\nentries: {a: [1, 2\n", "*memorization.yaml line *not valid YAML*"),
    ("schema: 7\ndevice_class: cpu\nentries: {}\n", "*memorization.yaml line 1, key schema: schema version 7*"),
    (("schema: 1\ndevice_class: cpu\nentries:\n  'test_toy.py::test_toy[smoke]':\n"
      "    recorded: {commit: abc, date: 2026-11-23}\n    seeds: [0]\n    metrics:\n      acc: "
      "{direction: sideways, mean: 1, std: 0, values: [1], abs_tol: 0}\n"),
     "*line 8, key entries.test_toy.py::test_toy[[]smoke].metrics.acc.direction: unknown direction 'sideways'*"),
], ids=["corrupt-yaml", "unknown-schema", "unknown-direction"])
@pytest.mark.parametrize("update", [False, True], ids=["check", "update"])
def test_broken_baseline_is_a_usage_error_and_left_untouched(toy, broken, message, update):
    path = baseline_file(toy)
    path.parent.mkdir(parents=True)
    path.write_text(broken)
    result = toy.runpytest("bench/test_toy.py::test_toy", *(["--update-baselines"] if update else []))
    assert result.ret != 0
    output = result.stdout.lines + result.stderr.lines
    assert any(fnmatch.fnmatch(line, message) for line in output), "\n".join(output)
    assert path.read_text() == broken


def test_new_metric_is_reported_not_a_crash(toy):
    toy.runpytest("bench/test_toy.py::test_toy", "--update-baselines").assert_outcomes(passed=1)
    path = baseline_file(toy)
    doc = yaml.safe_load(path.read_text())
    doc["entries"]["test_toy.py::test_toy[smoke]"]["metrics"]["old_metric"] = \
        doc["entries"]["test_toy.py::test_toy[smoke]"]["metrics"].pop("acc")
    path.write_text(yaml.safe_dump(doc))
    result = toy.runpytest("bench/test_toy.py::test_toy")
    result.assert_outcomes(passed=1)
    record = newest_record(toy)
    sentences = [v["sentence"] for v in record["tests"][0]["verdicts"]]
    assert any("acc: new metric, no baseline yet" in s for s in sentences)
    assert any("old_metric: in the cpu baseline but no longer reported" in s for s in sentences)


def test_device_cuda_without_cuda_is_exit_4(toy):
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = toy.runpytest("bench", "--device", "cuda")
    assert result.ret == 4
    assert "CUDA is unavailable" in result.stderr.str()


@pytest.mark.parametrize("args, message", [
    (["--tier", "huge"], "*invalid choice: 'huge'*"),
    (["--seeds", "0"], "*--seeds must be a positive integer*"),
    (["--device", "tpu"], "*unknown device 'tpu'*"),
    (["--threads", "many"], "*--threads must be a positive integer*"),
], ids=["unknown-tier", "zero-seeds", "unknown-device", "bad-threads"])
def test_bad_options_are_usage_errors(toy, args, message):
    result = toy.runpytest("bench", *args)
    assert result.ret == 4
    result.stderr.fnmatch_lines([message])


def test_unwritable_results_dir_is_a_usage_error(toy):
    blocker = toy.path / "blocker"
    blocker.write_text("a file, not a directory")
    result = toy.runpytest("bench", "--results-dir", "blocker/runs")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--results-dir*cannot hold the run records*blocker is not a directory*"])


def test_update_refused_in_ci(toy, monkeypatch):
    monkeypatch.setenv("CI", "true")
    result = toy.runpytest("bench", "--update-baselines")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*never runs in CI*"])


def test_run_record_and_markdown_summary(toy, monkeypatch):
    summary = toy.path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = toy.runpytest("bench/test_toy.py::test_toy", "--seeds", "4")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*deep-learning phenomena (cpu, tier smoke)*",
                                 "*memorization/toy::toy*acc*0.915 ± *>= 0.500 ok*", "*harness: wrote*.json"])
    (path,) = (toy.path / ".harness" / "runs").glob("*-nogit-cpu.json")
    record = json.loads(path.read_text())
    test = record["tests"][0]
    assert record["env"]["device_class"] == "cpu" and record["env"]["threads"] >= 1
    assert record["env"]["thread_policy"] == "auto" and record["env"]["usable_cores"] >= 1
    assert test["seeds"] == [0, 1, 2, 3] and test["metrics"]["acc"]["values"] == pytest.approx([0.9, 0.91, 0.92, 0.93])
    assert test["outcome"] == "passed" and test["key"] == "test_toy.py::test_toy[smoke]"
    assert "| memorization/toy::toy" in summary.read_text()
    result.stdout.fnmatch_lines(["harness: 1 file in * s (smoke budget 180 s, 10 s a file on a quiet 2-core CPU; "
                                 "0 files over): slowest bench/test_toy.py * s"])
    assert "### Time" in summary.read_text()


def test_threads_option_sets_and_records_the_thread_count(toy):
    result = toy.runpytest("bench/test_toy.py::test_toy", "--threads", "1")
    result.assert_outcomes(passed=1)
    (path,) = (toy.path / ".harness" / "runs").glob("*-nogit-cpu.json")
    env = json.loads(path.read_text())["env"]
    assert env["threads"] == 1 and env["thread_policy"] == "1"


def test_benchmark_disable_still_checks_claims(toy, monkeypatch):
    path = write_bench(toy, "test_timed", "def test_timed(claim, bench):\n    out = bench(lambda: 3)\n"
                       "    claim.record({'x': [out] * 3}, {'x': Metric('target', 0.0)})\n    claim.at_most('x', 2)\n")
    result = toy.runpytest(path, "--benchmark-disable")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*x: observed 3.000 ± 0.000 (n=3), expected <= 2.000*"])


def test_timed_unit_lands_in_the_record(toy):
    path = write_bench(toy, "test_timed", "def test_timed(claim, bench):\n    bench(lambda: sum(range(1000)), rounds=4)\n"
                       "    claim.record({'x': [1, 1, 1]}, {'x': Metric('target', 0.0)})\n    claim.at_most('x', 2)\n")
    toy.runpytest(path, "--update-baselines").assert_outcomes(passed=1)
    record = newest_record(toy)
    assert len(record["tests"][0]["time_s"]["rounds"]) == 4
    entry = yaml.safe_load((toy.path / "baselines" / "cpu" / "perf.yaml").read_text())["entries"]
    assert entry["test_timed.py::test_timed[smoke]"]["time_s"]["median"] > 0


def test_metrics_without_a_claim_fail(toy):
    path = write_bench(toy, "test_lazy", "def test_lazy(claim):\n    claim.record({'x': [1, 1, 1]}, {'x': Metric('target', 0.0)})\n")
    result = toy.runpytest(path)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*states a claim: observed metrics recorded but no claim checked*"])


def test_missing_group_marker_is_reported(toy):
    path = write_bench(toy, "test_nogroup", claiming("nogroup"), header="from harness import Metric\n")
    result = toy.runpytest(path)
    assert result.ret != 0
    out = result.stdout.str() + result.stderr.str()
    assert "needs a group: put its file under benchmarks/<group>/" in out and "harness_groups" in out


PLAIN = """
import torch

def test_denormals_survive():
    assert torch.tensor(1e-40) * 1.0 != 0  # a denormal float32, flushed to zero under the harness numerics

def test_threads_and_precision_untouched():
    assert torch.get_num_threads() == {threads}
    assert torch.backends.cudnn.conv.fp32_precision == "{conv}"
"""


def test_plain_tests_see_torch_as_without_the_plugin(toy):
    """The plugin's numerics apply around harness tests only, and a session without one writes nothing."""
    import torch

    toy.path.joinpath("bench", "test_plain.py").write_text(
        PLAIN.format(threads=torch.get_num_threads(), conv=torch.backends.cudnn.conv.fp32_precision))
    toy.runpytest("bench/test_plain.py", "--threads", "1").assert_outcomes(passed=2)
    assert not (toy.path / ".harness").exists()
    # beside harness tests (which get 1 thread and flushed denormals) they still pass
    toy.runpytest("bench/test_plain.py::test_denormals_survive", "bench/test_toy.py::test_toy",
                  "bench/test_plain.py::test_threads_and_precision_untouched", "--threads", "1").assert_outcomes(passed=3)
    toy.runpytest("bench/test_toy.py::test_toy", "bench/test_plain.py", "--threads", "1").assert_outcomes(passed=3)


def test_no_harness_turns_the_plugin_off(toy):
    result = toy.runpytest("bench/test_toy.py::test_toy", "-p", "no:harness")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'claim' not found*"])


def test_groups_declared_in_the_ini(toy):
    toy.makeini("[pytest]\naddopts = --strict-markers -p no:cacheprovider\n"
                "harness_groups =\n    mymodel: my model's claims\n")
    path = write_bench(toy, "test_mine", claiming("mine"),
                       header="import pytest\nfrom harness import Metric\npytestmark = pytest.mark.mymodel\n")
    toy.runpytest(path, "--update-baselines").assert_outcomes(passed=1)
    assert (toy.path / "baselines" / "cpu" / "mymodel.yaml").exists()
    # the suite's own groups are no longer declared there: a test marked with one has no group
    result = toy.runpytest("bench/test_toy.py::test_toy")
    assert result.ret != 0
    assert "harness_groups" in result.stdout.str() and "declared: mymodel" in result.stdout.str()


def test_a_malformed_group_line_names_the_option(toy):
    toy.makeini("[pytest]\nharness_groups =\n    my model: spaces are no identifier\n")
    result = toy.runpytest("bench/test_toy.py::test_toy")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*harness_groups*does not start with a group name*"])


def test_any_folder_under_benchmarks_is_a_group(toy):
    folder = toy.path / "benchmarks" / "my_optimizer"
    folder.mkdir(parents=True)
    folder.joinpath("test_opt.py").write_text("from harness import Metric\n" + claiming("opt"))
    result = toy.runpytest("benchmarks", "-m", "my_optimizer", "--update-baselines")
    result.assert_outcomes(passed=1)
    assert newest_record(toy)["tests"][0]["where"] == "my_optimizer/opt::opt"
    assert (toy.path / "baselines" / "cpu" / "my_optimizer.yaml").exists()


def test_the_folder_names_the_group_and_its_marker_selects(toy):
    folder = toy.path / "bench" / "landscape"
    folder.mkdir()
    folder.joinpath("test_flat.py").write_text("from harness import Metric\n" + claiming("flat"))
    result = toy.runpytest("bench", "-m", "landscape", "-v")
    result.assert_outcomes(passed=1)
    record = newest_record(toy)
    assert record["tests"][0]["where"] == "landscape/flat::flat" and record["tests"][0]["group"] == "landscape"


def test_xdist_update_keeps_every_entry(toy):
    pytest.importorskip("xdist")
    params = ", ".join(str(i) for i in range(8))
    toy.path.joinpath("bench", "test_many.py").write_text(
        "import pytest\nfrom harness import Metric\npytestmark = pytest.mark.memorization\n"
        f"@pytest.mark.parametrize('i', [{params}], ids=lambda i: f'i={{i}}')\n"
        "def test_many(claim, i):\n    claim.record({'x': [i, i, i]}, {'x': Metric('target', 0.0)})\n"
        "    claim.at_least('x', 0)\n")
    result = toy.runpytest_subprocess("bench/test_many.py", "-n", "2", "--update-baselines", "-p", "xdist", "-v")
    result.assert_outcomes(passed=8)
    assert len(set(re.findall(r"\[(gw\d)\]", result.stdout.str()))) == 1  # one file: one worker (--dist loadfile)
    entries = yaml.safe_load(baseline_file(toy).read_text())["entries"]
    assert sorted(entries) == sorted(f"test_many.py::test_many[i={i}-smoke]" for i in range(8))
    # a second, partial update leaves the other entries alone
    toy.runpytest("bench/test_many.py::test_many[i=3]", "--update-baselines").assert_outcomes(passed=1)
    assert len(yaml.safe_load(baseline_file(toy).read_text())["entries"]) == 8


def test_runs_beside_a_directory_with_its_own_conftest(toy):
    """A conftest in a sibling folder makes pluggy hash the registered plugins (found by a full run)."""
    toy.mkdir("unit")
    toy.path.joinpath("unit", "conftest.py").write_text("import pytest\n")
    toy.path.joinpath("unit", "test_unit.py").write_text("def test_unit():\n    pass\n")
    result = toy.runpytest("unit", "bench/test_toy.py::test_toy")
    result.assert_outcomes(passed=2)


def test_timing_claims_skip_under_xdist(toy):
    pytest.importorskip("xdist")
    path = write_bench(toy, "test_speed", "@pytest.mark.timing\ndef test_speed(claim):\n"
                       "    claim.record({'x': [1.0]}, {'x': Metric('higher', 0.1)})\n    claim.at_least('x', 0.5)\n")
    result = toy.runpytest_subprocess(path, "-n", "2", "-p", "xdist", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*timing claims need the cores to themselves: run without -n*"])
    toy.runpytest(path).assert_outcomes(passed=1)


def test_local_dataset_skips_naming_the_variable(toy, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    path = write_bench(toy, "test_real", "@pytest.mark.full_only\ndef test_real(local_dataset):\n"
                       "    local_dataset('mnist')\n")
    result = toy.runpytest(path, "--tier", "full", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*needs mnist files: $HARNESS_DATA_DIR is not set*"])


SHARDED = "import pytest\nfrom harness import Metric\npytestmark = pytest.mark.memorization\n" + "".join(
    f"def test_{name}(claim):\n    claim.record({{'x': [1, 1, 1]}}, {{'x': Metric('target', 0.0)}})\n"
    "    claim.at_least('x', 0)\n" for name in ("one", "two"))


def test_shards_split_the_suite_and_their_records_merge(toy, monkeypatch):
    for f in range(4):
        toy.path.joinpath("bench", f"test_part{f}.py").write_text(SHARDED)
    monkeypatch.setenv("HARNESS_RUN_ID", "night-1")
    ran = []
    for i in (1, 2, 3):
        result = toy.runpytest("bench", "--shard", f"{i}/3", "-k", "part", "--results-dir", f"runs/{i}", "-v")
        ran.append({line.split(" ")[0] for line in result.stdout.lines if " PASSED" in line})
    assert all(ran) and set.union(*ran) == {f"bench/test_part{f}.py::test_{n}" for f in range(4) for n in ("one", "two")}
    assert sum(len(r) for r in ran) == 8  # disjoint
    from harness.results import runs
    (merged,) = runs.runs(runs.load_run_records([toy.path / "runs"]))
    assert merged.run_id == "night-1" and merged.shards == ["1/3", "2/3", "3/3"]
    assert merged.counts["passed"] == 8 and len(merged.durations) == 8


def test_shard_durations_balance_and_bad_shards_are_usage_errors(toy):
    for f in range(3):
        toy.path.joinpath("bench", f"test_part{f}.py").write_text(SHARDED)
    toy.runpytest("bench", "-k", "part", "--results-dir", "first").assert_outcomes(passed=6)
    (record,) = (toy.path / "first").glob("*.json")
    data = json.loads(record.read_text())
    data["durations"] = {k: (50.0 if "part0" in k else 1.0) for k in data["durations"]}
    record.write_text(json.dumps(data))
    result = toy.runpytest("bench", "-k", "part", "--shard", "1/2", "--shard-durations", "first", "-v")
    result.assert_outcomes(passed=2)  # the heavy file alone
    result.stdout.fnmatch_lines(["*test_part0.py::test_one PASSED*"])
    result = toy.runpytest("bench", "--shard", "3/2")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--shard expects I/N*"])


@pytest.mark.parametrize(("flag", "shown"), [("on", True), ("off", False), ("auto", False)])
def test_progress_line_per_finished_claim(toy, monkeypatch, flag, shown):
    monkeypatch.setenv("CI", "true")  # auto is silent under CI
    result = toy.runpytest("bench/test_toy.py::test_toy", "--progress", flag)
    lines = fnmatch.filter(result.stdout.lines, "harness: ok    memorization/toy::toy  acc 0.910  (*s)")
    assert bool(lines) == shown


def test_plots_option_writes_the_html_report(toy):
    path = write_bench(toy, "test_curvy", "def test_curvy(claim):\n"
                       "    claim.record({'x': [1, 1, 1]}, {'x': Metric('target', 0.0)})\n"
                       "    claim.curve('loss', [1, 2, 3], [[3, 2, 1]] * 3, xlabel='epoch', ylabel='loss')\n"
                       "    claim.at_least('x', 0)\n")
    toy.runpytest(path, "--plots").assert_outcomes(passed=1)
    (page,) = (toy.path / ".harness" / "runs").glob("*/index.html")
    assert "perf_curvy_curvy--loss.png" in page.read_text()
    assert next(page.parent.rglob("*.png")).read_bytes().startswith(b"\x89PNG")


def test_plots_without_matplotlib_is_a_usage_error_naming_the_extra(toy, monkeypatch):
    monkeypatch.setattr("harness.plugin.session._matplotlib_installed", lambda: False)
    result = toy.runpytest("bench/test_toy.py", "--plots")
    assert result.ret == 4
    assert "--plots needs matplotlib: pip install -e '.[plots]'" in result.stderr.str()
