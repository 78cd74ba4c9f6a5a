"""Hand-made run records shaped like the plugin's, for tests of merging, reports and compare."""

from __future__ import annotations

import json
from pathlib import Path


def phenomenon_record(nodeid: str, values: list[float], *, direction: str = "higher", rounds=(1.0, 1.01, 0.99),
                curves: dict | None = None, extras: dict | None = None, outcome: str = "passed") -> dict:
    name = nodeid.split("::")[-1].removeprefix("test_")
    mean = sum(values) / len(values)
    return {
        "nodeid": nodeid, "where": f"memorization/{name}::{name}", "key": f"{nodeid.split('/')[-1]}[smoke]",
        "group": "memorization", "tier": "smoke", "outcome": outcome, "seeds": list(range(len(values))),
        "config": {}, "verdicts": [{"kind": "claim", "name": "at_least", "passed": outcome == "passed",
                                    "sentence": f"{name} claim", "metric": "acc"}],
        "metrics": {"acc": {"direction": direction, "abs_tol": 0.01, "values": list(values), "mean": mean,
                            "std": 0.01, "n": len(values), "ci95": 0.02, "baseline_mean": None}},
        "time_s": {"median": sorted(rounds)[len(rounds) // 2], "iqr": 0.02, "rounds": list(rounds)},
        "baseline_time_s": None, "curves": curves or {}, "extras": extras or {},
        "recorded": {"commit": "abc1234", "dirty": False, "date": "2026-11-23"},
    }


def run_record(tests: list[dict], *, commit: str = "abc1234", created: str = "2026-11-23T01:00:00Z",
               run_id: str | None = None, shard: str | None = None, device_class: str = "cpu") -> dict:
    counts = {"passed": 0, "failed": 0, "xfailed": 0}
    for t in tests:
        counts[t["outcome"]] += 1
    return {"schema": 1, "created": created, "git": {"commit": commit, "dirty": False},
            "env": {"device_class": device_class, "torch": "2.13.0+cpu", "python": "3.11", "device": "cpu"},
            "tier": "smoke", "n_seeds": 3, "args": [], "counts": counts, "run_id": run_id, "shard": shard,
            "tests": tests, "durations": {t["nodeid"]: 2.0 for t in tests}}


def write(folder: Path, name: str, record: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(record))
    return path
