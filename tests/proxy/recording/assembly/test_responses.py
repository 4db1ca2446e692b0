"""The Responses API, as events or as a whole response object."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from proxy.recording.assembly.dispatch import assemble_output
from proxy.recording.schema import Choice, Output, ToolCall
from tests.proxy.recording.assembly.samples import JSON, RESPONSES, SSE

# --- Responses streams -----------------------------------------------------------------------

R_USAGE = {
    "input_tokens": 36,
    "input_tokens_details": {"cached_tokens": 0},
    "output_tokens": 87,
    "output_tokens_details": {"reasoning_tokens": 0},
    "total_tokens": 123,
}


def responses_stream(*events: dict[str, Any]) -> bytes:
    return b"".join(
        b"event: "
        + e["type"].encode()
        + b"\ndata: "
        + orjson.dumps({**e, "sequence_number": i})
        + b"\n\n"
        for i, e in enumerate(events)
    )


def response_obj(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "resp_1",
        "object": "response",
        "model": "gpt-4.1-2025-04-14",
        "status": status,
        "output": [],
        "usage": None,
        **extra,
    }


FN_ITEM = {"type": "function_call", "id": "fc_1", "call_id": "call_9", "name": "get_weather"}


def text_and_tool_events() -> list[dict[str, Any]]:
    return [
        {"type": "response.created", "response": response_obj("in_progress")},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": {"type": "message", "id": "msg_1", "role": "assistant", "content": []},
        },
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "content_index": 0,
            "item_id": "msg_1",
            "delta": "Let me ",
        },
        {
            "type": "response.output_text.delta",
            "output_index": 0,
            "content_index": 0,
            "item_id": "msg_1",
            "delta": "check.",
        },
        {
            "type": "response.output_item.added",
            "output_index": 1,
            "item": {**FN_ITEM, "arguments": "", "status": "in_progress"},
        },
        {
            "type": "response.function_call_arguments.delta",
            "output_index": 1,
            "item_id": "fc_1",
            "delta": '{"city":',
        },
        {
            "type": "response.function_call_arguments.delta",
            "output_index": 1,
            "item_id": "fc_1",
            "delta": ' "Oslo"}',
        },
        {
            "type": "response.output_item.done",
            "output_index": 1,
            "item": {**FN_ITEM, "arguments": '{"city": "Oslo"}', "status": "completed"},
        },
    ]


def test_responses_stream_with_text_and_function_call() -> None:
    final = response_obj("completed", usage=R_USAGE)
    body = responses_stream(
        *text_and_tool_events(), {"type": "response.completed", "response": final}
    )
    out = assemble_output(RESPONSES, SSE, body)
    assert out == Output(
        streamed=True,
        format="responses",
        choices=[
            Choice(
                text="Let me check.",
                tool_calls=[
                    ToolCall(id="call_9", name="get_weather", arguments='{"city": "Oslo"}')
                ],
                finish_reason="tool_calls",
            )
        ],
        usage=R_USAGE,
        response_model="gpt-4.1-2025-04-14",
    )


def test_responses_stream_incomplete_is_partial_with_its_reason() -> None:
    final = response_obj("incomplete", incomplete_details={"reason": "max_output_tokens"})
    body = responses_stream(
        *text_and_tool_events()[:4], {"type": "response.incomplete", "response": final}
    )
    out = assemble_output(RESPONSES, SSE, body)
    assert (out.partial, out.finish_reason, out.text) == (
        True,
        "max_output_tokens",
        "Let me check.",
    )


@pytest.mark.parametrize(
    ("last", "expected_error"),
    [
        (
            {
                "type": "response.failed",
                "response": response_obj("failed", error={"code": "server_error", "message": "x"}),
            },
            {"code": "server_error", "message": "x"},
        ),
        (
            {"type": "error", "code": "rate_limit_exceeded", "message": "slow down", "param": None},
            {
                "type": "error",
                "code": "rate_limit_exceeded",
                "message": "slow down",
                "param": None,
                "sequence_number": 4,
            },
        ),
    ],
)
def test_responses_stream_failure_keeps_the_error(
    last: dict[str, Any], expected_error: Any
) -> None:
    out = assemble_output(RESPONSES, SSE, responses_stream(*text_and_tool_events()[:4], last))
    assert out.partial
    assert out.body == {"error": expected_error}
    assert out.text == "Let me check."


def test_responses_stream_text_is_concatenated_in_output_order() -> None:
    def text(output_index: int, content_index: int, piece: str) -> dict[str, Any]:
        return {
            "type": "response.output_text.delta",
            "output_index": output_index,
            "content_index": content_index,
            "delta": piece,
        }

    final = {"type": "response.completed", "response": response_obj("completed")}
    body = responses_stream(text(2, 0, "c"), text(0, 1, "b"), text(0, 0, "a"), final)
    assert assemble_output(RESPONSES, SSE, body).text == "abc"


def test_responses_stream_without_terminal_event_is_partial() -> None:
    out = assemble_output(RESPONSES, SSE, responses_stream(*text_and_tool_events()))
    assert out.partial
    assert out.finish_reason is None
    assert out.tool_calls[0].arguments == '{"city": "Oslo"}'


def test_responses_stream_with_only_the_terminal_event_uses_its_output() -> None:
    final = response_obj("completed", usage=R_USAGE, output=RESPONSE_OUTPUT)
    out = assemble_output(
        RESPONSES, SSE, responses_stream({"type": "response.completed", "response": final})
    )
    assert (out.text, out.finish_reason, out.partial) == ("Hi there", "stop", False)


# --- non-streamed JSON -----------------------------------------------------------------------

RESPONSE_OUTPUT = [
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {
        "type": "message",
        "id": "msg_1",
        "role": "assistant",
        "status": "completed",
        "content": [
            {"type": "output_text", "text": "Hi ", "annotations": []},
            {"type": "output_text", "text": "there", "annotations": []},
        ],
    },
]


def test_responses_json_with_text_and_function_call() -> None:
    fn = {**FN_ITEM, "arguments": '{"city": "Oslo"}', "status": "completed"}
    body = response_obj("completed", output=[*RESPONSE_OUTPUT, fn], usage=R_USAGE)
    out = assemble_output(RESPONSES, JSON, orjson.dumps(body))
    assert out == Output(
        body=body,
        format="responses",
        choices=[
            Choice(
                text="Hi there",
                tool_calls=[
                    ToolCall(id="call_9", name="get_weather", arguments='{"city": "Oslo"}')
                ],
                finish_reason="tool_calls",
            )
        ],
        usage=R_USAGE,
        response_model="gpt-4.1-2025-04-14",
    )


def test_responses_json_incomplete_is_partial() -> None:
    body = response_obj(
        "incomplete", output=RESPONSE_OUTPUT, incomplete_details={"reason": "content_filter"}
    )
    out = assemble_output(RESPONSES, JSON, orjson.dumps(body))
    assert (out.partial, out.finish_reason, out.text) == (True, "content_filter", "Hi there")


def test_streamed_responses_and_its_non_streamed_twin_assemble_alike() -> None:
    fn = {**FN_ITEM, "arguments": '{"city": "Oslo"}', "status": "completed"}
    part = {"type": "output_text", "text": "Let me check.", "annotations": []}
    message = {"type": "message", "id": "msg_1", "role": "assistant", "content": [part]}
    final = response_obj("completed", output=[message, fn], usage=R_USAGE)
    streamed = responses_stream(
        *text_and_tool_events(), {"type": "response.completed", "response": final}
    )
    a = assemble_output(RESPONSES, SSE, streamed)
    b = assemble_output(RESPONSES, JSON, orjson.dumps(final))
    assert (a.choices, a.usage, a.response_model, a.partial) == (
        b.choices,
        b.usage,
        b.response_model,
        b.partial,
    )
