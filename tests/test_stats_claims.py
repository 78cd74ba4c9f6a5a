"""Statistics and claim checks on hand-computed numbers."""

import dataclasses
import math

import numpy as np
import pytest
from fake_records import phenomenon_record

from harness import Metric
from harness.plugin import verdicts
from harness.plugin.claim import Claim
from harness.reporting.terminal import table_rows
from harness.stats import (
    NonFiniteMetric,
    Summary,
    first_reached,
    fmt,
    mean_tolerance,
    paired_greater,
    seed_tolerance,
    sigma_upper,
    slope,
    spearman,
    summarize,
    value_at_first,
    welch_greater,
)


def test_first_reached_and_the_value_there_by_hand():
    reached = np.array([[False, True, True], [False, False, False], [True, False, True]])
    assert np.array_equal(first_reached(reached), [1, np.nan, 0], equal_nan=True)
    values = np.array([[5.0, 6.0, 7.0], [1.0, 2.0, 3.0], [8.0, 9.0, 0.0]])
    assert np.array_equal(value_at_first(values, reached), [6.0, np.nan, 8.0], equal_nan=True)
    by_frequency = np.stack([reached, ~reached], axis=-1)  # [S, T, K]: along the evaluations
    assert np.array_equal(first_reached(by_frequency), [[1, 0], [np.nan, 0], [0, 1]], equal_nan=True)


def test_summary_by_hand():
    s = summarize([1.0, 2.0, 3.0])
    assert (s.mean, s.std, s.n) == (2.0, 1.0, 3)
    # t(0.975, 2) = 4.3027; sem = 1/sqrt(3)
    assert s.ci_halfwidth() == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5)
    assert s.lower_bound() == pytest.approx(2 - 2.919986 / math.sqrt(3), rel=1e-5)
    assert summarize([5.0]).std == 0 and summarize([5.0]).lower_bound() == 5.0


@pytest.mark.parametrize("bad", [[1.0, float("nan")], [float("inf")], np.array([1.0, -np.inf])])
def test_non_finite_values_are_refused(bad):
    with pytest.raises(NonFiniteMetric, match="not finite"):
        summarize(bad)


def test_shape_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="one value per seed"):
        summarize([[1.0, 2.0]])
    with pytest.raises(ValueError, match="one value per seed"):
        summarize([])


def test_welch_and_paired_one_sided():
    a, b = [1.0, 1.1, 0.9, 1.05, 0.95], [0.5, 0.6, 0.4, 0.55, 0.45]
    assert welch_greater(a, b) < 1e-4
    assert welch_greater(b, a) > 0.99
    assert welch_greater(a, b, margin=0.5) == pytest.approx(0.5, abs=1e-9)  # differences equal the margin
    assert paired_greater([2, 3, 4], [1, 2, 3]) == 0.0  # constant difference 1 > 0: exact
    assert paired_greater([1, 2, 3], [1, 2, 3]) == 1.0


def test_spearman_monotone_and_errors():
    assert spearman([0, 0.2, 0.4, 0.6], [0.9, 0.7, 0.5, 0.1]) == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="equal length"):
        spearman([1, 2, 3], [1, 2])


def test_tolerances_come_from_the_baseline_alone():
    quiet = Summary(0.9, 0.0, 5)
    assert mean_tolerance(quiet, 5, abs_tol=0.01) == 0.01
    assert seed_tolerance(quiet, abs_tol=0.01) == pytest.approx(0.03)  # three abs_tol at the least
    noisy = Summary(0.9, 0.1, 12)
    upper = 0.1 * math.sqrt(11 / 4.574813)  # chi-square 5% quantile with 11 degrees of freedom
    assert sigma_upper(noisy) == pytest.approx(upper, rel=1e-5)
    assert mean_tolerance(noisy, 3, abs_tol=0.01) == pytest.approx(4 * upper * math.sqrt(1 / 12 + 1 / 3), rel=1e-5)
    assert seed_tolerance(noisy, abs_tol=0.01) == pytest.approx(5 * upper * math.sqrt(1 + 1 / 12), rel=1e-5)


