"""The pytest plugin: options, markers, fixtures, the baseline check, and the session's outputs.

Loaded by the root conftest.py (`pytest_plugins = ["harness.plugin"]`). A benchmark test asks for
`claim` (records metrics and claims), `bench` (times a unit), `device`, `tier` and `seeds`.
After the test body returns, the plugin compares the metrics with the stored baseline for this
device class and fails the test once with every failing sentence.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from harness import baselines, devices, local_files, pages, plots, records, report, sharding
from harness.checks import GROUPS, check_baseline, record_of, where
from harness.claims import Verdict
from harness.recorder import ClaimBook
from harness.report import progress_line
from harness.timing import benchmark_rounds, summarize_rounds, synced

TIER_SEEDS = {"smoke": 3, "full": 5}
RECORD_KEY = "harness"
SESSION = pytest.StashKey["HarnessSession"]()
BOOK = pytest.StashKey[ClaimBook]()


@dataclasses.dataclass(eq=False)  # registered as a plugin: pluggy needs it hashable (by identity)
class HarnessSession:
    device: torch.device
    device_class: str
    tier: str
    n_seeds: int
    baselines_dir: Path
    results_dir: Path
    update: bool
    require: bool
    git: dict
    env: dict
    records: list = dataclasses.field(default_factory=list)
    written: list = dataclasses.field(default_factory=list)  # (path, key, before, after) of updates
    outputs: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    stored: dict = dataclasses.field(default_factory=dict)  # {group: entries} read at start-up
    shard: str | None = None  # "I/N" under --shard
    plots: bool = False
    progress: bool = False  # one line per finished phenomenon test
    terminal: object = None  # pytest's terminal reporter, once the session starts
    durations: dict = dataclasses.field(default_factory=dict)  # nodeid -> setup + call + teardown seconds

    def pytest_runtest_logreport(self, report):
        """Collect records from call reports (on the controller under xdist, reports carry them)
        and every test's duration, which --shard-durations balances later runs by."""
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.when == "call":
            for key, value in report.user_properties:
                if key == RECORD_KEY:
                    outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
                    self.records.append({**value, "outcome": outcome})
                    if self.terminal is not None:
                        if self.terminal.verbosity < 0:  # -q: pytest's dots leave the line open
                            self.terminal.write("\n")
                        self.terminal.write_line(progress_line(self.records[-1], report.duration))

    def pytest_sessionstart(self, session):
        if self.progress:
            self.terminal = session.config.pluginmanager.get_plugin("terminalreporter")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--seeds must be a positive integer, got {text!r}")
    return value


def pytest_addoption(parser):
    group = parser.getgroup("harness", "deep-learning phenomena harness")
    group.addoption("--device", default="cpu", metavar="{auto,cpu,cuda,cuda:N,mps}",
                    help="device to train on; an absent device is a usage error (default: %(default)s)")
    group.addoption("--tier", default="smoke", choices=("smoke", "full"),
                    help="smoke: minutes on 2 CPU cores; full: paper-closer sizes, more seeds (default: %(default)s)")
    group.addoption("--seeds", type=_positive_int, default=None, metavar="N",
                    help="seeds per phenomenon, overriding the tier's count (default: smoke 3, full 5)")
    group.addoption("--update-baselines", action="store_true", default=False,
                    help="rewrite the baselines of the selected tests for this device class "
                         "(default: off; never in CI)")
    group.addoption("--require-baselines", action="store_true", default=False,
                    help="fail a test whose baseline is missing instead of skipping the check (default: off)")
    group.addoption("--results-dir", default=".harness/runs", metavar="DIR",
                    help="where the run record JSON and Markdown summary go (default: %(default)s)")
    group.addoption("--baselines-dir", default="baselines", metavar="DIR",
                    help="root of the YAML baseline store, relative to the rootdir (default: %(default)s)")
    group.addoption("--shard", default=None, metavar="I/N",
                    help="run only the I-th of N disjoint parts of the suite (split by test file, balanced "
                         "by --shard-durations); the N run records merge with `harness report`")
    group.addoption("--shard-durations", default=None, metavar="RUN",
                    help="a run record (or a directory of them) whose test durations balance --shard")
    group.addoption("--plots", action="store_true", default=False,
                    help="also write the HTML report with each phenomenon's curves as PNGs next to the run record")
    group.addoption("--progress", default="auto", choices=("auto", "on", "off"),
                    help="one line per finished phenomenon test; auto: on a terminal, off under CI "
                         "(default: %(default)s)")


