"""Run records on disk: writing one, reading them, and merging the shards of one run.

A run record is what one pytest session writes (`--results-dir`): a `RunRecord` as JSON. A
nightly run split with `--shard I/N` leaves N records that share a `run_id` (from
$HARNESS_RUN_ID, which the CI job sets once for all its shards); records of one run, device
class and tier merge into one. Records written without a run id are runs of their own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import subprocess
from pathlib import Path

from harness.results.schema import GitState, RunRecord


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def git_state(root: Path) -> GitState:
    """Short commit and whether the tracked tree differs from it ('nogit' outside a checkout)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    try:
        return GitState(commit=git("rev-parse", "--short", "HEAD"), dirty=bool(git("status", "--porcelain", "-uno")))
    except (OSError, subprocess.CalledProcessError):
        return GitState(commit="nogit", dirty=False)


def write_run_record(results_dir: Path, record: RunRecord) -> Path:
    """<utc>-<commit>-<device_class>.json in results_dir, or -2, -3, ... when a run of the same
    second is already there: a record never replaces another."""
    results_dir.mkdir(parents=True, exist_ok=True)
    created = record.created.replace(":", "").replace("-", "")
    stem = f"{created}-{record.git.commit}-{record.device_class}"
    text = json.dumps(record.to_json(), indent=1, allow_nan=False) + "\n"
    for n in itertools.count(1):
        path = results_dir / (f"{stem}.json" if n == 1 else f"{stem}-{n}.json")
        with contextlib.suppress(FileExistsError), open(path, "x", encoding="utf-8") as out:  # x: never replace
            out.write(text)
            return path


def load_run_record(path: Path) -> RunRecord:
    """A run record written by the plugin; ValueError with the path when it is not one."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read a run record ({err})") from err
    try:
        return RunRecord.from_json(data, source=Path(path).name)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


REPORT_MANIFEST = ".harness-report-files"  # marks a report's folder: what the report wrote there


def load_run_records(paths: list[Path]) -> list[RunRecord]:
    """Every record named, directories searched for `*.json` run records (recursively, so a folder of
    downloaded CI artifacts works); files in a directory that are not run records are skipped, and
    so are the merged copies inside report folders below it (`--plots` writes its report beside the
    record; reading both would count the run twice). A report folder named itself is read."""
    records = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for candidate in sorted(path.rglob("*.json")):
                if candidate.parent != path and (candidate.parent / REPORT_MANIFEST).exists():
                    continue
                try:
                    records.append(load_run_record(candidate))
                except ValueError:
                    continue  # pytest-benchmark JSON and other artifacts live beside the records
        elif path.exists():
            records.append(load_run_record(path))
        else:
            raise ValueError(f"{path}: no such file or directory")
    return records


def run_key(record: RunRecord) -> tuple[str, str, str]:
    run_id = record.run_id or f"{record.created}-{record.git.commit}"
    return run_id, record.device_class, record.tier


def merge(records: list[RunRecord]) -> RunRecord:
    """One record from the shards of one run: tests and durations joined, counts added.

    A test present in two shards, or shards of different commits, is a ValueError: the shards
    would not be one run of one suite.
    """
    if len(records) == 1:
        return records[0]
    keys = {run_key(r) for r in records}
    commits = {r.git.commit for r in records}
    if len(keys) != 1 or len(commits) != 1:
        raise ValueError(f"cannot merge records of different runs: runs {sorted(keys)}, commits {sorted(commits)}")
    seen: dict[str, str] = {}
    for r in records:
        for t in r.tests:
            if t.nodeid in seen:
                raise ValueError(f"{t.nodeid} is in two shards ({seen[t.nodeid]} and {_name(r)}): "
                                 f"the shards overlap; give every job the same --shard-durations")
            seen[t.nodeid] = _name(r)
    first = min(records, key=lambda r: r.created)
    return dataclasses.replace(
        first,
        counts={k: sum(r.counts.get(k, 0) for r in records) for k in first.counts},
        tests=sorted((t for r in records for t in r.tests), key=lambda t: t.nodeid),
        durations={k: v for r in records for k, v in r.durations.items()},
        shard=None,
        shards=sorted(r.shard or "?" for r in records),
        sources=[s for r in records for s in r.sources],
    )


def runs(records: list[RunRecord]) -> list[RunRecord]:
    """The records grouped into runs (shards merged), oldest first."""
    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        groups.setdefault(run_key(r), []).append(r)
    return sorted((merge(g) for g in groups.values()), key=lambda r: r.created)


def _name(record: RunRecord) -> str:
    return f"shard {record.shard or '?'} ({', '.join(record.sources) or 'unsaved'})"
