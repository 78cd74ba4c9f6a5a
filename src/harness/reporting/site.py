"""The report a person reads after a run: Markdown and a static HTML page with the verdict table,
each phenomenon's curves and matrices as PNGs, the timing table and, given several runs, trend
plots across them. Also what tools read: the merged run record of each device class and
github-action-benchmark's JSON.

Records are grouped into runs (shards merged, `harness.results.runs.runs`) and runs into series, one
per device class and tier; the newest run of a series is reported, the older ones draw its trends.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
from tabulate import tabulate

from harness.reporting import plots, terminal
from harness.results.runs import runs
from harness.results.schema import MetricRecord, RunRecord, TestRecord, TimeSummary
from harness.stats import fmt

TIMING_HEADERS = ["phenomenon", "median", "IQR", "rounds", "baseline", "ratio"]


def write_report(run_records: list[RunRecord], out: Path, last: int = 20) -> Path:
    """Write everything under `out`; trends over the `last` runs of each series. Returns the HTML page."""
    plots.require()
    _remove_earlier_report(out)
    out.mkdir(parents=True, exist_ok=True)
    series: dict[str, list[RunRecord]] = {}
    for run in runs(run_records):
        series.setdefault(f"{run.device_class}-{run.tier}", []).append(run)
    sections = [_section(slug, history[-last:], out) for slug, history in series.items()]
    written = [s["record"] for s in sections] + [p for s in sections for paths in s["figures"].values() for p in paths]
    written += [p for s in sections for p in s["trends"]]
    for name, entries in _benchmark_entries([s["run"] for s in sections]).items():
        (out / f"github-action-benchmark-{name}.json").write_text(json.dumps(entries, indent=1) + "\n")
        written.append(f"github-action-benchmark-{name}.json")
    (out / "report.md").write_text("\n".join(_markdown(s) for s in sections), encoding="utf-8")
    page = out / "index.html"
    page.write_text(_html(sections), encoding="utf-8")
    (out / MANIFEST).write_text("\n".join(sorted([*written, "report.md", "index.html"])) + "\n", encoding="utf-8")
    return page


MANIFEST = ".harness-report-files"  # what the last report wrote into its folder: all it may remove


def _remove_earlier_report(out: Path) -> None:
    """The files an earlier report wrote into `out` (its manifest says which), and nothing else:
    figures that this report no longer draws must not linger, and what a person put there stays."""
    manifest = out / MANIFEST
    if not manifest.exists():
        return
    for name in manifest.read_text(encoding="utf-8").split():
        path = (out / name).resolve()
        if path.is_relative_to(out.resolve()):
            path.unlink(missing_ok=True)


def _section(slug: str, history: list[RunRecord], out: Path) -> dict:
    run = history[-1]
    record_path = out / f"record-{slug}.json"
    record_path.write_text(json.dumps(run.to_json(), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    figures_dir = out / "plots" / slug
    return {
        "slug": slug, "run": run, "history": history, "record": record_path.name,
        "figures": {t.where: [p.relative_to(out).as_posix() for p in _phenomenon_figures(t, figures_dir)]
                    for t in run.tests},
        "trends": ([p.relative_to(out).as_posix() for p in _trend_figures(history, figures_dir / "trends")]
                   if len(history) > 1 else []),
    }


# --- figures ---------------------------------------------------------------------------------

def _phenomenon_figures(test: TestRecord, folder: Path) -> list[Path]:
    """One figure per `figure` its curves name (a line each), one heatmap per matrix."""
    stem = _file_name(test.where)
    figures: dict[str, dict] = {}
    for name, curve in test.curves.items():
        figures.setdefault(curve.figure, {})[curve.label or name] = curve
    paths = []
    for figure, curves in figures.items():
        try:
            paths.append(plots.curves(folder / f"{stem}--{_file_name(figure)}.png", f"{test.where}\n{figure}", curves))
        except ValueError:
            continue  # ragged values: kept in the record, not drawable as curves
    for name, matrix in test.matrices.items():
        values = _mean_over_seeds(matrix.values)
        if values is not None:
            paths.append(plots.matrix(folder / f"{stem}--{_file_name(name)}.png", f"{test.where}\n{name}", values,
                                      matrix.rows, matrix.columns, ylabel=matrix.row_label,
                                      xlabel=matrix.column_label, log=matrix.log))
    return paths


def _mean_over_seeds(values) -> np.ndarray | None:
    """rows × columns (seeds × rows × columns averaged over seeds); None when nothing is drawable."""
    array = np.asarray(plots.nan_for_none(values), dtype=float)
    if array.ndim == 3:
        array = np.nanmean(array, axis=0)
    if array.ndim != 2 or not np.isfinite(array).any():
        return None
    return array


def _trend_figures(history: list[RunRecord], folder: Path) -> list[Path]:
    labels = [f"{r.git.commit}{'+' if r.git.dirty else ''} {r.created[5:16]}" for r in history]
    wheres = sorted(t.where for t in history[-1].tests)  # what the reported run still has
    by_run = [{t.where: t for t in r.tests} for r in history]
    paths = []
    for where in wheres:
        names = sorted({m for tests in by_run if where in tests for m in tests[where].metrics})
        series = {m: _across(by_run, where, lambda t, m=m: _mean_ci(t.metrics.get(m))) for m in names}
        paths += _trend(folder / f"{_file_name(where)}.png", where, labels, series, "", panels=True)
    for group in sorted({where.split("/", 1)[0] for where in wheres}):
        series = {where.split("/", 1)[1]: _across(by_run, where, lambda t: _time_median(t.time_s))
                  for where in wheres if where.startswith(f"{group}/")}
        paths += _trend(folder / f"time--{group}.png", f"{group}: time of the representative unit", labels,
                        series, "median seconds (IQR bars)")
    return paths


def _trend(path: Path, title: str, labels: list[str], series: dict, ylabel: str, panels: bool = False) -> list[Path]:
    """The trend figure over the runs that measured something in it (a run of a subset of the suite
    leaves no gap); nothing when fewer than two runs did."""
    series = {k: v for k, v in series.items() if np.isfinite(v[0]).any()}
    runs = [i for i in range(len(labels)) if any(np.isfinite(v[0][i]) for v in series.values())]
    if len(runs) < 2:
        return []
    kept = {k: ([v[0][i] for i in runs], [v[1][i] for i in runs]) for k, v in series.items()}
    return [plots.trend(path, title, [labels[i] for i in runs], kept, ylabel, panels=panels)]


def _across(by_run: list[dict[str, TestRecord]], where: str, pick) -> tuple[list, list]:
    pairs = [pick(tests[where]) if where in tests else (np.nan, np.nan) for tests in by_run]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _mean_ci(metric: MetricRecord | None) -> tuple[float, float]:
    return (metric.mean, metric.ci95) if metric else (np.nan, np.nan)


def _time_median(time_s: TimeSummary | None) -> tuple[float, float]:
    return (time_s.median, time_s.iqr / 2) if time_s else (np.nan, np.nan)


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")


# --- tables ----------------------------------------------------------------------------------

def timing_rows(tests: list[TestRecord]) -> list[list[str]]:
    rows = []
    for t in tests:
        time_s, base = t.time_s, t.baseline_time_s
        if time_s:
            rows.append([t.where, f"{fmt(time_s.median)} s", f"{fmt(time_s.iqr)} s", str(len(time_s.rounds)),
                         f"{fmt(base)} s" if base else "—", f"{time_s.median / base:.2f}×" if base else "—"])
    return rows


def history_rows(history: list[RunRecord]) -> list[list[str]]:
    return [[r.created, r.git.commit + ("+" if r.git.dirty else ""), str(r.counts["passed"]),
             str(r.counts["failed"]), str(r.counts.get("xfailed", 0)), ", ".join(r.shards) or "—"]
            for r in history]


HISTORY_HEADERS = ["created", "commit", "passed", "failed", "xfailed", "shards merged"]


def _benchmark_entries(runs: list[RunRecord]) -> dict[str, list[dict]]:
    """github-action-benchmark's customBiggerIsBetter / customSmallerIsBetter lists: metrics whose
    direction is higher or lower, and each unit's median time; `target` metrics (closer to a value
    is better) fit neither and are left out."""
    out: dict[str, list[dict]] = {"bigger": [], "smaller": []}
    for run in runs:
        for t in run.tests:
            for name, m in t.metrics.items():
                kind = {"higher": "bigger", "lower": "smaller"}.get(m.direction)
                if kind:
                    out[kind].append({"name": f"{t.where} {name} [{run.device_class}]", "unit": "",
                                      "value": m.mean, "range": f"± {fmt(m.ci95)}",
                                      "extra": f"{m.n} seeds, commit {run.git.commit}"})
            if t.time_s:
                out["smaller"].append({"name": f"{t.where} time [{run.device_class}]", "unit": "s",
                                       "value": t.time_s.median, "range": f"IQR {fmt(t.time_s.iqr)}",
                                       "extra": f"{len(t.time_s.rounds)} rounds"})
    return out


# --- Markdown --------------------------------------------------------------------------------

def _markdown(section: dict) -> str:
    run = section["run"]
    lines = [terminal.markdown_summary(run).rstrip(), "", f"Merged record: `{section['record']}`"]
    timing = timing_rows(run.tests)
    if timing:
        lines += ["", "### Timing", "", tabulate(timing, headers=TIMING_HEADERS, tablefmt="github",
                                                   disable_numparse=True)]
    figures = [(where, paths) for where, paths in section["figures"].items() if paths]
    if figures:
        lines += ["", "### Curves"]
        for where, paths in figures:
            lines += ["", f"**{where}**", ""] + [f"![{where}]({p})" for p in paths]
    if section["trends"]:
        lines += ["", f"### Trends across {len(section['history'])} runs", "",
                  tabulate(history_rows(section["history"]), headers=HISTORY_HEADERS, tablefmt="github",
                           disable_numparse=True), ""]
        lines += [f"![trend]({p})" for p in section["trends"]]
    return "\n".join(lines) + "\n"


# --- HTML ------------------------------------------------------------------------------------

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f2f2f2}tr.FAIL td{background:#fde2e2}tr.ok td:last-child{color:#17702a}
.grid{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0}figure img{max-width:100%;border:1px solid #eee}
.verdict-FAIL{color:#b00020}.verdict-ok{color:#17702a}code{background:#f5f5f5;padding:1px 4px}"""


