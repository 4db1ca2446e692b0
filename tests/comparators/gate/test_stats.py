"""The statistics, checked against scipy's reference implementations, published values and
brute force."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.stats

from comparators.gate import stats
from comparators.gate.estimate import Decision, Estimate, decide_at_most, two_sided_level


@pytest.mark.parametrize(
    ("k", "n", "confidence"),
    [(0, 10, 0.95), (1, 10, 0.95), (5, 10, 0.9), (10, 10, 0.95), (37, 1000, 0.99), (3, 3000, 0.9)],
)
def test_wilson_matches_scipy(k: int, n: int, confidence: float) -> None:
    reference = scipy.stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
    lower, upper = stats.wilson_interval(k, n, confidence)
    assert lower == pytest.approx(reference.low, abs=1e-12)
    assert upper == pytest.approx(reference.high, abs=1e-12)


@pytest.mark.parametrize(
    ("k", "n", "confidence"),
    [(0, 10, 0.95), (1, 10, 0.95), (5, 10, 0.9), (10, 10, 0.95), (37, 1000, 0.99), (3, 3000, 0.9)],
)
def test_clopper_pearson_matches_scipy(k: int, n: int, confidence: float) -> None:
    reference = scipy.stats.binomtest(k, n).proportion_ci(confidence, method="exact")
    lower, upper = stats.clopper_pearson_interval(k, n, confidence)
    assert lower == pytest.approx(reference.low, abs=1e-12)
    assert upper == pytest.approx(reference.high, abs=1e-12)


def test_proportion_without_trials_is_unknown_not_zero() -> None:
    assert stats.proportion(0, 0) == Estimate(None, None, None, 0)


@pytest.mark.parametrize(
    ("k", "n", "message"),
    [(1, 0, "n: got 0; expected a positive"), (11, 10, "successes: got 11; expected 0..10")],
)
def test_bad_counts_name_the_argument(k: int, n: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        stats.wilson_interval(k, n)


# Newcombe (1998), "Interval estimation for the difference between independent proportions",
# Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score).
@pytest.mark.parametrize(
    ("counts", "lower", "upper"),
    [
        ((56, 70, 48, 80), 0.0524, 0.3339),
        ((9, 10, 3, 10), 0.1705, 0.8090),
        ((6, 7, 2, 7), 0.0582, 0.8062),
        ((5, 56, 0, 29), -0.0381, 0.1926),
        ((0, 10, 0, 20), -0.1611, 0.2775),
        ((0, 10, 0, 10), -0.2775, 0.2775),
        ((10, 10, 0, 20), 0.6791, 1.0000),
        ((10, 10, 0, 10), 0.6075, 1.0000),
    ],
)
def test_newcombe_matches_published_values(
    counts: tuple[int, int, int, int], lower: float, upper: float
) -> None:
    estimate = stats.newcombe_difference(*counts, confidence=0.95)
    assert estimate.value == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert estimate.lower == pytest.approx(lower, abs=5e-5)
    assert estimate.upper == pytest.approx(upper, abs=5e-5)


def test_fisher_one_sided_matches_scipy() -> None:
    reference = scipy.stats.fisher_exact([[12, 988], [3, 997]], alternative="greater").pvalue
    assert stats.fisher_greater_p(12, 1000, 3, 1000) == pytest.approx(reference)
    assert stats.fisher_greater_p(1, 0, 1, 10) is None


def test_mean_ci_matches_scipy_t_interval() -> None:
    values = np.random.default_rng(3).lognormal(size=250)
    low, high = scipy.stats.t.interval(
        0.95, len(values) - 1, loc=values.mean(), scale=scipy.stats.sem(values)
    )
    estimate = stats.mean_ci(values, 0.95)
    assert estimate.value == pytest.approx(values.mean())
    assert (estimate.lower, estimate.upper) == pytest.approx((low, high))
    assert stats.mean_ci([2.0]) == Estimate(2.0, None, None, 1)
    assert stats.mean_ci([math.nan, 1.0, 3.0]).value == 2.0  # NaN is "not measured"


@pytest.mark.parametrize(("q", "confidence"), [(0.5, 0.9), (0.95, 0.95), (0.99, 0.9)])
def test_exact_quantile_interval_matches_scipy(q: float, confidence: float) -> None:
    values = np.random.default_rng(1).exponential(size=501)
    reference = scipy.stats.quantile_test(values, q=0, p=q).confidence_interval(confidence)
    estimate = stats.quantile_ci_exact(values, q, confidence)
    assert (estimate.lower, estimate.upper) == pytest.approx((reference.low, reference.high))


def test_exact_quantile_interval_is_open_ended_when_n_is_too_small() -> None:
    estimate = stats.quantile_ci_exact([1.0, 2.0, 3.0, 4.0, 5.0], 0.95, 0.95)
    assert estimate.upper is None


def test_mann_whitney_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=300), rng.normal(0.2, size=280)
    for alternative in ("two-sided", "greater", "less"):
        reference = scipy.stats.mannwhitneyu(b, a, alternative=alternative).pvalue
        assert stats.mann_whitney_p(a, b, alternative) == pytest.approx(reference)
    with pytest.raises(ValueError, match="alternative: got 'bigger'"):
        stats.mann_whitney_p(a, b, "bigger")


def test_hodges_lehmann_is_the_median_of_pairwise_differences() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.exponential(size=41), rng.exponential(size=37) + 0.3
    brute = float(np.median([y - x for x in a for y in b]))
    assert stats.hodges_lehmann(a, b) == pytest.approx(brute)


def test_hodges_lehmann_moses_interval_uses_the_right_ranks() -> None:
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=30), rng.normal(1.0, size=25)
    diffs = np.sort(np.subtract.outer(b, a).ravel())
    n, m = 30, 25
    z = scipy.stats.norm.ppf(0.975)
    rank = math.floor(n * m / 2 - z * math.sqrt(n * m * (n + m + 1) / 12))
    estimate = stats.hodges_lehmann_shift(a, b, 0.95)
    assert estimate.lower == pytest.approx(diffs[rank - 1])
    assert estimate.upper == pytest.approx(diffs[n * m - rank])


def test_hodges_lehmann_subsamples_large_inputs_deterministically() -> None:
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=3000), rng.normal(0.5, size=3000)
    first = stats.hodges_lehmann_shift(a, b, max_pairs=200_000, seed=1)
    again = stats.hodges_lehmann_shift(a, b, max_pairs=200_000, seed=1)
    exact = stats.hodges_lehmann_shift(a, b, max_pairs=10_000_000)
    assert first == again
    assert first.value == pytest.approx(exact.value, abs=0.01)
    assert first.lower == pytest.approx(exact.lower, abs=0.01)


def test_order_statistic_bootstrap_matches_brute_force_resampling() -> None:
    """The binomial shortcut must give the same distribution as resampling arrays."""
    rng = np.random.default_rng(11)
    data = np.sort(rng.lognormal(size=150))
    resamples = 20_000
    shortcut = stats._order_statistic_draws(data, 0.95, resamples, np.random.default_rng(1))
    picks = rng.integers(0, data.size, (resamples, data.size))
    brute = np.quantile(data[picks], 0.95, axis=1, method="inverted_cdf")
    for q in (0.05, 0.25, 0.5, 0.75, 0.95):
        assert np.quantile(shortcut, q) == pytest.approx(np.quantile(brute, q), rel=0.03)
    assert scipy.stats.ks_2samp(shortcut, brute).pvalue > 0.001


@pytest.mark.parametrize("kind", ["delta", "ratio"])
def test_bootstrap_interval_covers_the_true_p95_about_as_promised(kind: str) -> None:
    """a ~ Exp(1), b ~ 1.5 Exp(1): p95 delta = 0.5 ln 20, ratio = 1.5."""
    truth = 0.5 * math.log(20) if kind == "delta" else 1.5
    function = stats.bootstrap_quantile_delta if kind == "delta" else stats.bootstrap_quantile_ratio
    rng = np.random.default_rng(2024)
    runs, covered = 300, 0
    for seed in range(runs):
        a, b = rng.exponential(size=400), 1.5 * rng.exponential(size=400)
        estimate = function(a, b, 0.95, 0.9, n_resamples=1000, seed=seed)
        assert estimate.lower is not None
        assert estimate.upper is not None
        covered += estimate.lower <= truth <= estimate.upper
    assert 0.84 <= covered / runs <= 0.97


def test_bootstrap_is_reproducible_on_a_million_values() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.lognormal(size=1_000_000), rng.lognormal(size=1_000_000)
    first = stats.bootstrap_quantile_delta(a, b, 0.99, n_resamples=2000, seed=3)
    assert first.lower is not None
    assert first.upper is not None
    assert first == stats.bootstrap_quantile_delta(a, b, 0.99, n_resamples=2000, seed=3)


@pytest.mark.parametrize(
    "function", [stats.bootstrap_quantile_ratio, stats.bootstrap_quantile_delta]
)
@pytest.mark.parametrize(("q", "enough"), [(0.99, 299), (0.95, 59)])
def test_a_tail_quantile_is_bounded_only_from_enough_observations(
    function: Any, q: float, enough: int
) -> None:
    """At a 90% two-sided level the order statistics bound the p99 from 299 observations and
    the p95 from 59 (q**n <= 5%); below that the percentile bootstrap would only redraw the
    sample's top values and return a confident-looking interval around them."""
    rng = np.random.default_rng(8)
    for n in (3, enough - 1):
        a, b = rng.lognormal(size=n), rng.lognormal(size=n)
        few = function(a, b, q, 0.9, n_resamples=500, seed=1)
        assert few.value is not None
        assert (few.lower, few.upper) == (None, None), n
    a, b = rng.lognormal(size=enough), rng.lognormal(size=enough)
    estimate = function(a, b, q, 0.9, n_resamples=500, seed=1)
    assert estimate.lower is not None
    assert estimate.upper is not None
    # One side large enough and the other not: only the end the small side does not need.
    big, small = rng.lognormal(size=5 * enough), rng.lognormal(size=enough - 1)
    lopsided = function(big, small, q, 0.9, n_resamples=500, seed=1)
    assert lopsided.lower is not None
    assert lopsided.upper is None


