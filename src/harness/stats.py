"""Statistics over seeds: summaries, one-sided bounds and tests (scipy), regression tolerance.

The t and chi-square quantiles and the t-tests come from scipy.special's distribution functions:
importing scipy.stats cost every pytest start 0.9 s of its 3.6 s on the 2-core CPU, and only the
rank statistics of `harness compare` need it (imported there).

A metric is one value per seed. Everything here takes a 1-D sequence of floats and refuses
NaN/inf, because a non-finite metric is a failed run, never a number to average.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaincinv, stdtr, stdtrit


class NonFiniteMetric(ValueError):
    """A metric has NaN or inf among its per-seed values."""


def as_values(values, name: str = "metric") -> np.ndarray:
    """Per-seed values as a 1-D float64 array; raises NonFiniteMetric on NaN/inf."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name}: expected one value per seed (a non-empty 1-D sequence), got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise NonFiniteMetric(f"{name} is not finite: {array.tolist()} — the run diverged or a metric divided by zero")
    return array


@dataclass(frozen=True)
class Summary:
    """Mean, sample std (ddof=1; 0 for one seed) and n of per-seed values."""

    mean: float
    std: float
    n: int

    def sem(self) -> float:
        return self.std / math.sqrt(self.n)

    def ci_halfwidth(self, confidence: float = 0.95) -> float:
        """Half-width of the two-sided t confidence interval of the mean (0 for one seed)."""
        if self.n < 2:
            return 0.0
        return float(stdtrit(self.n - 1, 0.5 + confidence / 2) * self.sem())

    def lower_bound(self, confidence: float = 0.95) -> float:
        """One-sided lower t bound of the mean (the mean itself for one seed)."""
        if self.n < 2:
            return self.mean
        return float(self.mean - stdtrit(self.n - 1, confidence) * self.sem())

    def upper_bound(self, confidence: float = 0.95) -> float:
        if self.n < 2:
            return self.mean
        return float(self.mean + stdtrit(self.n - 1, confidence) * self.sem())

    def __str__(self) -> str:
        return f"{fmt(self.mean)} ± {fmt(self.std)} (n={self.n})"


def summarize(values, name: str = "metric") -> Summary:
    array = as_values(values, name)
    std = float(array.std(ddof=1)) if array.size > 1 else 0.0
    return Summary(mean=float(array.mean()), std=std, n=int(array.size))


def fmt(x: float) -> str:
    """Three significant digits, plain for everyday magnitudes, scientific otherwise."""
    if x == 0 or 1e-3 <= abs(x) < 10:
        return f"{x:.3f}"
    if 10 <= abs(x) < 1e4:
        return f"{x:.4g}"
    return f"{x:.2e}"


def welch_greater(a, b, margin: float = 0.0) -> float:
    """One-sided Welch p-value for mean(a) - mean(b) > margin."""
    a, b = as_values(a, "a"), as_values(b, "b")
    if a.size < 2 or b.size < 2:
        raise ValueError("Welch's test needs at least two values on each side")
    a_fixed, b_fixed = np.all(a == a[0]), np.all(b == b[0])
    if a_fixed and b_fixed:  # no spread anywhere: the difference is exact, the test undefined
        return 0.0 if a[0] - margin > b[0] else 1.0
    # One side without spread is a known constant: Welch reduces to a one-sample t-test of the other
    # (scipy's two-sample path would warn about catastrophic cancellation in its variance).
    if b_fixed:
        return _t_greater(a - margin, b[0])
    if a_fixed:
        return _t_greater(-b, margin - a[0])
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    t = (a.mean() - margin - b.mean()) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))  # Welch–Satterthwaite
    return float(stdtr(dof, -t))


def _t_greater(x: np.ndarray, mean: float) -> float:
    """One-sample t-test p-value for mean(x) > mean (x has spread)."""
    t = (x.mean() - mean) / (x.std(ddof=1) / math.sqrt(x.size))
    return float(stdtr(x.size - 1, -t))


def paired_greater(a, b, margin: float = 0.0) -> float:
    """One-sided paired t p-value for mean(a - b) > margin (seeds paired by position)."""
    diff = as_values(a, "a") - as_values(b, "b") - margin
    if diff.size < 2:
        raise ValueError("a paired test needs at least two pairs")
    if np.all(diff == diff[0]):
        return 0.0 if diff[0] > 0 else 1.0
    return _t_greater(diff, 0.0)


