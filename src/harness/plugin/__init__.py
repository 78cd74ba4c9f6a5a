"""The pytest plugin: options, markers, groups, selection, and the baseline check after each test.

Loaded through its `pytest11` entry point wherever the package is installed (`-p no:harness` turns
it off). It changes nothing for a test that asks for no harness fixture: torch's numerics are set
only around harness tests (`harness.plugin.scope`) and the run record is written only when one ran
(`harness.plugin.outputs`: run record, summaries, baselines written). A benchmark test asks for
`claim` (records metrics and claims), `cfg` (its tier's config), `bench` (times a unit),
`device`, `tier` and `seeds` (`harness.plugin.fixtures`). After the test body returns, the plugin
compares the metrics with the stored baseline for this device class and fails the test once with
every failing sentence. Reporting modules are imported only when a session has something to show.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness.faults import FAULTS, plant
from harness.plugin import sharding
from harness.plugin.fixtures import CLAIM
from harness.plugin.identity import GROUPS_KEY, INI, declare_groups, folder_group
from harness.plugin.outcome import check_baseline, record_of
from harness.plugin.scope import is_harness_test
from harness.plugin.session import RECORD_KEY, SESSION, from_options
from harness.results.schema import Verdict

pytest_plugins = ["harness.plugin.fixtures", "harness.plugin.outputs"]


def _int_at_least(minimum: int, option: str, kind: str):
    """An argparse type: an integer ≥ minimum, or an error naming the option."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{option} must be a {kind} integer, got {text!r}")
        return value
    return parse


def _threads(text: str) -> str:
    """An argparse type for --threads: 'auto' or a positive integer."""
    if text == "auto":
        return text
    return str(_int_at_least(1, "--threads", "positive")(text))


def pytest_addoption(parser):
    group = parser.getgroup("harness", "deep-learning phenomena harness")
    group.addoption("--device", default="cpu", metavar="{auto,cpu,cuda,cuda:N,mps}",
                    help="device to train on; an absent device is a usage error (default: %(default)s)")
    group.addoption("--threads", type=_threads, default="auto", metavar="{auto,N}",
                    help="torch intra-op threads per pytest process; auto: half of this process's share of the "
                         "usable cores (under xdist the cores are shared among the workers), at least 1 — a "
                         "shared CPU stalls a team of threads as wide as the machine (default: %(default)s)")
    group.addoption("--tier", default="smoke", choices=("smoke", "full"),
                    help="smoke: minutes on 2 CPU cores; full: paper-closer sizes, more seeds (default: %(default)s)")
    group.addoption("--seeds", type=_int_at_least(1, "--seeds", "positive"), default=None, metavar="N",
                    help="seeds per phenomenon, overriding the tier's count (default: smoke 3, full 5)")
    group.addoption("--seed-offset", type=_int_at_least(0, "--seed-offset", "non-negative"), default=0, metavar="K",
                    help="start the seeds at K instead of 0: do the claims and baseline checks hold for seeds "
                         "the baselines never saw? (default: %(default)s)")
    group.addoption("--update-baselines", action="store_true", default=False,
                    help="rewrite the baselines of the selected tests for this device class; tests that use "
                         "no harness fixture are deselected (default: off; never in CI)")
    group.addoption("--require-baselines", action="store_true", default=False,
                    help="fail a test whose baseline is missing instead of skipping the check (default: off)")
    group.addoption("--results-dir", default=".harness/runs", metavar="DIR",
                    help="where the run record JSON and Markdown summary go (default: %(default)s)")
    group.addoption("--baselines-dir", default="baselines", metavar="DIR",
                    help="root of the YAML baseline store, relative to the rootdir (default: %(default)s)")
    group.addoption("--shard", default=None, metavar="I/N",
                    help="run only the I-th of N disjoint parts of the suite (split by test file, balanced "
                         "by --shard-durations); the N run records merge with `harness report` (default: the whole suite)")
    group.addoption("--shard-durations", default=None, metavar="RUN",
                    help="a run record (or a directory of them) whose test durations balance --shard "
                         "(default: none, every test weighs the same)")
    group.addoption("--plant-fault", default=None, choices=sorted(FAULTS), metavar="KIND",
                    help=f"self-check: plant a realistic fault ({', '.join(FAULTS)}) into this run to see which "
                         "tests catch it; never with --update-baselines (see `harness faults`; default: none)")
    group.addoption("--plots", action="store_true", default=False,
                    help="also write the HTML report with each phenomenon's figures as PNGs next to the run record "
                         "(default: off)")
    parser.addini(INI, type="linelist", default=[],
                  help="this project's benchmark groups, one 'name: description' per line (each becomes a "
                       "marker and a baseline file); default: the harness's own groups")
    group.addoption("--progress", default="auto", choices=("auto", "on", "off"),
                    help="one line per finished phenomenon test; auto: on a terminal, off under CI "
                         "(default: %(default)s)")


