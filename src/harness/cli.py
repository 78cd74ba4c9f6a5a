"""`harness`: look at, diff and update baselines; compare two run records.

    harness baselines show [-k TEXT] [--device-class C]
    harness baselines diff RUN.json|DIR      what an update from this run would change
    harness baselines update [-k EXPR] [--device D] [--tier T] [PATH …] [--from RUN.json|DIR]
    harness baselines orphans [PATH …] [--delete]   entries whose test no longer exists
    harness compare A.json B.json            exit 1 on a significant regression from A to B
    harness report RUN.json|DIR … --out DIR  Markdown + HTML with plots; shards merged; trends across runs
    harness docs [--check]                   docs/phenomena.md and README's table from docstrings + baselines
    harness faults [--kinds K …] [-- ARGS]   self-check: which tests catch each planted fault
    harness data fetch mnist|fashion-mnist|cifar10   real data into $HARNESS_DATA_DIR (checksums verified)

The commands that run pytest (update, orphans, faults) run it in the current folder on the paths
given, or else on the paths the project's pytest configuration names (`testpaths`), with the
harness plugin loaded: they work in any project that has the harness installed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from tabulate import tabulate

from harness import data_fetch
from harness.reporting.terminal import update_table
from harness.results import baselines, compare
from harness.results.runs import load_run_records, runs
from harness.results.schema import TIER_SEEDS, RunRecord
from harness.stats import fmt, mean_tolerance, seed_tolerance


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
    parser.add_argument("--version", action="version", version=f"harness {version('harness')}")
    sub = parser.add_subparsers(metavar="COMMAND")

    base = sub.add_parser("baselines", help="show, diff, update baselines", formatter_class=fmt_)
    base.set_defaults(func=lambda _: _usage(base))
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
    update.add_argument("pytest_args", nargs="*", metavar="PATH_OR_PYTEST_ARG",
                        help="test paths and more pytest arguments (options after --); default: the "
                             "project's pytest testpaths")
    update.set_defaults(func=cmd_update)

    orphans = base_sub.add_parser("orphans", parents=[store], formatter_class=fmt_,
                                  help="entries whose test no longer exists (collects the suite)")
    orphans.add_argument("paths", nargs="*", help="where the benchmarks live (default: the project's pytest testpaths)")
    orphans.add_argument("--delete", action="store_true", help="remove the orphan entries (review the diff like code)")
    orphans.set_defaults(func=cmd_orphans)

    compare_ = sub.add_parser("compare", formatter_class=fmt_,
                              help="compare two run records; exit 1 on a significant regression")
    compare_.add_argument("before", type=Path, help="run record, or a folder with the shard records of one run")
    compare_.add_argument("after", type=Path, help="the same for the run to judge")
    compare_.add_argument("--time-ratio", type=_ratio_above_one, default=compare.TIME_RATIO,
                          help="a timed unit regresses when its median is this many times the old one "
                               f"(and Mann-Whitney p < {compare.TIME_ALPHA})")
    compare_.set_defaults(func=cmd_compare)

    report_ = sub.add_parser("report", formatter_class=fmt_,
                             help="Markdown + HTML report with plots; merges shards; trends over several runs")
    report_.add_argument("runs", nargs="+", type=Path, help="run record JSON files, or directories holding them")
    report_.add_argument("--out", type=Path, default=Path(".harness/report"), help="output directory")
    report_.add_argument("--last", type=int, default=20, help="trends over this many most recent runs")
    report_.set_defaults(func=cmd_report)

    faults = sub.add_parser("faults", formatter_class=fmt_,
                            help="self-check: run the suite clean and once per planted fault; which tests catch each")
    faults.add_argument("--tier", default="smoke", choices=("smoke", "full"), help="tier to run")
    faults.add_argument("--out", type=Path, default=Path(".harness/faults"), help="run records and logs go here")
    faults.add_argument("--kinds", nargs="+", default=None, help="faults to plant (default: all)")
    faults.add_argument("pytest_args", nargs="*", help="more pytest arguments, after -- (e.g. -- -k pruning)")
    faults.set_defaults(func=cmd_faults)

    docs = sub.add_parser("docs", formatter_class=fmt_,
                          help="regenerate docs/phenomena.md and README's phenomena table from the benchmarks' "
                               "docstrings and the stored baselines")
    docs.add_argument("--root", type=Path, default=Path("."), help="project root")
    docs.add_argument("--check", action="store_true", help="write nothing; exit 1 when a generated file is stale")
    docs.set_defaults(func=cmd_docs)

    data = sub.add_parser("data", formatter_class=fmt_, help="put real datasets into $HARNESS_DATA_DIR")
    data.set_defaults(func=lambda _: _usage(data))
    data_sub = data.add_subparsers(metavar="ACTION")
    fetch = data_sub.add_parser("fetch", formatter_class=fmt_,
                                help="download the official archives, verify their SHA-256, unpack what the "
                                     "harness reads (the only command that uses the network)")
    fetch.add_argument("names", nargs="+", choices=sorted(data_fetch.DATASETS), metavar="NAME",
                       help=f"datasets: {', '.join(sorted(data_fetch.DATASETS))}")
    fetch.add_argument("--dir", type=Path, default=None,
                       help="target folder (default: $HARNESS_DATA_DIR, else ~/.cache/harness/data)")
    fetch.add_argument("--source", default=None,
                       help="base URL to fetch the archives from instead of the official mirrors "
                            "(e.g. file:///srv/mirror; checksums are verified all the same)")
    fetch.set_defaults(func=cmd_data_fetch)
    return parser


def _usage(parser: argparse.ArgumentParser) -> int:
    """A command given without its action: its own help, exit 2."""
    parser.print_help()
    return 2


def _ratio_above_one(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 1:
        raise argparse.ArgumentTypeError(f"--time-ratio must be a number above 1 (a slowdown factor), got {text!r}")
    return value


def _pytest(*args: str) -> list[str]:
    """A pytest command line in this interpreter, with the harness plugin even where plugin
    autoloading is off (PYTEST_DISABLE_PLUGIN_AUTOLOAD), where its entry point is not read."""
    plugin = ["-p", "harness.plugin"] if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else []
    return [sys.executable, "-m", "pytest", *plugin, *args]


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
    record = _one_run(args.run)
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
    cmd = _pytest("--update-baselines", f"--device={args.device}", f"--tier={args.tier}",
                  f"--baselines-dir={args.dir.resolve()}", "-p", "no:randomly", *args.pytest_args)
    if args.keyword:
        cmd += ["-k", args.keyword]
    print("running:", " ".join(cmd))
    return subprocess.call(cmd)


def _update_from_run(args) -> int:
    record = _one_run(args.from_run)
    if record.env.get("planted_fault"):
        raise ValueError(f"{args.from_run} ran with the planted fault {record.env['planted_fault']!r}: "
                         "a self-check run is never a baseline")
    written = baselines.write_records(args.dir, record.device_class, record.tests)
    print(update_table(written, Path.cwd()) if written
          else "nothing to write: the run has no passed tests with metrics")
    return 0


def cmd_orphans(args) -> int:
    out = subprocess.run(_pytest(*args.paths, "--collect-only", "-q", "-p", "no:benchmark"),
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


def cmd_compare(args) -> int:
    changes = compare.compare(_one_run(args.before), _one_run(args.after), args.time_ratio)
    if not changes:
        print("the two run records share no tests")
        return 0
    print(tabulate([c.row() for c in changes], headers=compare.HEADERS, disable_numparse=True))
    regressions = sum(c.regressed for c in changes)
    print(f"{regressions} significant regression(s)")
    return 1 if regressions else 0


def cmd_report(args) -> int:
    if args.last < 1:
        raise ValueError(f"--last must be at least 1, got {args.last}")
    found = load_run_records(args.runs)
    if not found:
        print(f"harness: error: no run records in {' '.join(map(str, args.runs))}", file=sys.stderr)
        return 2
    from harness.reporting import site  # matplotlib: imported only for a report

    page = site.write_report(found, args.out, last=args.last)
    print(f"harness: {len(found)} run record(s) → {page} and {args.out / 'report.md'}")
    return 0


def cmd_faults(args) -> int:
    from harness.faults import FAULTS  # loads torch: only for this command

    kinds = args.kinds or list(FAULTS)
    unknown = set(kinds) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; plant any of {', '.join(FAULTS)}")
    rows, blind, clean_red = [], [], False
    for kind in ["none", *kinds]:
        folder = args.out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("*.json"), *folder.glob("*.md")]:  # this command's own earlier records
            old.unlink()
        cmd = _pytest("--tier", args.tier, "--benchmark-disable", "-q", "-p", "no:cacheprovider",
                      "--results-dir", str(folder), *(["--plant-fault", kind] if kind != "none" else []),
                      *args.pytest_args)
        print(f"harness faults: {kind}: {' '.join(cmd[2:])}", flush=True)
        with open(args.out / f"{kind}.log", "w", encoding="utf-8") as log:
            subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
        records = load_run_records([folder])
        if not records:
            raise ValueError(f"the {kind} run wrote no run record; see {args.out / f'{kind}.log'}")
        red = sorted(t.where for t in records[-1].tests if t.outcome == "failed")
        groups = sorted({w.split("/", 1)[0] for w in red})
        rows.append([kind, len(records[-1].tests), len(red), ", ".join(groups) or "—",
                     "; ".join(red[:4]) + (f"; +{len(red) - 4} more" if len(red) > 4 else "")])
        clean_red |= kind == "none" and bool(red)
        if kind != "none" and not red:
            blind.append(kind)
    print(tabulate(rows, headers=["planted fault", "tests", "red", "groups that caught it", "tests that caught it"],
                   disable_numparse=True))
    if clean_red:
        print("harness faults: the clean run is red: fix that first, the fault rows mean nothing until it is green")
    for kind in blind:
        print(f"harness faults: no test caught the {kind!r} fault: a blind spot of the suite")
    return 1 if clean_red or blind else 0


def cmd_docs(args) -> int:
    from harness.reporting import catalogue  # loads the benchmark files, and with them torch

    root = args.root
    generated = catalogue.generate(root, root / "benchmarks", root / "baselines", root / "docs" / "phenomena.md",
                                   root / "README.md")
    stale = [path for path, text in generated.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"harness: {path} is stale: run `harness docs` and commit the result", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generated[path], encoding="utf-8")
        print(f"harness: wrote {path}")
    if not stale:
        print("harness: the catalogue is current")
    return 0


def cmd_data_fetch(args) -> int:
    folder = args.dir or data_fetch.default_dir()
    for name in args.names:
        for path in data_fetch.fetch(name, folder, args.source):
            print(f"harness: {name}: {path}")
    print(f"harness: tests read them with HARNESS_DATA_DIR={folder}")
    return 0


def _one_run(path: Path) -> RunRecord:
    """The run in a record file, or in a folder holding the shard records of one run (merged)."""
    found = runs(load_run_records([path]))
    if len(found) != 1:
        raise ValueError(f"{path} holds {len(found)} runs; name one run record (or a folder of one run's shards)")
    return found[0]


if __name__ == "__main__":
    sys.exit(main())
