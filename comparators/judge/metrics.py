"""The LLM judge's Prometheus metrics, on the worker's registry.

``role`` and ``candidate`` as in :mod:`comparators.metrics`; ``status`` one of the
judgement statuses (:data:`~comparators.judge.record.JUDGEMENT_STATUSES`); ``verdict`` which
side the judge found better (``mirror``, ``incumbent``, ``tie``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

__all__ = ["JudgeMetrics"]


class JudgeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.judgements = Counter(
            "darklaunch_judgements_total",
            "Mirrors the LLM judge read, by what became of them.",
            ["role", "candidate", "status"],
            registry=registry,
        )
        self.verdicts = Counter(
            "darklaunch_judge_verdicts_total",
            "Judged mirrors by the side the judge found better (both orders agreeing, else tie).",
            ["role", "candidate", "verdict"],
            registry=registry,
        )
        self.calls = Counter(
            "darklaunch_judge_calls_total",
            "Judge calls: paid (a reply used), cached (no call made), retried, failed, malformed.",
            ["outcome"],
            registry=registry,
        )
        self.not_sampled = Counter(
            "darklaunch_judge_not_sampled_total",
            "Mirrors outside the judge's sample (judge.sample_rate).",
            registry=registry,
        )
        self.cost = Counter(
            "darklaunch_judge_cost_usd_total",
            "What the judge's calls cost, priced with the price table.",
            registry=registry,
        )
