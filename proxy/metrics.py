"""The proxy's Prometheus metrics, on a registry that is passed in.

Names carry the ``darklaunch_`` prefix, values are in base units and counters end in
``_total``. Labels are low-cardinality by construction: ``route`` is one of the configured
routes or ``other``, ``role`` is a :class:`proxy.recording.schema.Role`, ``candidate`` is a
configured name and ``reason``/``kind`` come from small closed vocabularies. A pair id, a user
or a prompt is never a label.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["LATENCY_BUCKETS", "ProxyMetrics", "status_class"]

# From 1 ms (a proxy hop) to 10 min (a long reasoning stream).
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.0, 2.5, 4.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip


def status_class(status: int | None) -> str:
    """``2xx`` … ``5xx``, or ``error`` when no HTTP status was received at all."""
    if status is None:
        return "error"
    return f"{status // 100}xx"


class ProxyMetrics:
    """Every metric the data plane exports; one instance per process and registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "darklaunch_requests_total",
            "Upstream calls completed, by route, role, candidate and status class.",
            ["route", "role", "candidate", "status_class"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "darklaunch_request_duration_seconds",
            "Time from request start to the last byte of the upstream's answer.",
            ["route", "role", "candidate"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.time_to_first_byte = Histogram(
            "darklaunch_time_to_first_byte_seconds",
            "Time from request start to the first body byte (first token for streams).",
            ["route", "role", "candidate"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "darklaunch_requests_in_flight",
            "Client requests being served right now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.mirror_decisions = Counter(
            "darklaunch_mirror_decisions_total",
            "Sampling decisions on mirrored routes: sampled or not_sampled.",
            ["route", "decision"],
            registry=registry,
        )
        self.mirror_skipped = Counter(
            "darklaunch_mirror_skipped_total",
            "Sampled requests not sent to a mirror, by reason.",
            ["candidate", "reason"],
            registry=registry,
        )
        self.mirror_untranslatable = Counter(
            "darklaunch_mirror_untranslatable_total",
            "Sampled requests not sent to a candidate of another API, by the translator's reason.",
            ["candidate", "reason"],
            registry=registry,
        )
        self.mirror_in_flight = Gauge(
            "darklaunch_mirror_in_flight",
            "Mirror calls running right now, per candidate.",
            ["candidate"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.candidate_errors = Counter(
            "darklaunch_candidate_errors_total",
            "Mirror calls that failed, by candidate and error kind.",
            ["candidate", "kind"],
            registry=registry,
        )
        self.breaker_state = Gauge(
            "darklaunch_breaker_state",
            "Circuit breaker per candidate: 0 closed, 1 open, 2 half-open.",
            ["candidate"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.fallbacks = Counter(
            "darklaunch_fallbacks_total",
            "Requests served by the fallback path, by reason and by what served them.",
            ["reason", "served_by"],
            registry=registry,
        )
        for reason in ("connect", "timeout", "reset", "protocol", "status"):
            for served_by in ("upstream", "static", "none"):
                self.fallbacks.labels(reason, served_by)
        self.upstream_errors = Counter(
            "darklaunch_upstream_errors_total",
            "Incumbent calls that failed before or during the answer, by kind.",
            ["kind"],
            registry=registry,
        )
        self.feedback = Counter(
            "darklaunch_feedback_total",
            "End users' feedback recorded (POST /darklaunch/feedback), by rating: bad, good.",
            ["rating"],
            registry=registry,
        )
        self.feedback_matched = Counter(
            "darklaunch_feedback_matched_total",
            "Recorded feedback by what its request id named: pair, request or unknown.",
            ["match"],
            registry=registry,
        )
        self.feedback_limited = Counter(
            "darklaunch_feedback_limited_total",
            "Feedback requests refused with 429: the client was over feedback.max_per_minute.",
            registry=registry,
        )
        self.feedback_dropped = Counter(
            "darklaunch_feedback_dropped_total",
            "Feedback refused with 503 because Redis did not take it, by reason: "
            "redis_unreachable, redis_timeout, redis_refused, no_redis.",
            ["reason"],
            registry=registry,
        )


class RecorderMetrics:
    """The recorder's health: how much is waiting, spooled, written and lost (by reason)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue_depth = Gauge(
            "darklaunch_recorder_queue_depth",
            "Records waiting in memory for the Redis writer.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.spool_bytes = Gauge(
            "darklaunch_recorder_spool_bytes",
            "Bytes in the on-disk spool waiting to be replayed into Redis.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.written = Counter(
            "darklaunch_records_written_total",
            "Pair records written to the Redis stream.",
            registry=registry,
        )
        self.dropped = Counter(
            "darklaunch_records_dropped_total",
            "Pair records lost, by reason: queue_full, spool_full, spool_error, shutdown, "
            "encode_error.",
            ["reason"],
            registry=registry,
        )
        self.spooled = Counter(
            "darklaunch_records_spooled_total",
            "Pair records written to the disk spool because Redis was away.",
            registry=registry,
        )
        self.replayed = Counter(
            "darklaunch_records_replayed_total",
            "Pair records replayed from the spool into Redis.",
            registry=registry,
        )
        self.duplicates = Counter(
            "darklaunch_records_deduplicated_total",
            "Pair records not written again because their batch was already in Redis.",
            registry=registry,
        )
        self.write_errors = Counter(
            "darklaunch_recorder_write_errors_total",
            "Failed Redis batch writes, by kind: connection, timeout, oom, other.",
            ["kind"],
            registry=registry,
        )
        for kind in ("connection", "timeout", "oom", "other"):
            self.write_errors.labels(kind)


class RolloutMetrics:
    """A staged rollout as this proxy applies it: its state, who served the cohort, the
    fallbacks to the incumbent and the transitions seen. Registered only with ``rollout:``."""

    PHASES = ("dark", "ramping", "paused", "complete", "rolled_back")
    SERVED_BY = ("candidate", "fallback", "incumbent")
    FALLBACK_REASONS = (
        "connect", "timeout", "first_byte_timeout", "reset", "protocol", "status",
        "breaker_open", "untranslatable", "not_json",
    )  # fmt: skip
    CAUSES = ("guard", "manual", "local", "lost")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.phase = Gauge(
            "darklaunch_rollout_phase",
            "The rollout's phase as this proxy applies it: 1 for the current phase, else 0.",
            ["phase"],
            registry=registry,
            multiprocess_mode="max",
        )
        self.step = Gauge(
            "darklaunch_rollout_step",
            "The rollout's current step, from 1; 0 while no step is served.",
            registry=registry,
            multiprocess_mode="max",
        )
        self.share = Gauge(
            "darklaunch_rollout_share",
            "Share of the cohort key space the candidate serves, from 0 to 1.",
            registry=registry,
            multiprocess_mode="max",
        )
        self.version = Gauge(
            "darklaunch_rollout_state_version",
            "Version of the rollout state this proxy applies (every change increments it).",
            registry=registry,
            multiprocess_mode="min",
        )
        self.requests = Counter(
            "darklaunch_rollout_requests_total",
            "Requests on rollout routes by who served them: candidate (the cohort), fallback "
            "(the cohort, but the candidate failed before a byte) or incumbent (not the cohort).",
            ["candidate", "served_by"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "darklaunch_rollout_fallbacks_total",
            "Cohort requests the incumbent served because the candidate could not, by reason: "
            "connect, timeout, first_byte_timeout, reset, protocol, status, breaker_open, "
            "untranslatable, not_json.",
            ["candidate", "reason"],
            registry=registry,
        )
        self.transitions = Counter(
            "darklaunch_rollout_transitions_total",
            "Rollout state changes this proxy applied, by the phase entered and the cause: "
            "guard (the controller), manual (a person), local (this proxy's admin API while "
            "Redis was away) or lost (the state vanished from Redis: the candidate is off).",
            ["phase", "cause"],
            registry=registry,
        )
        self.sync_errors = Counter(
            "darklaunch_rollout_sync_errors_total",
            "Failed reads of the rollout state from Redis; the proxy keeps the last known state.",
            registry=registry,
        )
        # Every phase and transition series exists at 0 from the start, so an alert or a
        # panel sees the first rollback as a change rather than a series appearing with it.
        for phase in self.PHASES:
            self.phase.labels(phase)
            for cause in self.CAUSES:
                self.transitions.labels(phase, cause)

    def for_candidate(self, candidate: str) -> None:
        """Create the candidate's request and fallback series at 0, for the same reason."""
        for who in self.SERVED_BY:
            self.requests.labels(candidate, who)
        for reason in self.FALLBACK_REASONS:
            self.fallbacks.labels(candidate, reason)
        for phase in self.PHASES:
            self.phase.labels(phase).set(1 if phase == "dark" else 0)
