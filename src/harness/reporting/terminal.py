"""What a person reads in the terminal and in a CI job summary: the verdict table, one progress
line per finished test, the slow-test warnings, what broke and the per-group counts, the Markdown
summary and the before → after table of a baseline update."""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from harness.results.schema import RunRecord, TestRecord, Verdict
from harness.stats import fmt

SLOW_RATIO = 1.5  # time ratio to the baseline past which the table warns (never fails: shared machines)
# Wall-time budgets on a quiet 2-core CPU: (whole tier, one file), seconds. Reported, never asserted.
BUDGETS = {"smoke": (180.0, 10.0)}  # 38 phenomena; the first 32 had 120 s
HEADERS = ["phenomenon", "metric", "value (mean ± 95% CI)", "claim", "baseline", "verdict", "time"]


def table_rows(tests: list[TestRecord]) -> list[list[str]]:
    rows = []
    for test in tests:
        time_cell = _time_cell(test)
        for name, m in test.metrics.items():
            mine = [v for v in test.verdicts if v.metric == name]
            claim = "; ".join(_check_cell(v) for v in mine if v.kind in ("claim", "guard")) or "—"
            base = [v for v in mine if v.kind == "baseline"]
            baseline = (f"{fmt(m.baseline_mean)} {_label(base[0])}" if base and m.baseline_mean is not None
                        else "none" if not base else _label(base[0]))
            verdict = "xfail (expected)" if test.outcome == "xfailed" else _overall(mine)
            rows.append([test.where, name, f"{fmt(m.mean)} ± {fmt(m.ci95)}", claim, baseline, verdict, time_cell])
            time_cell = ""
        for v in test.verdicts:
            if v.metric is None or v.metric not in test.metrics:
                rows.append([test.where, v.metric or "—", "", _check_cell(v), "", _overall([v]), ""])
    return rows


def _check_cell(v: Verdict) -> str:
    """'>= 0.900 ok', or 'guard: each in [7.000, 7.000] ok' for a check of construction, not evidence."""
    return f"{'guard: ' if v.kind == 'guard' else ''}{v.name} {_label(v)}"


def _label(v: Verdict) -> str:
    return {True: "ok", False: "FAIL", None: "skipped"}[v.passed]


def _overall(verdicts: list[Verdict]) -> str:
    if any(v.passed is False for v in verdicts):
        return "FAIL"
    return "ok" if verdicts else "—"


def _time_cell(test: TestRecord) -> str:
    if not test.time_s:
        return "—"
    cell = f"{fmt(test.time_s.median)} s"
    if test.baseline_time_s:
        ratio = test.time_s.median / test.baseline_time_s
        cell += f" ({ratio:.2f}×{' SLOW' if ratio > SLOW_RATIO else ''})"
    return cell


def progress_line(record: TestRecord, seconds: float) -> str:
    """'harness: ok   memorization/random_labels::...  train_acc 1.000, test_acc 0.089  (4.2 s)'."""
    verdict = {"passed": "ok", "xfailed": "xfail"}.get(record.outcome, "FAIL")
    metrics = ", ".join(f"{name} {fmt(m.mean)}" for name, m in list(record.metrics.items())[:4])
    more = len(record.metrics) - 4
    return (f"harness: {verdict:5} {record.where}  {metrics}{f' (+{more} more)' if more > 0 else ''}"
            f"  ({seconds:.1f} s)")


def is_slow(test: TestRecord) -> bool:
    """Its unit took more than SLOW_RATIO × its baseline time (a warning, never a failure)."""
    return bool(test.time_s and test.baseline_time_s and test.time_s.median > SLOW_RATIO * test.baseline_time_s)


def slow_tests(tests: list[TestRecord]) -> list[str]:
    """Sentences for tests past SLOW_RATIO of their baseline time (a warning, never a failure)."""
    out = []
    for t in tests:
        if is_slow(t):
            out.append(f"{t.where}: {fmt(t.time_s.median)} s vs baseline {fmt(t.baseline_time_s)} s "
                       f"({t.time_s.median / t.baseline_time_s:.2f}×); confirm with `harness compare`")
    return out


def budget_line(record: RunRecord) -> str:
    """'harness: 32 files in 118 s (smoke budget 180 s, 10 s a file; 1 over): slowest a.py 21.9 s, …'.

    Sums each benchmark file's tests (setup, call and teardown), so it is the time the phenomena
    took, without pytest's start-up; a report of where the time went, never a verdict."""
    ran = {t.nodeid for t in record.tests}
    per_file: dict[str, float] = {}
    for nodeid, seconds in record.durations.items():
        if nodeid in ran:
            per_file[nodeid.split("::")[0]] = per_file.get(nodeid.split("::")[0], 0.0) + seconds
    slowest = sorted(per_file.items(), key=lambda item: -item[1])[:3]
    total = sum(per_file.values())
    budget = BUDGETS.get(record.tier)
    against = ""
    if budget:
        over = sum(seconds > budget[1] for seconds in per_file.values())
        against = (f" ({record.tier} budget {budget[0]:.0f} s, {budget[1]:.0f} s a file on a quiet 2-core CPU; "
                   f"{over} file{'' if over == 1 else 's'} over)")
    return (f"harness: {len(per_file)} file{'' if len(per_file) == 1 else 's'} in {total:.0f} s{against}: slowest "
            + ", ".join(f"{name.removeprefix('benchmarks/')} {seconds:.1f} s" for name, seconds in slowest))


