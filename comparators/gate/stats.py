"""The statistics behind the report and the gate, chosen so that every number has an honest
interval and a small campaign says "we don't know yet" instead of guessing.

Choices, and why:

* **Proportions** get the Wilson score interval in the report: its coverage is close to the
  nominal level on average even for rates near 0 or 1, where the textbook Wald interval
  collapses to zero width. The gate's absolute rate checks use the exact Clopper–Pearson
  interval instead: it never covers less than promised, which is what a release gate should
  err on ("exact tests for rates", as Kayenta's users asked for).
* **Differences of two proportions** (candidate minus noise floor, candidate minus incumbent
  error rate) use Newcombe's hybrid score interval (method 10 of Newcombe 1998), built from the
  two Wilson intervals. It behaves at 0/n and n/n, unlike the Wald difference, and needs no
  iteration. Fisher's exact test gives a one-sided p-value for "more errors than the incumbent".
* **Means** use Student's t: cost and similarity samples are large, so the CLT applies.
* **Quantiles** (p95, p99) get a percentile bootstrap computed *exactly per resample without
  materialising resamples*: the k-th order statistic of a resample of sorted ``x`` is ``x[j]``
  with ``P(j' <= j) = P(Binomial(n, j/n) >= k)``, so one binomial CDF and one uniform draw per
  resample replace an (n x B) array. That makes 2,000 or 20,000 resamples of a million
  latencies cost milliseconds, with a seeded generator for reproducible reports.
  An absolute quantile also gets the distribution-free exact order-statistic interval, and a
  bootstrap interval keeps each end only where that interval exists for both samples: on a
  handful of values the bootstrap of a p99 only redraws the largest ones, and its narrow
  interval would be a confident verdict from no evidence.
* **Location shift**: the Mann–Whitney U test (scipy) with the Hodges–Lehmann estimate (median
  of all pairwise differences) and its Moses distribution-free interval. Pairwise differences
  are subsampled with a seeded generator when ``n*m`` is large.

Two samples (incumbent and candidate latencies) come from the same requests and so are
positively correlated; treating them as independent, as everything here does, widens the
intervals of differences. That errs on the side of INCONCLUSIVE, never of a false verdict.

The gate works with one-sided bounds: a two-sided interval at level ``2c - 1`` has as its ends
the one-sided lower and upper bounds at level ``c`` (see :func:`two_sided_level`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.stats

from comparators.gate.estimate import (
    DEFAULT_MAX_PAIRS,
    DEFAULT_RESAMPLES,
    Estimate,
    FloatArray,
    as_array,
    check_confidence,
    normal_quantile,
)

__all__ = [
    "binomial_two_sided_p",
    "bootstrap_quantile_delta",
    "bootstrap_quantile_ratio",
    "clopper_pearson_interval",
    "fisher_greater_p",
    "hodges_lehmann",
    "hodges_lehmann_shift",
    "mann_whitney_p",
    "mcnemar_greater_p",
    "mean_ci",
    "newcombe_difference",
    "paired_difference",
    "proportion",
    "quantile",
    "quantile_ci_exact",
    "wilson_interval",
]


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction), as ``binomtest(...).proportion_ci(
    method="wilson")``. Used for reported rates because it stays inside [0, 1] and has
    near-nominal average coverage at small n and extreme rates."""
    check_confidence(confidence)
    if n <= 0:
        raise ValueError(f"n: got {n!r}; expected a positive number of trials")
    if not 0 <= successes <= n:
        raise ValueError(f"successes: got {successes!r}; expected 0..{n}")
    z = normal_quantile(confidence)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def clopper_pearson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval from beta quantiles. Never under-covers, so the gate
    uses it for absolute rate limits where a false PASS is the expensive mistake."""
    check_confidence(confidence)
    if n <= 0:
        raise ValueError(f"n: got {n!r}; expected a positive number of trials")
    if not 0 <= successes <= n:
        raise ValueError(f"successes: got {successes!r}; expected 0..{n}")
    alpha = 1.0 - confidence
    lower = 0.0 if successes == 0 else scipy.stats.beta.ppf(alpha / 2, successes, n - successes + 1)
    upper = (
        1.0 if successes == n else scipy.stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes)
    )
    return float(lower), float(upper)


def proportion(
    successes: int, n: int, confidence: float = 0.95, *, exact: bool = False
) -> Estimate:
    """A rate with its Wilson (or, with ``exact``, Clopper–Pearson) interval; no trials
    gives an all-``None`` estimate rather than an error, since an empty slice is normal."""
    if n == 0:
        return Estimate(None, None, None, 0)
    interval = clopper_pearson_interval if exact else wilson_interval
    lower, upper = interval(successes, n, confidence)
    return Estimate(successes / n, lower, upper, n)


def newcombe_difference(
    successes_1: int, n_1: int, successes_2: int, n_2: int, confidence: float = 0.95
) -> Estimate:
    """Interval for ``p1 - p2`` of two independent proportions by Newcombe's hybrid score
    method (1998, method 10): each side's Wilson interval is combined in quadrature. It keeps
    sensible width at 0/n, which the excess over a near-zero noise floor often is."""
    if n_1 == 0 or n_2 == 0:
        return Estimate(None, None, None, min(n_1, n_2))
    p1, p2 = successes_1 / n_1, successes_2 / n_2
    l1, u1 = wilson_interval(successes_1, n_1, confidence)
    l2, u2 = wilson_interval(successes_2, n_2, confidence)
    delta = p1 - p2
    lower = delta - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    upper = delta + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Estimate(delta, max(-1.0, lower), min(1.0, upper), min(n_1, n_2))


def paired_difference(
    only_first: int, only_second: int, n: int, confidence: float = 0.95
) -> Estimate:
    """Interval for ``p1 - p2`` of two proportions measured on the same ``n`` items (the
    candidate's and the incumbent's error or refusal rate on the same requests), from the
    discordant counts: ``only_first`` items where only the first is true, ``only_second``
    where only the second is. Bonett and Price's adjusted Wald interval (2012): add one to
    each discordant count and two to ``n``. The two rates are strongly correlated (the
    incumbent and the candidate refuse the same prompts), and an interval that ignores it
    (Newcombe's for independent samples) is several times wider than the evidence."""
    check_confidence(confidence)
    if n <= 0:
        return Estimate(None, None, None, 0)
    if only_first < 0 or only_second < 0 or only_first + only_second > n:
        raise ValueError(
            f"discordant counts: got {only_first!r} and {only_second!r}; expected two counts "
            f"that add up to at most n={n!r}"
        )
    p12, p21 = (only_first + 1) / (n + 2), (only_second + 1) / (n + 2)
    adjusted = p12 - p21
    half = normal_quantile(confidence) * math.sqrt(max(p12 + p21 - adjusted**2, 0.0) / (n + 2))
    return Estimate(
        (only_first - only_second) / n,
        max(-1.0, adjusted - half),
        min(1.0, adjusted + half),
        n,
    )


def mcnemar_greater_p(only_first: int, only_second: int) -> float | None:
    """One-sided exact McNemar p-value for "the first rate is higher" on paired items: a
    binomial test of the discordant items, which are the only ones that carry evidence."""
    discordant = only_first + only_second
    if discordant == 0:
        return None
    return float(scipy.stats.binomtest(only_first, discordant, 0.5, alternative="greater").pvalue)


def binomial_two_sided_p(successes: int, n: int) -> float:
    """Exact two-sided binomial p-value of ``successes`` in ``n`` against a fair coin."""
    return float(scipy.stats.binomtest(successes, n, 0.5).pvalue)


def fisher_greater_p(successes_1: int, n_1: int, successes_2: int, n_2: int) -> float | None:
    """One-sided Fisher exact p-value for "rate 1 is higher than rate 2". Exact, so it is
    right for the rare events (errors, refusals) where normal approximations are not."""
    if n_1 == 0 or n_2 == 0:
        return None
    table = [[successes_1, n_1 - successes_1], [successes_2, n_2 - successes_2]]
    return float(scipy.stats.fisher_exact(table, alternative="greater").pvalue)


def mean_ci(values: Sequence[float] | FloatArray, confidence: float = 0.95) -> Estimate:
    """Mean with a Student-t interval; one observation has a mean but no interval."""
    check_confidence(confidence)
    data = as_array(values)
    n = int(data.size)
    if n == 0:
        return Estimate(None, None, None, 0)
    mean = float(data.mean())
    if n == 1:
        return Estimate(mean, None, None, 1)
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(data.std(ddof=1))
    half /= math.sqrt(n)
    return Estimate(mean, mean - half, mean + half, n)


def quantile(values: Sequence[float] | FloatArray, q: float) -> float | None:
    """Linear-interpolated sample quantile (numpy's default), ``None`` for no data."""
    data = as_array(values)
    return float(np.quantile(data, q)) if data.size else None


def quantile_ci_exact(
    values: Sequence[float] | FloatArray, q: float, confidence: float = 0.95
) -> Estimate:
    """Distribution-free interval for a quantile from order statistics: the number of
    observations below the true quantile is Binomial(n, q), so the ranks bracketing it are
    binomial quantiles. No resampling and no shape assumption; ends are ``None`` when n is too
    small for the requested confidence (the interval would run off the sample)."""
    check_confidence(confidence)
    data = np.sort(as_array(values))
    n = int(data.size)
    if n == 0:
        return Estimate(None, None, None, 0)
    value = float(np.quantile(data, q))
    low_rank, high_rank = _order_statistic_ranks(n, q, confidence)
    lower = float(data[low_rank - 1]) if low_rank >= 1 else None
    upper = float(data[high_rank - 1]) if high_rank <= n else None
    return Estimate(value, lower, upper, n)


def _order_statistic_ranks(n: int, q: float, confidence: float) -> tuple[int, int]:
    """The 1-based ranks of the order statistics bracketing the q-quantile of n observations
    at the two-sided ``confidence``: P(X_(l) <= xi_q) >= 1 - alpha/2 with
    l = binom.ppf(alpha/2), and symmetrically for the upper rank. A rank below 1 or above n
    means the sample cannot bound the quantile on that side."""
    alpha = 1.0 - confidence
    low_rank = int(scipy.stats.binom.ppf(alpha / 2, n, q))
    high_rank = int(scipy.stats.binom.ppf(1 - alpha / 2, n, q)) + 1
    return low_rank, high_rank


def _supported_ends(n_a: int, n_b: int, q: float, confidence: float) -> tuple[bool, bool]:
    """Whether the samples can bound ``quantile(b)`` against ``quantile(a)`` from below and
    from above at all: the lower end needs a's quantile bounded above and b's below, the upper
    end the other way round. With too few observations the percentile bootstrap of a tail
    quantile only ever redraws the sample's largest values and returns a narrow interval around
    them (three latencies could PASS a p99 check); a distribution-free order-statistic bound
    that runs off the sample says honestly that the data cannot tell. For the p99 at a 90%
    two-sided level that takes 299 observations a side, for the p95 59."""
    a_low, a_high = _order_statistic_ranks(n_a, q, confidence)
    b_low, b_high = _order_statistic_ranks(n_b, q, confidence)
    return a_high <= n_a and b_low >= 1, a_low >= 1 and b_high <= n_b


def _order_statistic_draws(
    sorted_values: FloatArray, q: float, size: int, rng: np.random.Generator
) -> FloatArray:
    """``size`` bootstrap replicates of the q-quantile (the ``ceil(q*n)``-th order statistic)
    of ``sorted_values``, drawn from its exact bootstrap distribution; see the module
    docstring. O(n + size log n) time and memory, whatever the number of resamples."""
    n = int(sorted_values.size)
    k = min(max(math.ceil(q * n), 1), n)
    ranks = np.arange(1, n + 1, dtype=np.float64)
    # cdf[j-1] = P(k-th order statistic of a resample <= x_(j)) = P(Bin(n, j/n) >= k)
    cdf = np.asarray(scipy.stats.binom.sf(k - 1, n, ranks / n), dtype=np.float64)
    cdf[-1] = 1.0
    picks = np.searchsorted(cdf, rng.random(size), side="left")
    result: FloatArray = sorted_values[np.minimum(picks, n - 1)]
    return result


def _bootstrap_pair(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    q: float,
    n_resamples: int,
    seed: int,
) -> tuple[FloatArray, FloatArray, float, float, tuple[int, int]] | None:
    if not 0.0 < q < 1.0:
        raise ValueError(f"q: got {q!r}; expected a quantile in (0, 1)")
    if n_resamples < 100:
        raise ValueError(f"n_resamples: got {n_resamples!r}; expected at least 100")
    sorted_a, sorted_b = np.sort(as_array(a)), np.sort(as_array(b))
    if sorted_a.size == 0 or sorted_b.size == 0:
        return None
    rng = np.random.default_rng(seed)
    draws_a = _order_statistic_draws(sorted_a, q, n_resamples, rng)
    draws_b = _order_statistic_draws(sorted_b, q, n_resamples, rng)
    point_a, point_b = float(np.quantile(sorted_a, q)), float(np.quantile(sorted_b, q))
    return draws_a, draws_b, point_a, point_b, (int(sorted_a.size), int(sorted_b.size))


def _percentile_interval(draws: FloatArray, confidence: float) -> tuple[float, float]:
    finite = draws[np.isfinite(draws)]
    if finite.size < draws.size * confidence:
        return math.nan, math.nan
    lower, upper = np.quantile(draws, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(lower), float(upper)


def bootstrap_quantile_delta(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    q: float,
    confidence: float = 0.95,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """``quantile(b) - quantile(a)`` for independent samples, with a percentile bootstrap
    interval. Quantiles have no simple standard error, and the bootstrap needs no shape
    assumption; ``seed`` makes reports reproducible."""
    check_confidence(confidence)
    drawn = _bootstrap_pair(a, b, q, n_resamples, seed)
    if drawn is None:
        return Estimate(None, None, None, 0)
    draws_a, draws_b, point_a, point_b, sizes = drawn
    lower, upper = _percentile_interval(draws_b - draws_a, confidence)
    return _bounded(point_b - point_a, lower, upper, sizes, q, confidence)


def bootstrap_quantile_ratio(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    q: float,
    confidence: float = 0.95,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """``quantile(b) / quantile(a)`` with a percentile bootstrap interval; the gate's p95
    latency ratio. A zero quantile in ``a`` makes the ratio undefined (``None``)."""
    check_confidence(confidence)
    drawn = _bootstrap_pair(a, b, q, n_resamples, seed)
    if drawn is None:
        return Estimate(None, None, None, 0)
    draws_a, draws_b, point_a, point_b, sizes = drawn
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(draws_a > 0, draws_b / np.where(draws_a > 0, draws_a, 1.0), np.inf)
    lower, upper = _percentile_interval(ratios, confidence)
    value = point_b / point_a if point_a > 0 else None
    return _bounded(value, lower, upper, sizes, q, confidence)


def _bounded(
    value: float | None,
    lower: float,
    upper: float,
    sizes: tuple[int, int],
    q: float,
    confidence: float,
) -> Estimate:
    """The bootstrap's interval, each end kept only where the samples can support it
    (:func:`_supported_ends`); ``n`` is the smaller sample."""
    has_lower, has_upper = _supported_ends(*sizes, q, confidence)
    return Estimate(
        value,
        _finite(lower) if has_lower else None,
        _finite(upper) if has_upper else None,
        min(sizes),
    )


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def mann_whitney_p(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    alternative: str = "two-sided",
) -> float | None:
    """Mann–Whitney U p-value (scipy picks exact or asymptotic). A rank test says whether one
    side is *stochastically* larger, robust to the heavy tails latencies have; it is blind to a
    regression that only fattens the tail, which is why the gate pairs it with a p95 check."""
    x, y = as_array(a), as_array(b)
    if x.size == 0 or y.size == 0:
        return None
    if alternative not in ("two-sided", "less", "greater"):
        raise ValueError(
            f"alternative: got {alternative!r}; expected 'two-sided', 'less' or 'greater'"
        )
    result = scipy.stats.mannwhitneyu(y, x, alternative=alternative)
    return float(result.pvalue)


def _pairwise_differences(
    a: FloatArray, b: FloatArray, max_pairs: int, seed: int
) -> tuple[FloatArray, bool]:
    """All ``b_j - a_i`` when there are at most ``max_pairs`` of them, else ``max_pairs``
    pairs drawn with a seeded generator: the median of a million random differences is within
    a fraction of a percent of the full one and keeps memory flat."""
    if a.size * b.size <= max_pairs:
        return np.subtract.outer(b, a).ravel(), False
    rng = np.random.default_rng(seed)
    i = rng.integers(0, a.size, max_pairs)
    j = rng.integers(0, b.size, max_pairs)
    diffs: FloatArray = b[j] - a[i]
    return diffs, True


def hodges_lehmann(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    *,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    seed: int = 0,
) -> float | None:
    """Hodges–Lehmann shift of ``b`` over ``a``: the median of pairwise differences. It is the
    effect size that goes with the Mann–Whitney test, and unlike a difference of means it
    ignores a handful of extreme latencies."""
    return hodges_lehmann_shift(a, b, max_pairs=max_pairs, seed=seed).value


def hodges_lehmann_shift(
    a: Sequence[float] | FloatArray,
    b: Sequence[float] | FloatArray,
    confidence: float = 0.95,
    *,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    seed: int = 0,
) -> Estimate:
    """Hodges–Lehmann shift with the Moses distribution-free interval: the ranks of the sorted
    pairwise differences that bound it come from the U statistic's null distribution (normal
    approximation). With subsampled differences those ranks are read as quantiles."""
    check_confidence(confidence)
    x, y = as_array(a), as_array(b)
    if x.size == 0 or y.size == 0:
        return Estimate(None, None, None, 0)
    diffs, _ = _pairwise_differences(x, y, max_pairs, seed)
    n, m = int(x.size), int(y.size)
    total = n * m
    half_width = normal_quantile(confidence) * math.sqrt(total * (n + m + 1) / 12.0)
    rank = math.floor(total / 2.0 - half_width)  # 1-based rank of the lower end
    value = float(np.median(diffs))
    if rank < 1:
        return Estimate(value, None, None, min(n, m))
    share = (rank - 1) / max(total - 1, 1)
    lower, upper = np.quantile(diffs, [share, 1.0 - share])
    return Estimate(value, float(lower), float(upper), min(n, m))
