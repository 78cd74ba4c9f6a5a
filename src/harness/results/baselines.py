"""YAML baseline store: baselines/<device_class>/<group>.yaml, validated, compared, updated atomically.

A broken file is never guessed at or overwritten: loading it raises BaselineError naming the
file, the key and the line, and the plugin turns that into a usage error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import tempfile
from pathlib import Path

import yaml

from harness.results.schema import DIRECTIONS, Metric, TestRecord, Verdict
from harness.stats import Summary, fmt, mean_tolerance, seed_tolerance, summarize

SCHEMA = 1
ENTRY_KEYS = {"recorded", "seeds", "metrics", "time_s"}
METRIC_KEYS = {"direction", "mean", "std", "values", "abs_tol"}


class BaselineError(ValueError):
    """A baseline file cannot be used; the message names file, key and line and what to do."""


def group_path(root: Path, device_class: str, group: str) -> Path:
    return Path(root) / device_class / f"{group}.yaml"


def load(path: Path, device_class: str | None = None) -> dict:
    """Validated entries of one baseline file ({} when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BaselineError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)}); "
                            f"fix the file or restore it with `git checkout -- {path}`") from err
    _validate(doc, node, path, device_class)
    return doc["entries"] or {}


def load_all(root: Path, device_class: str) -> dict[str, dict]:
    """{group: entries} of every baseline file of one device class, each validated."""
    return {path.stem: load(path, device_class) for path in sorted((Path(root) / device_class).glob("*.yaml"))}


def _validate(doc, node, path: Path, device_class: str | None) -> None:
    def fail(keys: tuple, problem: str):
        line = _line_of(node, keys)
        key = ".".join(str(k) for k in keys) or "(top level)"
        raise BaselineError(f"{path} line {line}, key {key}: {problem}; fix the file or restore it "
                            f"with `git checkout -- {path}`")

    if not isinstance(doc, dict):
        fail((), "expected a mapping with schema, device_class and entries")
    if doc.get("schema") != SCHEMA:
        fail(("schema",), f"schema version {doc.get('schema')!r} is not supported (this harness reads {SCHEMA})")
    if device_class is not None and doc.get("device_class") != device_class:
        fail(("device_class",), f"file is for {doc.get('device_class')!r} but lies under {device_class!r}")
    entries = doc.get("entries")
    if entries is None:
        return
    if not isinstance(entries, dict):
        fail(("entries",), "expected a mapping of test id to entry")
    for key, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
            fail(("entries", key), "expected an entry with a metrics mapping")
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            fail(("entries", key), f"unknown field(s) {sorted(unknown)}")
        for name, metric in entry["metrics"].items():
            where = ("entries", key, "metrics", name)
            if not isinstance(metric, dict) or set(metric) != METRIC_KEYS:
                fail(where, f"expected exactly the fields {sorted(METRIC_KEYS)}")
            if metric["direction"] not in DIRECTIONS:
                fail(where + ("direction",), f"unknown direction {metric['direction']!r}; use one of {DIRECTIONS}")
            numbers = [metric["mean"], metric["std"], metric["abs_tol"], *(metric["values"] or [])]
            if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers) or not metric["values"]:
                fail(where, "mean, std, abs_tol and values must be finite numbers (values non-empty)")


def _line_of(node, keys: tuple) -> int:
    """1-based line of the deepest key of `keys` found in a composed YAML node."""
    line = node.start_mark.line + 1 if node is not None else 1
    for key in keys:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == str(key):
                line, node = key_node.start_mark.line + 1, value_node
                break
        else:
            break
    return line


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
        base = Summary(stored[name]["mean"], stored[name]["std"], len(stored[name]["values"]))
        verdicts.append(_compare_metric(where, name, base, list(values), metrics[name], device_class, seeds))
    for name in stored.keys() - observed.keys():
        verdicts.append(Verdict("baseline", name, None, f"{where} {name}: in the {device_class} baseline but "
                                "no longer reported by the test; re-record to drop it", name))
    return verdicts


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
    if regressed and metric.timing:
        return Verdict("baseline", name, None, sentence + " — time-derived, so a warning only; "
                       "confirm with `harness compare` on a quiet machine", name)
    return Verdict("baseline", name, not regressed, sentence, name)


def make_entry(record: TestRecord) -> dict:
    """A baseline entry from a test's record: its provenance, seeds, metrics and unit time."""
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


def _round(x: float) -> float:
    """Six significant digits: enough for any tolerance here, short enough to review in a diff."""
    return float(f"{x:.6g}")


def write_entries(path: Path, device_class: str, updates: dict) -> dict:
    """Merge {key: entry} into the file atomically; return {key: previous entry or None}.

    A lock file serialises concurrent writers (two pytest processes); the temp file + rename
    means a crash never leaves a half-written baseline. Other entries are kept as they are, and an
    update from a run that timed nothing (xdist, --benchmark-disable) keeps the stored time.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path):
        entries = dict(load(path, device_class))
        before = {key: entries.get(key) for key in updates}
        for key, entry in updates.items():
            kept_time = (before[key] or {}).get("time_s")
            entries[key] = {**entry, "time_s": kept_time} if "time_s" not in entry and kept_time else entry
        doc = {"schema": SCHEMA, "device_class": device_class, "entries": dict(sorted(entries.items()))}
        text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=200, allow_unicode=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    return before


@contextlib.contextmanager
def _locked(path: Path):
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_records(root: Path, device_class: str, records: list[TestRecord]) -> list[tuple]:
    """Write the entries of every passed (or expectedly failing: xfail) test record, grouped by group
    file — a claim that broke unexpectedly is not a baseline to keep. Returns (path, key, before,
    after) for each entry written."""
    by_file: dict[Path, dict] = {}
    for rec in records:
        if rec.outcome in ("passed", "xfailed") and rec.metrics:
            by_file.setdefault(group_path(root, device_class, rec.group), {})[rec.key] = make_entry(rec)
    written = []
    for path, entries in sorted(by_file.items()):
        before = write_entries(path, device_class, entries)
        written += [(path, key, before[key], entry) for key, entry in entries.items()]
    return written


def all_files(root: Path) -> list[Path]:
    return sorted(Path(root).glob("*/*.yaml"))