def test_thin_baselines_earn_wide_bands():
    """σ from 3 seeds is uncertain: its upper bound is 4.4 σ, from 12 seeds 1.55 σ."""
    assert sigma_upper(Summary(0.0, 1.0, 3)) == pytest.approx(4.4, rel=0.01)
    assert sigma_upper(Summary(0.0, 1.0, 12)) == pytest.approx(1.55, rel=0.01)
    assert sigma_upper(Summary(0.0, 1.0, 1)) == 1.0


def test_fmt_is_readable():
    assert [fmt(x) for x in (0, 0.1234, 1.0, 57.33, 1139.0, 3e-9)] == ["0.000", "0.123", "1.000", "57.33", "1139",
                                                                      "3.00e-09"]


def test_threshold_sentence_and_strict_bound():
    s = summarize([0.95, 1.0, 1.0])
    ok = verdicts.threshold("g/p", "acc", s, ">=", 0.9, strict=False)
    assert ok.passed and ok.sentence == "g/p acc: observed 0.983 ± 0.029 (n=3), expected >= 0.900 on the mean (0.983)"
    strict = verdicts.threshold("g/p", "acc", s, ">=", 0.95, strict=True)
    assert not strict.passed and "one-sided 95% bound" in strict.sentence  # mean passes, bound (0.935) does not
    assert verdicts.threshold("g/p", "err", summarize([0.1, 0.1]), "<", 0.1, strict=False).passed is False


def test_per_seed_band_counts_outliers():
    v = verdicts.per_seed("g/p", "ratio", [2.5, 3.0, 1.9], 2, 8)
    assert not v.passed and v.sentence.endswith("expected every seed in [2.000, 8.000]; 1 outside")


def test_per_seed_band_can_allow_named_exceptions_and_open_ends():
    one_out = [2.5, 3.0, 1.9]
    assert verdicts.per_seed("g/p", "ratio", one_out, 2, 8, but=1).passed
    assert not verdicts.per_seed("g/p", "ratio", [1.5, 3.0, 1.9], 2, 8, but=1).passed  # two outside
    sentence = verdicts.per_seed("g/p", "r", one_out, 2, 8, but=1).sentence
    assert "every seed but 1 in [2.000, 8.000]; 1 outside" in sentence
    closed, opened = (verdicts.per_seed("g/p", "gap", [0.0, 0.1], 0.0, None, open_ends=o) for o in (False, True))
    assert closed.passed and not opened.passed  # a gap of exactly 0 is inside [0, inf) but not (0, inf)
    assert opened.name == "each in (0.000, inf)"


def test_each_above_is_strict_and_counts_its_exceptions():
    claim = Claim("g/p", "smoke", [0, 1, 2])
    claim.record({"gap": [0.02, 0.0, 0.01]}, {"gap": Metric("higher", 0.01)})
    assert not claim.each_above("gap", 0.0).passed
    assert claim.each_above("gap", 0.0, but=1).passed


def test_difference_uses_the_test_only_with_enough_seeds():
    small = verdicts.difference("g/p", "a", [0.9, 0.91], "b", [0.8, 0.95], 0.0, paired=False)
    assert small.passed and "Welch" not in small.sentence  # n=2: mean difference only
    five = verdicts.difference("g/p", "a", [0.9, 0.91, 0.5, 0.92, 0.93], "b", [0.8] * 5, 0.0, paired=False)
    assert not five.passed and "Welch p=" in five.sentence  # mean diff > 0 but not significant


def test_metric_validates_direction_and_tolerance():
    with pytest.raises(ValueError, match="unknown direction 'up'"):
        Metric("up", 0.1)
    with pytest.raises(ValueError, match="abs_tol"):
        Metric("higher", -1)


