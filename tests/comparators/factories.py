"""Hand-built pair records for comparator tests: every default is a healthy chat answer, so a
test states only what it is about."""

from __future__ import annotations

from typing import Any

from comparators.base import ComparatorContext, Pairing
from proxy.recording.schema import (
    Choice,
    ErrorInfo,
    Output,
    PairRecord,
    RequestInfo,
    Role,
    Side,
    ToolCall,
)

_UNSET: Any = object()


def usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    """Chat Completions usage."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def call(name: str, arguments: str = "{}", id: str | None = None) -> ToolCall:
    return ToolCall(id=id, name=name, arguments=arguments)


def output(
    text: str = "Paris is the capital of France.",
    *,
    tool_calls: list[ToolCall] | None = None,
    finish_reason: str | None = "stop",
    refusal: str | None = None,
    usage: dict[str, Any] | None = None,
    response_model: str | None = None,
) -> Output:
    choice = Choice(
        text=text, tool_calls=tool_calls or [], finish_reason=finish_reason, refusal=refusal
    )
    return Output(choices=[choice], usage=usage, response_model=response_model)


def side(
    text: str = "Paris is the capital of France.",
    *,
    role: Role = Role.INCUMBENT,
    name: str | None = None,
    model: str | None = "big-model-v1",
    status: int | None = 200,
    error: str | None = None,
    latency_ms: float | None = 100.0,
    ttft_ms: float | None = 50.0,
    out: Output | None = _UNSET,
    **output_kwargs: Any,
) -> Side:
    """A side; ``error="timeout"`` makes a failed one with no output."""
    if out is _UNSET:
        out = None if error is not None else output(text, **output_kwargs)
    return Side(
        role=role,
        name=name or role.value,
        model=model,
        status=status,
        error=ErrorInfo(kind=error, message=f"simulated {error}") if error else None,
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        output=out,
    )


def mirror(text: str = "Paris is the capital of France.", **kwargs: Any) -> Side:
    kwargs.setdefault("role", Role.CANDIDATE)
    kwargs.setdefault("name", "cand-a")
    kwargs.setdefault("model", "small-model-v2")
    return side(text, **kwargs)


def record(
    incumbent: Side | None = None,
    mirrors: list[Side] | None = None,
    *,
    route: str = "/v1/chat/completions",
    body: Any = _UNSET,
    model: str | None = "big-model-v1",
    pair_id: str = "pair-1",
) -> PairRecord:
    if body is _UNSET:
        body = {"model": model, "messages": [{"role": "user", "content": "Capital of France?"}]}
    return PairRecord(
        pair_id=pair_id,
        campaign="test",
        timestamp=1_700_000_000.0,
        route=route,
        method="POST",
        request=RequestInfo(body=body, model=model),
        incumbent=incumbent if incumbent is not None else side(),
        mirrors=mirrors if mirrors is not None else [mirror()],
    )


def pairing(
    incumbent: Side | None = None, mirror_side: Side | None = None, **kwargs: Any
) -> Pairing:
    """One (pair, mirror) with ``kwargs`` passed to :func:`record`."""
    rec = record(incumbent, [mirror_side if mirror_side is not None else mirror()], **kwargs)
    return Pairing(rec, rec.incumbent, rec.mirrors[0])


def context(**kwargs: Any) -> ComparatorContext:
    return ComparatorContext(**kwargs)
