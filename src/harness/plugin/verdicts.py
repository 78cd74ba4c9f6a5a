"""Claim verdicts: a paper's quantitative statement tested on per-seed values, as a sentence.

Each check returns a Verdict. Verdicts never raise; the plugin gathers them and fails the test
once, with every failing sentence, so one run shows all the claims that broke.
"""

from __future__ import annotations

from harness.results.schema import Verdict
from harness.stats import Summary, fmt, paired_greater, welch_greater

MIN_N_FOR_TEST = 5  # below this many seeds a one-sided test has too little power to be a gate


def threshold(where: str, metric: str, summary: Summary, op: str, bound: float, *, strict: bool) -> Verdict:
    """mean ≥ bound (op '>=') or mean ≤ / < bound; with strict, the one-sided 95% bound must hold too."""
    if op in (">=", ">"):
        statistic = summary.lower_bound() if strict else summary.mean
    elif op in ("<=", "<"):
        statistic = summary.upper_bound() if strict else summary.mean
    else:
        raise ValueError(f"unknown comparison {op!r}")
    passed = {">=": statistic >= bound, ">": statistic > bound,
              "<=": statistic <= bound, "<": statistic < bound}[op]
    on = "the one-sided 95% bound of the mean" if strict else "the mean"
    sentence = (f"{where} {metric}: observed {summary}, expected {op} {fmt(bound)} on {on}"
                f" ({fmt(statistic)})")
    bounds = [bound, None] if op in (">=", ">") else [None, bound]
    return Verdict("claim", f"{op} {fmt(bound)}", bool(passed), sentence, metric, bounds)


def per_seed(where: str, metric: str, values, low: float | None, high: float | None, *,
             open_ends: bool = False, but: int = 0) -> Verdict:
    """Every seed's value within [low, high] (either end may be None: unbounded), or within (low,
    high) with open_ends; with `but`, up to that many seeds may lie outside (a claim on "every seed
    but one" where a rare seed is known to go the other way)."""
    outside = (lambda v: (low is not None and v <= low) or (high is not None and v >= high)) if open_ends else \
        (lambda v: (low is not None and v < low) or (high is not None and v > high))
    bad = [v for v in values if outside(v)]
    left, right = "(" if open_ends else "[", ")" if open_ends else "]"
    band = f"{left}{fmt(low) if low is not None else '-inf'}, {fmt(high) if high is not None else 'inf'}{right}"
    allowed = f" but {but}" if but else ""
    sentence = (f"{where} {metric}: per-seed values {[fmt(v) for v in values]}, expected every seed{allowed} in {band}"
                + (f"; {len(bad)} outside" if bad else ""))
    return Verdict("claim", f"each{allowed} in {band}", len(bad) <= but, sentence, metric, [low, high])


def difference(where: str, name_a: str, a, name_b: str, b, margin: float, *, paired: bool) -> Verdict:
    """mean(a) - mean(b) > margin, and, with ≥ MIN_N_FOR_TEST seeds, a one-sided test at p < 0.05."""
    diff = float(sum(a) / len(a) - sum(b) / len(b))
    passed = diff > margin
    test = ""
    if min(len(a), len(b)) >= MIN_N_FOR_TEST:
        p = paired_greater(a, b, margin) if paired else welch_greater(a, b, margin)
        passed = passed and p < 0.05
        test = f", one-sided {'paired t' if paired else 'Welch'} p={p:.3g} (need < 0.05)"
    sentence = (f"{where} {name_a} − {name_b}: observed {fmt(diff)} (n={len(a)}/{len(b)}), "
                f"expected > {fmt(margin)}{test}")
    return Verdict("claim", f"{name_a} − {name_b} > {fmt(margin)}", passed, sentence)


def custom(where: str, name: str, passed: bool, observed: str, expected: str) -> Verdict:
    """Any other claim (monotone curves, rank correlations...): the caller computes, we word it."""
    return Verdict("claim", name, bool(passed), f"{where} {name}: observed {observed}, expected {expected}")
