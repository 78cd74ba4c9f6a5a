"""PNG figures for reports (matplotlib, no display): a phenomenon's metrics against its claim and
baseline, its curves, its matrices, and trends of metrics and timings across runs. Each function
writes one file and returns its path. Red is a failure, the dashed line a claim's threshold, the
green band where the baseline check lets a run's mean be."""

from __future__ import annotations

import textwrap
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.results.schema import Curve

try:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on CI runners
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
except ImportError:  # the report names the extra to install
    plt = None

SEED_ALPHA = 0.35
DPI = 110
MAX_TICKS = 12
FAIL, OK, WARN = "#c0392b", "#1f6fb2", "#d68910"
BAND, CLAIM = "#2e8b57", "#c0392b"


@dataclass(frozen=True)
class Judged:
    """What to draw of one metric: per-seed values (or per-run means), and where it must lie."""

    values: list  # one value per seed (a metric) or per run (a trend)
    colours: list  # one per value: FAIL, OK or WARN
    low: list | None = None  # error bar ends per value (a trend: the seeds' min and max), or None
    high: list | None = None
    claim: list | None = None  # [low, high] of a claim's threshold (None: open end)
    band: list | None = None  # [low, high] where the baseline check passes the mean
    baseline: float | None = None  # the stored baseline mean


def available() -> bool:
    return plt is not None


def require() -> None:
    if plt is None:
        raise ValueError("plots need matplotlib: pip install -e '.[plots]' -c constraints.txt")


def curves(path: Path, title: str, lines: dict[str, Curve]) -> Path:
    """The curves of one figure on shared axes, one colour each, labelled by the keys of `lines`:
    every seed faint, their mean bold; log axes when values span more than two decades (gradient
    variance against d, cond against n)."""
    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    for k, (name, curve) in enumerate(lines.items()):
        x = np.asarray(nan_for_none(curve.x), dtype=float)
        y = np.atleast_2d(np.asarray(nan_for_none(curve.y), dtype=float))
        colour = f"C{k % 10}"
        if y.shape[0] > 1:
            for row in y:
                ax.plot(x, row, color=colour, alpha=SEED_ALPHA, linewidth=1)
        # The mean only where every seed has a value: seeds that stop early would otherwise leave
        # a "mean" of the one seed still running.
        seeds = f"mean of {y.shape[0]} seeds" if y.shape[0] > 1 else None
        ax.plot(x, y.mean(axis=0), color=colour, linewidth=2.2, marker="o" if len(x) <= 12 else None,
                label=(f"{name}" + (f" ({seeds})" if seeds else "")) if len(lines) > 1 else seeds)
        _log_if_wide(ax, x, "x", forced="x" in curve.log)
        _log_if_wide(ax, y, "y", forced="y" in curve.log)
    first = next(iter(lines.values()))
    ax.set(xlabel=first.xlabel, ylabel=first.ylabel)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(frameon=False, fontsize=7)
    return _save(fig, ax, title, path)


def matrix(path: Path, title: str, values: np.ndarray, rows: list[str] | None = None,
           columns: list[str] | None = None, *, ylabel: str = "row", xlabel: str = "column",
           log: bool = False) -> Path:
    """A heatmap with the value in each cell (accuracy after task i on task j, transfer error);
    `log` colours on a log scale (a loss surface's basin spans decades)."""
    n_rows, n_cols = values.shape
    fig, ax = plt.subplots(figsize=(min(1.2 + 0.75 * n_cols, 7.5), min(1.0 + 0.6 * n_rows, 6.0)))
    finite = values[np.isfinite(values)]
    wide = bool(log and finite.size and finite.min() > 0)  # LogNorm needs positive values
    image = ax.imshow(values, cmap="viridis", aspect="auto", norm=LogNorm() if wide else None)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="log scale" if wide else None)
    if n_rows * n_cols <= 100:
        middle = image.norm(np.nanmax(values)) / 2 + image.norm(np.nanmin(values)) / 2
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.2g}" if wide else f"{v:.2f}", ha="center", va="center", fontsize=8,
                    color="black" if image.norm(v) > middle else "white")
    ax.set_xticks(range(n_cols), columns or range(n_cols), rotation=30 if columns else 0, fontsize=8)
    ax.set_yticks(range(n_rows), rows or range(n_rows), fontsize=8)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    return _save(fig, ax, title, path, grid=False)