def _html(sections: list[dict]) -> str:
    body = "\n".join(_html_section(s) for s in sections)
    return (f"<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>Deep-learning phenomena report</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def _html_section(section: dict) -> str:
    run = section["run"]
    env, counts = run.env, run.counts
    verdict = "FAIL" if counts["failed"] else "ok"
    parts = [
        (f"<h1 class=verdict-{verdict}>{env['device_class']} · tier {run.tier}: {counts['failed']} failed, "
        f"{counts['passed']} passed, {counts.get('xfailed', 0)} expected failures</h1>"),
        (f"<p>commit <code>{_e(run.git.commit)}</code>{' (dirty)' if run.git.dirty else ''} · "
        f"torch {_e(env['torch'])} · {_e(env.get('device', ''))} · {_e(run.created)} · merged record "
        f"<a href='{_e(section['record'])}'>{_e(section['record'])}</a></p>"),
        _html_table(terminal.HEADERS, terminal.table_rows(run.tests), verdict_column=5),
    ]
    failures = terminal.failures(run.tests)
    if failures:
        parts.append("<h2>Failures</h2><ul>" + "".join(f"<li>{_e(s)}</li>" for s in failures) + "</ul>")
    timing = timing_rows(run.tests)
    if timing:
        parts += ["<h2>Timing</h2>", _html_table(TIMING_HEADERS, timing)]
    figures = [(where, paths) for where, paths in section["figures"].items() if paths]
    if figures:
        parts.append("<h2>Curves</h2>")
        for where, paths in figures:
            parts.append(f"<h3>{_e(where)}</h3><div class=grid>"
                         + "".join(f"<figure><img src='{_e(p)}' alt='{_e(where)}'></figure>" for p in paths)
                         + "</div>")
    if section["trends"]:
        parts += [f"<h2>Trends across {len(section['history'])} runs</h2>",
                  _html_table(HISTORY_HEADERS, history_rows(section["history"])), "<div class=grid>"]
        parts += [f"<figure><img src='{_e(p)}' alt='trend'></figure>" for p in section["trends"]]
        parts.append("</div>")
    return "\n".join(parts)


def _html_table(headers: list[str], rows: list[list[str]], verdict_column: int | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        f"<tr class='{_e(row[verdict_column]) if verdict_column is not None else ''}'>"
        + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(text) -> str:
    return html.escape(str(text), quote=True)
