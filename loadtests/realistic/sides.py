"""One side of a pair as the proxy records it: answered (plain or streamed), rejected with
400, or failed in transit.

A non-streamed answer keeps the parsed ``chat.completion`` body, as the recorder does; a
streamed one has ``body=None`` and its assembled choice. Usage is what an OpenAI-compatible
server reports: prompt tokens of the whole request (system and user message, the tools'
schemas), completion tokens of the answer, four characters to a token
(:func:`proxy.sim.text.estimate_tokens`).
"""

from __future__ import annotations

import math
import random
from typing import Any

from loadtests.realistic.latency import Timing
from proxy.recording.schema import Choice, ErrorInfo, Output, Role, Side, ToolCall
from proxy.sim.answers import Written
from proxy.sim.text import estimate_tokens

__all__ = ["answered", "rejected", "transient"]

_TIMEOUT_MS = 30_000.0
_TRANSIENT = (
    (500, "internal server error"),
    (502, "bad gateway"),
    (503, "the model is overloaded, try again later"),
    (None, "no first byte in time"),
)
_TRANSIENT_WEIGHTS = (0.25, 0.2, 0.3, 0.25)
_REJECTIONS = (
    "This model's maximum context length is 128000 tokens; your messages resulted in more.",
    "Invalid 'messages[1].content': string too long.",
    "Invalid value for 'tool_choice': the tool named in it is not offered in 'tools'.",
)


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def answered(
    role: Role,
    name: str,
    model: str,
    written: Written,
    stream: bool,
    timing: Timing,
    prompt_tokens: int,
    rng: random.Random,
    created: int,
) -> Side:
    """A 200 answer with ``written``'s text or tool calls."""
    calls = [
        ToolCall(id=f"call_{_hex(rng)[:12]}", name=tool, arguments=arguments)
        for tool, arguments in written.tool_calls
    ]
    finish = "tool_calls" if calls else "stop"
    said = written.text + "".join(c.arguments for c in calls)
    completion = max(1, estimate_tokens(said))
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
    }
    choice = Choice(text=written.text, tool_calls=calls, finish_reason=finish)
    body: Any = None
    if not stream:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": written.text if written.text or not calls else None,
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in calls
            ]
        body = {
            "id": f"chatcmpl-{_hex(rng)}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            ],
            "usage": usage,
        }
    output = Output(streamed=stream, body=body, choices=[choice], usage=usage, response_model=model)
    return Side(
        role=role,
        name=name,
        model=model,
        status=200,
        latency_ms=timing.latency_ms,
        ttft_ms=timing.ttft_ms,
        output=output,
    )


def rejected(role: Role, name: str, model: str, rng: random.Random) -> Side:
    """A 400: rejected before any work, so fast (median 60 ms)."""
    latency = 60.0 * math.exp(0.3 * rng.gauss(0.0, 1.0))
    error = ErrorInfo(kind="http_status", message=f"400: {rng.choice(_REJECTIONS)}")
    return Side(
        role=role, name=name, model=model, status=400, error=error, latency_ms=latency,
        ttft_ms=latency,
    )  # fmt: skip


def transient(role: Role, name: str, model: str, rng: random.Random, median_ms: float) -> Side:
    """A 5xx (about half the usual latency) or a timeout after 30 s without a first byte."""
    status, message = rng.choices(_TRANSIENT, weights=_TRANSIENT_WEIGHTS)[0]
    if status is None:
        error = ErrorInfo(kind="first_byte_timeout", message=message)
        return Side(role=role, name=name, model=model, error=error, latency_ms=_TIMEOUT_MS)
    latency = 0.5 * median_ms * math.exp(0.5 * rng.gauss(0.0, 1.0))
    error = ErrorInfo(kind="http_status", message=f"{status}: {message}")
    return Side(
        role=role, name=name, model=model, status=status, error=error, latency_ms=latency,
        ttft_ms=latency,
    )  # fmt: skip
