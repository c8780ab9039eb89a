"""Statistics behind the book's sentences: Spearman p-values against exact enumeration and scipy, bootstrap intervals
against known cases, and the rule that a trend word needs an interval that excludes no effect."""
from __future__ import annotations

import math
from itertools import permutations

import numpy as np
import pytest
from scipy import stats as sps

from spectral_lib.experiments.stats import (CANNOT_TELL, Interval, bootstrap_diff_ci, bootstrap_mean_ci,
                                            bootstrap_ratio_ci, correlation_sentence, describe_correlation,
                                            spearman_test, trend_word)


def test_spearman_p_of_perfect_orderings_is_the_permutation_probability():
    # two of the n! orderings of 3 (or 4) values have |rho| = 1
    assert spearman_test([1, 2, 3], [1, 2, 3])["p"] == pytest.approx(2 / 6)
    assert spearman_test([1, 2, 3, 4], [4, 3, 2, 1])["p"] == pytest.approx(2 / 24)
    assert spearman_test([1, 2, 3, 4], [4, 3, 2, 1])["rho"] == pytest.approx(-1.0)


def test_spearman_exact_p_matches_brute_force_with_ties():
    a, b = [1.0, 2.0, 2.0, 3.0, 5.0, 4.0], [0.1, 0.5, 0.3, 0.9, 0.7, 0.7]
    r0 = sps.spearmanr(a, b).statistic
    null = [sps.spearmanr(a, list(p)).statistic for p in permutations(b)]
    expected = np.mean(np.abs(null) >= abs(r0) - 1e-12)
    got = spearman_test(a, b)
    assert got["rho"] == pytest.approx(r0) and got["p"] == pytest.approx(expected) and got["n"] == 6


def test_spearman_large_n_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=30)
    b = a + rng.normal(size=30)
    ref = sps.spearmanr(a, b)
    got = spearman_test(a, b)
    assert got["rho"] == pytest.approx(ref.statistic) and got["p"] == pytest.approx(ref.pvalue, rel=1e-6)


def test_spearman_undefined_for_constant_or_short_input():
    assert math.isnan(spearman_test([1, 1, 1], [1, 2, 3])["p"])
    assert math.isnan(spearman_test([1], [2])["rho"])


def test_describe_correlation_needs_evidence():
    assert describe_correlation(1.0) == "strongly positive"  # no p given: the old behaviour, words by size
    assert describe_correlation(1.0, p=1 / 3) == "not distinguishable from no correlation"
    assert describe_correlation(-0.9, p=0.001) == "strongly negative"
    assert describe_correlation(math.nan) == "undefined"


def test_correlation_sentence_states_n_and_p():
    s = correlation_sentence([1, 2, 3], [1, 2, 3], "between beta and EF")
    assert "n = 3" in s and "p = 0.33" in s and "not distinguishable" in s
    assert "undefined" in correlation_sentence([1, 1], [1, 2])


def test_bootstrap_mean_interval_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(0)
    small, large = rng.normal(5, 1, 5), rng.normal(5, 1, 200)
    ci_s, ci_l = bootstrap_mean_ci(small), bootstrap_mean_ci(large)
    assert ci_s.low <= ci_s.value <= ci_s.high and ci_l.low <= ci_l.value <= ci_l.high
    assert (ci_l.high - ci_l.low) < (ci_s.high - ci_s.low)
    # for n = 200 the percentile interval is close to mean +- 1.96 s / sqrt(n)
    half = 1.96 * large.std(ddof=1) / math.sqrt(len(large))
    assert (ci_l.high - ci_l.low) / 2 == pytest.approx(half, rel=0.15)


def test_one_value_gives_no_interval_and_no_trend_word():
    ci = bootstrap_diff_ci([1.0], [2.0])
    assert ci.value == -1.0 and math.isnan(ci.low) and ci.n == 1
    assert trend_word(ci, "higher", "lower") == CANNOT_TELL
    assert "no interval" in ci.text()


def test_trend_word_follows_the_interval():
    assert trend_word(bootstrap_diff_ci([5, 6, 7, 6], [1, 2, 1, 2]), "higher", "lower") == "higher"
    assert trend_word(bootstrap_diff_ci([1, 2, 1, 2], [5, 6, 7, 6]), "higher", "lower") == "lower"
    overlapping = bootstrap_diff_ci([1, 5, 3], [2, 4, 3])
    assert overlapping.low < 0 < overlapping.high
    assert trend_word(overlapping, "higher", "lower") == CANNOT_TELL
    assert trend_word(Interval(0.7, 0.6, 0.8, 3), "above 1", "below 1", null=1.0) == "below 1"


def test_ratio_interval_and_nan_handling():
    ci = bootstrap_ratio_ci([2.0, 2.2, 1.8, 2.0], [1.0, 1.1, 0.9, 1.0])
    assert ci.value == pytest.approx(2.0) and ci.low < 2.0 < ci.high
    assert bootstrap_mean_ci([1.0, math.nan, 3.0]).value == 2.0 and bootstrap_mean_ci([1.0, math.nan, 3.0]).n == 2
    assert math.isnan(bootstrap_ratio_ci([1.0], [0.0]).value)
