"""Upstream answers for the assembly tests, spelled the way OpenAI's servers send them."""

from __future__ import annotations

from typing import Any

import orjson

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
RESPONSES = "/v1/responses"
EMBEDDINGS = "/v1/embeddings"
SSE = "text/event-stream; charset=utf-8"
JSON = "application/json"

USAGE = {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}


def sse(*events: Any, eol: str = "\n", done: bool = True) -> bytes:
    """Frame payloads as an OpenAI stream; bytes pass through as already-framed lines."""
    out = []
    for event in events:
        data = event if isinstance(event, bytes) else orjson.dumps(event)
        out.append(b"data: " + data + (eol * 2).encode())
    if done:
        out.append(f"data: [DONE]{eol}{eol}".encode())
    return b"".join(out)


def chunk(*choices: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-AbC123",
        "object": "chat.completion.chunk",
        "created": 1718000000,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_4e2b2da518",
        "choices": list(choices),
        **extra,
    }


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"index": index, "delta": fields, "logprobs": None, "finish_reason": finish}


def tool_delta(
    index: int, *, call_id: str | None = None, name: str | None = None, args: str = ""
) -> dict[str, Any]:
    """A tool-call fragment as OpenAI sends it: id, type and name only on the first one."""
    call: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if call_id is not None:
        call |= {"id": call_id, "type": "function"}
        call["function"]["name"] = name
    return call


def chat_stream(text_pieces: list[str], **kw: Any) -> bytes:
    chunks = [chunk(delta(role="assistant", content="", refusal=None))]
    chunks += [chunk(delta(content=p)) for p in text_pieces]
    chunks += [chunk(delta(finish="stop")), chunk(usage=USAGE)]
    return sse(*chunks, **kw)


CHAT_JSON = {
    "id": "chatcmpl-AbC123",
    "object": "chat.completion",
    "created": 1718000000,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The capital of France is Paris.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "call_A",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call_B",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"tz": "CET"}'},
                    },
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": USAGE,
    "system_fingerprint": "fp_4e2b2da518",
}
