"""The report a person reads after a run: a static HTML page (and its Markdown twin) that answers,
in this order, what broke (each failure and regression with its sentence and its figure, linked
to its section), how each group fared (passed, failed, xfailed, warned, time), then every
phenomenon: its claim in one line, its metrics drawn against the claim's threshold and the
baseline band, its curves and matrices, its rows of the verdict table; then timings (slow ones
marked) and, given several runs, trends with the same lines drawn in. One folder, no network.
Also what tools read: the merged run record of each device class and github-action-benchmark's JSON.

Records are grouped into runs (shards merged, `harness.results.runs.runs`) and runs into series, one
per device class and tier; the newest run of a series is reported, the older ones draw its trends.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from tabulate import tabulate

from harness.reporting import figures, plots, terminal
from harness.results.runs import REPORT_MANIFEST, runs
from harness.results.schema import RunRecord, TestRecord
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
    written += [p for s in sections for p in s["broke"].values()]
    written += [p for s in sections for p in s["trends"]]
    for name, entries in _benchmark_entries([s["run"] for s in sections]).items():
        (out / f"github-action-benchmark-{name}.json").write_text(json.dumps(entries, indent=1) + "\n")
        written.append(f"github-action-benchmark-{name}.json")
    (out / "report.md").write_text("\n".join(_markdown(s) for s in sections), encoding="utf-8")
    page = out / "index.html"
    page.write_text(_html(sections), encoding="utf-8")
    (out / MANIFEST).write_text("\n".join(sorted([*written, "report.md", "index.html"])) + "\n", encoding="utf-8")
    return page


MANIFEST = REPORT_MANIFEST  # what the last report wrote into its folder: all it may remove


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
        "figures": {t.where: [p.relative_to(out).as_posix() for p in figures.phenomenon_figures(t, figures_dir)]
                    for t in run.tests},
        "broke": {t.where: p.relative_to(out).as_posix() for t in run.tests
                  if (p := figures.broken_metrics_figure(t, figures_dir)) is not None},
        "trends": ([p.relative_to(out).as_posix() for p in figures.trend_figures(history, figures_dir / "trends")]
                   if len(history) > 1 else []),
    }


# --- tables ----------------------------------------------------------------------------------

def timing_rows(tests: list[TestRecord]) -> list[list[str]]:
    rows = []
    for t in tests:
        time_s, base = t.time_s, t.baseline_time_s
        if time_s:
            rows.append([t.where, f"{fmt(time_s.median)} s", f"{fmt(time_s.iqr)} s", str(len(time_s.rounds)),
                         f"{fmt(base)} s" if base else "—",
                         (f"{time_s.median / base:.2f}×" + (" SLOW" if terminal.is_slow(t) else "")) if base else "—"])
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
    drawn = [(where, paths) for where, paths in section["figures"].items() if paths]
    if drawn:
        lines += ["", "### Figures"]
        for where, paths in drawn:
            lines += ["", f"**{where}**", ""] + [f"![{where}]({p})" for p in paths]
    if section["trends"]:
        lines += ["", f"### Trends across {len(section['history'])} runs", "",
                  tabulate(history_rows(section["history"]), headers=HISTORY_HEADERS, tablefmt="github",
                           disable_numparse=True), ""]
        lines += [f"![trend]({p})" for p in section["trends"]]
    return "\n".join(lines) + "\n"


# --- HTML ------------------------------------------------------------------------------------

STYLE = """body{font-family:system-ui,sans-serif;margin:1.2em 2em;max-width:1400px;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{margin-top:1.4em;border-bottom:1px solid #ddd}.meta{color:#555;margin:.2em 0 1em}
table{border-collapse:collapse;font-size:13px;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 7px;text-align:left}
th{background:#f2f2f2}tr.FAIL td{background:#fde2e2}tr.ok td:last-child{color:#17702a}tr.slow td{background:#fff3cd}
.grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}figure{margin:0}figure img{max-width:100%;border:1px solid #eee}
.verdict-FAIL,.FAIL>.badge{color:#b00020}.verdict-ok{color:#17702a}code{background:#f5f5f5;padding:1px 4px}
#broke{border:2px solid #b00020;border-radius:6px;padding:.4em 1em;background:#fff7f7}#broke h2{margin-top:.2em;border:0;color:#b00020}
#broke .item{display:flex;gap:16px;align-items:flex-start;margin:.6em 0}#broke .item>div{flex:1 1 50%}
#broke .item img{flex:0 1 auto;min-width:0;max-width:48%;max-height:300px;object-fit:contain;object-position:left top}.key{font-size:12px;color:#555}
#broke ul{margin:.3em 0;padding-left:1.2em;font-size:14px;max-width:700px}.allgood{color:#17702a;font-weight:600}
.warn{color:#8a5300}.about{color:#444;margin:.2em 0 .5em}.test{margin:1em 0 2em}.badge{font-size:.8em;margin-left:.5em}"""

# Runs once the page has loaded: says on the page when a figure failed to load, and leaves what it
# found on <body> (data-images, data-broken-images, data-broke-top) for the browser test to read.
SELF_CHECK = """<script>addEventListener('load',function(){var imgs=[].slice.call(document.images);
var bad=imgs.filter(function(i){return !(i.complete&&i.naturalWidth>0)});var b=document.body;
b.dataset.images=imgs.length;b.dataset.brokenImages=bad.length;var first=document.querySelector('#broke .item');
b.dataset.brokeTop=first?Math.round(first.getBoundingClientRect().top):-1;if(bad.length){var p=document.createElement('p');
p.className='warn';p.textContent=bad.length+' figure(s) did not load: keep the report folder together';b.prepend(p)}});</script>"""


KEY = ("<p class=key>In the figures: a dot per seed (red: the metric failed), the bar their mean, the dashed "
       "red line the claim's threshold, the green line the stored baseline mean and the green band where the "
       "baseline check lets the mean be.</p>")


def _html(sections: list[dict]) -> str:
    body = "\n".join(_html_section(s) for s in sections)
    return (f"<!doctype html>\n<html lang=en><head><meta charset=utf-8><title>Deep-learning phenomena report</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n{SELF_CHECK}\n</body></html>\n")


def _html_section(section: dict) -> str:
    run = section["run"]
    env, counts = run.env, run.counts
    verdict = "FAIL" if counts["failed"] else "ok"
    parts = [
        (f"<h1 class=verdict-{verdict}>{_e(env['device_class'])} · tier {_e(run.tier)}: {counts['failed']} failed, "
         f"{counts['passed']} passed, {counts.get('xfailed', 0)} expected failures</h1>"),
        (f"<p class=meta>commit <code>{_e(run.git.commit)}</code>{' (dirty)' if run.git.dirty else ''} · "
         f"torch {_e(env['torch'])} · {_e(env.get('device', ''))} · {_e(run.created)} · merged record "
         f"<a href='{_e(section['record'])}'>{_e(section['record'])}</a></p>"),
        _html_broken(section),
        "<h2>By group</h2>", _html_table(terminal.GROUP_HEADERS, terminal.group_rows(run)),
        "<h2>Phenomena</h2>", KEY,
    ]
    order = sorted(run.tests, key=lambda t: (t.group, t.outcome != "failed", t.where))
    for group in sorted({t.group for t in run.tests}):
        parts.append(f"<h3 id='group-{_e(figures.file_name(group))}'>{_e(group)}</h3>")
        parts += [_html_test(t, section["figures"].get(t.where, [])) for t in order if t.group == group]
    timing = timing_rows(run.tests)
    if timing:
        parts += ["<h2>Timing</h2>", _html_table(TIMING_HEADERS, timing, row_class=lambda r: "slow" if "SLOW" in r[5] else "")]
    slow = terminal.slow_tests(run.tests)
    if slow:
        parts.append("<ul class=warn>" + "".join(f"<li>{_e(s)}</li>" for s in slow) + "</ul>")
    if section["trends"]:
        parts += [f"<h2>Trends across {len(section['history'])} runs</h2>",
                  _html_table(HISTORY_HEADERS, history_rows(section["history"])), "<div class=grid>"]
        parts += [f"<figure><img src='{_e(p)}' alt='trend' loading=lazy></figure>" for p in section["trends"]]
        parts.append("</div>")
    return "\n".join(parts)


def _html_broken(section: dict) -> str:
    """What broke, first: each failed test with its sentences and its first figure, linked below."""
    failed = terminal.broken(section["run"].tests)
    if not failed:
        return "<p class=allgood>Nothing broke: every claim and baseline check of this run held.</p>"
    items = []
    for test, sentences in failed:
        figure = [section["broke"][test.where]] if test.where in section["broke"] else []
        items.append(
            f"<div class=item><div><a href='#{_e(_anchor(test))}'><strong>{_e(test.where)}</strong></a>"
            f"<ul>{''.join(f'<li>{_e(s)}</li>' for s in sentences)}</ul></div>"
            + "".join(f"<img src='{_e(p)}' alt='{_e(test.where)}'>" for p in figure) + "</div>")
    return f"<section id=broke><h2>What broke ({len(failed)})</h2>{KEY}{''.join(items)}</section>"


def _html_test(test: TestRecord, images: list[str]) -> str:
    verdict = {"passed": "ok", "xfailed": "xfail"}.get(test.outcome, "FAIL")
    return (f"<div class='test {verdict}' id='{_e(_anchor(test))}'><h4>{_e(test.where)}"
            f"<span class=badge>{verdict}</span></h4>"
            + (f"<p class=about>{_e(test.about)}</p>" if test.about else "")
            + _html_table(terminal.HEADERS[1:], [r[1:] for r in terminal.table_rows([test])],
                          row_class=lambda r: r[4])
            + "<div class=grid>" + "".join(f"<figure><img src='{_e(p)}' alt='{_e(test.where)}' loading=lazy></figure>"
                                           for p in images) + "</div></div>")


def _anchor(test: TestRecord) -> str:
    return "t-" + figures.file_name(test.where)


def _html_table(headers: list[str], rows: list[list[str]], row_class=lambda row: "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(f"<tr class='{_e(row_class(row))}'>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(text) -> str:
    return html.escape(str(text), quote=True)
