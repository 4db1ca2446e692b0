"""Where clients are served from when the incumbent cannot answer: another upstream, or a
fixed response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator, model_validator

from proxy.config.base import Section, check_base_url
from proxy.config.upstreams import PoolConfig

__all__ = ["FallbackConfig", "StaticResponseConfig"]


class StaticResponseConfig(Section):
    """A fixed answer for when neither the incumbent nor a fallback upstream can answer.

    ``static: {status: 503, body: {error: {message: "try again", type: server_error}}}``
    """

    status: int = Field(default=503, ge=200, le=599)
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
    headers: dict[str, str] = Field(default_factory=dict)


class FallbackConfig(Section):
    """Where clients are served from when the incumbent refuses, times out or answers with
    one of ``on_status``: a ``url`` upstream, else the ``static`` response.

    ``fallback: {url: http://backup:8000, on_status: [500, 502, 503, 504]}``
    ``fallback: {static: {status: 503}}``
    """

    url: str | None = None
    on_status: list[int] = Field(default_factory=lambda: [500, 502, 503, 504])
    timeout_s: float = Field(default=600.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True
    ca_bundle: Path | None = None
    pool: PoolConfig = Field(default_factory=PoolConfig)
    static: StaticResponseConfig | None = None

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
