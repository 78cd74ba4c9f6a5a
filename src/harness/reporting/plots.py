"""PNG figures for reports (matplotlib, no display): a phenomenon's curves, its matrices, and
trends of metrics and timings across runs. Each function writes one file and returns its path."""

from __future__ import annotations

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
        _log_if_wide(ax, x, "x")
        _log_if_wide(ax, y, "y")
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


def trend(path: Path, title: str, labels: list[str], series: dict[str, tuple[list, list]], ylabel: str,
          *, panels: bool = False) -> Path:
    """Values across runs, runs in order on the x axis labelled by commit: each series its mean
    with the 95% CI as error bars; `panels` gives each series its own small axes (metrics of one
    test have different scales), else all share one (times of one group)."""
    n = len(series) if panels else 1
    cols = min(n, 3)
    rows = -(-n // cols)
    width = max(3.4 if panels else 6.0, 0.45 * min(len(labels), MAX_TICKS) + 1.6)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, 2.9 * rows), squeeze=False)
    x = np.arange(len(labels))
    for k, (name, (means, errors)) in enumerate(series.items()):
        ax = axes.flat[k if panels else 0]
        values = np.asarray(means, dtype=float)
        ax.errorbar(x, values, yerr=np.asarray(errors, dtype=float), marker="o", capsize=3,
                    label=None if panels else name)
        _log_if_wide(ax, values, "y")
        every = -(-len(labels) // MAX_TICKS)  # a label on every run stops being readable (and costs draws)
        ax.set_xticks(x[::every], labels[::every], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(name if panels else ylabel, fontsize=8)
        ax.margins(x=0.05)
        ax.grid(alpha=0.3)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    if not panels and len(series) > 1:
        axes.flat[0].legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, axes.flat[0], title, path, suptitle=panels, grid=False)  # each panel has its grid


def _log_if_wide(ax, values: np.ndarray, axis: str) -> None:
    finite = values[np.isfinite(values)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def nan_for_none(value):
    """JSON keeps a non-finite number as null; back to NaN for arrays."""
    if isinstance(value, list):
        return [nan_for_none(v) for v in value]
    return np.nan if value is None else value


def _save(fig, ax, title: str, path: Path, *, suptitle: bool = False, grid: bool = True) -> Path:
    if suptitle:
        fig.suptitle(title, fontsize=9)
    else:
        ax.set_title(title, fontsize=9)
    if grid:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")  # keeps a legend placed beside the axes
    plt.close(fig)
    return path
