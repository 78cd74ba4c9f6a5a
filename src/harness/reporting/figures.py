"""What the report draws, and from what: a test's metrics per seed against its claim's bounds and
the baseline band, its curves (single points dropped) and matrices, the figure of only what
failed, and the trends of metrics and timings across runs, each point coloured by its verdict.
`harness.reporting.plots` draws; this module decides what goes into each figure."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np

from harness.reporting import plots, terminal
from harness.results.schema import RunRecord, TestRecord


def phenomenon_figures(test: TestRecord, folder: Path) -> list[Path]:
    """Its metrics against claim and baseline first, then one figure per `figure` its curves name
    (a line each; a single point is no curve: its value is in the table), one heatmap per matrix."""
    stem = file_name(test.where)
    paths = [plots.metrics(folder / f"{stem}--metrics.png", test.where, {
        name: _judged_seeds(test, name) for name in test.metrics})] if test.metrics else []
    figures: dict[str, dict] = {}
    for name, curve in test.curves.items():
        if len(curve.x) > 1:
            figures.setdefault(curve.figure, {})[curve.label or name] = curve
    for figure, curves in figures.items():
        try:
            paths.append(plots.curves(folder / f"{stem}--{file_name(figure)}.png", f"{test.where}\n{figure}", curves))
        except ValueError:
            continue  # ragged values: kept in the record, not drawable as curves
    for name, matrix in test.matrices.items():
        values = mean_over_seeds(matrix.values)
        if values is not None:
            paths.append(plots.matrix(folder / f"{stem}--{file_name(name)}.png", f"{test.where}\n{name}", values,
                                      matrix.rows, matrix.columns, ylabel=matrix.row_label,
                                      xlabel=matrix.column_label, log=matrix.log))
    return paths


def broken_metrics_figure(test: TestRecord, folder: Path) -> Path | None:
    """Only the metrics that failed, for the top of the page (None when no metric failed)."""
    failed = [name for name in test.metrics if _colour(test, name) == plots.FAIL]
    if not failed:
        return None
    return plots.metrics(folder / f"{file_name(test.where)}--failed.png", "what failed",
                         {name: _judged_seeds(test, name) for name in failed})


def _judged_seeds(test: TestRecord, name: str) -> plots.Judged:
    m = test.metrics[name]
    colour = _colour(test, name)
    return plots.Judged(values=m.values, colours=[colour] * len(m.values), claim=_claim_bounds(test, name),
                        band=_baseline_band(test, name), baseline=m.baseline_mean)


def _colour(test: TestRecord, name: str) -> str:
    mine = [v for v in test.verdicts if v.metric == name]
    if any(v.passed is False for v in mine):
        return plots.FAIL
    return plots.WARN if any(v.passed is None for v in mine) else plots.OK


def _claim_bounds(test: TestRecord, name: str) -> list | None:
    """The tightest [low, high] the test's claims put on the metric (None where open)."""
    bounds = [v.bounds for v in test.verdicts if v.metric == name and v.kind != "baseline" and v.bounds]
    if not bounds:
        return None
    lows = [b[0] for b in bounds if b[0] is not None]
    highs = [b[1] for b in bounds if b[1] is not None]
    return [max(lows) if lows else None, min(highs) if highs else None]


def _baseline_band(test: TestRecord, name: str) -> list | None:
    return next((v.bounds for v in test.verdicts if v.metric == name and v.kind == "baseline" and v.bounds), None)


def mean_over_seeds(values) -> np.ndarray | None:
    """rows × columns (seeds × rows × columns averaged over seeds); None when nothing is drawable."""
    array = np.asarray(plots.nan_for_none(values), dtype=float)
    if array.ndim == 3:
        array = np.nanmean(array, axis=0)
    if array.ndim != 2 or not np.isfinite(array).any():
        return None
    return array


def trend_figures(history: list[RunRecord], folder: Path) -> list[Path]:
    labels = [f"{r.git.commit}{'+' if r.git.dirty else ''} {r.created[5:16]}" for r in history]
    newest = {t.where: t for t in history[-1].tests}  # what the reported run still has
    by_run = [{t.where: t for t in r.tests} for r in history]
    paths = []
    for where in sorted(newest):
        names = sorted({m for tests in by_run if where in tests for m in tests[where].metrics})
        series = {m: _metric_trend(by_run, where, m, newest[where]) for m in names}
        paths += _trend(folder / f"{file_name(where)}.png", where, labels, series, "", panels=True)
    for group in sorted({where.split("/", 1)[0] for where in newest}):
        series = {where.split("/", 1)[1]: _time_trend(by_run, where) for where in sorted(newest)
                  if where.startswith(f"{group}/")}
        paths += _trend(folder / f"time--{group}.png", f"{group}: time of the representative unit (red: slower "
                        f"than {terminal.SLOW_RATIO}× baseline)", labels, series, "median seconds (IQR bars)")
    return paths


def _metric_trend(by_run: list[dict], where: str, name: str, newest: TestRecord) -> plots.Judged:
    """A metric across runs: each run's mean, its seeds' range, coloured by that run's verdict; the
    claim and the baseline band as the newest run judged them."""
    found = [tests[where] if where in tests and name in tests[where].metrics else None for tests in by_run]
    nan = float("nan")
    return plots.Judged(
        values=[t.metrics[name].mean if t else nan for t in found],
        low=[min(t.metrics[name].values) if t else nan for t in found],
        high=[max(t.metrics[name].values) if t else nan for t in found],
        colours=[_colour(t, name) if t else plots.OK for t in found],
        claim=_claim_bounds(newest, name) if name in newest.metrics else None,
        band=_baseline_band(newest, name) if name in newest.metrics else None,
        baseline=newest.metrics[name].baseline_mean if name in newest.metrics else None)


def _time_trend(by_run: list[dict], where: str) -> plots.Judged:
    times = [tests[where] if where in tests and tests[where].time_s else None for tests in by_run]
    nan = float("nan")
    return plots.Judged(
        values=[t.time_s.median if t else nan for t in times],
        low=[t.time_s.median - t.time_s.iqr / 2 if t else nan for t in times],
        high=[t.time_s.median + t.time_s.iqr / 2 if t else nan for t in times],
        colours=[plots.FAIL if t and terminal.is_slow(t) else plots.OK for t in times])


def _trend(path: Path, title: str, labels: list[str], series: dict, ylabel: str, panels: bool = False) -> list[Path]:
    """The trend figure over the runs that measured something in it (a run of a subset of the suite
    leaves no gap); nothing when fewer than two runs did."""
    series = {k: v for k, v in series.items() if np.isfinite(np.asarray(v.values, float)).any()}
    runs = [i for i in range(len(labels)) if any(np.isfinite(v.values[i]) for v in series.values())]
    if len(runs) < 2:
        return []
    pick = lambda values: None if values is None else [values[i] for i in runs]  # noqa: E731
    kept = {k: dataclasses.replace(v, values=pick(v.values), colours=pick(v.colours), low=pick(v.low),
                                   high=pick(v.high)) for k, v in series.items()}
    return [plots.trend(path, title, [labels[i] for i in runs], kept, ylabel, panels=panels)]


def file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", text).strip("_")
