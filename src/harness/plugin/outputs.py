"""What a session leaves behind, on the controller once every test has run: the baselines an
update writes, the run record with its Markdown summary (and $GITHUB_STEP_SUMMARY), the HTML
report under --plots, and the terminal summary that ends with the time budget line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.plugin.session import SESSION, HarnessSession
from harness.results import baselines
from harness.results.runs import utc_now, write_run_record
from harness.results.schema import RunRecord


@pytest.hookimpl
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    s = config.stash.get(SESSION, None)
    if s is None or hasattr(config, "workerinput"):
        return  # xdist workers leave writing to the controller
    if s.update and exitstatus == pytest.ExitCode.INTERRUPTED:
        s.errors.append("baselines not updated: the session was interrupted, so no entry is written "
                        "(run the update again to the end)")
    elif s.update:
        try:
            s.written = baselines.write_records(s.baselines_dir, s.device_class, s.records)
        except baselines.BaselineError as err:  # changed on disk during the run
            s.errors.append(f"baselines not updated: {err}")
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
    if s.records:
        from harness.reporting.terminal import markdown_summary

        record = s.run_record = _run_record(config, s)
        path = write_run_record(s.results_dir, record)
        summary = markdown_summary(record)
        path.with_suffix(".md").write_text(summary, encoding="utf-8")
        if os.environ.get("GITHUB_STEP_SUMMARY"):
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as out:
                out.write(summary)
        s.outputs = [path, path.with_suffix(".md")]
        if s.plots:
            from harness.reporting import site  # matplotlib: only when asked for

            s.outputs.append(site.write_report([record], path.with_suffix("")))


def _run_record(config, s: HarnessSession) -> RunRecord:
    counts = {"passed": 0, "failed": 0, "xfailed": 0}
    for rec in s.records:
        counts[rec.outcome if rec.outcome in counts else "failed"] += 1
    return RunRecord(
        created=utc_now(), git=s.git, env=s.env, tier=s.tier, n_seeds=s.n_seeds, seed_offset=s.seed_offset,
        args=list(config.invocation_params.args), counts=counts,
        run_id=os.environ.get("HARNESS_RUN_ID") or None, shard=s.shard,
        tests=sorted(s.records, key=lambda r: r.nodeid),
        durations={nodeid: round(seconds, 3) for nodeid, seconds in sorted(s.durations.items())},
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    s = config.stash.get(SESSION, None)
    if s is None:
        return
    tr = terminalreporter
    for error in s.errors:
        tr.write_line(f"harness: error: {error}", red=True)
    if not s.records:
        return
    from harness.reporting import terminal

    tr.write_sep("=", f"deep-learning phenomena ({s.device_class}, tier {s.tier})")
    tr.write_line(terminal.terminal_table(sorted(s.records, key=lambda r: r.nodeid)))
    for line in terminal.slow_tests(s.records):
        tr.write_line(f"warning: slower than baseline: {line}", yellow=True)
    if s.written:
        tr.write_sep("-", "baselines updated (before → after)")
        tr.write_line(terminal.update_table(s.written, Path(config.rootpath)))
    for path in s.outputs:
        tr.write_line(f"harness: wrote {path}")
    if s.run_record is not None:
        tr.write_line(terminal.budget_line(s.run_record))
