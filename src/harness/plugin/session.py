"""One pytest session's harness state: the options resolved once at configure time (device,
tier, seeds, baseline and result folders), the stored baselines read up front, and the test
records gathered as tests finish (on the controller under xdist)."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest
import torch

from harness import devices
from harness.plugin.scope import TorchScope
from harness.results import baselines
from harness.results.runs import git_state
from harness.results.schema import TIER_SEEDS, GitState, RunRecord, TestRecord

SESSION = pytest.StashKey["HarnessSession"]()
RECORD_KEY = "harness"  # the user property that carries a test's record to the controller


@dataclasses.dataclass(eq=False)  # registered as a plugin: pluggy needs it hashable (by identity)
class HarnessSession:
    device: torch.device
    device_class: str
    tier: str
    n_seeds: int
    seed_offset: int
    baselines_dir: Path
    results_dir: Path
    update: bool
    require: bool
    git: GitState
    env: dict
    records: list[TestRecord] = dataclasses.field(default_factory=list)
    written: list = dataclasses.field(default_factory=list)  # (path, key, before, after) of updates
    outputs: list = dataclasses.field(default_factory=list)
    errors: list = dataclasses.field(default_factory=list)
    stored: dict = dataclasses.field(default_factory=dict)  # {group: entries} read at start-up
    shard: str | None = None  # "I/N" under --shard
    plots: bool = False
    progress: bool = False  # one line per finished phenomenon test
    terminal: object = None  # pytest's terminal reporter, once the session starts
    remove_fault: object = None  # undoes --plant-fault at the end of the session
    durations: dict = dataclasses.field(default_factory=dict)  # nodeid -> setup + call + teardown seconds
    run_record: RunRecord | None = None  # written at the session's end (controller only)
    scope: TorchScope | None = None  # torch's numerics for harness tests, undone after them

    @property
    def seeds(self) -> list[int]:
        return list(range(self.seed_offset, self.seed_offset + self.n_seeds))

    def pytest_runtest_logreport(self, report):
        """Collect records from call reports (on the controller under xdist, reports carry them)
        and every test's duration, which --shard-durations balances later runs by."""
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.when == "call":
            for key, value in report.user_properties:
                if key == RECORD_KEY:
                    outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
                    self.records.append(TestRecord.from_json(value).with_outcome(outcome))
                    if self.terminal is not None:
                        self._progress(self.records[-1], report.duration)

    def _progress(self, record: TestRecord, seconds: float) -> None:
        from harness.reporting.terminal import progress_line

        if self.terminal.verbosity < 0:  # -q: pytest's dots leave the line open
            self.terminal.write("\n")
        self.terminal.write_line(progress_line(record, seconds))

    def pytest_sessionstart(self, session):
        if self.progress:
            self.terminal = session.config.pluginmanager.get_plugin("terminalreporter")


def from_options(config) -> HarnessSession:
    """The session for these options; pytest.UsageError (exit 4) with a sentence for a bad one."""
    opt = config.option
    worker, workers = xdist_worker()
    try:
        device = devices.resolve_device(opt.device, worker)
    except devices.DeviceUnavailable as err:
        raise pytest.UsageError(str(err)) from err
    scope = TorchScope(device, devices.thread_count(opt.threads, devices.usable_cores(), workers))
    if opt.update_baselines and os.environ.get("CI"):
        raise pytest.UsageError("--update-baselines never runs in CI (CI is set): record baselines on a "
                                "developer machine and review them like code")
    if opt.update_baselines and opt.require_baselines:
        raise pytest.UsageError("--update-baselines and --require-baselines contradict each other; pick one")
    if opt.plots and not _matplotlib_installed():
        raise pytest.UsageError("--plots needs matplotlib: pip install -e '.[plots]' -c constraints.txt")
    root = Path(config.rootpath)
    explicit_store = any(arg == "--baselines-dir" or arg.startswith("--baselines-dir=")
                         for arg in config.invocation_params.args)
    if explicit_store and not (root / opt.baselines_dir).is_dir() and not opt.update_baselines:
        raise pytest.UsageError(f"--baselines-dir {root / opt.baselines_dir} does not exist: name the folder "
                                f"that holds <device class>/<group>.yaml, or create it with --update-baselines")
    session = HarnessSession(
        device=device, device_class=devices.device_class(device), tier=opt.tier,
        n_seeds=opt.seeds or TIER_SEEDS[opt.tier], seed_offset=opt.seed_offset, baselines_dir=root / opt.baselines_dir,
        results_dir=_writable_dir(root / opt.results_dir, "--results-dir"), update=opt.update_baselines,
        require=opt.require_baselines, git=git_state(root), env={**scope.describe(), "thread_policy": opt.threads},
        shard=opt.shard, plots=opt.plots, progress=_wants_progress(config), scope=scope)
    try:  # every baseline file of this class, read now: a broken one stops the run before any training
        session.stored = baselines.load_all(session.baselines_dir, session.device_class)
    except baselines.BaselineError as err:
        raise pytest.UsageError(str(err)) from err
    return session


def xdist_worker() -> tuple[int | None, int]:
    """(this pytest-xdist worker's index, the number of workers), or (None, 1) outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not name.startswith("gw"):
        return None, 1
    return int(name[2:]), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def _matplotlib_installed() -> bool:
    from importlib.util import find_spec

    return find_spec("matplotlib") is not None


def _wants_progress(config) -> bool:
    if config.option.progress != "auto":
        return config.option.progress == "on"
    return not os.environ.get("CI") and sys.stdout.isatty() and not hasattr(config, "workerinput")


def _writable_dir(path: Path, option: str) -> Path:
    """path, checked now but created only when a run record is written: a session without harness
    tests leaves no folder behind. Its nearest existing ancestor must be a writable directory."""
    existing = next(p for p in (path, *path.parents) if p.exists())
    problem = ("is not a directory" if not existing.is_dir()
               else "is not writable" if not os.access(existing, os.W_OK | os.X_OK) else None)
    if problem:
        whose = "it" if existing == path else str(existing)
        raise pytest.UsageError(f"{option} {path} cannot hold the run records: {whose} {problem}; "
                                f"choose another with {option} DIR")
    return path