def pytest_configure(config):
    for name, about in GROUPS.items():
        config.addinivalue_line("markers", f"{name}: {about}")
    config.addinivalue_line("markers", "full_only: runs only with --tier full")
    config.addinivalue_line("markers", "gpu_only: runs only with --device cuda")
    config.addinivalue_line("markers", "timing: claims on wall time; skipped under xdist (-n), which shares the cores")
    if config.option.help or config.option.version:
        return
    opt = config.option
    try:
        device = devices.resolve_device(opt.device)
    except devices.DeviceUnavailable as err:
        raise pytest.UsageError(str(err)) from err
    if opt.update_baselines and os.environ.get("CI"):
        raise pytest.UsageError("--update-baselines never runs in CI (CI is set): record baselines on a "
                                "developer machine and review them like code")
    if opt.update_baselines and opt.require_baselines:
        raise pytest.UsageError("--update-baselines and --require-baselines contradict each other; pick one")
    if opt.plots and not plots.available():
        raise pytest.UsageError("--plots needs matplotlib: pip install -e '.[plots]' -c constraints.txt")
    root = Path(config.rootpath)
    results_dir = _writable_dir(root / opt.results_dir, "--results-dir")
    # Denormal floats make CPU elementwise ops (Adam's second moment) several times slower;
    # flushing them changes values below 1e-38 only.
    torch.set_flush_denormal(True)
    session = HarnessSession(
        device=device, device_class=devices.device_class(device), tier=opt.tier,
        n_seeds=opt.seeds or TIER_SEEDS[opt.tier], baselines_dir=root / opt.baselines_dir,
        results_dir=results_dir, update=opt.update_baselines, require=opt.require_baselines,
        git=report.git_state(root), env=devices.describe(device))
    session.stored = _load_baselines(session)
    session.shard, session.plots = opt.shard, opt.plots
    session.progress = _wants_progress(config)
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "harness-session")


def _wants_progress(config) -> bool:
    if config.option.progress != "auto":
        return config.option.progress == "on"
    return not os.environ.get("CI") and sys.stdout.isatty() and not hasattr(config, "workerinput")


def _load_baselines(session: HarnessSession) -> dict:
    """Read every baseline file of this device class once, now: a broken one stops the run before
    any training (exit 4), nothing is ever written over it, and each test checks against this."""
    try:
        return baselines.load_all(session.baselines_dir, session.device_class)
    except baselines.BaselineError as err:
        raise pytest.UsageError(str(err)) from err


def pytest_unconfigure(config):
    session = config.stash.get(SESSION, None)
    if session is not None:
        config.pluginmanager.unregister(session)


def _writable_dir(path: Path, option: str) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise pytest.UsageError(f"{option} {path} is not a writable directory ({err.strerror}); "
                                f"choose another with {option} DIR") from err
    return path


def pytest_report_header(config):
    s = config.stash.get(SESSION, None)
    if s is not None:
        return [f"harness: device {s.device} (class {s.device_class}), tier {s.tier}, {s.n_seeds} seeds"
                + (", updating baselines" if s.update else "")]
    return None


@pytest.hookimpl(trylast=True)  # shard what -k / -m left selected, so shards stay balanced
def pytest_collection_modifyitems(config, items):
    s = config.stash.get(SESSION, None)
    if s is None:
        return
    if s.shard:
        _keep_shard(config, items)
    for item in items:
        if item.get_closest_marker("full_only") and s.tier != "full":
            item.add_marker(pytest.mark.skip(reason="needs --tier full"))
        if item.get_closest_marker("gpu_only") and s.device.type != "cuda":
            item.add_marker(pytest.mark.skip(reason="needs --device cuda"))
        if item.get_closest_marker("timing") and hasattr(config, "workerinput"):
            item.add_marker(pytest.mark.skip(reason="timing claims need the cores to themselves: run without -n"))


def _keep_shard(config, items) -> None:
    try:
        index, count = sharding.parse_shard(config.option.shard)
        durations = (sharding.durations_from(Path(config.rootpath) / config.option.shard_durations)
                     if config.option.shard_durations else {})
    except ValueError as err:
        raise pytest.UsageError(str(err)) from err
    keep = set(sharding.split([item.nodeid for item in items], count, durations)[index - 1])
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in keep])
    items[:] = [item for item in items if item.nodeid in keep]


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def harness_session(pytestconfig) -> HarnessSession:
    return pytestconfig.stash[SESSION]


@pytest.fixture(scope="session")
def device(harness_session) -> torch.device:
    """The torch.device chosen by --device."""
    return harness_session.device


@pytest.fixture(scope="session")
def tier(harness_session) -> str:
    """'smoke' or 'full' (--tier)."""
    return harness_session.tier


@pytest.fixture(scope="session")
def seeds(harness_session) -> list[int]:
    """Seeds 0..N-1: N from --seeds, else the tier's default."""
    return list(range(harness_session.n_seeds))


