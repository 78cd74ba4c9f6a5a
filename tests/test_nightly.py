"""ci/: the workflow passes actionlint, and ci/nightly.sh (what the nightly job runs) produces the
record, the reports and the plots, and goes red on a planted regression."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ACTIONLINT = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
# Three quick tests (about 1 s of training on a CPU): a claim, a timed unit and a curve.
FAST = '-k "finite_sample_expressivity or plain_epoch_time or condition_number_grows"'
ENTRY = "test_finite_sample_expressivity.py::test_two_layer_net_fits_any_labels[smoke]"


@pytest.fixture
def actionlint():
    if ACTIONLINT is None:
        pytest.fail("actionlint is missing: pip install -e '.[dev]' -c constraints.txt installs it")
    return lambda path: subprocess.run([ACTIONLINT, "-config-file", str(ROOT / "ci" / "actionlint.yaml"), str(path)],
                                       capture_output=True, text=True, check=False)


def test_workflow_passes_actionlint(actionlint):
    result = actionlint(ROOT / "ci" / "nightly.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(actionlint, tmp_path):
    broken = tmp_path / "nightly.yml"
    broken.write_text((ROOT / "ci" / "nightly.yml").read_text().replace("runs-on: ubuntu-latest", "runs-on: [ubuntu-latest"))
    assert actionlint(broken).returncode != 0


def nightly(tmp_path, **env):
    out = tmp_path / "nightly"
    environ = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
               "HARNESS_TIER": "smoke", "HARNESS_OUT": str(out), "HARNESS_PYTEST_ARGS": FAST, **env}
    environ.pop("GITHUB_STEP_SUMMARY", None)
    result = subprocess.run(["bash", "ci/nightly.sh"], cwd=ROOT, env=environ, capture_output=True, text=True,
                            check=False)
    return result, out


def test_nightly_writes_record_summary_and_html_with_plots(tmp_path):
    result, out = nightly(tmp_path, HARNESS_PREVIOUS=str(tmp_path / "none"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (record,) = (out / "runs").glob("*-cpu.json")
    assert record.with_suffix(".md").read_text().startswith("## Deep-learning phenomena: 0 failed, 3 passed")
    assert "test_plain_epoch_time" in (out / "benchmark.json").read_text()
    html = (out / "report" / "index.html").read_text()
    assert "memorization/finite_sample_expressivity::two_layer_net_fits_any_labels" in html
    assert "condition_number_vs_n.png" in html and "<h2>Timing</h2>" in html
    assert (out / "report" / "report.md").exists() and (out / "report" / "record-cpu-smoke.json").exists()
    assert "no previous record" in result.stdout


def test_nightly_goes_red_on_a_planted_regression(tmp_path):
    store = tmp_path / "baselines"
    shutil.copytree(ROOT / "baselines", store)
    path = store / "cpu" / "memorization.yaml"
    doc = yaml.safe_load(path.read_text())
    weights = doc["entries"][ENTRY]["metrics"]["weights"]  # the network's size: exact, tolerance 0
    weights.update(mean=weights["mean"] - 20, values=[v - 20 for v in weights["values"]])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result, out = nightly(tmp_path, HARNESS_BASELINES=str(store))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "weights" in (out / "report" / "report.md").read_text().split("### What broke", 1)[1].split("### By group")[0]


def test_nightly_fails_when_nothing_ran(tmp_path):
    result, _ = nightly(tmp_path, HARNESS_PYTEST_ARGS="-k no_such_phenomenon")
    assert result.returncode == 5  # pytest's "no tests collected" is never a green night


def test_nightly_stops_on_malformed_pytest_args(tmp_path):
    result, out = nightly(tmp_path, HARNESS_PYTEST_ARGS='-k "unclosed or')
    assert result.returncode == 2 and "not valid shell syntax" in result.stderr
    assert "nightly: pytest" not in result.stdout  # nothing ran, filtered or not
