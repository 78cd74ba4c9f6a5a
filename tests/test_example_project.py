"""A new user's flow, end to end, the way users meet it: examples/own-optimizer copied into a
scratch folder outside this repository (no conftest.py of ours; the plugin comes from the installed
package's entry point), run, baselines recorded with the command the warning names, run green,
a regression planted in the user's own code, run red with a sentence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-optimizer"
HARNESS = Path(sys.executable).with_name("harness")  # the console script pip installed beside python


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "GITHUB_STEP_SUMMARY", "PYTEST_ADDOPTS")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600)


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], project)


def test_a_new_users_flow_outside_the_repository(tmp_path):
    project = tmp_path / "own-optimizer"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".harness", "baselines", "__pycache__"))

    first = pytest_in(project)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "no baseline for cpu in baselines/cpu/my_optimizer.yaml" in first.stdout
    assert "harness baselines update -k test_signum_memorizes_random_labels" in first.stdout

    update = run([str(HARNESS), "baselines", "update", "-k", "test_signum_memorizes_random_labels"], project)
    assert update.returncode == 0, update.stdout + update.stderr
    stored = yaml.safe_load((project / "baselines" / "cpu" / "my_optimizer.yaml").read_text())["entries"]
    assert list(stored) == ["test_signum_memorizes.py::test_signum_memorizes_random_labels[smoke]"]
    assert run([str(HARNESS), "baselines", "orphans"], project).returncode == 0

    green = pytest_in(project, "--require-baselines")
    assert green.returncode == 0, green.stdout + green.stderr
    assert "BaselineWarning" not in green.stdout

    optimizer = project / "src" / "signum.py"
    optimizer.write_text(optimizer.read_text().replace('alpha=-group["lr"])', 'alpha=-group["lr"] / 10)'))
    red = pytest_in(project, "--require-baselines")
    assert red.returncode == 1, red.stdout + red.stderr
    claim = "my_optimizer/signum_memorizes::signum_memorizes_random_labels random_train_acc"
    assert f"{claim}: per-seed values" in red.stdout and "expected every seed in [0.950, inf]" in red.stdout
    assert f"{claim} fell from" in red.stdout  # and the baseline check names the drop
    assert "1 failed" in red.stdout