def metrics(path: Path, title: str, judged: dict[str, Judged]) -> Path:
    """One small panel per metric: each seed a dot (red where the metric failed), the mean a
    bar, the claim's threshold dashed, the baseline mean and its tolerance band in green."""
    fig, axes = _panels(len(judged), max_cols=4, width=2.6, height=2.3)
    for ax, (name, j) in zip(axes.flat, judged.items(), strict=False):
        values = np.asarray(j.values, dtype=float)
        jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(jitter, values, c=j.colours, s=22, zorder=3)
        ax.hlines(np.nanmean(values), -0.3, 0.3, color="black", linewidth=2, zorder=4)
        _reference_lines(ax, j)
        ax.set_xlim(-0.6, 0.6)
        ax.set_xticks([])
        ax.set_title(name, fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    return _save(fig, axes.flat[0], title, path, suptitle=True, grid=False)


def trend(path: Path, title: str, labels: list[str], series: dict[str, Judged], ylabel: str,
          *, panels: bool = False) -> Path:
    """Values across runs, runs in order on the x axis labelled by commit: each series its per-run
    mean coloured by that run's verdict, bars from the seeds' min to max (a t-interval from 2–3
    seeds is wider than the effect), with the claim and the newest baseline band; `panels` gives
    each series its own small axes (metrics of one test have different scales), else all share one
    (times of one group)."""
    width = max(3.4 if panels else 6.0, 0.45 * min(len(labels), MAX_TICKS) + 1.6)
    fig, axes = _panels(len(series) if panels else 1, max_cols=3, width=width, height=2.9)
    x = np.arange(len(labels))
    for k, (name, j) in enumerate(series.items()):
        ax = axes.flat[k if panels else 0]
        values = np.asarray(j.values, dtype=float)
        if j.low is not None:
            spread = np.abs(np.vstack([values - np.asarray(j.low, float), np.asarray(j.high, float) - values]))
            ax.errorbar(x, values, yerr=spread, fmt="none", ecolor="grey", capsize=3, zorder=2)
        ax.plot(x, values, color="grey", linewidth=0.8, zorder=2, label=None if panels else name)
        ax.scatter(x, values, c=j.colours, s=24, zorder=3)
        if panels:
            _reference_lines(ax, j)
        _log_if_wide(ax, values, "y")
        every = -(-len(labels) // MAX_TICKS)  # a label on every run stops being readable (and costs draws)
        ax.set_xticks(x[::every], labels[::every], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(name if panels else ylabel, fontsize=8)
        ax.margins(x=0.05)
        ax.grid(alpha=0.3)
    if not panels and len(series) > 1:
        axes.flat[0].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, axes.flat[0], title, path, suptitle=panels, grid=False)  # each panel has its grid


def _panels(n: int, *, max_cols: int, width: float, height: float):
    """A grid of n small axes, at most max_cols a row, each width × height inches; the unused
    cells of the last row hidden. Returns (figure, axes array)."""
    cols = min(n, max_cols)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _reference_lines(ax, j: Judged) -> None:
    """The baseline band and mean (green) and the claim's thresholds (dashed red), where known."""
    if j.band is not None:
        low, high = j.band
        bottom, top = ax.get_ylim()
        ax.axhspan(low if low is not None else min(bottom, j.baseline or bottom),
                   high if high is not None else max(top, j.baseline or top), color=BAND, alpha=0.12, zorder=0,
                   label="baseline band")
    if j.baseline is not None:
        ax.axhline(j.baseline, color=BAND, linewidth=1, zorder=1)
    for bound in (j.claim or []):
        if bound is not None:
            ax.axhline(bound, color=CLAIM, linestyle="--", linewidth=1.2, zorder=1)


def _log_if_wide(ax, values: np.ndarray, axis: str, forced: bool = False) -> None:
    """A log axis where the benchmark asks for one (its claim is a slope over decades) or the
    positive values span more than two decades."""
    finite = values[np.isfinite(values)]
    positive = finite.size and finite.min() > 0
    if positive and (forced or finite.max() / finite.min() > 100):
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def nan_for_none(value):
    """JSON keeps a non-finite number as null; back to NaN for arrays."""
    if isinstance(value, list):
        return [nan_for_none(v) for v in value]
    return np.nan if value is None else value


def _save(fig, ax, title: str, path: Path, *, suptitle: bool = False, grid: bool = True) -> Path:
    # a long phenomenon id would widen the figure past its axes: wrap it at the figure's width
    title = "\n".join(textwrap.fill(line, width=int(fig.get_figwidth() * 11)) for line in title.split("\n"))
    if suptitle:
        fig.suptitle(title, fontsize=9)
    else:
        ax.set_title(title, fontsize=9)
    if grid:
        ax.grid(alpha=0.3)
    with warnings.catch_warnings():  # a figure too small for tight margins is still saved whole (bbox_inches)
        warnings.filterwarnings("ignore", "Tight layout not applied", UserWarning)
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")  # keeps a legend placed beside the axes
    plt.close(fig)
    return path
