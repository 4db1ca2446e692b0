"""Where paired records go and what they keep. Both planes read this section: the data plane
writes the streams it names, the analysis plane reads them back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from proxy.config.base import NAME_PATTERN, Section

__all__ = ["BuiltinPattern", "RecordingConfig", "RedactConfig"]

BuiltinPattern = Literal["email", "phone", "card", "api_key", "bearer"]
_ALL_BUILTINS: tuple[BuiltinPattern, ...] = ("email", "phone", "card", "api_key", "bearer")


class RedactConfig(Section):
    """What is masked before a record leaves the process.

    ``redact: {patterns: {employee_id: "EMP-[0-9]{6}"}, drop_paths: [metadata.user_email]}``
    """

    enabled: bool = True
    builtins: list[BuiltinPattern] = Field(default_factory=lambda: list(_ALL_BUILTINS))
    patterns: dict[str, str] = Field(default_factory=dict)
    drop_paths: list[str] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _check_patterns(cls, value: dict[str, str]) -> dict[str, str]:
        for name, pattern in value.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"valid regular expressions; {name!r} fails: {exc}") from exc
        return value


class RecordingConfig(Section):
    """Where paired records go and what they keep.

    ``recording: {campaign: gpt5-vs-mini}`` records to an embedded Redis under ``data_dir``;
    ``recording: {redis_url: "redis://redis:6379/0", campaign: gpt5-vs-mini}`` to a real one.
    """

    redis_url: str | None = None
    """Redis to record to; unset starts an embedded Redis under `data_dir`."""
    campaign: str = Field(default="default", pattern=NAME_PATTERN)
    """Names the streams `darklaunch:{<campaign>}:pairs` and `:scores`."""
    max_len: int = Field(default=1_000_000, ge=1)
    """Approximate cap on the pairs stream (`XADD MAXLEN ~`)."""
    retention_h: float | None = Field(default=None, gt=0)
    """Age limit on the pairs stream (`XTRIM MINID`)."""
    data_dir: Path = Path(".darklaunch/redis")
    """Where the embedded Redis keeps its data."""
    spool_dir: Path = Path(".darklaunch/spool")
    """Where records wait on disk while Redis is away."""
    spool_max_bytes: int = Field(default=1 << 30, gt=0)
    """Spool size cap; beyond it records are dropped (reason spool_full)."""
    queue_size: int = Field(default=10_000, ge=1)
    """In-memory queue before the writer; beyond it records are dropped (queue_full)."""
    batch_size: int = Field(default=256, ge=1)
    """Records per Redis write."""
    flush_timeout_s: float = Field(default=30.0, gt=0)
    """How long shutdown waits to flush; what is left stays in the spool."""
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    """Request bodies longer than this are truncated in the record."""
    max_output_bytes: int = Field(default=1024 * 1024, gt=0)
    """Each answer is kept up to this size for the record."""
    stream_usage: Literal["off", "inject"] = "off"
    """`inject` asks the incumbent for stream usage and hides it from clients that did not."""
    redact: RedactConfig = Field(default_factory=RedactConfig)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("a redis://, rediss:// or unix:// URL")
        return value
