"""Two runs side by side: which metrics regressed significantly, which timed units slowed down.

`harness compare A B` prints `compare(A, B)`'s rows and exits 1 when any of them regressed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.results import baselines
from harness.results.schema import Metric, MetricRecord, RunRecord, TimeSummary
from harness.stats import Summary, fmt, mann_whitney_greater, summarize, welch_greater

ALPHA = 0.05  # significance for metric regressions
TIME_ALPHA = 0.01  # timing rounds are many and noisy: ask for stronger evidence
# A slowdown must also exceed the run-to-run spread, which the rounds of one run do not see: on the
# shared 2-core CPU, reruns of unchanged code moved single units by 0.6–1.7× (6 units, 4 reruns),
# each with Mann-Whitney p = 0.004. A dedicated runner can ask for less (--time-ratio 1.2).
TIME_RATIO = 2.0
HEADERS = ["phenomenon", "metric", "before", "after", "test", "verdict"]


@dataclass(frozen=True)
class Change:
    where: str
    metric: str
    before: float
    after: float
    detail: str
    verdict: str  # ok, REGRESSED (a metric) or SLOWER (a timed unit)

    @property
    def regressed(self) -> bool:
        return self.verdict in ("REGRESSED", "SLOWER")

    def row(self) -> list[str]:
        return [self.where, self.metric, fmt(self.before), fmt(self.after), self.detail, self.verdict]


def compare(before: RunRecord, after: RunRecord, time_ratio: float = TIME_RATIO) -> list[Change]:
    """Every metric and timed unit the two runs share, judged from `before` to `after`.

    ValueError for runs of different device classes or tiers: their figures are not comparable."""
    for what, a, b in (("device classes", before.device_class, after.device_class), ("tiers", before.tier, after.tier)):
        if a != b:
            raise ValueError(f"the runs are of different {what} ({a} and {b}): compare runs of one device class "
                             f"and tier; across device classes, compare each with its own baselines")
    old_tests = {t.key: t for t in before.tests}
    changes = []
    for test in after.tests:
        old = old_tests.get(test.key)
        if old is None:
            continue
        for name, m in test.metrics.items():
            if name in old.metrics:
                verdict, detail = _compare_metric(old.metrics[name], m)
                changes.append(Change(test.where, name, old.metrics[name].mean, m.mean, detail, verdict))
        verdict, detail = _compare_time(old.time_s, test.time_s, time_ratio)
        if verdict:
            changes.append(Change(test.where, "time_s (median)", old.time_s.median, test.time_s.median,
                                  detail, verdict))
    return changes


def _compare_metric(old: MetricRecord, new: MetricRecord) -> tuple[str, str]:
    a, b = summarize(old.values), summarize(new.values)
    spec = Metric(new.direction, new.abs_tol)
    worse, tol = baselines.shortfall(a, b, spec)
    p = _p_worse(old.values, new.values, a, b, spec.direction)
    detail = f"Δ={fmt(b.mean - a.mean)}, tol {fmt(tol)}" + (f", p={p:.3g}" if p is not None else "")
    significant = p is None or p < ALPHA
    return ("REGRESSED" if worse > tol and significant else "ok"), detail


def _p_worse(old_values, new_values, a: Summary, b: Summary, direction: str) -> float | None:
    """One-sided Welch p-value that the new values are worse (None when n < 2 on a side)."""
    if a.n < 2 or b.n < 2:
        return None
    if direction == "higher":
        return welch_greater(old_values, new_values)
    if direction == "lower":
        return welch_greater(new_values, old_values)
    # two-sided from the smaller one-sided p; at most 1 (both one-sided p near 0.5 when nothing moved)
    return min(1.0, 2 * min(welch_greater(old_values, new_values), welch_greater(new_values, old_values)))


def _compare_time(old: TimeSummary | None, new: TimeSummary | None, max_ratio: float) -> tuple[str | None, str]:
    if not old or not new or len(old.rounds) < 2 or len(new.rounds) < 2:
        return None, ""
    p = mann_whitney_greater(new.rounds, old.rounds)
    ratio = new.median / old.median
    slower = p < TIME_ALPHA and ratio > max_ratio
    detail = f"{ratio:.2f}× (limit {max_ratio:g}×), Mann-Whitney p={p:.3g}"
    if _smallest_p(len(new.rounds), len(old.rounds)) >= TIME_ALPHA:
        detail += f" (too few rounds ever to reach p < {TIME_ALPHA})"
    return ("SLOWER" if slower else "ok"), detail


def _smallest_p(n: int, m: int) -> float:
    """The one-sided Mann-Whitney p when every new round is slower than every old one: 1 / C(n+m, n)."""
    return 1 / math.comb(n + m, n)
