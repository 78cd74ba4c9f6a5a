"""What happens to a benchmark test after its body returns: its names (where it stands in the
table, its key in the baseline file, its group), its baseline check, and the record it leaves."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness import baselines, devices, report
from harness.claims import Verdict
from harness.recorder import ClaimBook

GROUPS = {
    "memorization": "Zhang et al. 2017: memorization and generalization",
    "compression": "Han et al., Hinton et al., Frankle & Carbin: pruning, quantization, distillation",
    "adversarial": "Szegedy, Goodfellow, Nguyen, Madry: adversarial examples",
    "landscape": "Goodfellow, Li, Keskar, Dauphin, Saxe: loss landscapes",
    "initialization": "Glorot, He, Erhan, Yosinski: initialization, order, pretraining, transfer",
    "forgetting": "McCloskey & Cohen, Kirkpatrick, Serrà: catastrophic forgetting",
    "gradient_failures": "Shalev-Shwartz, Shamir & Shammah 2017: failures of gradient-based learning",
    "architecture": "Veit et al. 2016: residual networks as ensembles",
    "perf": "the harness's own performance",
}


class BaselineWarning(UserWarning):
    """A baseline check could not run (no entry for this device class)."""


def where(item) -> str:
    """'memorization/random_labels::label_noise_is_memorized[noise=0.2]': group/module::test[params]."""
    name = Path(str(item.path)).stem.removeprefix("test_")
    params = f"[{item.callspec.id}]" if hasattr(item, "callspec") else ""
    return f"{group_of(item)}/{name}::{item.originalname.removeprefix('test_')}{params}"


def baseline_key(item, tier: str) -> str:
    """'test_random_labels.py::test_memorizes[noise=0.2-smoke]': the entry's key in the group file."""
    base = f"{Path(str(item.path)).name}::{item.originalname}"
    params = f"{item.callspec.id}-" if hasattr(item, "callspec") else ""
    return f"{base}[{params}{tier}]"


def group_of(item) -> str:
    groups = [m.name for m in item.iter_markers() if m.name in GROUPS]
    if len(set(groups)) != 1:
        pytest.fail(f"{item.nodeid}: a test that records claims needs exactly one group marker "
                    f"(found {sorted(set(groups)) or 'none'}); add e.g. "
                    f"`pytestmark = pytest.mark.memorization` to the module", pytrace=False)
    return groups[0]


def check_baseline(item, s, book: ClaimBook) -> list[Verdict]:
    """Verdicts of the stored baseline for this test (warnings for what cannot be judged)."""
    if s.update or not book.metrics:
        return []
    group, key = group_of(item), baseline_key(item, s.tier)
    path = baselines.group_path(s.baselines_dir, s.device_class, group)
    entry = s.stored.get(group, {}).get(key)
    if entry is None:
        sentence = (f"{book.where}: no baseline for {s.device_class} in {path.relative_to(item.config.rootpath)} "
                    f"— record with `harness baselines update -k {item.originalname} --device {s.device}`")
        if s.require:
            return [Verdict("baseline", "present", False, sentence + " (--require-baselines)")]
        item.warn(BaselineWarning(sentence))
        return [Verdict("baseline", name, None, sentence, name) for name in book.metrics]
    item.stash[BASELINE_ENTRY] = entry
    verdicts = baselines.compare(book.where, entry, book.metrics, book.specs, s.device_class)
    for verdict in verdicts:
        if verdict.passed is None:
            item.warn(BaselineWarning(verdict.sentence))
    return verdicts


BASELINE_ENTRY = pytest.StashKey[dict]()


def record_of(item, s, book: ClaimBook, extra_verdicts: list[Verdict]) -> dict:
    """The JSON-ready record of one test: what the run record, the table and updates are made of."""
    entry = item.stash.get(BASELINE_ENTRY, None)
    stored = (entry or {}).get("metrics", {})
    return {
        "nodeid": item.nodeid, "where": book.where, "group": group_of(item), "key": baseline_key(item, s.tier),
        "tier": s.tier, "seeds": book.seeds, "config": book.config,
        "metrics": {name: report.metric_record(values, book.specs[name], stored.get(name, {}).get("mean"))
                    for name, values in book.metrics.items()},
        "verdicts": [dataclasses.asdict(v) for v in book.verdicts + extra_verdicts],
        "time_s": book.time_s, "baseline_time_s": (entry or {}).get("time_s", {}).get("median"),
        "curves": book.curves, "extras": book.extras,
        "recorded": {"commit": s.git["commit"], "dirty": s.git["dirty"], "date": report.utc_now()[:10],
                     "torch": s.env["torch"], "python": s.env["python"],
                     "device": devices.describe_short(s.device), "tier": s.tier},
    }
