"""What the `harness` commands share: running pytest with the plugin, and reading one run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from harness.results.runs import load_run_records, runs
from harness.results.schema import RunRecord


def pytest_command(*args: str) -> list[str]:
    """A pytest command line in this interpreter, with the harness plugin even where plugin
    autoloading is off (PYTEST_DISABLE_PLUGIN_AUTOLOAD), where its entry point is not read."""
    plugin = ["-p", "harness.plugin"] if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else []
    return [sys.executable, "-m", "pytest", *plugin, *args]


def one_run(path: Path) -> RunRecord:
    """The run in a record file, or in a folder holding the shard records of one run (merged)."""
    found = runs(load_run_records([path]))
    if len(found) != 1:
        raise ValueError(f"{path} holds {len(found)} runs; name one run record (or a folder of one run's shards)")
    return found[0]
