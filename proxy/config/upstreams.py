"""The upstreams darklaunch calls: the incumbent that serves clients and the candidates under
evaluation, with the connection pool and circuit breaker each of them gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from proxy.config.base import NAME_PATTERN, Section, check_base_url

__all__ = ["BreakerConfig", "CandidateConfig", "IncumbentConfig", "PoolConfig"]


class PoolConfig(Section):
    """Keep-alive connection pool for one upstream.

    ``pool: {max_connections: 256, keepalive_timeout_s: 30}``
    """

    max_connections: int = Field(default=256, ge=1)
    """Connections open at most; calls beyond wait, in order, within their own deadline."""
    keepalive_timeout_s: float = Field(default=30.0, gt=0)
    """An idle pooled connection is closed after this long."""
    connect_timeout_s: float = Field(default=10.0, gt=0)
    """Time to open a connection, TLS included; passing it counts as a timeout."""


class _UpstreamConfig(Section):
    url: str
    """Base URL; the request path is appended."""
    timeout_s: float = Field(default=600.0, gt=0)
    """Total time for one call."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Set or override on the way upstream."""
    version: str | None = None
    """Prompt or model version label, written into records."""
    verify_tls: bool = True
    """Verify the upstream's certificate."""
    ca_bundle: Path | None = None
    """PEM bundle to verify the upstream's certificate with."""
    pool: PoolConfig = Field(default_factory=PoolConfig)

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("ca_bundle")
    @classmethod
    def _check_ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("an existing CA bundle file (PEM)")
        return value


class IncumbentConfig(_UpstreamConfig):
    """The model clients are served by; its answer is relayed byte for byte.

    ``incumbent: {url: https://api.openai.com, timeout_s: 600}``
    """


class BreakerConfig(Section):
    """Pause mirroring to a candidate after repeated failures, then probe it again.

    ``breaker: {failure_threshold: 5, reset_after_s: 30}``
    """

    failure_threshold: int = Field(default=5, ge=1)
    reset_after_s: float = Field(default=30.0, gt=0)


class CandidateConfig(_UpstreamConfig):
    """A model under evaluation. Its answers are recorded and never shown to a client.

    ``- {name: cand-a, url: http://10.0.0.5:8000, model: my-model-v2, max_inflight: 64}``
    """

    name: str = Field(pattern=NAME_PATTERN)
    """Label used in records and metrics."""
    model: str | None = None
    """Rewrites `model` in the mirrored JSON body."""
    body_overrides: dict[str, Any] = Field(default_factory=dict)
    """Deep-merged into the mirrored JSON body."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Total time a mirror call may take."""
    first_byte_timeout_s: float = Field(default=30.0, gt=0)
    """Time to the first body byte (first token) of a mirror call."""
    max_inflight: int = Field(default=64, ge=1)
    """Concurrent mirror calls; beyond it mirrors are skipped (reason max_inflight)."""
    forward_authorization: bool = False
    """Send the client's Authorization/cookies/API-key headers to this candidate."""
    stream_usage: bool = True
    """Ask streamed chat/completions for a usage chunk (nobody sees the candidate's stream)."""
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