def test_bootstrap_without_data_is_unknown() -> None:
    assert stats.bootstrap_quantile_ratio([], [1.0], 0.95).value is None
    with pytest.raises(ValueError, match=r"q: got 1\.5; expected a quantile"):
        stats.bootstrap_quantile_delta([1.0], [1.0], 1.5)


def test_two_sided_level_gives_one_sided_bounds() -> None:
    assert two_sided_level(0.95) == pytest.approx(0.9)
    with pytest.raises(ValueError, match=r"confidence: got 0\.4; expected more than 0\.5"):
        two_sided_level(0.4)


@pytest.mark.parametrize(
    ("estimate", "decision"),
    [
        (Estimate(0.10, 0.07, 0.13, 100), Decision.FAIL),  # the whole interval is beyond
        (Estimate(0.01, -0.01, 0.03, 100), Decision.PASS),  # the upper bound is within
        (Estimate(0.04, 0.02, 0.06, 100), Decision.INCONCLUSIVE),  # straddles the limit
        (Estimate(None, None, None, 0), Decision.INCONCLUSIVE),  # no data
        (Estimate(0.05, 0.05, 0.05, 100), Decision.PASS),  # at the limit is within it
    ],
)
def test_decide_at_most(estimate: Estimate, decision: Decision) -> None:
    assert decide_at_most(estimate, 0.05) is decision