def test_slope_is_the_least_squares_fit():
    assert slope([1, 2, 3], [2, 4, 6]) == pytest.approx(2.0)
    assert slope([5, 10, 15], [-1, -8, -12]) == pytest.approx(-1.1)
    with pytest.raises(ValueError, match="equal length"):
        slope([1], [1])


def test_guards_fail_like_claims_and_are_labelled_apart():
    claim = Claim("memorization/toy.py::test_toy", "smoke", [0, 1, 2])
    claim.record({"weights": [7, 7, 8], "acc": [0.9, 0.95, 0.92]},
                 {"weights": Metric("target", 0.0), "acc": Metric("higher", 0.01)})
    claim.at_least("acc", 0.9)
    with claim.guards():
        claim.each_within("weights", 7, 7)
    claim.above("acc", 0.5)  # after the block: a claim again
    assert [v.kind for v in claim.verdicts] == ["claim", "guard", "claim"]
    assert [v.kind for v in claim.failures()] == ["guard"]
    assert len(claim.claim_verdicts()) == 3
    record = dataclasses.replace(phenomenon_record("benchmarks/memorization/test_toy.py::test_toy", [7, 7, 8]),
                                 verdicts=[dataclasses.replace(v, metric="acc") for v in claim.verdicts])
    cells = table_rows([record])[0][3].split("; ")
    assert cells == [">= 0.900 ok", "guard: each in [7.000, 7.000] FAIL", "> 0.500 ok"]


def test_greater_samples_compares_independent_samples():
    claim = Claim("memorization/toy.py::test_toy", "smoke", [0, 1, 2, 3])
    wide = [0.24, 0.25, 0.23, 0.24, 0.22]
    assert claim.greater_samples("narrow", [0.36, 0.37, 0.35, 0.36, 0.38], "wide", wide, 0.05).passed
    assert not claim.greater_samples("narrow", [0.26, 0.27, 0.25, 0.26, 0.28], "wide", wide, 0.05).passed
    assert "Welch" in claim.verdicts[0].sentence


def test_verdict_bounds_are_plain_floats_for_json():
    import json

    import numpy as np

    from harness.results.schema import Verdict

    verdict = Verdict("claim", "each in", True, "s", "m", [np.float32(0.5), None])
    assert json.dumps(verdict.bounds) == "[0.5, null]"


def test_t_tests_and_quantiles_agree_with_scipy_stats():
    """The p-values and bounds computed from scipy.special equal scipy.stats' own tests."""
    from scipy import stats as sps

    from harness.stats import Summary
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.normal(0.3, 1.0, rng.integers(2, 9)), rng.normal(0.0, 2.0, rng.integers(2, 9))
        margin = float(rng.normal(0, 0.3))
        assert welch_greater(a, b, margin) == pytest.approx(
            sps.ttest_ind(a - margin, b, equal_var=False, alternative="greater").pvalue, rel=1e-9)
        assert welch_greater(a, [0.5] * 3, margin) == pytest.approx(
            sps.ttest_1samp(a - margin, 0.5, alternative="greater").pvalue, rel=1e-9)
        assert welch_greater([0.5] * 3, b, margin) == pytest.approx(
            sps.ttest_1samp(b, 0.5 - margin, alternative="less").pvalue, rel=1e-9)
        pairs = b[:len(a)] if len(b) >= len(a) else np.resize(b, len(a))
        assert paired_greater(a, pairs, margin) == pytest.approx(
            sps.ttest_1samp(a - pairs - margin, 0.0, alternative="greater").pvalue, rel=1e-9)
        s = Summary(float(a.mean()), float(a.std(ddof=1)), len(a))
        assert s.ci_halfwidth() == pytest.approx(sps.t.ppf(0.975, len(a) - 1) * s.sem(), rel=1e-12)
        assert s.lower_bound(0.9) == pytest.approx(a.mean() - sps.t.ppf(0.9, len(a) - 1) * s.sem(), rel=1e-12)
        assert sigma_upper(s) == pytest.approx(s.std * np.sqrt((len(a) - 1) / sps.chi2.ppf(0.05, len(a) - 1)), rel=1e-12)