def mann_whitney_greater(a, b) -> float:
    """One-sided Mann-Whitney U p-value that values in a tend to exceed those in b (timing rounds)."""
    from scipy.stats import mannwhitneyu
    return float(mannwhitneyu(as_values(a, "a"), as_values(b, "b"), alternative="greater").pvalue)


def spearman(x, y) -> float:
    """Spearman rank correlation of two equally long sequences."""
    x, y = as_values(x, "x"), as_values(y, "y")
    if x.size != y.size or x.size < 3:
        raise ValueError(f"spearman needs two sequences of equal length ≥ 3, got {x.size} and {y.size}")
    from scipy.stats import spearmanr
    return float(spearmanr(x, y).statistic)


def first_reached(reached) -> np.ndarray:
    """Along axis 1 of a boolean array [S, T, ...] (each seed's curve over evaluations): the index
    of the first True, NaN where there is none (a seed that never reached the level)."""
    reached = np.asarray(reached, dtype=bool)
    return np.where(reached.any(1), reached.argmax(1), np.nan)


def value_at_first(values, reached) -> np.ndarray:
    """values [S, T] at each seed's first True of reached [S, T]; NaN for a seed that never reached it."""
    values, first = np.asarray(values), first_reached(reached)
    taken = values[np.arange(len(values)), np.nan_to_num(first).astype(int)]
    return np.where(np.isnan(first), np.nan, taken)


def slope(x, y) -> float:
    """Least-squares slope of y on x (take logs first for a power law or an exponential)."""
    x, y = as_values(x, "x"), as_values(y, "y")
    if x.size != y.size or x.size < 2:
        raise ValueError(f"a slope needs two sequences of equal length ≥ 2, got {x.size} and {y.size}")
    return float(np.polyfit(x, y, 1)[0])


# A run checks ~350 metrics at once, so each check must be strict for the run to stay green on a new
# seed draw: 4 standard errors (one-sided p ≈ 3e-5 for a normal metric) for the mean, 5 standard
# deviations for a single seed. σ is the stored seeds' spread at its one-sided 95% upper bound: a
# σ from 12 seeds was 35% low on a metric whose spread over 48 seeds was measured (fooling images'
# above_09: 0.031 against 0.048), and a 3-seed σ can be off by far more; the bound widens the band
# exactly as much as the stored evidence is thin (×1.55 at 12 seeds, ×4.4 at 3).
MEAN_K = 4.0  # standard errors of a difference of means before a shifted mean is a regression
SEED_K = 5.0  # standard deviations one seed may sit from the baseline mean
SEED_ABS = 3.0  # ... and never less than this many times the metric's abs_tol
SIGMA_CONFIDENCE = 0.95


def sigma_upper(base: Summary) -> float:
    """The one-sided upper confidence bound of σ from the stored seeds (chi-square; σ itself for n < 2)."""
    if base.n < 2:
        return base.std
    dof = base.n - 1
    return base.std * math.sqrt(dof / (2 * gammaincinv(dof / 2, 1 - SIGMA_CONFIDENCE)))  # chi-square quantile


def mean_tolerance(base: Summary, n_new: int, abs_tol: float) -> float:
    """How far a new mean of n_new seeds may move the wrong way from the baseline's.

    max(abs_tol, MEAN_K·σ⁺·sqrt(1/n_base + 1/n_new)), σ⁺ = sigma_upper(base): MEAN_K standard errors of
    the difference of two means, with σ from the stored seeds only — the new run's own spread never
    widens its band, so a diverged seed cannot excuse itself.
    """
    return max(abs_tol, MEAN_K * sigma_upper(base) * math.sqrt(1 / base.n + 1 / n_new))


def seed_tolerance(base: Summary, abs_tol: float) -> float:
    """How far one new seed may sit from the baseline mean the wrong way:
    max(SEED_ABS·abs_tol, SEED_K·σ⁺·sqrt(1 + 1/n_base)), a wide prediction band for a single draw that a
    collapsed or diverged seed still leaves."""
    return max(SEED_ABS * abs_tol, SEED_K * sigma_upper(base) * math.sqrt(1 + 1 / base.n))
