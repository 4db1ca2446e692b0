"""Hand-built score records for report, gate and export tests: every default is a healthy,
identical answer, so a test states only what it is about."""

from __future__ import annotations

from typing import Any

from comparators.scores import ScoreRecord, Value
from proxy.recording.schema import Role

_UNSET: Any = object()


def score(
    pair_id: str = "pair-1",
    *,
    mirror: str = "cand-a",
    role: Role = Role.CANDIDATE,
    route: str = "/v1/chat/completions",
    model: str | None = "big-model-v1",
    timestamp: float = 1_700_000_000.0,
    divergence: float | None = _UNSET,
    similarity: float | None = 1.0,
    incumbent_ms: float | None = 1000.0,
    mirror_ms: float | None = 1000.0,
    incumbent_ttft_ms: float | None = 200.0,
    mirror_ttft_ms: float | None = 200.0,
    incumbent_usd: float | None = 0.001,
    mirror_usd: float | None = 0.001,
    incumbent_error: bool = False,
    mirror_error: bool = False,
    incumbent_refusal: bool | None = False,
    mirror_refusal: bool | None = False,
    breaches: list[str] | None = None,
    campaign: str = "test",
    sample_rate: float | None = None,
    details: dict[str, dict[str, Any]] | None = None,
    kind: str | None = "chat",
    stream: bool | None = False,
    tags: dict[str, str] | None = None,
    **extra: Value,
) -> ScoreRecord:
    """``extra`` sets further values by key with ``__`` for the dot:
    ``score(json__applicable=True)``. A similarity below 0.8 is a changed answer in both
    readings: its divergence is above the lexical threshold (0.2) and ``semantic.changed``."""
    failed = incumbent_error or mirror_error
    if divergence is _UNSET:
        divergence = None if failed else 1.0 - (similarity if similarity is not None else 1.0)
    values: dict[str, Value] = {
        "text.exact_match": None if failed else similarity == 1.0,
        "text.similarity": None if failed else similarity,
        "text.divergence": None if failed or similarity is None else 1.0 - similarity,
        "semantic.applicable": None if failed else similarity is not None,
        "semantic.similarity": None if failed else similarity,
        "semantic.changed": None if failed or similarity is None else similarity < 0.8,
        "json.applicable": False,
        "tool_calls.applicable": False,
        "outcome.incumbent_error": incumbent_error,
        "outcome.mirror_error": mirror_error,
        "outcome.incumbent_refusal": None if incumbent_error else incumbent_refusal,
        "outcome.mirror_refusal": None if mirror_error else mirror_refusal,
        "latency.incumbent_ms": incumbent_ms,
        "latency.mirror_ms": mirror_ms,
        "latency.delta_ms": (
            mirror_ms - incumbent_ms if mirror_ms is not None and incumbent_ms is not None else None
        ),
        "latency.ratio": (mirror_ms / incumbent_ms if mirror_ms and incumbent_ms else None),
        "latency.incumbent_ttft_ms": incumbent_ttft_ms,
        "latency.mirror_ttft_ms": mirror_ttft_ms,
        "latency.both_ok": not failed,
        "cost.incumbent_usd": None if incumbent_error else incumbent_usd,
        "cost.mirror_usd": None if mirror_error else mirror_usd,
        "cost.delta_usd": (
            None
            if failed or mirror_usd is None or incumbent_usd is None
            else mirror_usd - incumbent_usd
        ),
    }
    values.update({key.replace("__", "."): value for key, value in extra.items()})
    return ScoreRecord(
        pair_id=pair_id,
        campaign=campaign,
        timestamp=timestamp,
        sample_rate=sample_rate,
        route=route,
        model=model,
        mirror=mirror,
        role=role,
        mirror_model="small-model-v2" if role is Role.CANDIDATE else model,
        kind=kind,
        stream=stream,
        tags=tags or {},
        divergence=divergence,
        values=values,
        details=details or {},
        breaches=breaches or [],
    )


def replica(pair_id: str = "pair-1", **kwargs: Any) -> ScoreRecord:
    kwargs.setdefault("mirror", "replica")
    return score(pair_id, role=Role.REPLICA, **kwargs)
