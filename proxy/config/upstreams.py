"""The upstreams darklaunch calls: the incumbent that serves clients and the candidates under
evaluation, with the connection pool and circuit breaker each of them gets."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from proxy.config.base import NAME_PATTERN, ConfigPath, Section, check_base_url

__all__ = ["BreakerConfig", "CandidateConfig", "IncumbentConfig", "PoolConfig"]


class PoolConfig(Section):
    """Keep-alive connection pool for one upstream.

    ``pool: {max_connections: 256, keepalive_timeout_s: 4}``
    """

    max_connections: int = Field(default=256, ge=1)
    """Connections open at most; calls beyond wait, in order, within their own deadline."""
    keepalive_timeout_s: float = Field(default=4.0, gt=0)
    """Seconds an idle pooled connection is kept for reuse before it is closed. Keep it
    below the upstream's own idle timeout (uvicorn, which serves vLLM and SGLang, and Node
    close after 5 s): a `POST` sent as the upstream closes the connection fails, and is
    never sent twice. An upstream's `Keep-Alive: timeout=N` shortens it."""
    connect_timeout_s: float = Field(default=10.0, gt=0)
    """Seconds to open a connection, TLS included; passing it counts as a timeout."""


class _UpstreamConfig(Section):
    url: str
    """Base URL (`http://` or `https://`); each request's path and query are appended."""
    timeout_s: float = Field(default=600.0, gt=0)
    """Seconds one call may take in all, from connecting to the last byte of the answer."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers set on every request to this upstream, replacing the client's of that name."""
    version: str | None = None
    """Prompt or model version label, written into this side of every record."""
    verify_tls: bool = True
    """Verify the upstream's TLS certificate; `false` accepts any certificate."""
    ca_bundle: ConfigPath | None = None
    """PEM file of CA certificates to verify the upstream with, instead of the system's."""
    pool: PoolConfig = Field(default_factory=PoolConfig)
    """Keep-alive connection pool to this upstream."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("ca_bundle")
    @classmethod
    def _check_ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"an existing CA bundle file (PEM); {value} is not a file")
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
    """Consecutive failed mirror calls (no answer, or a 5xx) that open the breaker."""
    reset_after_s: float = Field(default=30.0, gt=0)
    """Seconds mirrors are skipped (reason breaker_open) before one probe call is let through."""


class CandidateConfig(_UpstreamConfig):
    """A model under evaluation. Its answers are recorded and never shown to a client.

    ``- {name: cand-a, url: http://10.0.0.5:8000, model: my-model-v2, max_inflight: 64}``

    A candidate may be another provider, so it gets only an allowlist of the client's headers:
    ``Accept``, ``Accept-Encoding`` (narrowed to `gzip`, `deflate` and `identity`, the codings
    darklaunch can read back), ``User-Agent``, ``OpenAI-Beta``, ``Anthropic-Version``,
    ``Anthropic-Beta`` and the SDKs' ``X-Stainless-*`` telemetry, plus ``Authorization`` with
    `forward_authorization: true`. Everything else the client sent is withheld: cookies, API
    keys of every vendor (``x-api-key``, ``api-key``, ``x-goog-api-key``,
    ``x-amz-security-token``, ...), ``OpenAI-Organization`` and ``OpenAI-Project``,
    ``Idempotency-Key``, tracing ids and the client's ``x-darklaunch-tags``. ``Content-Type`` is
    always `application/json`, and the candidate's `headers` are sent as configured.

    The replica (`mirror.noise_rate`) is the incumbent asked again: it gets what the incumbent
    got, less ``x-darklaunch-tags`` and ``Idempotency-Key``.
    """

    name: str = Field(pattern=NAME_PATTERN)
    """Label used in records, metrics and the report; unique among the candidates."""
    model: str | None = None
    """Replaces `model` in the mirrored JSON body; unset keeps the client's."""
    body_overrides: dict[str, Any] = Field(default_factory=dict)
    """Deep-merged into the mirrored JSON body (after `model`), e.g. `{temperature: 0}`."""
    timeout_s: float = Field(default=120.0, gt=0)
    """Seconds a mirror call may take in all; passing it records a `timeout` error."""
    first_byte_timeout_s: float = Field(default=30.0, gt=0)
    """Seconds to the first body byte (first token), connecting included; passing it records
    a `first_byte_timeout` error."""
    max_inflight: int = Field(default=64, ge=1)
    """Mirror calls in flight at most; beyond it mirrors are skipped (reason max_inflight)."""
    forward_authorization: bool = False
    """Send the client's Authorization header to this candidate; by default it is withheld.
    No other credential of the client's is ever sent (see above); use `headers` for the
    candidate's own."""
    stream_usage: bool = True
    """Ask streamed chat/completions for a usage chunk (nobody sees the candidate's stream)."""
    api: Literal["openai", "anthropic"] | None = None
    """The API this candidate speaks; unset, the client's (the route's). `anthropic` behind an
    OpenAI chat route (or `openai` behind `/v1/messages`) translates each request
    (docs/formats.md) and reads the answer in the candidate's format, so a Claude candidate is
    scored against a GPT incumbent. A request that cannot be translated faithfully, or a route
    with no counterpart, is skipped and counted (reason `untranslatable`), never sent half
    translated. Set `anthropic-version` and the key (`x-api-key`) in `headers`."""
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    """Circuit breaker that pauses mirroring to this candidate while it keeps failing."""
