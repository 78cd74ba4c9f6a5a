"""`harness baselines show|diff|update|orphans`: look at, diff and write the YAML baseline store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tabulate import tabulate

from harness.cli.common import one_run, pytest_command
from harness.reporting.terminal import update_table
from harness.results import baselines
from harness.results.schema import TIER_SEEDS
from harness.stats import fmt, mean_tolerance, seed_tolerance


def cmd_show(args) -> int:
    rows = []
    for path in baselines.all_files(args.dir):
        device_class = path.parent.name
        if args.device_class and device_class != args.device_class:
            continue
        for key, entry in baselines.load(path, device_class).items():
            if args.keyword.lower() not in key.lower():
                continue
            rec = entry["recorded"]
            for name, m in entry["metrics"].items():
                base = baselines.stored_summary(m)
                n_run = TIER_SEEDS["full" if key.endswith("full]") else "smoke"]  # what a run of that tier uses
                rows.append([device_class, f"{path.stem}/{key}", name, f"{fmt(m['mean'])} ± {fmt(m['std'])}",
                             len(m["values"]), m["direction"], fmt(mean_tolerance(base, n_run, m["abs_tol"])),
                             fmt(seed_tolerance(base, m["abs_tol"])),
                             f"{rec.get('date')} {rec.get('commit')}{'+' if rec.get('dirty') else ''}",
                             fmt(entry["time_s"]["median"]) + " s" if entry.get("time_s") else "—"])
    if not rows:
        print(f"no baselines under {args.dir} match")
        return 0
    # what the check can see: the smallest shift of a run's mean (the tier's seed count) and of one seed it flags
    print(tabulate(rows, headers=["device class", "entry", "metric", "mean ± std", "n", "direction",
                                  "flags a mean shift >", "flags one seed off by >", "recorded", "time"],
                   disable_numparse=True))
    return 0


def cmd_diff(args) -> int:
    record = one_run(args.run)
    stored_groups = baselines.load_all(args.dir, record.device_class)
    rows = []
    for test in record.tests:
        stored = stored_groups.get(test.group, {}).get(test.key, {}).get("metrics", {})
        for name, m in test.metrics.items():
            old = stored.get(name)
            rows.append([test.key, name, f"{fmt(old['mean'])} ± {fmt(old['std'])}" if old else "(new)",
                         f"{fmt(m.mean)} ± {fmt(m.std)}", fmt(m.mean - old["mean"]) if old else "",
                         "" if test.outcome in ("passed", "xfailed") else "not written: test failed"])
    print(tabulate(rows, headers=["entry", "metric", "stored", "run", "change", "note"], disable_numparse=True))
    return 0


def cmd_update(args) -> int:
    if os.environ.get("CI"):
        print("harness: error: baselines are never written in CI (CI is set)", file=sys.stderr)
        return 2
    if args.from_run:
        return _update_from_run(args)
    cmd = pytest_command("--update-baselines", f"--device={args.device}", f"--tier={args.tier}",
                  f"--baselines-dir={args.dir.resolve()}", "-p", "no:randomly", *args.pytest_args)
    if args.keyword:
        cmd += ["-k", args.keyword]
    print("running:", " ".join(cmd))
    return subprocess.call(cmd)


def _update_from_run(args) -> int:
    record = one_run(args.from_run)
    if record.env.get("planted_fault"):
        raise ValueError(f"{args.from_run} ran with the planted fault {record.env['planted_fault']!r}: "
                         "a self-check run is never a baseline")
    written = baselines.write_records(args.dir, record.device_class, record.tests)
    print(update_table(written, Path.cwd()) if written
          else "nothing to write: the run has no passed tests with metrics")
    return 0


def cmd_orphans(args) -> int:
    out = subprocess.run(pytest_command(*args.paths, "--collect-only", "-q", "-p", "no:benchmark"),
                         capture_output=True, text=True, check=False)
    if out.returncode not in (0, 5):
        print(out.stdout + out.stderr, file=sys.stderr)
        return 2
    live = set()
    for line in out.stdout.splitlines():
        if "::" in line:
            name = line.rsplit("/", 1)[-1]
            base, _, params = name.partition("[")
            live.update(f"{base}[{params[:-1] + '-' if params else ''}{tier}]" for tier in ("smoke", "full"))
    orphans = [(path, key) for path in baselines.all_files(args.dir)
               for key in baselines.load(path, path.parent.name) if key not in live]
    for path, key in orphans:
        print(f"{path}: {key} (no such test; {'deleted' if args.delete else 'delete the entry or restore the test'})")
    print(f"{len(orphans)} orphan entr{'y' if len(orphans) == 1 else 'ies'}{' deleted' if args.delete else ''}")
    if args.delete:
        for path in {path for path, _ in orphans}:
            baselines.remove_entries(path, path.parent.name, [key for p, key in orphans if p == path])
        return 0
    return 1 if orphans else 0
