"""The gate's checks for one candidate on one slice of its pairs (all of them, or a segment).

Each check asks "is the true value at most the limit?" and computes its estimate twice: at
the policy's confidence for the upper bound a PASS needs, and at the family-adjusted confidence
for the lower bound a FAIL needs (:mod:`comparators.gate.verdict` explains the adjustment).
A check whose limit is ``null`` is not run.

Latency is checked three ways on purpose. Kayenta's users found that a rank test alone passes a
regression that fattens the tail without moving the median, so the rank-based median ratio
(Hodges–Lehmann on log latency, with its Moses interval) is paired with bootstrap p95 and p99
ratios: a candidate that is faster for most requests and twice as slow for the slowest 1%
FAILs the p99 check. Time to first token is judged on streamed pairs only: a plain answer's
first byte is its last, and pooling the two hides a streaming regression.

Reference accuracy, on pairs replayed from a golden set with expected answers, is checked by
:mod:`comparators.gate.reference` through :meth:`CheckSet._check`, so its checks join the
family and the segments like these. One of them is a floor (``direction`` ``at_least``): for
it the PASS bound is ``lower``, at the policy's confidence, and the FAIL bound ``upper``.
"""

from __future__ import annotations

import math

import numpy as np

from comparators.columns.frame import BoolArray, ScoreFrame
from comparators.gate import stats
from comparators.gate.estimate import Estimate, FloatArray, decide_at_most, two_sided_level
from comparators.gate.policy import GatePolicy, Quality
from comparators.gate.reference import (
    Direction,
    Estimator,
    decide_at_least,
    reference_checks,
    reference_fail_capable,
)
from comparators.gate.result import Check, Verdict
from comparators.gate.sizing import pairs_to_decide

__all__ = ["CheckSet", "fail_capable"]


def fail_capable(policy: GatePolicy, frame: ScoreFrame) -> int:
    """How many checks on ``frame`` could FAIL under ``policy``: the size of its share of the
    family whose false-FAIL rate the gate controls."""
    limits = [
        policy.max_quality_regression
        if policy.quality is Quality.JUDGE
        else policy.max_excess_divergence,
        policy.max_error_rate,
        policy.max_error_rate_increase,
        policy.max_refusal_rate_increase,
        policy.max_p95_latency_ms,
        policy.max_p95_latency_ratio,
        policy.max_p99_latency_ratio,
        policy.max_median_latency_ratio,
        policy.max_mean_cost_usd,
    ]
    count = sum(limit is not None for limit in limits)
    if policy.max_p95_ttft_ratio is not None and bool(frame.streamed().any()):
        count += 1
    return count + reference_fail_capable(policy, frame)


def _detectable(
    estimate: Estimate, limit: float, ratio: bool, direction: Direction = "at_most"
) -> float | None:
    """About the smallest true value that would FAIL half the time at this sample size: the
    limit plus the distance from the estimate down to its FAIL bound (for an ``at_least``
    check, the largest: the limit minus the distance up to its FAIL bound)."""
    if direction == "at_least":
        if estimate.value is None or estimate.upper is None:
            return None
        return limit - (estimate.upper - estimate.value)
    if estimate.value is None or estimate.lower is None:
        return None
    if ratio:
        if estimate.lower <= 0:
            return None
        return limit * estimate.value / estimate.lower
    return limit + (estimate.value - estimate.lower)