def test_paired_difference_reads_the_discordant_requests() -> None:
    # 2,000 requests, both sides refuse the same 90; the candidate alone refuses 10 more.
    paired = stats.paired_difference(10, 0, 2000, 0.90)
    independent = stats.newcombe_difference(100, 2000, 90, 2000, 0.90)
    assert paired.value == pytest.approx(0.005)
    assert paired.lower is not None
    assert paired.upper is not None
    assert independent.lower is not None
    assert independent.upper is not None
    assert paired.lower > 0  # evidence of an increase that the independent interval misses
    assert independent.lower < 0
    assert paired.upper - paired.lower < (independent.upper - independent.lower) / 2


def test_paired_difference_edges() -> None:
    assert stats.paired_difference(0, 0, 0).value is None
    even = stats.paired_difference(0, 0, 500, 0.90)
    assert even.lower is not None
    assert even.upper is not None
    assert even.lower < 0 < even.upper
    with pytest.raises(ValueError, match="discordant counts"):
        stats.paired_difference(3, 4, 5)


def test_mcnemar_is_exact_on_the_discordant_requests() -> None:
    assert stats.mcnemar_greater_p(0, 0) is None
    assert stats.mcnemar_greater_p(10, 0) == pytest.approx(0.5**10)
    assert stats.mcnemar_greater_p(0, 10) == pytest.approx(1.0)
