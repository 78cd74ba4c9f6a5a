"""`harness compare|report|faults|docs|data`: runs compared and reported, the planted-fault
self-check, the generated catalogue, and fetching real datasets."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from tabulate import tabulate

from harness import data_fetch
from harness.cli.common import one_run, pytest_command
from harness.results import compare
from harness.results.runs import load_run_records


def cmd_compare(args) -> int:
    changes = compare.compare(one_run(args.before), one_run(args.after), args.time_ratio)
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
    from harness.faults import FAULTS, side_by_side  # loads torch: only for this command

    kinds = args.kinds or list(FAULTS)
    unknown = set(kinds) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; plant any of {', '.join(FAULTS)}")
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {args.jobs}")
    runs = ["none", *kinds]
    jobs, threads_each = side_by_side(args.jobs, len(runs))
    threads = [] if any(a.startswith("--threads") for a in args.pytest_args) else ["--threads", str(threads_each)]
    commands = {}
    for kind in runs:
        folder = args.out / kind
        folder.mkdir(parents=True, exist_ok=True)
        for old in [*folder.glob("*.json"), *folder.glob("*.md")]:  # this command's own earlier records
            old.unlink()
        # one token: a path given as a separate argument joins pytest's guess of the rootdir, and a
        # folder outside the project then makes it collect everything under their common parent
        results = f"--results-dir={folder}"
        commands[kind] = pytest_command("--tier", args.tier, "--benchmark-disable", "-q", "-p", "no:cacheprovider",
                                        results, *threads, *(["--plant-fault", kind] if kind != "none" else []),
                                        *args.pytest_args)
        print(f"harness faults: {kind}: {' '.join(commands[kind][2:])}", flush=True)

    def run_one(kind: str) -> None:
        with open(args.out / f"{kind}.log", "w", encoding="utf-8") as log:
            subprocess.run(commands[kind], stdout=log, stderr=subprocess.STDOUT, check=False)
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # each thread waits on one pytest process
        list(pool.map(run_one, runs))

    rows, blind, clean_red = [], [], False
    for kind in runs:
        records = load_run_records([args.out / kind])
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
