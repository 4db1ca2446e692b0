"""What every wire format's assembler shares: the output's plain data, and readers of untrusted
JSON that never raise and never trust a type."""

from __future__ import annotations

from typing import Any

import orjson

from proxy.recording.encode import ChoiceData, OutputData

__all__ = [
    "INVALID",
    "TEXT_BODY_CAP",
    "as_dict",
    "as_int",
    "as_list",
    "as_str",
    "body_text",
    "error_of",
    "loads",
    "output_data",
]

TEXT_BODY_CAP = 64 * 1024
"""Bytes of an unparseable body kept as text: enough to read an error page, not a whole dump."""

INVALID: Any = object()
"""What :func:`loads` returns for bytes that are not JSON."""


def output_data(
    body: Any,
    *,
    choices: list[ChoiceData] | None = None,
    usage: dict[str, Any] | None = None,
    model: str | None = None,
    partial: bool = False,
    format: str | None = None,
    unscored: str | None = None,
) -> OutputData:
    return {
        "streamed": False,
        "body": body,
        "choices": [] if choices is None else choices,
        "usage": usage,
        "response_model": model,
        "partial": partial,
        "truncated": False,
        "format": format,
        "unscored": unscored,
    }


def body_text(body: bytes) -> str:
    return body[:TEXT_BODY_CAP].decode("utf-8", "replace")


def loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return INVALID


def as_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def error_of(payload: Any) -> Any:
    """The error object a chunk carries, or ``None`` for an ordinary chunk."""
    return payload.get("error") if isinstance(payload, dict) else None
