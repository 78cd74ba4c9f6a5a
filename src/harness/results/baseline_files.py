"""The YAML baseline store: baselines/<device_class>/<group>.yaml, read, validated and written.

A broken file is never guessed at or overwritten: loading it raises BaselineError naming the
file, the line and the key, and the plugin turns that into a usage error. A write merges into the
file under a lock, validates the merged document, and replaces the file atomically with its mode
kept; an interrupted write leaves the old file and no temporary one.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from pathlib import Path

import yaml
from filelock import FileLock

from harness.results.schema import DIRECTIONS

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, where PyYAML was built with it: ~10× faster

SCHEMA = 1
ENTRY_KEYS = {"recorded", "seeds", "metrics", "time_s"}
METRIC_KEYS = {"direction", "mean", "std", "values", "abs_tol"}
TIME_KEYS = {"median", "iqr"}


class BaselineError(ValueError):
    """A baseline file cannot be used; the message names file, key and line and what to do."""


def group_path(root: Path, device_class: str, group: str) -> Path:
    return Path(root) / device_class / f"{group}.yaml"


def all_files(root: Path) -> list[Path]:
    return sorted(Path(root).glob("*/*.yaml"))


def load(path: Path, device_class: str | None = None) -> dict:
    """Validated entries of one baseline file ({} when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    return _parse(path.read_text(encoding="utf-8"), path, device_class)["entries"] or {}


def load_all(root: Path, device_class: str) -> dict[str, dict]:
    """{group: entries} of every baseline file of one device class, each validated."""
    return {path.stem: load(path, device_class) for path in sorted((Path(root) / device_class).glob("*.yaml"))}


def _parse(text: str, path: Path, device_class: str | None) -> dict:
    try:
        node = yaml.compose(text, Loader=LOADER)
        doc = yaml.load(text, Loader=LOADER)  # noqa: S506 — a safe loader: plain data only
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise BaselineError(f"{path}{where}: not valid YAML ({getattr(err, 'problem', err)}); "
                            f"fix the file or restore it with `git checkout -- {path}`") from err
    _refuse_duplicate_keys(node, path)
    _validate(doc, node, path, device_class)
    return doc


def _refuse_duplicate_keys(node, path: Path, keys: tuple = ()) -> None:
    """YAML lets a later key silently replace an earlier one; in a baseline that hides an entry."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise BaselineError(f"{path} line {key_node.start_mark.line + 1}, key "
                                    f"{'.'.join((*keys, key))}: duplicate key (first at line {seen[key]}); "
                                    f"keep one, or restore the file with `git checkout -- {path}`")
            seen[key] = key_node.start_mark.line + 1
            _refuse_duplicate_keys(value_node, path, (*keys, key))
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(item, path, keys)


def _number(x) -> bool:
    """A finite int or float; YAML's true/false are bools, which Python counts as ints."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


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
        _validate_entry(entry, ("entries", key), fail)


def _validate_entry(entry, where: tuple, fail) -> None:
    if not isinstance(entry, dict) or not isinstance(entry.get("metrics"), dict):
        fail(where, "expected an entry with a metrics mapping")
    unknown = set(entry) - ENTRY_KEYS
    if unknown:
        fail(where, f"unknown field(s) {sorted(unknown)}")
    recorded = entry.get("recorded")
    if not isinstance(recorded, dict) or not isinstance(recorded.get("commit"), str) \
            or not isinstance(recorded.get("date"), (str, dt.date)):
        fail(where + ("recorded",), "expected a mapping with at least commit and date (where the entry came from)")
    seeds = entry.get("seeds")
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in seeds):
        fail(where + ("seeds",), "expected a non-empty list of integer seeds")
    if "time_s" in entry:
        time_s = entry["time_s"]
        if not isinstance(time_s, dict) or set(time_s) != TIME_KEYS \
                or not all(_number(v) and v >= 0 for v in time_s.values()):
            fail(where + ("time_s",), "expected median and iqr, non-negative seconds (or no time_s at all)")
    for name, metric in entry["metrics"].items():
        at = where + ("metrics", name)
        if not isinstance(metric, dict) or set(metric) != METRIC_KEYS:
            fail(at, f"expected exactly the fields {sorted(METRIC_KEYS)}")
        if metric["direction"] not in DIRECTIONS:
            fail(at + ("direction",), f"unknown direction {metric['direction']!r}; use one of {DIRECTIONS}")
        for field in ("mean", "std", "abs_tol"):
            if not _number(metric[field]):
                fail(at + (field,), f"expected a finite number, got {metric[field]!r}")
        values = metric["values"]
        if not isinstance(values, list) or not values or not all(_number(v) for v in values):
            fail(at + ("values",), f"expected a non-empty list of finite numbers, got {values!r}")


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


def remove_entries(path: Path, device_class: str, keys) -> None:
    """Drop these entries from the file, as safely as write_entries writes (locked, validated, atomic)."""
    path = Path(path)
    with _locked(path):
        entries = {key: entry for key, entry in load(path, device_class).items() if key not in set(keys)}
        _write(path, device_class, entries)


def _write(path: Path, device_class: str, entries: dict) -> None:
    doc = {"schema": SCHEMA, "device_class": device_class, "entries": dict(sorted(entries.items()))}
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=200, allow_unicode=True)
    _parse(text, path, device_class)  # what is about to be written must read back
    _replace(path, text)


def write_entries(path: Path, device_class: str, updates: dict) -> dict:
    """Merge {key: entry} into the file atomically; return {key: previous entry or None}.

    A lock file serialises concurrent writers (two pytest processes); the merged document is
    validated before it replaces the file (temp file + rename, the file's mode kept), so neither a
    bad entry nor a crash leaves a broken baseline. Other entries are kept as they are, and an
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
        _write(path, device_class, entries)
    return before


def _replace(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        else:  # a new file gets the usual mode, not mkstemp's owner-only 0600
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _locked(path: Path) -> FileLock:
    """An exclusive lock beside the file (fcntl on POSIX, msvcrt on Windows, through filelock)."""
    return FileLock(path.with_name(f".{path.name}.lock"))