def pytest_configure(config):
    declare_groups(config)
    config.addinivalue_line("markers", "full_only: runs only with --tier full")
    config.addinivalue_line("markers", "gpu_only: runs only with --device cuda")
    config.addinivalue_line("markers", "timing: measures wall time (reported, never asserted); skipped under xdist "
                                       "(-n), which shares the cores")
    if config.option.help or config.option.version:
        return
    _whole_files_per_worker(config)
    session = from_options(config)
    if config.option.plant_fault:
        if config.option.update_baselines:
            raise pytest.UsageError("--plant-fault and --update-baselines: a run with a planted fault is never "
                                    "a baseline")
        session.remove_fault = plant(config.option.plant_fault)
        session.env["planted_fault"] = config.option.plant_fault
    config.stash[SESSION] = session
    config.pluginmanager.register(session, "harness-session")


def _whole_files_per_worker(config) -> None:
    """Under xdist, send each test file to one worker (--dist loadfile) unless --dist was chosen:
    a file's tests share trained models, which per-test scheduling trains once per worker.
    Measured on the 2-core CPU (gradient_failures, compression, adversarial): serial 147 s,
    -n 2 per test 112 s, -n 2 per file 93 s."""
    chose = any(arg == "--dist" or arg.startswith("--dist=") for arg in config.invocation_params.args)
    if getattr(config.option, "dist", None) == "load" and not chose:
        config.option.dist = "loadfile"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Harness numerics from a harness test's setup to its teardown; kept across consecutive harness
    tests (switching torch's thread pool per test costs time), undone before any other test."""
    scope = item.config.stash[SESSION].scope
    if is_harness_test(item):
        scope.enter()
    try:
        return (yield)
    finally:
        if nextitem is None or not is_harness_test(nextitem):
            scope.leave()


def pytest_unconfigure(config):
    session = config.stash.get(SESSION, None)
    if session is not None:
        session.scope.leave()
        config.pluginmanager.unregister(session)
        if session.remove_fault:
            session.remove_fault()


def pytest_report_header(config):
    s = config.stash.get(SESSION, None)
    if s is not None:
        return [f"harness: device {s.device} (class {s.device_class}), tier {s.tier}, {s.n_seeds} seeds"
                + (f" from {s.seed_offset}" if s.seed_offset else "")
                + (f", PLANTED FAULT {s.env['planted_fault']!r}" if s.env.get("planted_fault") else "")
                + (", updating baselines" if s.update else "")]
    return None


def pytest_itemcollected(item):
    """A test under benchmarks/<group>/ carries its group's marker, so `-m <group>` selects it."""
    group = folder_group(item)
    if group and not any(m.name in item.config.stash[GROUPS_KEY] for m in item.iter_markers()):
        item.add_marker(group)


@pytest.hookimpl(trylast=True)  # shard what -k / -m left selected, so shards stay balanced
def pytest_collection_modifyitems(config, items):
    s = config.stash.get(SESSION, None)
    if s is None:
        return
    if s.update or config.option.plant_fault:  # neither means anything for a test that records no claim
        _keep(config, items, [item for item in items if is_harness_test(item)])
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
    _keep(config, items, [item for item in items if item.nodeid in keep])


def _keep(config, items: list, kept: list) -> None:
    """Deselect (as -k does, so pytest counts them) every item not in kept."""
    chosen = set(map(id, kept))
    config.hook.pytest_deselected(items=[item for item in items if id(item) not in chosen])
    items[:] = kept


# --- the baseline check and the record, after each test body --------------------------------

@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    try:
        result = yield
    except BaseException:
        _attach_record(item, [])
        raise
    claim = item.stash.get(CLAIM, None)
    if claim is None:
        return result
    if any(not spec.timing for spec in claim.specs.values()) and not claim.claim_verdicts():
        claim.check("states a claim", False, "metrics recorded but no claim checked",
                    "a benchmark to state what the paper claims (claim.at_least, claim.greater, ...)")
    baseline_verdicts = check_baseline(item, item.config.stash[SESSION], claim)
    _attach_record(item, baseline_verdicts)
    failures = [v.sentence for v in claim.failures() + baseline_verdicts if v.passed is False]
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
    return result


def _attach_record(item, extra_verdicts: list[Verdict]) -> None:
    """Hand the test's record to the controller through the report (works under xdist too)."""
    claim = item.stash.get(CLAIM, None)
    if claim is not None:
        record = record_of(item, item.config.stash[SESSION], claim, extra_verdicts)
        item.user_properties.append((RECORD_KEY, record.to_json()))
