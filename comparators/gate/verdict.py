"""The release gate: PASS, FAIL or INCONCLUSIVE from a campaign's scores and a policy.

Every check has the form "the true value is at most the limit" and is judged on one-sided
bounds at the policy's ``confidence`` (the ends of a two-sided interval at ``2c - 1``):

* FAIL when even the lower bound is above the limit: evidence of a breach;
* PASS when the upper bound is within the limit: evidence of compliance;
* INCONCLUSIVE otherwise: not enough data to say either.

A candidate FAILs if any check FAILs and PASSes only if every check PASSes and it has at least
``min_pairs`` pairs. The campaign's verdict is the worst of its candidates'. Exit codes for CI:
:data:`EXIT_PASS`, :data:`EXIT_FAIL`, :data:`EXIT_INCONCLUSIVE`.

Latency is checked twice on purpose. Kayenta's users found that a rank test alone passes a
regression that fattens the tail without moving the median, so the rank-based median ratio
(Hodges–Lehmann on log latency, with its Moses interval) is paired with a bootstrap p95 ratio:
a p95-only regression FAILs the second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from comparators.frame import ScoreFrame, split_roles
from comparators.gate import stats
from comparators.gate.estimate import Estimate, FloatArray, decide_at_most, two_sided_level
from comparators.gate.policy import GatePolicy
from comparators.gate.result import Check, GateResult, Verdict
from comparators.scores import ScoreRecord

__all__ = [
    "EXIT_CODES",
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_PASS",
    "evaluate",
]

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INCONCLUSIVE = 3
EXIT_CODES = {
    Verdict.PASS: EXIT_PASS,
    Verdict.FAIL: EXIT_FAIL,
    Verdict.INCONCLUSIVE: EXIT_INCONCLUSIVE,
}


def evaluate(
    scores: Sequence[ScoreRecord], policy: GatePolicy, *, candidate: str | None = None
) -> GateResult:
    """Judge every candidate in ``scores`` (or only ``candidate``) against ``policy``."""
    candidates, replicas = split_roles(scores)
    notes: list[str] = []
    if candidate is not None:
        if candidate not in candidates:
            known = ", ".join(candidates) or "none"
            raise ValueError(f"candidate: got {candidate!r}; expected one of: {known}")
        candidates = {candidate: candidates[candidate]}
    if not candidates:
        notes.append("no candidate scores: nothing to judge")
    noise = ScoreFrame.of(replicas)
    checks: list[Check] = []
    verdicts: dict[str, Verdict] = {}
    for name, records in candidates.items():
        mine = _Evaluator(name, ScoreFrame.of(records), noise, policy).checks()
        verdicts[name] = _combine([c.status for c in mine])
        checks.extend(mine)
    verdict = _combine(list(verdicts.values())) if verdicts else Verdict.INCONCLUSIVE
    return GateResult(
        verdict=verdict,
        exit_code=EXIT_CODES[verdict],
        confidence=policy.confidence,
        candidates=verdicts,
        checks=checks,
        notes=notes,
        policy=policy.model_dump(),
    )


def _combine(statuses: Sequence[Verdict]) -> Verdict:
    if Verdict.FAIL in statuses:
        return Verdict.FAIL
    if statuses and all(s is Verdict.PASS for s in statuses):
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


class _Evaluator:
    """The checks for one candidate; each method returns one :class:`Check` or ``None`` when
    its limit is switched off."""

    def __init__(self, name: str, frame: ScoreFrame, noise: ScoreFrame, policy: GatePolicy) -> None:
        self.name = name
        self.frame = frame
        self.noise = noise
        self.policy = policy
        self.level = two_sided_level(policy.confidence)

    def checks(self) -> list[Check]:
        found = [
            self._min_pairs(),
            self._excess_divergence(),
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
            self._p95_latency(),
            self._p95_ratio("p95_latency_ratio", "", self.policy.max_p95_latency_ratio),
            self._median_ratio(),
            self._p95_ratio("p95_ttft_ratio", "ttft_", self.policy.max_p95_ttft_ratio),
            self._mean_cost(),
        ]
        return [check for check in found if check is not None]

    def _check(self, name: str, estimate: Estimate, limit: float, unit: str, method: str) -> Check:
        return Check(
            candidate=self.name,
            name=name,
            status=Verdict(decide_at_most(estimate, limit)),
            value=estimate.value,
            lower=estimate.lower,
            upper=estimate.upper,
            threshold=limit,
            unit=unit,
            n=estimate.n,
            method=method,
        )

    def _min_pairs(self) -> Check:
        n, needed = len(self.frame), self.policy.min_pairs
        return Check(
            candidate=self.name,
            name="min_pairs",
            status=Verdict.PASS if n >= needed else Verdict.INCONCLUSIVE,
            value=float(n),
            threshold=float(needed),
            direction="at_least",
            unit="pairs",
            n=n,
            method="count of scored candidate pairs",
        )

    def _excess_divergence(self) -> Check | None:
        limit = self.policy.max_excess_divergence
        if limit is None:
            return None
        k, n = self.frame.divergent(self.policy.divergence_threshold)
        noise_k, noise_n = self.noise.divergent(self.policy.divergence_threshold)
        if noise_n == 0:
            # No noise floor: the raw rate is an upper bound on the excess, good enough to
            # PASS on, but a FAIL could be the incumbent's own nondeterminism.
            raw = stats.proportion(k, n, self.level)
            check = self._check(
                "excess_divergence", raw, limit, "rate",
                "raw divergence rate, Wilson bounds; no replica scores so no noise floor",
            )  # fmt: skip
            if check.status is Verdict.FAIL:
                check = check.model_copy(update={"status": Verdict.INCONCLUSIVE})
            return check
        excess = stats.newcombe_difference(k, n, noise_k, noise_n, self.level)
        return self._check(
            "excess_divergence", excess, limit, "rate",
            f"candidate minus noise floor (n={noise_n} replica pairs), Newcombe bounds",
        )  # fmt: skip

    def _error_rate(self) -> Check | None:
        limit = self.policy.max_error_rate
        if limit is None:
            return None
        k, n = self.frame.count("outcome.mirror_error")
        estimate = stats.proportion(k, n, self.level, exact=True)
        return self._check("error_rate", estimate, limit, "rate", "Clopper–Pearson exact bounds")

    def _rate_increase(
        self, name: str, candidate_key: str, incumbent_key: str, limit: float | None
    ) -> Check | None:
        if limit is None:
            return None
        k1, n1 = self.frame.count(candidate_key)
        k2, n2 = self.frame.count(incumbent_key)
        estimate = stats.newcombe_difference(k1, n1, k2, n2, self.level)
        p_value = stats.fisher_greater_p(k1, n1, k2, n2)
        method = "candidate minus incumbent, Newcombe bounds"
        if p_value is not None:
            method += f"; Fisher exact one-sided p={p_value:.3g}"
        return self._check(name, estimate, limit, "rate", method)

    def _latencies(self, prefix: str) -> tuple[FloatArray, FloatArray]:
        ok = self.frame.both_ok
        return (
            self.frame.column(f"latency.incumbent_{prefix}ms", ok),
            self.frame.column(f"latency.mirror_{prefix}ms", ok),
        )

    def _p95_latency(self) -> Check | None:
        limit = self.policy.max_p95_latency_ms
        if limit is None:
            return None
        _, candidate = self._latencies("")
        estimate = stats.quantile_ci_exact(candidate, 0.95, self.level)
        return self._check("p95_latency_ms", estimate, limit, "ms", "exact order-statistic bounds")

    def _p95_ratio(self, name: str, prefix: str, limit: float | None) -> Check | None:
        if limit is None:
            return None
        incumbent, candidate = self._latencies(prefix)
        estimate = stats.bootstrap_quantile_ratio(
            incumbent,
            candidate,
            0.95,
            self.level,
            n_resamples=self.policy.n_resamples,
            seed=self.policy.seed,
        )
        return self._check(
            name, estimate, limit, "ratio",
            f"candidate p95 / incumbent p95, percentile bootstrap ({self.policy.n_resamples})",
        )  # fmt: skip

    def _median_ratio(self) -> Check | None:
        limit = self.policy.max_median_latency_ratio
        if limit is None:
            return None
        incumbent, candidate = self._latencies("")
        incumbent, candidate = incumbent[incumbent > 0], candidate[candidate > 0]
        shift = stats.hodges_lehmann_shift(
            np.log(incumbent), np.log(candidate), self.level, seed=self.policy.seed
        )
        p_value = stats.mann_whitney_p(incumbent, candidate, alternative="greater")
        estimate = shift.map(math.exp)
        method = "Hodges–Lehmann shift of log latency with Moses bounds"
        if p_value is not None:
            method += f"; Mann–Whitney one-sided p={p_value:.3g}"
        return self._check("median_latency_ratio", estimate, limit, "ratio", method)

    def _mean_cost(self) -> Check | None:
        limit = self.policy.max_mean_cost_usd
        if limit is None:
            return None
        costs = self.frame.column("cost.mirror_usd", self.frame.both_ok)
        estimate = stats.mean_ci(costs, self.level)
        return self._check("mean_cost_usd", estimate, limit, "usd", "Student-t bounds")
