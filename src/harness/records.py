"""Run records on disk: reading them, and merging the shards of one run into one record.

A run record is what one pytest session writes (`--results-dir`). A nightly run split with
`--shard I/N` leaves N records that share a `run_id` (from $HARNESS_RUN_ID, which the CI job sets
once for all its shards); records of one run, device class and tier merge into one. Records
written without a run id are runs of their own.
"""

from __future__ import annotations

import json
from pathlib import Path

RECORD_SCHEMA = 1


def load_run_record(path: Path) -> dict:
    """A run record written by the plugin; ValueError with the path when it is not one."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: cannot read a run record ({err})") from err
    if not isinstance(record, dict) or record.get("schema") != RECORD_SCHEMA or "tests" not in record:
        raise ValueError(f"{path}: not a harness run record (schema {RECORD_SCHEMA} with a tests list)")
    record.setdefault("sources", [Path(path).name])
    return record


def load_run_records(paths: list[Path]) -> list[dict]:
    """Every record named, directories searched for `*.json` run records (recursively, so a folder of
    downloaded CI artifacts works); files in a directory that are not run records are skipped."""
    records = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for candidate in sorted(path.rglob("*.json")):
                try:
                    records.append(load_run_record(candidate))
                except ValueError:
                    continue  # pytest-benchmark JSON and other artifacts live beside the records
        elif path.exists():
            records.append(load_run_record(path))
        else:
            raise ValueError(f"{path}: no such file or directory")
    return records


def run_key(record: dict) -> tuple[str, str, str]:
    run_id = record.get("run_id") or f"{record['created']}-{record['git']['commit']}"
    return run_id, record["env"]["device_class"], record["tier"]


def merge(records: list[dict]) -> dict:
    """One record from the shards of one run: tests and durations joined, counts added.

    A test present in two shards, or shards of different commits, is a ValueError: the shards
    would not be one run of one suite.
    """
    if len(records) == 1:
        return records[0]
    keys = {run_key(r) for r in records}
    commits = {r["git"]["commit"] for r in records}
    if len(keys) != 1 or len(commits) != 1:
        raise ValueError(f"cannot merge records of different runs: runs {sorted(keys)}, commits {sorted(commits)}")
    seen: dict[str, str] = {}
    for r in records:
        for t in r["tests"]:
            if t["nodeid"] in seen:
                raise ValueError(f"{t['nodeid']} is in two shards ({seen[t['nodeid']]} and {_name(r)}): "
                                 f"the shards overlap; give every job the same --shard-durations")
            seen[t["nodeid"]] = _name(r)
    first = min(records, key=lambda r: r["created"])
    return {
        **first,
        "counts": {k: sum(r["counts"].get(k, 0) for r in records) for k in first["counts"]},
        "tests": sorted((t for r in records for t in r["tests"]), key=lambda t: t["nodeid"]),
        "durations": {k: v for r in records for k, v in r.get("durations", {}).items()},
        "shard": None,
        "shards": sorted(r.get("shard") or "?" for r in records),
        "sources": [s for r in records for s in r.get("sources", [])],
    }


def runs(records: list[dict]) -> list[dict]:
    """The records grouped into runs (shards merged), oldest first."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault(run_key(r), []).append(r)
    return sorted((merge(g) for g in groups.values()), key=lambda r: r["created"])


def _name(record: dict) -> str:
    return f"shard {record.get('shard') or '?'} ({', '.join(record.get('sources', [])) or 'unsaved'})"
