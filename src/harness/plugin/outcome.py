"""What happens to a benchmark test after its body returns: its baseline check, and the typed
record it leaves for the run record, the table and baseline updates."""

from __future__ import annotations

import pytest

from harness import devices
from harness.plugin.claim import Claim
from harness.plugin.identity import baseline_key, group_of, title_of
from harness.results import baselines
from harness.results.runs import utc_now
from harness.results.schema import MetricRecord, Recorded, TestRecord, Verdict
from harness.stats import summarize


class BaselineWarning(UserWarning):
    """A baseline check could not run (no entry for this device class)."""


BASELINE_ENTRY = pytest.StashKey[dict]()


def check_baseline(item, s, claim: Claim) -> list[Verdict]:
    """Verdicts of the stored baseline for this test (warnings for what cannot be judged)."""
    if s.update or not claim.metrics:
        return []
    group, key = group_of(item), baseline_key(item, s.tier)
    path = baselines.group_path(s.baselines_dir, s.device_class, group)
    entry = s.stored.get(group, {}).get(key)
    if entry is None:
        sentence = (f"{claim.where}: no baseline for {s.device_class} in {_shown(path, item)} "
                    f"— record with `harness baselines update -k {item.originalname} --device {s.device}"
                    f"{' --tier full' if s.tier == 'full' else ''}`")
        if s.require:
            return [Verdict("baseline", "present", False, sentence + " (--require-baselines)")]
        item.warn(BaselineWarning(sentence))
        return [Verdict("baseline", name, None, sentence, name) for name in claim.metrics]
    item.stash[BASELINE_ENTRY] = entry
    verdicts = baselines.compare(claim.where, entry, claim.metrics, claim.specs, s.device_class, claim.seeds)
    for verdict in verdicts:
        if verdict.passed is None:
            item.warn(BaselineWarning(verdict.sentence))
    return verdicts


def _shown(path, item) -> str:
    root = item.config.rootpath
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


def record_of(item, s, claim: Claim, extra_verdicts: list[Verdict]) -> TestRecord:
    """The record of one test: what the run record, the table and baseline updates are made of."""
    entry = item.stash.get(BASELINE_ENTRY, None) or {}
    stored = entry.get("metrics", {})
    return TestRecord(
        nodeid=item.nodeid, where=claim.where, group=group_of(item), key=baseline_key(item, s.tier),
        tier=s.tier, seeds=claim.seeds, config=claim.config,
        metrics={name: metric_record(values, claim.specs[name], stored.get(name, {}).get("mean"))
                 for name, values in claim.metrics.items()},
        verdicts=claim.verdicts + extra_verdicts,
        recorded=Recorded(commit=s.git.commit, dirty=s.git.dirty, date=utc_now()[:10], torch=s.env["torch"],
                          python=s.env["python"], device=devices.describe_short(s.device), tier=s.tier,
                          numerics=s.env.get("numerics")),
        time_s=claim.time_s, baseline_time_s=(entry.get("time_s") or {}).get("median"),
        curves=claim.curves, matrices=claim.matrices, notes=claim.notes, about=title_of(item.module),
    )


def metric_record(values, spec, baseline_mean=None) -> MetricRecord:
    summary = summarize(values)
    return MetricRecord(direction=spec.direction, abs_tol=spec.abs_tol, values=[float(v) for v in values],
                        mean=summary.mean, std=summary.std, n=summary.n, ci95=summary.ci_halfwidth(),
                        baseline_mean=baseline_mean)
