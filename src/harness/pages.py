"""The report a person reads after a run: Markdown and a static HTML page with the verdict table,
each phenomenon's curves and matrices as PNGs, the timing table and, given several runs, trend
plots across them. Also what tools read: the merged run record of each device class and
github-action-benchmark's JSON.

Records are grouped into runs (shards merged, `harness.records.runs`) and runs into series, one
per device class and tier; the newest run of a series is reported, the older ones draw its trends.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tabulate import tabulate

from harness import plots, records, report
from harness.stats import fmt

TIMING_HEADERS = ["phenomenon", "median", "IQR", "rounds", "baseline", "ratio"]


def write_report(run_records: list[dict], out: Path, last: int = 20) -> Path:
    """Write everything under `out`; trends over the `last` runs of each series. Returns the HTML page."""
    plots.require()
    shutil.rmtree(out / "plots", ignore_errors=True)  # figures of an earlier report into the same folder
    out.mkdir(parents=True, exist_ok=True)
    series: dict[str, list[dict]] = {}
    for run in records.runs(run_records):
        series.setdefault(f"{run['env']['device_class']}-{run['tier']}", []).append(run)
    sections = [_section(slug, history[-last:], out) for slug, history in series.items()]
    for name, entries in _benchmark_entries([s["run"] for s in sections]).items():
        (out / f"github-action-benchmark-{name}.json").write_text(json.dumps(entries, indent=1) + "\n")
    (out / "report.md").write_text("\n".join(_markdown(s) for s in sections), encoding="utf-8")
    page = out / "index.html"
    page.write_text(_html(sections), encoding="utf-8")
    return page


def _section(slug: str, history: list[dict], out: Path) -> dict:
    run = history[-1]
    record_path = out / f"record-{slug}.json"
    record_path.write_text(json.dumps(run, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    figures_dir = out / "plots" / slug
    return {
        "slug": slug, "run": run, "history": history, "record": record_path.name,
        "figures": {t["where"]: [p.relative_to(out).as_posix() for p in _phenomenon_figures(t, figures_dir)]
                    for t in run["tests"]},
        "trends": ([p.relative_to(out).as_posix() for p in _trend_figures(history, figures_dir / "trends")]
                   if len(history) > 1 else []),
    }


# --- figures ---------------------------------------------------------------------------------

def _phenomenon_figures(test: dict, folder: Path) -> list[Path]:
    stem = _file_name(test["where"])
    paths = []
    # A test's curves over the same x are conditions to compare (pruned vs fine-tuned, plain vs
    # residual, FGSM vs noise): one figure each x, a line each condition.
    shared_x: dict[str, dict] = {}
    for name, spec in test.get("curves", {}).items():
        shared_x.setdefault(spec.get("xlabel", ""), {})[name] = spec
    for xlabel, specs in shared_x.items():
        ylabel = _shared_label([spec.get("ylabel", "") for spec in specs.values()])
        name = next(iter(specs)) if len(specs) == 1 else f"{ylabel} vs {xlabel}"
        try:
            paths.append(plots.curves(folder / f"{stem}--{_file_name(name)}.png", f"{test['where']}\n{name}", specs,
                                      ylabel=ylabel))
        except ValueError:
            continue  # ragged values: kept in the record, not drawable as curves
    for name, value in test.get("extras", {}).items():
        table = matrix_of(value)
        if table is not None:
            paths.append(plots.matrix(folder / f"{stem}--{_file_name(name)}.png", f"{test['where']}\n{name}",
                                      table.values, table.rows, table.columns,
                                      ylabel=table.row_label, xlabel=table.column_label))
    return paths


def _shared_label(labels: list[str]) -> str:
    """'test accuracy' from 'test accuracy (pruned)' and 'test accuracy (finetuned)'."""
    if len(set(labels)) == 1:
        return labels[0]
    return os.path.commonprefix(labels).rstrip(" (") or "value"


class Table(NamedTuple):
    values: np.ndarray
    rows: list[str] | None = None
    columns: list[str] | None = None
    row_label: str = "row"
    column_label: str = "column"


def matrix_of(value) -> Table | None:
    """A 2-D numeric table found in a recorded extra (averaged over seeds when stacked per seed),
    with the row and column names an extra gives ({"rows_crafted_on": [...], "columns_evaluated_on":
    [...], "mean_error": [[...]]} → axes "crafted on" and "evaluated on"); None for anything else."""
    rows = columns = None
    axis_labels = {}
    if isinstance(value, dict):
        lists = {k: v for k, v in value.items() if isinstance(v, list) and v}
        labels = {k: v for k, v in lists.items() if all(isinstance(x, str) for x in v)}
        coords = [v for k, v in lists.items() if k not in labels and all(isinstance(x, (int, float)) for x in v)]
        row_key = next((k for k in labels if k.startswith("rows_")), None)
        column_key = next((k for k in labels if k.startswith("columns_")), None)
        rows, columns = labels.get(row_key), labels.get(column_key)
        for name, key in (("row_label", row_key), ("column_label", column_key)):
            if key:
                axis_labels[name] = key.split("_", 1)[1].replace("_", " ")
        if coords and rows is None and columns is None:  # a plane: one axis of coordinates for both
            rows = columns = [f"{c:.2g}" for c in coords[0]]
        tables = [v for k, v in lists.items() if k not in labels and all(isinstance(x, list) for x in v)]
        value = tables[-1] if tables else None
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return None
    if array.ndim == 3:
        array = np.nanmean(array, axis=0)
    if array.ndim != 2 or min(array.shape) < 2 or not np.isfinite(array).any():
        return None
    if rows is not None and len(rows) != array.shape[0] or columns is not None and len(columns) != array.shape[1]:
        return Table(array)  # names that do not fit the table would mislabel it
    return Table(array, rows, columns, **axis_labels)


def _trend_figures(history: list[dict], folder: Path) -> list[Path]:
    labels = [f"{r['git']['commit']}{'+' if r['git']['dirty'] else ''} {r['created'][5:16]}" for r in history]
    wheres = sorted(t["where"] for t in history[-1]["tests"])  # what the reported run still has
    by_run = [{t["where"]: t for t in r["tests"]} for r in history]
    paths = []
    for where in wheres:
        names = sorted({m for tests in by_run for m in tests.get(where, {}).get("metrics", {})})
        series = {m: _across(by_run, where, lambda t, m=m: _mean_ci(t["metrics"].get(m))) for m in names}
        paths += _trend(folder / f"{_file_name(where)}.png", where, labels, series, "", panels=True)
    for group in sorted({where.split("/", 1)[0] for where in wheres}):
        series = {where.split("/", 1)[1]: _across(by_run, where, lambda t: _time_median(t.get("time_s")))
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


def _across(by_run: list[dict], where: str, pick) -> tuple[list, list]:
    pairs = [pick(tests[where]) if where in tests else (np.nan, np.nan) for tests in by_run]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _mean_ci(metric: dict | None) -> tuple[float, float]:
    return (metric["mean"], metric["ci95"]) if metric else (np.nan, np.nan)


def _time_median(time_s: dict | None) -> tuple[float, float]:
    return (time_s["median"], time_s["iqr"] / 2) if time_s else (np.nan, np.nan)


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")


# --- tables ----------------------------------------------------------------------------------

def timing_rows(tests: list[dict]) -> list[list[str]]:
    rows = []
    for t in tests:
        time_s, base = t.get("time_s"), t.get("baseline_time_s")
        if time_s:
            rows.append([t["where"], f"{fmt(time_s['median'])} s", f"{fmt(time_s['iqr'])} s",
                         str(len(time_s.get("rounds", []))), f"{fmt(base)} s" if base else "—",
                         f"{time_s['median'] / base:.2f}×" if base else "—"])
    return rows


def history_rows(history: list[dict]) -> list[list[str]]:
    return [[r["created"], r["git"]["commit"] + ("+" if r["git"]["dirty"] else ""), str(r["counts"]["passed"]),
             str(r["counts"]["failed"]), str(r["counts"].get("xfailed", 0)), ", ".join(r.get("shards", [])) or "—"]
            for r in history]


HISTORY_HEADERS = ["created", "commit", "passed", "failed", "xfailed", "shards merged"]


def _benchmark_entries(runs: list[dict]) -> dict[str, list[dict]]:
    """github-action-benchmark's customBiggerIsBetter / customSmallerIsBetter lists: metrics whose
    direction is higher or lower, and each unit's median time; `target` metrics (closer to a value
    is better) fit neither and are left out."""
    out: dict[str, list[dict]] = {"bigger": [], "smaller": []}
    for run in runs:
        device_class = run["env"]["device_class"]
        for t in run["tests"]:
            for name, m in t["metrics"].items():
                kind = {"higher": "bigger", "lower": "smaller"}.get(m["direction"])
                if kind:
                    out[kind].append({"name": f"{t['where']} {name} [{device_class}]", "unit": "",
                                      "value": m["mean"], "range": f"± {fmt(m['ci95'])}",
                                      "extra": f"{m['n']} seeds, commit {run['git']['commit']}"})
            if t.get("time_s"):
                out["smaller"].append({"name": f"{t['where']} time [{device_class}]", "unit": "s",
                                       "value": t["time_s"]["median"], "range": f"IQR {fmt(t['time_s']['iqr'])}",
                                       "extra": f"{len(t['time_s'].get('rounds', []))} rounds"})
    return out


# --- Markdown --------------------------------------------------------------------------------

def _markdown(section: dict) -> str:
    run = section["run"]
    lines = [report.markdown_summary(run).rstrip(), "", f"Merged record: `{section['record']}`"]
    timing = timing_rows(run["tests"])
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
    run, env, counts = section["run"], section["run"]["env"], section["run"]["counts"]
    verdict = "FAIL" if counts["failed"] else "ok"
    parts = [
        (f"<h1 class=verdict-{verdict}>{env['device_class']} · tier {run['tier']}: {counts['failed']} failed, "
        f"{counts['passed']} passed, {counts.get('xfailed', 0)} expected failures</h1>"),
        (f"<p>commit <code>{_e(run['git']['commit'])}</code>{' (dirty)' if run['git']['dirty'] else ''} · "
        f"torch {_e(env['torch'])} · {_e(env.get('device', ''))} · {_e(run['created'])} · merged record "
        f"<a href='{_e(section['record'])}'>{_e(section['record'])}</a></p>"),
        _html_table(report.HEADERS, report.table_rows(run["tests"]), verdict_column=5),
    ]
    failures = [v["sentence"] for t in run["tests"] for v in t["verdicts"] if v["passed"] is False]
    if failures:
        parts.append("<h2>Failures</h2><ul>" + "".join(f"<li>{_e(s)}</li>" for s in failures) + "</ul>")
    timing = timing_rows(run["tests"])
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
