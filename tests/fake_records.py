"""Hand-made run records, built from the same types the plugin writes, for tests of merging,
reports and compare."""

from __future__ import annotations

import json
from pathlib import Path

from harness.results.schema import (
    Curve,
    GitState,
    Matrix,
    MetricRecord,
    Recorded,
    RunRecord,
    TestRecord,
    TimeSummary,
    Verdict,
)


def phenomenon_record(nodeid: str, values: list[float], *, direction: str = "higher", rounds=(1.0, 1.01, 0.99),
                      curves: dict[str, Curve] | None = None, matrices: dict[str, Matrix] | None = None,
                      outcome: str = "passed") -> TestRecord:
    name = nodeid.split("::")[-1].removeprefix("test_")
    mean = sum(values) / len(values)
    return TestRecord(
        nodeid=nodeid, where=f"memorization/{name}::{name}", key=f"{nodeid.split('/')[-1]}[smoke]",
        group="memorization", tier="smoke", outcome=outcome, seeds=list(range(len(values))), config={},
        verdicts=[Verdict("claim", "at_least", outcome == "passed", f"{name} claim", "acc")],
        metrics={"acc": MetricRecord(direction=direction, abs_tol=0.01, values=list(values), mean=mean, std=0.01,
                                     n=len(values), ci95=0.02)},
        time_s=TimeSummary(median=sorted(rounds)[len(rounds) // 2], iqr=0.02, rounds=list(rounds)),
        curves=curves or {}, matrices=matrices or {},
        recorded=Recorded(commit="abc1234", dirty=False, date="2026-11-23", torch="2.13.0+cpu", python="3.11",
                          device="cpu (2 threads)", tier="smoke"),
    )


def run_record(tests: list[TestRecord], *, commit: str = "abc1234", created: str = "2026-11-23T01:00:00Z",
               run_id: str | None = None, shard: str | None = None, device_class: str = "cpu",
               durations: dict[str, float] | None = None) -> RunRecord:
    counts = {"passed": 0, "failed": 0, "xfailed": 0}
    for t in tests:
        counts[t.outcome] += 1
    return RunRecord(created=created, git=GitState(commit=commit, dirty=False),
                     env={"device_class": device_class, "torch": "2.13.0+cpu", "python": "3.11", "device": "cpu"},
                     tier="smoke", n_seeds=3, args=[], counts=counts, run_id=run_id, shard=shard, tests=tests,
                     durations=durations if durations is not None else {t.nodeid: 2.0 for t in tests})


def write(folder: Path, name: str, record: RunRecord) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(record.to_json()))
    return path