def broken(tests: list[TestRecord]) -> list[tuple[TestRecord, list[str]]]:
    """Each failed test with the sentences of its failing checks (claims, guards, regressions); an
    expected failure (xfail) is not broken."""
    out = []
    for t in tests:
        if t.outcome == "xfailed":
            continue
        sentences = [v.sentence for v in t.verdicts if v.passed is False]
        if sentences or t.outcome == "failed":
            out.append((t, sentences or ["failed before its checks ran: see the test's log"]))
    return out


GROUP_HEADERS = ["group", "tests", "passed", "failed", "xfailed", "warned", "time"]


def group_rows(run: RunRecord) -> list[list[str]]:
    """Per group: its tests by outcome, those with a warning (a check that could not run, a slow
    unit), and the seconds its tests took (setup, call and teardown)."""
    rows = []
    for group in sorted({t.group for t in run.tests}):
        tests = [t for t in run.tests if t.group == group]
        count = lambda outcome: sum(t.outcome == outcome for t in tests)  # noqa: E731
        warned = sum(any(v.passed is None for v in t.verdicts) or is_slow(t) for t in tests)
        seconds = sum(run.durations.get(t.nodeid, 0.0) for t in tests)
        rows.append([group, str(len(tests)), str(count("passed")), str(count("failed")), str(count("xfailed")),
                     str(warned), f"{seconds:.0f} s" if run.durations else "—"])
    return rows


def terminal_table(tests: list[TestRecord]) -> str:
    return tabulate(table_rows(tests), headers=HEADERS, tablefmt="simple", disable_numparse=True)


GITHUB_SUMMARY_LIMIT = 1024 * 1024  # bytes GitHub accepts in one step's $GITHUB_STEP_SUMMARY


def markdown_summary(record: RunRecord, limit: int = GITHUB_SUMMARY_LIMIT) -> str:
    """The run for a CI job summary, in the report's order: what broke (with its sentences), the
    groups, then every test's rows; within GitHub's size limit (the table is cut, saying so, when
    the whole would not fit)."""
    tests, counts, env = record.tests, record.counts, record.env
    head = [
        (f"## Deep-learning phenomena: {counts['failed']} failed, {counts['passed']} passed, "
         f"{counts['xfailed']} expected failures"),
        "",
        (f"Device class `{env['device_class']}` · tier `{record.tier}` · commit `{record.git.commit}`"
         f"{' (dirty)' if record.git.dirty else ''} · torch {env['torch']} · {record.created}"),
    ]
    failed = broken(tests)
    if failed:
        head += ["", "### What broke", ""]
        head += [f"- **{t.where}**: " + " ".join(sentences) for t, sentences in failed]
    if tests:
        head += ["", "### By group", "", tabulate(group_rows(record), headers=GROUP_HEADERS, tablefmt="github",
                                                  disable_numparse=True)]
    tail = []
    slow = slow_tests(tests)
    if slow:
        tail += ["", "### Slower than baseline (not a failure)", ""] + [f"- {s}" for s in slow]
    if tests:
        tail += ["", "### Time", "", budget_line(record).removeprefix("harness: ")]
    rows = every = table_rows(tests)
    table = tabulate(rows, headers=HEADERS, tablefmt="github", disable_numparse=True) if tests else "_no phenomena ran_"
    text = "\n".join([*head, "", "### Every check", "", table, *tail]) + "\n"
    while len(text.encode("utf-8")) > limit and rows:
        rows = rows[: len(rows) // 2]
        table = (tabulate(rows, headers=HEADERS, tablefmt="github", disable_numparse=True)
                 + f"\n\n_{len(every) - len(rows)} more rows left out to fit GitHub's job-summary "
                   f"limit; the run record and the HTML report have them all._")
        text = "\n".join([*head, "", "### Every check", "", table, *tail]) + "\n"
    return text


def update_table(written: list[tuple], root: Path | None = None) -> str:
    """Before → after of each metric of each baseline entry written by an update."""
    rows = []
    for path, key, before, after in written:
        path = path.relative_to(root) if root and path.is_relative_to(root) else path
        for name, m in after["metrics"].items():
            old = (before or {}).get("metrics", {}).get(name)
            rows.append([str(path), key, name, f"{fmt(old['mean'])} ± {fmt(old['std'])}" if old else "(new)",
                         f"{fmt(m['mean'])} ± {fmt(m['std'])}"])
    return tabulate(rows, headers=["file", "entry", "metric", "before", "after"], disable_numparse=True)
