"""Where paired records go and what they keep. Both planes read this section: the data plane
writes the streams it names, the analysis plane reads them back."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from proxy.config.base import NAME_PATTERN, ConfigPath, Section

__all__ = ["BuiltinPattern", "RecordingConfig", "RedactConfig"]

BuiltinPattern = Literal["email", "phone", "card", "api_key", "bearer"]
_ALL_BUILTINS: tuple[BuiltinPattern, ...] = ("email", "phone", "card", "api_key", "bearer")


class RedactConfig(Section):
    """What is masked before a record leaves the process.

    ``redact: {patterns: {employee_id: "EMP-[0-9]{6}"}, drop_paths: [metadata.user_email]}``
    """

    enabled: bool = True
    """Mask records at all; `false` records headers, bodies and answers verbatim."""
    builtins: list[BuiltinPattern] = Field(default_factory=lambda: list(_ALL_BUILTINS))
    """Built-in patterns to mask; each match becomes `[REDACTED:<name>]`."""
    patterns: dict[str, str] = Field(default_factory=dict)
    """Your own patterns, name -> Python regular expression, masked like the built-ins."""
    drop_paths: list[str] = Field(default_factory=list)
    """JSON paths removed from the recorded request body, e.g. `messages[*].name`."""

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
    """Approximate cap on the pairs stream's length, in records (`XADD MAXLEN ~`)."""
    retention_h: float | None = Field(default=None, gt=0)
    """Age limit on the pairs stream, in hours (`XTRIM MINID`); unset keeps records until
    `max_len` pushes them out."""
    data_dir: ConfigPath = Path(".darklaunch/redis")
    """Folder where the embedded Redis keeps its data and socket (unused with `redis_url`)."""
    spool_dir: ConfigPath = Path(".darklaunch/spool")
    """Folder where records wait on disk while Redis is away, replayed in order after."""
    spool_max_bytes: int = Field(default=1 << 30, gt=0)
    """Spool size cap, in bytes; beyond it records are dropped (reason spool_full)."""
    queue_size: int = Field(default=10_000, ge=1)
    """Records queued in memory for the writer at most; beyond it they are dropped
    (reason queue_full)."""
    batch_size: int = Field(default=256, ge=1)
    """Records per Redis write, at most."""
    flush_timeout_s: float = Field(default=30.0, gt=0)
    """Seconds shutdown waits to flush records to Redis; what is left stays in the spool."""
    max_body_bytes: int = Field(default=256 * 1024, gt=0)
    """Request bodies longer than this many bytes (as JSON) are recorded cut, as a string."""
    max_output_bytes: int = Field(default=1024 * 1024, gt=0)
    """Bytes of each side's answer kept for the record; a longer one is recorded truncated."""
    stream_usage: Literal["off", "inject"] = "off"
    """`inject` asks the incumbent for stream usage and hides it from clients that did not."""
    redact: RedactConfig = Field(default_factory=RedactConfig)
    """What is masked or dropped before a record leaves the process."""

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("a redis://, rediss:// or unix:// URL")
        return value
