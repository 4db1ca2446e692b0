"""Where clients are served from when the incumbent cannot answer: another upstream, or a
fixed response."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from proxy.config.base import ConfigPath, Section, check_base_url
from proxy.config.upstreams import PoolConfig

__all__ = ["FallbackConfig", "StaticResponseConfig"]


class StaticResponseConfig(Section):
    """A fixed answer for when neither the incumbent nor a fallback upstream can answer.

    ``static: {status: 503, body: {error: {message: "try again", type: server_error}}}``
    """

    status: int = Field(default=503, ge=200, le=599)
    """HTTP status of the fixed answer."""
    body: Any = Field(
        default_factory=lambda: {
            "error": {
                "message": "the model is unavailable; try again shortly",
                "type": "server_error",
                "param": None,
                "code": "model_unavailable",
            }
        }
    )
    """Any JSON value, sent JSON-encoded; the default is an OpenAI-shaped error."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers of the fixed answer, besides `Content-Type: application/json` (which they may
    replace) and `x-darklaunch-fallback: <reason>`."""


class FallbackConfig(Section):
    """Where clients are served from when the incumbent refuses, times out or answers with
    one of ``on_status``: a ``url`` upstream, else the ``static`` response.

    ``fallback: {url: http://backup:8000, on_status: [500, 502, 503, 504]}``
    ``fallback: {static: {status: 503}}``
    """

    url: str | None = None
    """Base URL of an upstream that answers in the incumbent's place; the request path is
    appended."""
    on_status: list[int] = Field(default_factory=lambda: [500, 502, 503, 504])
    """Incumbent statuses (400-599) that send the request to the fallback, like a failure."""
    timeout_s: float = Field(default=600.0, gt=0)
    """Seconds a fallback call may take in all; passing it serves `static` (or a 504)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Headers set on requests to the fallback upstream, on top of those sent the incumbent."""
    verify_tls: bool = True
    """Verify the fallback upstream's TLS certificate; `false` accepts any certificate."""
    ca_bundle: ConfigPath | None = None
    """PEM file of CA certificates to verify the fallback upstream with."""
    pool: PoolConfig = Field(default_factory=PoolConfig)
    """Keep-alive connection pool to the fallback upstream."""
    static: StaticResponseConfig | None = None
    """Fixed answer served without `url`, or when the fallback upstream fails too."""

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return None if value is None else check_base_url(value)

    @field_validator("on_status")
    @classmethod
    def _check_statuses(cls, value: list[int]) -> list[int]:
        for status in value:
            if not 400 <= status <= 599:
                raise ValueError(f"HTTP error statuses between 400 and 599, got {status}")
        return value

    @model_validator(mode="after")
    def _needs_a_target(self) -> FallbackConfig:
        if self.url is None and self.static is None:
            raise ValueError("a 'url' or a 'static' response")
        return self
