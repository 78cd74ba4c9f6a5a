"""The run record's types: what a pytest session writes to disk and every tool reads back.

One dataclass per level — RunRecord ⊃ TestRecord ⊃ MetricRecord, Verdict, TimeSummary, Curve,
Matrix — built by the plugin, read by `harness compare`, `harness report`, the baseline updates
and the test fakes. `to_json()` gives the plain dict written as JSON; `from_json()` reads one back
(schema 1, written before curves named their figure, is converted). `run_record.schema.json`
beside this file describes the same document for tools outside Python; a test keeps the two in step.

Metric is here too: a benchmark declares it, the record and the baseline store carry it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)
DIRECTIONS = ("higher", "lower", "target")
OUTCOMES = ("passed", "failed", "xfailed", "skipped")
TIER_SEEDS = {"smoke": 3, "full": 5}  # seeds a run of each tier uses unless --seeds says otherwise


@dataclass(frozen=True)
class Metric:
    """How a metric is judged against its baseline: which way is better, and the smallest tolerance."""

    direction: str
    abs_tol: float
    timing: bool = False  # derived from wall time: a baseline regression warns, never fails (noisy hosts)

    def __post_init__(self):
        if self.direction not in DIRECTIONS:
            raise ValueError(f"unknown direction {self.direction!r}; use one of {', '.join(DIRECTIONS)}")
        if not self.abs_tol >= 0:
            raise ValueError(f"abs_tol must be ≥ 0, got {self.abs_tol!r}")


@dataclass(frozen=True)
class Verdict:
    """Outcome of one check. passed=None means the check did not run (the sentence says why)."""

    kind: str  # "claim" (evidence for the phenomenon), "guard" (construction, arithmetic) or "baseline"
    name: str
    passed: bool | None
    sentence: str
    metric: str | None = None  # the one metric the check is about, for the table; None if several
    bounds: list | None = None  # [low, high] a threshold or band puts on that metric (None: open end), for figures

    def __post_init__(self):
        if self.bounds is not None:  # plain floats for JSON, whatever number type the check was given
            object.__setattr__(self, "bounds", [None if b is None else float(b) for b in self.bounds])


@dataclass(frozen=True)
class MetricRecord:
    """One metric of one test: its per-seed values, their summary, and how it is judged."""

    direction: str
    abs_tol: float
    values: list[float]
    mean: float
    std: float
    n: int
    ci95: float
    baseline_mean: float | None = None


@dataclass(frozen=True)
class TimeSummary:
    """Seconds per call of the test's representative unit, from pytest-benchmark's rounds."""

    median: float
    iqr: float
    rounds: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Curve:
    """A line for the report: `y` one row per seed (or one row) over `x`. Curves naming the same
    `figure` share one set of axes, each with its `label` in the legend."""

    x: list
    y: list
    xlabel: str
    ylabel: str
    figure: str
    label: str | None = None
    log: str = ""  # axes drawn on a log scale: "x", "y" or "xy" (the claim is a slope or ratio over decades)


@dataclass(frozen=True)
class Matrix:
    """A table of numbers drawn as a heatmap (accuracy after task i on task j, a loss plane)."""

    values: list  # rows × columns, or seeds × rows × columns (drawn as the mean over seeds)
    rows: list[str] | None = None
    columns: list[str] | None = None
    row_label: str = "row"
    column_label: str = "column"
    log: bool = False  # colours on a log scale (a loss surface spans decades)


@dataclass(frozen=True)
class Recorded:
    """Where a measurement comes from: copied into a baseline entry when it is stored."""

    commit: str
    dirty: bool
    date: str
    torch: str
    python: str
    device: str
    tier: str
    numerics: str | None = None  # float32 precision and determinism (devices.numerics); None before it was stored


@dataclass(frozen=True)
class TestRecord:
    """Everything one benchmark test measured and concluded."""

    __test__ = False  # not a pytest test class, despite the name

    nodeid: str
    where: str  # 'memorization/random_labels::label_noise_is_memorized[noise=0.2]'
    group: str
    key: str  # its entry in the group's baseline file
    tier: str
    seeds: list[int]
    config: dict[str, Any]
    metrics: dict[str, MetricRecord]
    verdicts: list[Verdict]
    recorded: Recorded
    time_s: TimeSummary | None = None
    baseline_time_s: float | None = None
    curves: dict[str, Curve] = field(default_factory=dict)
    matrices: dict[str, Matrix] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)  # kept in the record, neither compared nor drawn
    outcome: str = "passed"
    about: str = ""  # the benchmark docstring's title: the phenomenon and its source, in one line

    def with_outcome(self, outcome: str) -> TestRecord:
        return dataclasses.replace(self, outcome=outcome)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TestRecord:
        data = dict(data)
        time_s = data.get("time_s")
        return cls(**{
            **data,
            "metrics": {name: MetricRecord(**m) for name, m in data["metrics"].items()},
            "verdicts": [Verdict(**v) for v in data["verdicts"]],
            "recorded": Recorded(**data["recorded"]),
            "time_s": TimeSummary(**time_s) if time_s else None,
            "curves": {name: Curve(**c) for name, c in data.get("curves", {}).items()},
            "matrices": {name: Matrix(**m) for name, m in data.get("matrices", {}).items()},
        })


@dataclass(frozen=True)
class GitState:
    commit: str  # short hash, or 'nogit' outside a checkout
    dirty: bool  # the tracked tree differs from the commit


@dataclass(frozen=True)
class RunRecord:
    """One pytest session (or the merged shards of one run)."""

    created: str  # UTC, ISO 8601 to the second
    git: GitState
    env: dict[str, Any]  # versions, hardware and numeric flags (harness.devices.describe)
    tier: str
    n_seeds: int
    args: list[str]
    counts: dict[str, int]  # passed / failed / xfailed
    tests: list[TestRecord]
    durations: dict[str, float] = field(default_factory=dict)  # nodeid → setup + call + teardown seconds
    run_id: str | None = None  # shared by the shards of one CI run ($HARNESS_RUN_ID)
    shard: str | None = None  # 'I/N' under --shard
    shards: list[str] = field(default_factory=list)  # of a merged record: the shards it joins
    sources: list[str] = field(default_factory=list)  # files it was read from (not written)
    seed_offset: int = 0  # --seed-offset: the first seed of the run
    schema: int = SCHEMA_VERSION

    @property
    def device_class(self) -> str:
        return self.env["device_class"]

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        del data["sources"]  # where a record was read from is not part of it
        return data

    @classmethod
    def from_json(cls, data: dict, source: str | None = None) -> RunRecord:
        """A record as written by any harness version this one reads; ValueError naming what is wrong."""
        if not isinstance(data, dict) or data.get("schema") not in READABLE_SCHEMAS or "tests" not in data:
            raise ValueError(f"not a harness run record (schema {' or '.join(map(str, READABLE_SCHEMAS))} "
                             f"with a tests list)")
        if data["schema"] == 1:
            data = upgrade_schema_1(data)
        data = dict(data)
        data.pop("sources", None)
        try:
            return cls(**{**data, "git": GitState(**data["git"]),
                          "tests": [TestRecord.from_json(t) for t in data["tests"]],
                          "sources": [source] if source else []})
        except (TypeError, KeyError) as err:
            raise ValueError(f"a run record of schema {data['schema']} with a field missing or unknown ({err})") from err


def upgrade_schema_1(data: dict) -> dict:
    """Schema 1 → 2: each curve was its own figure, and extras (now notes) were not typed; the
    matrices that schema-1 reports guessed from key names stay notes (re-run to draw them)."""
    tests = []
    for t in data["tests"]:
        t = dict(t)
        t["curves"] = {name: {**c, "figure": name, "label": None} for name, c in t.get("curves", {}).items()}
        t["notes"] = t.pop("extras", {})
        t["matrices"] = {}
        recorded = t.get("recorded", {})
        t["recorded"] = {**{key: recorded.get(key, "") for key in ("commit", "date", "torch", "python", "device")},
                         "dirty": bool(recorded.get("dirty", False)), "tier": recorded.get("tier", t.get("tier", ""))}
        tests.append(t)
    return {**data, "schema": SCHEMA_VERSION, "tests": tests}
