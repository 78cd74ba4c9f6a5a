"""`harness`: look at, diff and update baselines; compare two run records.

    harness baselines show [-k TEXT] [--device-class C]
    harness baselines diff RUN.json|DIR      what an update from this run would change
    harness baselines update [-k EXPR] [--device D] [--tier T] [--from RUN.json|DIR]
    harness baselines orphans                entries whose test no longer exists
    harness compare A.json B.json            exit 1 on a significant regression from A to B
    harness report RUN.json|DIR … --out DIR  Markdown + HTML with plots; shards merged; trends across runs
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from pathlib import Path

from tabulate import tabulate

from harness import baselines, pages
from harness.claims import Metric
from harness.records import load_run_records, runs
from harness.report import update_table
from harness.stats import Summary, fmt, mann_whitney_greater, summarize, welch_greater

ALPHA = 0.05  # significance for metric regressions
TIME_ALPHA = 0.01  # timing rounds are many and noisy: ask for stronger evidence
# A slowdown must also exceed the run-to-run spread, which the rounds of one run do not see: on the
# shared 2-core CPU, reruns of unchanged code moved single units by 0.6–1.7× (6 units, 4 reruns),
# each with Mann-Whitney p = 0.004. A dedicated runner can ask for less (--time-ratio 1.2).
TIME_RATIO = 2.0


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except (baselines.BaselineError, ValueError) as err:
        print(f"harness: error: {err}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    fmt_ = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(prog="harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(metavar="COMMAND")

    base = sub.add_parser("baselines", help="show, diff, update baselines", formatter_class=fmt_)
    base_sub = base.add_subparsers(metavar="ACTION")
    store = argparse.ArgumentParser(add_help=False)
    store.add_argument("--dir", default="baselines", type=Path, help="baseline store root")

    show = base_sub.add_parser("show", parents=[store], help="print stored baselines", formatter_class=fmt_)
    show.add_argument("-k", dest="keyword", default="", help="only entries whose key contains this text")
    show.add_argument("--device-class", default=None, help="only this device class (e.g. cpu)")
    show.set_defaults(func=cmd_show)

    diff = base_sub.add_parser("diff", parents=[store], help="what updating from a run would change",
                               formatter_class=fmt_)
    diff.add_argument("run", type=Path, help="run record JSON written by pytest (--results-dir), or a folder "
                                             "holding one run's shard records")
    diff.set_defaults(func=cmd_diff)

    update = base_sub.add_parser("update", parents=[store], formatter_class=fmt_,
                                 help="re-run selected tests with --update-baselines, or write from a run record")
    update.add_argument("-k", dest="keyword", default=None, help="pytest -k expression selecting the tests")
    update.add_argument("--device", default="cpu", help="device to record on")
    update.add_argument("--tier", default="smoke", choices=("smoke", "full"), help="tier to record")
    update.add_argument("--from", dest="from_run", type=Path, default=None,
                        help="write the passed tests of this run record (or folder of one run's shard "
                             "records) instead of re-running")
    update.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    update.set_defaults(func=cmd_update)

    orphans = base_sub.add_parser("orphans", parents=[store], formatter_class=fmt_,
                                  help="entries whose test no longer exists (collects the suite)")
    orphans.add_argument("--tests", default="benchmarks", help="where the benchmarks live")
    orphans.set_defaults(func=cmd_orphans)

    compare = sub.add_parser("compare", formatter_class=fmt_,
                             help="compare two run records; exit 1 on a significant regression")
    compare.add_argument("before", type=Path, help="run record, or a folder with the shard records of one run")
    compare.add_argument("after", type=Path, help="the same for the run to judge")
    compare.add_argument("--time-ratio", type=float, default=TIME_RATIO,
                         help="a timed unit regresses when its median is this many times the old one "
                              f"(and Mann-Whitney p < {TIME_ALPHA})")
    compare.set_defaults(func=cmd_compare)

    report_ = sub.add_parser("report", formatter_class=fmt_,
                             help="Markdown + HTML report with plots; merges shards; trends over several runs")
    report_.add_argument("runs", nargs="+", type=Path, help="run record JSON files, or directories holding them")
    report_.add_argument("--out", type=Path, default=Path(".harness/report"), help="output directory")
    report_.add_argument("--last", type=int, default=20, help="trends over this many most recent runs")
    report_.set_defaults(func=cmd_report)
    return parser


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
                rows.append([device_class, f"{path.stem}/{key}", name, f"{fmt(m['mean'])} ± {fmt(m['std'])}",
                             len(m["values"]), m["direction"], m["abs_tol"],
                             f"{rec.get('date')} {rec.get('commit')}{'+' if rec.get('dirty') else ''}",
                             fmt(entry["time_s"]["median"]) + " s" if entry.get("time_s") else "—"])
    if not rows:
        print(f"no baselines under {args.dir} match")
        return 0
    print(tabulate(rows, headers=["device class", "entry", "metric", "mean ± std", "n", "direction", "abs_tol",
                                  "recorded", "time"], disable_numparse=True))
    return 0


def cmd_diff(args) -> int:
    record = _one_run(args.run)
    stored_groups = baselines.load_all(args.dir, record["env"]["device_class"])
    rows = []
    for test in record["tests"]:
        stored = stored_groups.get(test["group"], {}).get(test["key"], {}).get("metrics", {})
        for name, m in test["metrics"].items():
            old = stored.get(name)
            rows.append([test["key"], name, f"{fmt(old['mean'])} ± {fmt(old['std'])}" if old else "(new)",
                         f"{fmt(m['mean'])} ± {fmt(m['std'])}", fmt(m["mean"] - old["mean"]) if old else "",
                         "" if test["outcome"] in ("passed", "xfailed") else "not written: test failed"])
    print(tabulate(rows, headers=["entry", "metric", "stored", "run", "change", "note"], disable_numparse=True))
    return 0


def cmd_update(args) -> int:
    if os.environ.get("CI"):
        print("harness: error: baselines are never written in CI (CI is set)", file=sys.stderr)
        return 2
    if args.from_run:
        return _update_from_run(args)
    cmd = [sys.executable, "-m", "pytest", "benchmarks", "--update-baselines", f"--device={args.device}",
           f"--tier={args.tier}", f"--baselines-dir={args.dir}", "-p", "no:randomly", *args.pytest_args]
    if args.keyword:
        cmd += ["-k", args.keyword]
    print("running:", " ".join(cmd))
    return subprocess.call(cmd)


def _update_from_run(args) -> int:
    record = _one_run(args.from_run)
    written = baselines.write_records(args.dir, record["env"]["device_class"], record["tests"])
    print(update_table(written, Path.cwd()) if written
          else "nothing to write: the run has no passed tests with metrics")
    return 0


def cmd_orphans(args) -> int:
    out = subprocess.run([sys.executable, "-m", "pytest", args.tests, "--collect-only", "-q", "-p", "no:benchmark"],
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
        print(f"{path}: {key} (no such test; delete the entry or restore the test)")
    print(f"{len(orphans)} orphan entr{'y' if len(orphans) == 1 else 'ies'}")
    return 1 if orphans else 0


def cmd_compare(args) -> int:
    before, after = _one_run(args.before), _one_run(args.after)
    old_tests = {t["key"]: t for t in before["tests"]}
    rows, regressions = [], 0
    for test in after["tests"]:
        old = old_tests.get(test["key"])
        if old is None:
            continue
        for name, m in test["metrics"].items():
            if name not in old["metrics"]:
                continue
            verdict, detail = _compare_metric(old["metrics"][name], m)
            regressions += verdict == "REGRESSED"
            rows.append([test["where"], name, fmt(old["metrics"][name]["mean"]), fmt(m["mean"]), detail, verdict])
        verdict, detail = _compare_time(old.get("time_s"), test.get("time_s"), args.time_ratio)
        if verdict:
            regressions += verdict == "SLOWER"
            rows.append([test["where"], "time_s (median)", fmt(old["time_s"]["median"]), fmt(test["time_s"]["median"]),
                         detail, verdict])
    if not rows:
        print("the two run records share no tests")
        return 0
    print(tabulate(rows, headers=["phenomenon", "metric", "before", "after", "test", "verdict"], disable_numparse=True))
    print(f"{regressions} significant regression(s)")
    return 1 if regressions else 0


def cmd_report(args) -> int:
    if args.last < 1:
        raise ValueError(f"--last must be at least 1, got {args.last}")
    found = load_run_records(args.runs)
    if not found:
        print(f"harness: error: no run records in {' '.join(map(str, args.runs))}", file=sys.stderr)
        return 2
    page = pages.write_report(found, args.out, last=args.last)
    print(f"harness: {len(found)} run record(s) → {page} and {args.out / 'report.md'}")
    return 0


def _one_run(path: Path) -> dict:
    """The run in a record file, or in a folder holding the shard records of one run (merged)."""
    found = runs(load_run_records([path]))
    if len(found) != 1:
        raise ValueError(f"{path} holds {len(found)} runs; name one run record (or a folder of one run's shards)")
    return found[0]


def _compare_metric(old: dict, new: dict) -> tuple[str, str]:
    a, b = summarize(old["values"]), summarize(new["values"])
    spec = Metric(new["direction"], new["abs_tol"])
    worse, tol = baselines.shortfall(a, b, spec)
    p = _p_worse(old["values"], new["values"], a, b, spec.direction)
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
    return 2 * min(welch_greater(old_values, new_values), welch_greater(new_values, old_values))


def _compare_time(old: dict | None, new: dict | None, max_ratio: float) -> tuple[str | None, str]:
    if not old or not new or len(old.get("rounds", [])) < 2 or len(new.get("rounds", [])) < 2:
        return None, ""
    p = mann_whitney_greater(new["rounds"], old["rounds"])
    ratio = new["median"] / old["median"]
    slower = p < TIME_ALPHA and ratio > max_ratio
    detail = f"{ratio:.2f}× (limit {max_ratio:g}×), Mann-Whitney p={p:.3g}"
    if _smallest_p(len(new["rounds"]), len(old["rounds"])) >= TIME_ALPHA:
        detail += f" (too few rounds ever to reach p < {TIME_ALPHA})"
    return ("SLOWER" if slower else "ok"), detail


def _smallest_p(n: int, m: int) -> float:
    """The one-sided Mann-Whitney p when every new round is slower than every old one: 1 / C(n+m, n)."""
    return 1 / math.comb(n + m, n)


if __name__ == "__main__":
    sys.exit(main())
