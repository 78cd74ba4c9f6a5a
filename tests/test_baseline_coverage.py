"""Every benchmark test that runs in a tier has a stored baseline entry for that tier, in every
device class that has baselines: the nightly runs with --require-baselines and would go red."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.results import baselines

ROOT = Path(__file__).resolve().parents[1]
COLLECTOR = '''
import json, os
from harness.plugin.identity import baseline_key, group_of

def pytest_collection_finish(session):
    tier = session.config.option.tier
    keys = [[group_of(item), baseline_key(item, tier)] for item in session.items
            if not item.get_closest_marker("skip")]
    with open(os.environ["HARNESS_KEYS_OUT"], "w") as out:
        json.dump(keys, out)
'''


def collected_keys(tmp_path: Path, tier: str) -> list[tuple[str, str]]:
    """(group, baseline key) of every benchmark test that runs in `tier` (skipped ones left out)."""
    (tmp_path / "collect_keys.py").write_text(COLLECTOR)
    out = tmp_path / f"keys-{tier}.json"
    env = {**os.environ, "HARNESS_KEYS_OUT": str(out),
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "pytest", "benchmarks", "--collect-only", "-q", "--tier", tier,
                             "-p", "collect_keys", "-p", "no:cacheprovider"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [tuple(pair) for pair in json.loads(out.read_text())]


@pytest.mark.parametrize("tier", ["smoke", "full"])
def test_every_collected_test_has_a_baseline_in_every_device_class(tmp_path, tier):
    keys = collected_keys(tmp_path, tier)
    assert len(keys) > 50
    device_classes = sorted(p.name for p in (ROOT / "baselines").iterdir() if p.is_dir())
    assert "cpu" in device_classes
    stored = {device_class: baselines.load_all(ROOT / "baselines", device_class) for device_class in device_classes}
    missing = [f"{device_class}/{group}.yaml: {key}" for device_class in device_classes
               for group, key in keys if key not in stored[device_class].get(group, {})]
    assert not missing, ("no baseline for (record with `harness baselines update -k ... --tier "
                         f"{tier}` on that device class):\n  " + "\n  ".join(missing))
