"""Production's recorded answer as the incumbent side of a replayed pair
(``darklaunch replay --incumbent recorded``): the candidates are asked again, the incumbent is
not, so a golden set can gate a candidate without paying for the incumbent twice.

The recorded answer is a flattened view (``comparators.pair_view.side_output``: text, tool
calls, refusal, finish reason, error), so the side has no usage, latency or raw body: cost and
latency checks see it as unmeasured, never as free or instant.
"""

from __future__ import annotations

from typing import Any

from proxy.recording.encode import ChoiceData, ErrorData, SideData, ToolCallData
from proxy.recording.schema import Role

__all__ = ["recorded_side"]


def _str(view: dict[str, Any], key: str) -> str | None:
    value = view.get(key)
    return value if isinstance(value, str) else None


def _tool_calls(view: dict[str, Any]) -> list[ToolCallData]:
    calls = view.get("tool_calls")
    if not isinstance(calls, list):
        return []
    return [
        {"id": None, "name": _str(call, "name") or "", "arguments": _str(call, "arguments") or ""}
        for call in calls
        if isinstance(call, dict)
    ]


def recorded_side(view: dict[str, Any]) -> SideData:
    """The incumbent side a recorded view stands for; a recorded error stays an error."""
    error_kind = _str(view, "error")
    error: ErrorData | None = None
    if error_kind is not None:
        error = {"kind": "recorded", "message": f"production's recorded answer: {error_kind}"}
    choice: ChoiceData = {
        "index": 0,
        "text": _str(view, "text") or "",
        "tool_calls": _tool_calls(view),
        "finish_reason": _str(view, "finish_reason"),
        "refusal": _str(view, "refusal"),
        "reasoning": None,
    }
    return {
        "role": Role.INCUMBENT,
        "name": "incumbent",
        "model": _str(view, "model"),
        "version": "recorded",
        "status": None if error is not None else 200,
        "error": error,
        "latency_ms": None,
        "ttft_ms": None,
        "output": None
        if error is not None
        else {
            "streamed": False,
            "body": None,
            "choices": [choice],
            "usage": None,
            "response_model": _str(view, "model"),
            "partial": False,
            "truncated": False,
            "format": "chat",
            "unscored": None,
        },
    }
