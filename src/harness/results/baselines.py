"""Baselines: judging a test's per-seed metrics against its stored entry, and making entries
from test records. The YAML files themselves (reading, validating, writing) are
`harness.results.baseline_files`; its names are re-exported here.
"""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

from harness.results.baseline_files import (  # noqa: F401 — re-exported: the store's API in one place
    SCHEMA,
    BaselineError,
    all_files,
    group_path,
    load,
    load_all,
    remove_entries,
    write_entries,
)
from harness.results.schema import Metric, TestRecord, Verdict
from harness.stats import Summary, fmt, mean_tolerance, seed_tolerance, summarize


def compare(where: str, entry: dict | None, observed: dict, metrics: dict, device_class: str,
            seeds: list[int] | None = None) -> list[Verdict]:
    """Baseline verdicts for one test: observed {metric: per-seed values} against a stored entry.

    `metrics` maps names to their Metric (direction, abs_tol) as the benchmark declares them now;
    `seeds` names the observed values' seeds in the sentences.
    """
    if entry is None:
        return []
    verdicts = []
    stored = entry["metrics"]
    for name, values in observed.items():
        if name not in stored:
            verdicts.append(Verdict("baseline", name, None, f"{where} {name}: new metric, no baseline yet "
                                    f"for {device_class}; record it with `harness baselines update`", name))
            continue
        base = stored_summary(stored[name])
        verdicts.append(_compare_metric(where, name, base, list(values), metrics[name], device_class, seeds))
    for name in stored.keys() - observed.keys():
        verdicts.append(Verdict("baseline", name, None, f"{where} {name}: in the {device_class} baseline but "
                                "no longer reported by the test; re-record to drop it", name))
    return verdicts


def stored_summary(metric: dict) -> Summary:
    """A stored metric's mean, std and seed count, as the tolerances read them."""
    return Summary(metric["mean"], metric["std"], len(metric["values"]))


def worse_by(delta: float, direction: str) -> float:
    """How far a change of `delta` goes the wrong way for the direction (negative: the good way)."""
    return {"higher": -delta, "lower": delta, "target": abs(delta)}[direction]


def shortfall(base: Summary, new: Summary, metric: Metric) -> tuple[float, float]:
    """How far the new mean moved the wrong way, and the tolerance (from the baseline's spread only)."""
    return worse_by(new.mean - base.mean, metric.direction), mean_tolerance(base, new.n, metric.abs_tol)


BETTER = {"higher": "higher is better", "lower": "lower is better", "target": "closer to the baseline is better"}


def _compare_metric(where: str, name: str, base: Summary, values: list, metric: Metric, device_class: str,
                    seeds: list[int] | None) -> Verdict:
    """The mean must not move past its tolerance, and no single seed past the seed band: a shifted
    mean and a collapsed seed are both regressions; a new seed draw of unchanged code is neither."""
    new = summarize(values, name)
    worse, tol = shortfall(base, new, metric)
    seed_tol = seed_tolerance(base, metric.abs_tol)
    names = seeds if seeds is not None and len(seeds) == len(values) else range(len(values))
    outliers = [(s, v) for s, v in zip(names, values, strict=True)
                if worse_by(v - base.mean, metric.direction) > seed_tol]
    delta = new.mean - base.mean
    verb = "rose" if delta > 0 else "fell" if delta < 0 else "stayed"
    context = f"(direction: {BETTER[metric.direction]}, device class {device_class})"
    sentence = (f"{where} {name} {verb} from {fmt(base.mean)}±{fmt(base.std)} (n={base.n}) to "
                f"{fmt(new.mean)}±{fmt(new.std)} (n={new.n}), mean tolerance {fmt(tol)}, per-seed tolerance "
                f"{fmt(seed_tol)} {context}")
    if outliers:
        sentence += ("; " + ", ".join(f"seed {s} at {fmt(v)}" for s, v in outliers)
                     + f" lies {'more than' if len(outliers) == 1 else 'each more than'} {fmt(seed_tol)} "
                     f"the wrong way from the baseline mean — a collapsed or diverged seed")
    regressed = worse > tol or bool(outliers)
    band = {"higher": [base.mean - tol, None], "lower": [None, base.mean + tol]}.get(
        metric.direction, [base.mean - tol, base.mean + tol])  # where the run's mean passes
    if regressed and metric.timing:
        return Verdict("baseline", name, None, sentence + " — time-derived, so a warning only; "
                       "confirm with `harness compare` on a quiet machine", name, band)
    return Verdict("baseline", name, not regressed, sentence, name, band)


PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a group or device class: one folder or file name


def make_entry(record: TestRecord) -> dict:
    """A baseline entry from a test's record: its provenance, seeds, metrics and unit time.
    BaselineError when a value is not finite: a diverged run is never a baseline."""
    for name, m in record.metrics.items():
        if not all(math.isfinite(v) for v in [m.mean, m.std, *m.values]):
            raise BaselineError(f"{record.where} {name}: values {m.values} are not all finite; not written")
    entry = {
        "recorded": dataclasses.asdict(record.recorded),
        "seeds": list(record.seeds),
        "metrics": {
            name: {
                "direction": m.direction,
                "mean": _round(m.mean), "std": _round(m.std),
                "values": [_round(v) for v in m.values],
                "abs_tol": m.abs_tol,
            }
            for name, m in record.metrics.items()
        },
    }
    if record.time_s:
        entry["time_s"] = {"median": _round(record.time_s.median), "iqr": _round(record.time_s.iqr)}
    return entry


def write_records(root: Path, device_class: str, records: list[TestRecord]) -> list[tuple]:
    """Write the entries of every passed (or expectedly failing: xfail) test record, grouped by group
    file — a claim that broke unexpectedly is not a baseline to keep. Returns (path, key, before,
    after) for each entry written."""
    for name in {device_class, *(rec.group for rec in records)}:
        if not PLAIN_NAME.fullmatch(name):
            raise BaselineError(f"{name!r} is not a plain group or device-class name (letters, digits, _ . -): "
                                f"nothing written; is the run record genuine?")
    by_file: dict[Path, dict] = {}
    for rec in records:
        if rec.outcome in ("passed", "xfailed") and rec.metrics:
            by_file.setdefault(group_path(root, device_class, rec.group), {})[rec.key] = make_entry(rec)
    written = []
    for path, entries in sorted(by_file.items()):
        before = write_entries(path, device_class, entries)
        written += [(path, key, before[key], entry) for key, entry in entries.items()]
    return written


def _round(x: float) -> float:
    """Six significant digits: enough for any tolerance here, short enough to review in a diff."""
    return float(f"{x:.6g}")
