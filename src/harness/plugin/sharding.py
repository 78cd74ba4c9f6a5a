"""`--shard I/N`: split the collected tests into N disjoint parts, one per CI job or GPU.

The unit of the split is the test file, not the single test: a phenomenon's tests share
module-scoped fixtures (one training run checked by several claims), and splitting them would
train the same models in two jobs. Files are placed largest first on the least-loaded shard
(ties broken by name), weighted by the durations a previous run record holds; a test with no
recorded duration weighs the median of the known ones (1 s when none is known). The split
depends only on the collected test ids and the durations given, so every job computes the same
split and the N shards together are exactly the suite.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from harness.results.runs import load_run_records


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' → (2, 3); a ValueError saying what is expected otherwise."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not sep or n < 1 or not 1 <= i <= n:
        raise ValueError(f"--shard expects I/N with 1 <= I <= N (e.g. 1/3), got {text!r}")
    return i, n


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


def split(nodeids: list[str], n: int, durations: dict[str, float] | None = None) -> list[list[str]]:
    """The nodeids of each of n shards (in collection order within a shard)."""
    durations = durations or {}
    known = [durations[t] for t in nodeids if t in durations]
    default = statistics.median(known) if known else 1.0
    weight: dict[str, float] = {}
    for t in nodeids:
        weight[file_of(t)] = weight.get(file_of(t), 0.0) + durations.get(t, default)
    load = [0.0] * n
    shard_of = {}
    for f in sorted(weight, key=lambda f: (-weight[f], f)):
        target = min(range(n), key=lambda s: (load[s], s))
        shard_of[f] = target
        load[target] += weight[f]
    shards: list[list[str]] = [[] for _ in range(n)]
    for t in nodeids:
        shards[shard_of[file_of(t)]].append(t)
    return shards


def durations_from(path: Path) -> dict[str, float]:
    """Per-test seconds from a run record, or from every record in a directory (newest wins)."""
    durations: dict[str, float] = {}
    for record in sorted(load_run_records([Path(path)]), key=lambda r: r.created):
        durations.update(record.durations)
    return durations