@pytest.fixture(scope="session")
def local_dataset(device):
    """local_dataset("mnist" | "cifar10") → the real dataset on the device, read from
    $HARNESS_DATA_DIR; when the files are absent the test is skipped with a reason naming it."""
    loaders = {"mnist": local_files.load_mnist, "cifar10": local_files.load_cifar10}
    loaded = {}

    def load(name: str):
        if name not in loaders:
            raise ValueError(f"unknown local dataset {name!r}; use one of {', '.join(loaders)}")
        if name not in loaded:
            try:
                loaded[name] = loaders[name]().to(device)
            except local_files.DataUnavailable as err:
                pytest.skip(f"needs {name} files: {err}")
        return loaded[name]
    return load


@pytest.fixture
def claim(request, harness_session) -> ClaimBook:
    """Record metrics and state claims; checked (with the baseline) when the test body returns."""
    book = ClaimBook(where(request.node), harness_session.tier, list(range(harness_session.n_seeds)))
    request.node.stash[BOOK] = book
    return book


@pytest.fixture
def bench(request, benchmark, device, claim):
    """bench(fn, rounds=5, warmup=1): time a representative unit through pytest-benchmark,
    synchronising the device after each call; the time lands in the record and baseline.
    Five rounds is the fewest with which `harness compare` can ever call a slowdown significant
    (Mann-Whitney p < 0.01 needs 1 / C(2n, n) < 0.01)."""
    def run(fn, *, rounds: int = 5, warmup: int = 1):
        result = benchmark.pedantic(synced(fn, device), rounds=rounds, warmup_rounds=warmup, iterations=1)
        timed = benchmark_rounds(benchmark)
        claim.time_s = summarize_rounds(timed) if timed else None
        return result
    return run


# --- the baseline check and the record, after each test body --------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        result = yield
    except BaseException:
        _attach_record(item, [])
        raise
    book = item.stash.get(BOOK, None)
    if book is None:
        return result
    if book.metrics and not book.claim_verdicts():
        book.check("states a claim", False, "metrics recorded but no claim checked",
                   "a benchmark to state what the paper claims (claim.at_least, claim.greater, ...)")
    baseline_verdicts = check_baseline(item, item.config.stash[SESSION], book)
    _attach_record(item, baseline_verdicts)
    failures = [v.sentence for v in book.failures() + baseline_verdicts if v.passed is False]
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
    return result


def _attach_record(item, extra_verdicts: list[Verdict]) -> None:
    """Hand the test's record to the controller through the report (works under xdist too)."""
    book = item.stash.get(BOOK, None)
    if book is not None:
        item.user_properties.append((RECORD_KEY, record_of(item, item.config.stash[SESSION], book, extra_verdicts)))


@pytest.hookimpl
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    s = config.stash.get(SESSION, None)
    if s is None or hasattr(config, "workerinput"):
        return  # xdist workers leave writing to the controller
    if s.update:
        try:
            s.written = baselines.write_records(s.baselines_dir, s.device_class, s.records)
        except baselines.BaselineError as err:  # changed on disk during the run
            s.errors.append(f"baselines not updated: {err}")
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
    if s.records:
        record = _run_record(config, s)
        s.outputs = list(report.write_run_record(s.results_dir, record))
        if s.plots:
            s.outputs.append(pages.write_report([record], s.outputs[0].with_suffix("")))


def _run_record(config, s: HarnessSession) -> dict:
    counts = {"passed": 0, "failed": 0, "xfailed": 0}
    for rec in s.records:
        counts[rec["outcome"] if rec["outcome"] in counts else "failed"] += 1
    return {
        "schema": records.RECORD_SCHEMA, "created": report.utc_now(), "git": s.git,
        "env": s.env, "tier": s.tier, "n_seeds": s.n_seeds,
        "args": list(config.invocation_params.args), "counts": counts,
        "run_id": os.environ.get("HARNESS_RUN_ID") or None, "shard": s.shard,
        "tests": sorted(s.records, key=lambda r: r["nodeid"]),
        "durations": {nodeid: round(seconds, 3) for nodeid, seconds in sorted(s.durations.items())},
    }


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    s = config.stash.get(SESSION, None)
    if s is None:
        return
    tr = terminalreporter
    for error in s.errors:
        tr.write_line(f"harness: error: {error}", red=True)
    if not s.records:
        return
    tr.write_sep("=", f"deep-learning phenomena ({s.device_class}, tier {s.tier})")
    tr.write_line(report.terminal_table(sorted(s.records, key=lambda r: r["nodeid"])))
    for line in report.slow_tests(s.records):
        tr.write_line(f"warning: slower than baseline: {line}", yellow=True)
    if s.written:
        tr.write_sep("-", "baselines updated (before → after)")
        tr.write_line(report.update_table(s.written, Path(config.rootpath)))
    for path in s.outputs:
        tr.write_line(f"harness: wrote {path}")