class CheckSet:
    """The checks for one candidate on ``frame``, with replica scores ``noise`` from the same
    slice; :meth:`checks` runs them all."""

    def __init__(
        self,
        candidate: str,
        frame: ScoreFrame,
        noise: ScoreFrame,
        policy: GatePolicy,
        *,
        fail_confidence: float,
        segment: str | None = None,
    ) -> None:
        self.candidate = candidate
        self.frame = frame
        self.noise = noise
        self.policy = policy
        self.segment = segment
        self.pass_level = two_sided_level(policy.confidence)
        self.fail_level = two_sided_level(max(fail_confidence, policy.confidence))

    def checks(self) -> list[Check]:
        found = [
            self._quality_regression()
            if self.policy.quality is Quality.JUDGE
            else self._excess_divergence(),
            self._error_rate(),
            self._rate_increase(
                "error_rate_increase",
                "outcome.mirror_error",
                "outcome.incumbent_error",
                self.policy.max_error_rate_increase,
            ),
            self._rate_increase(
                "refusal_rate_increase",
                "outcome.mirror_refusal",
                "outcome.incumbent_refusal",
                self.policy.max_refusal_rate_increase,
            ),
            *reference_checks(self.frame, self.policy, self._check),
            self._p95_latency(),
            self._quantile_ratio("p95_latency_ratio", "", 0.95, self.policy.max_p95_latency_ratio),
            self._quantile_ratio("p99_latency_ratio", "", 0.99, self.policy.max_p99_latency_ratio),
            self._median_ratio(),
            self._quantile_ratio("p95_ttft_ratio", "ttft_", 0.95, self.policy.max_p95_ttft_ratio),
            self._mean_cost(),
        ]
        return [check for check in found if check is not None]

    def _check(
        self,
        name: str,
        estimator: Estimator,
        limit: float,
        unit: str,
        method: str,
        *,
        ratio: bool = False,
        fail: bool = True,
        direction: Direction = "at_most",
        none_seen: bool = False,
    ) -> Check:
        """Run ``estimator`` at both levels and judge; ``fail=False`` caps the status at
        INCONCLUSIVE (evidence of a breach that the data cannot attribute to the candidate);
        ``none_seen`` says a rate has counted no event yet (for its sizing).
        The PASS bound comes from the policy's level and the FAIL bound from the family's:
        ``upper`` and ``lower`` for ``at_most``, the other way round for ``at_least``."""
        shown = estimator(self.pass_level)
        strict = shown if self.fail_level == self.pass_level else estimator(self.fail_level)
        if direction == "at_least":
            estimate = Estimate(shown.value, shown.lower, strict.upper, shown.n)
            status = Verdict(decide_at_least(estimate, limit))
        else:
            estimate = Estimate(shown.value, strict.lower, shown.upper, shown.n)
            status = Verdict(decide_at_most(estimate, limit))
        if status is Verdict.FAIL and not fail:
            status = Verdict.INCONCLUSIVE
        sized = (
            self._sized(
                shown, strict, limit, direction, ratio=ratio, fail=fail, none_seen=none_seen
            )
            if status is Verdict.INCONCLUSIVE
            else None
        )
        return Check(
            candidate=self.candidate,
            name=name,
            segment=self.segment,
            status=status,
            value=estimate.value,
            lower=estimate.lower,
            upper=estimate.upper,
            threshold=limit,
            direction=direction,
            unit=unit,
            n=estimate.n,
            method=method,
            detectable=_detectable(strict, limit, ratio, direction) if fail else None,
            pairs_to_decide=sized,
        )

    def _sized(
        self,
        shown: Estimate,
        strict: Estimate,
        limit: float,
        direction: Direction,
        *,
        ratio: bool,
        fail: bool,
        none_seen: bool,
    ) -> int | None:
        """:func:`~comparators.gate.sizing.pairs_to_decide` from the bound on the side of
        the limit the value leans to: the PASS bound (policy level) on the compliant side, the
        FAIL bound (family level) on the other, where a check that cannot FAIL has none."""
        value = shown.value
        if value is None or value == limit:
            return None
        compliant = value < limit if direction == "at_most" else value > limit
        if compliant:
            bound = shown.upper if direction == "at_most" else shown.lower
            level = self.pass_level
        elif fail:
            bound = strict.lower if direction == "at_most" else strict.upper
            level = self.fail_level
        else:
            return None
        return pairs_to_decide(
            value, bound, limit, shown.n, level, ratio=ratio, none_seen=none_seen
        )

    def _changed(self, frame: ScoreFrame) -> tuple[int, int]:
        lexical = (
            self.policy.divergence_threshold if self.policy.quality is Quality.LEXICAL else None
        )
        column = frame.changed(lexical)
        return int((column == 1).sum()), int((column >= 0).sum())

    def _quality_regression(self) -> Check | None:
        """Non-inferiority by the judge: (incumbent better) minus (candidate better), both
        shares of the judged pairs, ties counted in the denominator. Each judged pair is one
        paired comparison, so this is the paired difference of two rates, read from the
        pairs where one side won."""
        limit = self.policy.max_quality_regression
        if limit is None:
            return None
        losses, wins, n = self.frame.discordant("judge.incumbent_better", "judge.mirror_better")
        if n == 0:
            return Check(
                candidate=self.candidate,
                name="quality_regression",
                segment=self.segment,
                status=Verdict.INCONCLUSIVE,
                threshold=limit,
                unit="rate",
                method="no judged pairs: configure a judge (judge: in the config)",
            )
        return self._check(
            "quality_regression",
            lambda level: stats.paired_difference(losses, wins, n, level),
            limit,
            "rate",
            f"the judge's verdicts, both orders asked ({losses} incumbent better, {wins} "
            f"candidate better, {n - losses - wins} ties): incumbent-better minus "
            "candidate-better share, Bonett–Price paired bounds",
            none_seen=losses == wins == 0,
        )

    def _excess_divergence(self) -> Check | None:
        limit = self.policy.max_excess_divergence
        if limit is None:
            return None
        quality = self.policy.quality
        k, n = self._changed(self.frame)
        noise_k, noise_n = self._changed(self.noise)
        reading = f"{quality.value} changes"
        if noise_n == 0:
            # No noise floor: the raw rate bounds the excess from above, good enough to PASS
            # on, but a FAIL could be the incumbent's own nondeterminism.
            return self._check(
                "excess_divergence",
                lambda level: stats.proportion(k, n, level),
                limit,
                "rate",
                f"raw rate of {reading}, Wilson bounds; no noise floor (no replica pairs), "
                "so it cannot FAIL",
                fail=False,
                none_seen=k == 0,
            )
        return self._check(
            "excess_divergence",
            lambda level: stats.newcombe_difference(k, n, noise_k, noise_n, level),
            limit,
            "rate",
            f"rate of {reading} minus the noise floor (n={noise_n} replica pairs), Newcombe bounds",
            none_seen=k == noise_k == 0,
        )

    def _error_rate(self) -> Check | None:
        limit = self.policy.max_error_rate
        if limit is None:
            return None
        k, n = self.frame.count("outcome.mirror_error")
        return self._check(
            "error_rate",
            lambda level: stats.proportion(k, n, level, exact=True),
            limit,
            "rate",
            "Clopper–Pearson exact bounds",
            none_seen=k == 0,
        )

    def _rate_increase(
        self, name: str, candidate_key: str, incumbent_key: str, limit: float | None
    ) -> Check | None:
        """Candidate minus incumbent rate on the same requests: a paired difference, read
        from the requests where exactly one side erred (or refused)."""
        if limit is None:
            return None
        only_candidate, only_incumbent, n = self.frame.discordant(candidate_key, incumbent_key)
        p_value = stats.mcnemar_greater_p(only_candidate, only_incumbent)
        method = (
            f"candidate minus incumbent on the same requests ({only_candidate} only the "
            f"candidate, {only_incumbent} only the incumbent), Bonett–Price paired bounds"
        )
        if p_value is not None:
            method += f"; exact McNemar one-sided p={p_value:.3g}"
        return self._check(
            name,
            lambda level: stats.paired_difference(only_candidate, only_incumbent, n, level),
            limit,
            "rate",
            method,
            none_seen=only_candidate == only_incumbent == 0,
        )

    def _latencies(self, prefix: str) -> tuple[FloatArray, FloatArray]:
        within: BoolArray = self.frame.both_ok
        if prefix == "ttft_":
            within = within & self.frame.streamed()
        return (
            self.frame.column(f"latency.incumbent_{prefix}ms", within),
            self.frame.column(f"latency.mirror_{prefix}ms", within),
        )

    def _p95_latency(self) -> Check | None:
        limit = self.policy.max_p95_latency_ms
        if limit is None:
            return None
        _, candidate = self._latencies("")
        return self._check(
            "p95_latency_ms",
            lambda level: stats.quantile_ci_exact(candidate, 0.95, level),
            limit,
            "ms",
            "exact order-statistic bounds",
        )

    def _quantile_ratio(
        self, name: str, prefix: str, q: float, limit: float | None
    ) -> Check | None:
        if limit is None:
            return None
        incumbent, candidate = self._latencies(prefix)
        if prefix == "ttft_" and incumbent.size == 0 and candidate.size == 0:
            return None  # no streamed pairs here: nothing to judge, nothing to show
        resamples, seed = self.policy.n_resamples, self.policy.seed
        what = "streamed pairs only, " if prefix == "ttft_" else ""
        return self._check(
            name,
            lambda level: stats.bootstrap_quantile_ratio(
                incumbent, candidate, q, level, n_resamples=resamples, seed=seed
            ),
            limit,
            "ratio",
            f"{what}candidate p{round(q * 100)} / incumbent p{round(q * 100)}, "
            f"percentile bootstrap ({resamples})",
            ratio=True,
        )

    def _median_ratio(self) -> Check | None:
        limit = self.policy.max_median_latency_ratio
        if limit is None:
            return None
        incumbent, candidate = self._latencies("")
        incumbent, candidate = incumbent[incumbent > 0], candidate[candidate > 0]
        log_a, log_b, seed = np.log(incumbent), np.log(candidate), self.policy.seed
        p_value = stats.mann_whitney_p(incumbent, candidate, alternative="greater")
        method = "Hodges–Lehmann shift of log latency with Moses bounds"
        if p_value is not None:
            method += f"; Mann–Whitney one-sided p={p_value:.3g}"
        return self._check(
            "median_latency_ratio",
            lambda level: stats.hodges_lehmann_shift(log_a, log_b, level, seed=seed).map(math.exp),
            limit,
            "ratio",
            method,
            ratio=True,
        )

    def _mean_cost(self) -> Check | None:
        limit = self.policy.max_mean_cost_usd
        if limit is None:
            return None
        costs = self.frame.column("cost.mirror_usd", self.frame.both_ok)
        return self._check(
            "mean_cost_usd",
            lambda level: stats.mean_ci(costs, level),
            limit,
            "usd",
            "Student-t bounds",
        )
