"""The comparator worker's Prometheus metrics, on a registry that is passed in.

These are the live quality, cost and lag signals the dashboard and the rollback alerts read.
``role`` is ``candidate`` or ``replica`` (the incumbent compared with itself: the noise floor);
``candidate`` is the mirror's configured name (``replica`` for the replica). ``side`` says
whose error or refusal it was: ``incumbent`` or ``mirror``. ``changed`` is ``true`` or
``false``: the verdict of :func:`comparators.columns.change.semantic_change`, the reading the
release gate's default ``quality: semantic`` counts.
"""

from __future__ import annotations

from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from comparators.columns.change import semantic_change
from comparators.scores import ScoreRecord
from proxy.recording.schema import Role

__all__ = ["COST_BUCKETS", "DIVERGENCE_BUCKETS", "SIMILARITY_BUCKETS", "WorkerMetrics"]

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)

DIVERGENCE_BUCKETS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# Similarities crowd near 1.0, and histogram_quantile interpolates linearly inside a bucket: with
# one bucket for 0.9-1.0, identical replicas (all exactly 1.0) read as a median of 0.95. Fine
# buckets near the top keep that error under 0.001 where it matters.
SIMILARITY_BUCKETS = (
    0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0,
)  # fmt: skip
COST_BUCKETS = (
    1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
    2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
)  # fmt: skip


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.scored = Counter(
            "darklaunch_pairs_scored_total",
            "Mirrors scored against the incumbent.",
            ["role", "candidate"],
            registry=registry,
        )
        self.divergence = Histogram(
            "darklaunch_divergence",
            "Headline divergence per scored mirror, in [0, 1].",
            ["role", "candidate"],
            buckets=DIVERGENCE_BUCKETS,
            registry=registry,
        )
        self.similarity = Histogram(
            "darklaunch_similarity",
            "Text similarity per scored mirror, in [0, 1].",
            ["role", "candidate"],
            buckets=SIMILARITY_BUCKETS,
            registry=registry,
        )
        # The gate's quality check is a rate of changed answers (by meaning, tool call or JSON
        # leaf) above the replica's; the divergence histogram above is word overlap and reads a
        # reworded answer as a change. One counter with a two-valued ``changed`` label gives
        # both the numerator and the denominator (answers that had a verdict) of that rate.
        self.judged = Counter(
            "darklaunch_answers_judged_total",
            "Scored mirrors whose answer had a semantic verdict (quality: semantic), by whether"
            " it changed.",
            ["role", "candidate", "changed"],
            registry=registry,
        )
        self.scored_errors = Counter(
            "darklaunch_scored_errors_total",
            "Scored pairs where a side failed (error or status >= 400), by side.",
            ["role", "candidate", "side"],
            registry=registry,
        )
        self.scored_refusals = Counter(
            "darklaunch_scored_refusals_total",
            "Scored pairs where a side refused, by side.",
            ["role", "candidate", "side"],
            registry=registry,
        )
        self.breaches = Counter(
            "darklaunch_budget_breaches_total",
            "Per-query budget breaches by the mirror, by kind: latency_ms, ttft_ms, cost_usd.",
            ["candidate", "kind"],
            registry=registry,
        )
        self.cost = Histogram(
            "darklaunch_cost_per_query_usd",
            "Cost of one query in USD, for the mirror and, on the same pairs, the incumbent.",
            ["side", "candidate"],
            buckets=COST_BUCKETS,
            registry=registry,
        )
        self.tokens = Counter(
            "darklaunch_tokens_total",
            "Tokens used (reported or estimated), per side.",
            ["side", "candidate"],
            registry=registry,
        )
        self.comparator_errors = Counter(
            "darklaunch_comparator_errors_total",
            "Comparator calls that raised; the other comparators still ran.",
            ["comparator"],
            registry=registry,
        )
        self.bad_records = Counter(
            "darklaunch_worker_bad_records_total",
            "Stream entries that could not be parsed as a pair record (moved to the dead stream).",
            registry=registry,
        )
        self.pending = Gauge(
            "darklaunch_worker_pending_entries",
            "Entries delivered to the comparators group but not yet acknowledged (lag).",
            registry=registry,
        )
        self.backlog = Gauge(
            "darklaunch_worker_backlog_entries",
            "Entries in the pairs stream not yet delivered to any worker (the group's lag; "
            "counted up to 1,000 on Redis before 7).",
            registry=registry,
        )
        self.reconnects = Counter(
            "darklaunch_worker_reconnects_total",
            "Times the worker lost Redis and waited to start again from its pending entries.",
            registry=registry,
        )
        self.batch_duration = Histogram(
            "darklaunch_worker_batch_duration_seconds",
            "Time to score and write one batch.",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=registry,
        )
        # The (role, candidate) pairs observe_score has started at zero (create_series).
        self._series: set[tuple[str, str]] = set()
        # Children bound by child(): labels() takes a lock and builds its key on every call,
        # and the worker updates about ten labelled series per scored mirror.
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}

    def child(self, metric: MetricT, *labels: str) -> MetricT:
        """``metric.labels(*labels)``, bound on first use and kept (series are never removed):
        created at the same moment as before, so the exposition is unchanged."""
        key = (metric, labels)
        bound = self._children.get(key)
        if bound is None:
            bound = self._children[key] = metric.labels(*labels)
        return cast(MetricT, bound)  # keyed by the metric it came from

    def create_series(self, role: str, candidate: str) -> None:
        """Start this mirror's counters at zero, so rates and deltas exist before the first
        error, refusal, breach or changed answer instead of appearing out of nowhere."""
        for changed in ("true", "false"):
            self.judged.labels(role, candidate, changed)
        for side in ("incumbent", "mirror"):
            self.scored_errors.labels(role, candidate, side)
            self.scored_refusals.labels(role, candidate, side)
        if role == "candidate":
            for kind in ("latency_ms", "ttft_ms", "cost_usd"):
                self.breaches.labels(candidate, kind)

    def observe_score(self, result: ScoreRecord) -> None:
        """Count one scored (pair, mirror) the worker wrote into every series it touches."""
        child = self.child
        role = result.role.value
        name = result.mirror if result.role is Role.CANDIDATE else "replica"
        if (role, name) not in self._series:
            self._series.add((role, name))
            self.create_series(role, name)
        values = result.values
        child(self.scored, role, name).inc()
        if result.divergence is not None:
            child(self.divergence, role, name).observe(result.divergence)
        # The same verdict the gate counts, so the live changed-answer rate and its alert agree
        # with the gate; failed or unreadable pairs (None) are not in its denominator.
        changed = semantic_change(values)
        if changed is not None:
            child(self.judged, role, name, "true" if changed else "false").inc()
        similarity = values.get("text.similarity")
        if isinstance(similarity, int | float):
            child(self.similarity, role, name).observe(float(similarity))
        for side, error, refusal in _OUTCOME_KEYS:
            if values.get(error) is True:
                child(self.scored_errors, role, name, side).inc()
            if values.get(refusal) is True:
                child(self.scored_refusals, role, name, side).inc()
        if result.role is not Role.CANDIDATE:
            return
        for kind in result.breaches:
            child(self.breaches, name, kind).inc()
        # Both sides per candidate comparison: the incumbent's cost on the pairs this candidate
        # saw, so the two are compared on the same requests.
        for side, cost_key, tokens_key in _COST_KEYS:
            cost = values.get(cost_key)
            if isinstance(cost, int | float):
                child(self.cost, side, name).observe(float(cost))
            tokens = values.get(tokens_key)
            if isinstance(tokens, int | float):
                child(self.tokens, side, name).inc(tokens)


# (side, error key, refusal key) and (side, cost key, tokens key), in the order series start.
_OUTCOME_KEYS = (
    ("incumbent", "outcome.incumbent_error", "outcome.incumbent_refusal"),
    ("mirror", "outcome.mirror_error", "outcome.mirror_refusal"),
)
_COST_KEYS = (
    ("mirror", "cost.mirror_usd", "cost.mirror_tokens"),
    ("incumbent", "cost.incumbent_usd", "cost.incumbent_tokens"),
)
