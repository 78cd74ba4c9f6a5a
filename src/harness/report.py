"""Session outputs: the terminal table and progress lines, the run record JSON and the Markdown summary."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

from tabulate import tabulate

from harness.stats import fmt, summarize

SLOW_RATIO = 1.5  # time ratio to the baseline past which the table warns (never fails: shared machines)
HEADERS = ["phenomenon", "metric", "value (mean ± 95% CI)", "claim", "baseline", "verdict", "time"]


def git_state(root: Path) -> dict:
    """Short commit and whether the tracked tree differs from it ('nogit' outside a checkout)."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    try:
        return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": bool(git("status", "--porcelain", "-uno"))}
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "nogit", "dirty": False}


def metric_record(values, spec, baseline_mean=None) -> dict:
    summary = summarize(values)
    return {"direction": spec.direction, "abs_tol": spec.abs_tol, "values": [float(v) for v in values],
            "mean": summary.mean, "std": summary.std, "n": summary.n, "ci95": summary.ci_halfwidth(),
            "baseline_mean": baseline_mean}


def table_rows(tests: list[dict]) -> list[list[str]]:
    rows = []
    for test in tests:
        verdicts = test["verdicts"]
        time_cell = _time_cell(test)
        for name, m in test["metrics"].items():
            mine = [v for v in verdicts if v["metric"] == name]
            claim = "; ".join(f"{v['name']} {_label(v)}" for v in mine if v["kind"] == "claim") or "—"
            base = [v for v in mine if v["kind"] == "baseline"]
            baseline = (f"{fmt(m['baseline_mean'])} {_label(base[0])}" if base and m["baseline_mean"] is not None
                        else "none" if not base else _label(base[0]))
            verdict = "xfail (expected)" if test.get("outcome") == "xfailed" else _overall(mine)
            rows.append([test["where"], name, f"{fmt(m['mean'])} ± {fmt(m['ci95'])}", claim, baseline,
                         verdict, time_cell])
            time_cell = ""
        for v in verdicts:
            if v["metric"] is None or v["metric"] not in test["metrics"]:
                rows.append([test["where"], v["metric"] or "—", "", f"{v['name']} {_label(v)}", "", _overall([v]), ""])
    return rows


def _label(v: dict) -> str:
    return {True: "ok", False: "FAIL", None: "skipped"}[v["passed"]]


def _overall(verdicts: list[dict]) -> str:
    if any(v["passed"] is False for v in verdicts):
        return "FAIL"
    return "ok" if verdicts else "—"


def _time_cell(test: dict) -> str:
    t = test.get("time_s")
    if not t:
        return "—"
    cell = f"{fmt(t['median'])} s"
    if test.get("baseline_time_s"):
        ratio = t["median"] / test["baseline_time_s"]
        cell += f" ({ratio:.2f}×{' SLOW' if ratio > SLOW_RATIO else ''})"
    return cell


def progress_line(record: dict, seconds: float) -> str:
    """'harness: ok   memorization/random_labels::...  train_acc 1.000, test_acc 0.089  (4.2 s)'."""
    verdict = {"passed": "ok", "xfailed": "xfail"}.get(record["outcome"], "FAIL")
    metrics = ", ".join(f"{name} {fmt(m['mean'])}" for name, m in list(record["metrics"].items())[:4])
    more = len(record["metrics"]) - 4
    return (f"harness: {verdict:5} {record['where']}  {metrics}{f' (+{more} more)' if more > 0 else ''}"
            f"  ({seconds:.1f} s)")


def slow_tests(tests: list[dict]) -> list[str]:
    """Sentences for tests past SLOW_RATIO of their baseline time (a warning, never a failure)."""
    out = []
    for t in tests:
        if t.get("time_s") and t.get("baseline_time_s") and t["time_s"]["median"] > SLOW_RATIO * t["baseline_time_s"]:
            out.append(f"{t['where']}: {fmt(t['time_s']['median'])} s vs baseline {fmt(t['baseline_time_s'])} s "
                       f"({t['time_s']['median'] / t['baseline_time_s']:.2f}×); confirm with `harness compare`")
    return out


def terminal_table(tests: list[dict]) -> str:
    return tabulate(table_rows(tests), headers=HEADERS, tablefmt="simple", disable_numparse=True)


def markdown_summary(record: dict) -> str:
    tests = record["tests"]
    failed = [v["sentence"] for t in tests for v in t["verdicts"] if v["passed"] is False]
    env = record["env"]
    lines = [
        (f"## Deep-learning phenomena: {record['counts']['failed']} failed, {record['counts']['passed']} passed, "
         f"{record['counts']['xfailed']} expected failures"),
        "",
        (f"Device class `{env['device_class']}` · tier `{record['tier']}` · commit `{record['git']['commit']}`"
         f"{' (dirty)' if record['git']['dirty'] else ''} · torch {env['torch']} · {record['created']}"),
        "",
        (tabulate(table_rows(tests), headers=HEADERS, tablefmt="github", disable_numparse=True)
         if tests else "_no phenomena ran_"),
    ]
    if failed:
        lines += ["", "### Failures", ""] + [f"- {s}" for s in failed]
    slow = slow_tests(tests)
    if slow:
        lines += ["", "### Slower than baseline (not a failure)", ""] + [f"- {s}" for s in slow]
    return "\n".join(lines) + "\n"


def write_run_record(results_dir: Path, record: dict) -> tuple[Path, Path]:
    """<utc>-<commit>-<device_class>.json and .md in results_dir; Markdown also to $GITHUB_STEP_SUMMARY."""
    results_dir.mkdir(parents=True, exist_ok=True)
    created = record["created"].replace(":", "").replace("-", "")
    stem = f"{created}-{record['git']['commit']}-{record['env']['device_class']}"
    json_path, md_path = results_dir / f"{stem}.json", results_dir / f"{stem}.md"
    json_path.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    summary = markdown_summary(record)
    md_path.write_text(summary, encoding="utf-8")
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a", encoding="utf-8") as out:
            out.write(summary)
    return json_path, md_path


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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
