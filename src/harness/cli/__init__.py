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
import sys
from importlib.metadata import version
from pathlib import Path

from harness import data_fetch
from harness.cli.baselines import cmd_diff, cmd_orphans, cmd_show, cmd_update
from harness.cli.commands import cmd_compare, cmd_data_fetch, cmd_docs, cmd_faults, cmd_report
from harness.results import baselines, compare


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
    faults.add_argument("--jobs", type=int, default=None,
                        help="runs at once, each with its share of the cores' threads; None: one per usable core")
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


if __name__ == "__main__":
    sys.exit(main())
