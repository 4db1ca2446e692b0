from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.recording.assemble import (
    TEXT_BODY_CAP,
    _ChoicesAcc,
    _whole_chat_choices,
    assemble_output,
)
from proxy.recording.schema import Choice, Output, ToolCall

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


# --- chat streams ----------------------------------------------------------------------------


def test_chat_stream_joins_content_across_many_chunks() -> None:
    pieces = ["The", " capital", " of", " France", " is", " Paris", "."]
    out = assemble_output(CHAT, SSE, chat_stream(pieces))
    assert out == Output(
        streamed=True,
        choices=[Choice(index=0, text="The capital of France is Paris.", finish_reason="stop")],
        usage=USAGE,
        response_model="gpt-4o-2024-08-06",
    )


def test_chat_stream_with_two_choices_interleaved() -> None:
    body = sse(
        chunk(delta(0, role="assistant", content=""), delta(1, role="assistant", content="")),
        chunk(delta(1, content="Bon")),
        chunk(delta(0, content="Hel")),
        chunk(delta(0, content="lo")),
        chunk(delta(1, content="jour")),
        chunk(delta(0, finish="stop")),
        chunk(delta(1, finish="length")),
    )
    out = assemble_output(CHAT, SSE, body)
    assert [(c.index, c.text, c.finish_reason) for c in out.choices] == [
        (0, "Hello", "stop"),
        (1, "Bonjour", "length"),
    ]
    assert out.usage is None
    assert not out.partial


def test_chat_stream_merges_parallel_tool_calls_from_fragments() -> None:
    body = sse(
        chunk(delta(role="assistant", content=None)),
        chunk(delta(tool_calls=[tool_delta(0, call_id="call_A", name="get_", args="")])),
        chunk(delta(tool_calls=[{"index": 0, "function": {"name": "weather"}}])),
        chunk(delta(tool_calls=[tool_delta(0, args='{"city"')])),
        chunk(delta(tool_calls=[tool_delta(1, call_id="call_B", name="get_time", args='{"tz":')])),
        chunk(delta(tool_calls=[tool_delta(0, args=': "Paris"}')])),
        chunk(delta(tool_calls=[tool_delta(1, args=' "CET"}')])),
        chunk(delta(finish="tool_calls")),
    )
    out = assemble_output(CHAT, SSE, body)
    assert out.tool_calls == [
        ToolCall(id="call_A", name="get_weather", arguments='{"city": "Paris"}'),
        ToolCall(id="call_B", name="get_time", arguments='{"tz": "CET"}'),
    ]
    assert out.finish_reason == "tool_calls"
    assert out.text == ""


def test_chat_stream_tool_call_id_comes_from_the_first_fragment_that_has_it() -> None:
    body = sse(
        chunk(delta(tool_calls=[{"index": 0, "function": {"name": "f", "arguments": "{"}}])),
        chunk(delta(tool_calls=[{"index": 0, "id": "call_1", "function": {"arguments": "}"}}])),
        chunk(delta(tool_calls=[{"index": 0, "id": "call_2", "function": {"arguments": ""}}])),
    )
    assert assemble_output(CHAT, SSE, body).tool_calls == [
        ToolCall(id="call_1", name="f", arguments="{}")
    ]


def test_chat_stream_tool_calls_without_index_are_told_apart_by_id() -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
        {"id": "c2", "type": "function", "function": {"name": "b", "arguments": "{"}},
        {"function": {"arguments": "}"}},
        {"id": "c2", "function": {"arguments": ""}},
    ]
    body = sse(*(chunk(delta(tool_calls=[c])) for c in calls))
    assert assemble_output(CHAT, SSE, body).tool_calls == [
        ToolCall(id="c1", name="a", arguments="{}"),
        ToolCall(id="c2", name="b", arguments="{}"),
    ]


def test_chat_stream_keeps_the_last_usage_never_the_sum() -> None:
    # LiteLLM repeats usage on the final content chunk; summing would double the count.
    early = {"prompt_tokens": 19, "completion_tokens": 9, "total_tokens": 28, "cost": 1e-05}
    body = sse(
        chunk(delta(content="Hi")),
        chunk(delta(finish="stop"), usage=early),
        chunk(usage=USAGE),
        chunk(delta(content=""), usage=None),
    )
    assert assemble_output(CHAT, SSE, body).usage == USAGE


def test_chat_stream_refusal_is_joined() -> None:
    body = sse(
        chunk(delta(role="assistant", content=None, refusal="")),
        chunk(delta(refusal="I'm sorry, ")),
        chunk(delta(refusal="I can't help with that.")),
        chunk(delta(finish="stop")),
    )
    out = assemble_output(CHAT, SSE, body)
    assert out.choices[0].refusal == "I'm sorry, I can't help with that."
    assert out.text == ""


def test_chat_stream_without_done_is_partial() -> None:
    out = assemble_output(CHAT, SSE, chat_stream(["Hel", "lo"], done=False))
    assert out.partial
    assert out.text == "Hello"
    assert out.usage == USAGE


def test_chat_stream_cut_mid_event_is_partial_and_keeps_what_came_before() -> None:
    body = chat_stream(["Hel", "lo", " world"])
    cut = body.index(b"world") - 20
    out = assemble_output(CHAT, SSE, body[:cut], complete=False)
    assert out.partial
    assert out.text == "Hello"


def test_chat_stream_done_without_final_blank_line_is_complete() -> None:
    out = assemble_output(CHAT, SSE, chat_stream(["ok"]).rstrip(b"\n"))
    assert not out.partial
    assert out.text == "ok"


@pytest.mark.parametrize("eol", ["\r\n", "\r"])
def test_chat_stream_with_other_line_endings(eol: str) -> None:
    expected = assemble_output(CHAT, SSE, chat_stream(["a\nb", "c"]))
    assert assemble_output(CHAT, SSE, chat_stream(["a\nb", "c"], eol=eol)) == expected


def test_chat_stream_comment_lines_are_ignored() -> None:
    body = b": OPENROUTER PROCESSING\n\n" + chat_stream(["x"]).replace(
        b"\n\ndata: ", b"\n\n: keep-alive\n\ndata: ", 2
    )
    out = assemble_output(CHAT, SSE, body)
    assert (out.text, out.partial) == ("x", False)


def test_chat_stream_malformed_json_line_is_skipped_and_marks_partial() -> None:
    body = sse(chunk(delta(content="a")), b'{"id": "x", "choices": [', chunk(delta(content="b")))
    out = assemble_output(CHAT, SSE, body)
    assert out.text == "ab"
    assert out.partial


@pytest.mark.parametrize("done", [False, True])
def test_chat_stream_error_mid_stream_is_kept_in_body(done: bool) -> None:
    error = {"message": "upstream overloaded", "type": "server_error", "param": None, "code": None}
    body = sse(chunk(delta(content="Par")), {"error": error}, done=done)
    out = assemble_output(CHAT, SSE, body)
    assert out.partial
    assert out.body == {"error": error}
    assert out.text == "Par"


def test_chat_stream_error_event_with_plain_text_data() -> None:
    body = sse(chunk(delta(content="a"))).replace(b"data: [DONE]", b"event: error\ndata: boom")
    out = assemble_output(CHAT, SSE, body)
    assert (out.body, out.partial, out.text) == ({"error": "boom"}, True, "a")


def test_nothing_after_done_is_read() -> None:
    body = sse(chunk(delta(content="a"))) + sse(chunk(delta(content="b")), done=False)
    assert assemble_output(CHAT, SSE, body).text == "a"


def test_incomplete_or_truncated_bytes_make_the_output_partial() -> None:
    body = chat_stream(["a"])
    assert assemble_output(CHAT, SSE, body, complete=False).partial
    truncated = assemble_output(CHAT, SSE, body, truncated=True)
    assert (truncated.partial, truncated.truncated) == (True, True)


def test_completions_stream() -> None:
    def text_chunk(index: int, text: str, finish: str | None = None) -> dict[str, Any]:
        choice = {"index": index, "text": text, "logprobs": None, "finish_reason": finish}
        return {
            "id": "cmpl-1",
            "object": "text_completion",
            "model": "gpt-3.5-turbo-instruct",
            "created": 1,
            "choices": [choice],
        }

    body = sse(
        text_chunk(0, "Once"),
        text_chunk(1, "In"),
        text_chunk(0, " upon"),
        text_chunk(1, " a", "length"),
        text_chunk(0, "", "stop"),
        {"id": "cmpl-1", "object": "text_completion", "choices": [], "usage": USAGE},
    )
    out = assemble_output(COMPLETIONS, "text/event-stream", body)
    assert [(c.text, c.finish_reason) for c in out.choices] == [
        ("Once upon", "stop"),
        ("In a", "length"),
    ]
    assert (out.usage, out.response_model, out.streamed) == (USAGE, "gpt-3.5-turbo-instruct", True)


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


def test_chat_json() -> None:
    out = assemble_output(CHAT, JSON, orjson.dumps(CHAT_JSON))
    assert out == Output(
        body=CHAT_JSON,
        choices=[
            Choice(
                text="The capital of France is Paris.",
                tool_calls=[
                    ToolCall(id="call_A", name="get_weather", arguments='{"city": "Paris"}'),
                    ToolCall(id="call_B", name="get_time", arguments='{"tz": "CET"}'),
                ],
                finish_reason="tool_calls",
            )
        ],
        usage=USAGE,
        response_model="gpt-4o-2024-08-06",
    )


def test_chat_json_refusal() -> None:
    body = {
        **CHAT_JSON,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": None, "refusal": "I can't."},
            }
        ],
    }
    out = assemble_output(CHAT, JSON, orjson.dumps(body))
    assert (out.text, out.choices[0].refusal) == ("", "I can't.")


def test_streamed_chat_and_its_non_streamed_twin_assemble_alike() -> None:
    message = CHAT_JSON["choices"][0]["message"]  # type: ignore[index]
    streamed = sse(
        chunk(delta(role="assistant", content="", refusal=None)),
        *(chunk(delta(content=w)) for w in ["The capital", " of France", " is Paris."]),
        *(
            chunk(delta(tool_calls=[tool_delta(i, call_id=c["id"], name=c["function"]["name"])]))
            for i, c in enumerate(message["tool_calls"])
        ),
        *(
            chunk(delta(tool_calls=[tool_delta(i, args=c["function"]["arguments"][:5])]))
            for i, c in enumerate(message["tool_calls"])
        ),
        *(
            chunk(delta(tool_calls=[tool_delta(i, args=c["function"]["arguments"][5:])]))
            for i, c in enumerate(message["tool_calls"])
        ),
        chunk(delta(finish="tool_calls")),
        chunk(usage=USAGE),
    )
    a = assemble_output(CHAT, SSE, streamed)
    b = assemble_output(CHAT, JSON, orjson.dumps(CHAT_JSON))
    assert (a.choices, a.usage, a.response_model, a.partial) == (
        b.choices,
        b.usage,
        b.response_model,
        b.partial,
    )
    assert (a.streamed, b.streamed) == (True, False)


def test_completions_json() -> None:
    body = {
        "id": "cmpl-1",
        "object": "text_completion",
        "model": "gpt-3.5-turbo-instruct",
        "choices": [{"index": 0, "text": "Once upon", "logprobs": None, "finish_reason": "length"}],
        "usage": USAGE,
    }
    out = assemble_output(COMPLETIONS, JSON, orjson.dumps(body))
    assert (out.text, out.finish_reason, out.usage, out.body) == (
        "Once upon",
        "length",
        USAGE,
        body,
    )


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


def test_embeddings_json_keeps_the_body_and_usage() -> None:
    body: dict[str, Any] = {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }
    out = assemble_output(EMBEDDINGS, JSON, orjson.dumps(body))
    assert out == Output(body=body, usage=body["usage"], response_model="text-embedding-3-small")


@pytest.mark.parametrize("route", [CHAT, COMPLETIONS, RESPONSES, EMBEDDINGS, "/v1/models"])
def test_error_json_is_kept_as_body_without_choices(route: str) -> None:
    error = {
        "error": {
            "message": "Rate limit reached",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    out = assemble_output(route, JSON, orjson.dumps(error))
    assert out == Output(body=error)


@pytest.mark.parametrize("route", [CHAT, RESPONSES, "/v1/models"])
def test_invalid_json_keeps_capped_text_and_is_partial(route: str) -> None:
    body = b"<html>502 Bad Gateway</html>" + b"x" * TEXT_BODY_CAP
    out = assemble_output(route, "text/html", body)
    assert out.partial
    assert out.body == body[:TEXT_BODY_CAP].decode()


def test_chat_json_without_choices_is_partial() -> None:
    assert assemble_output(CHAT, JSON, b'{"id": "x"}').partial
    assert assemble_output(CHAT, JSON, b"[1, 2]").partial


def test_other_routes_keep_parsed_json() -> None:
    body = {"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}
    assert assemble_output("/v1/models", JSON, orjson.dumps(body)) == Output(body=body)


def test_prefixed_routes_and_content_type_sniffing() -> None:
    azure = "/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01"
    assert assemble_output(azure, "Text/Event-Stream", chat_stream(["a"])).text == "a"
    assert assemble_output(CHAT, None, chat_stream(["a"])).streamed
    assert not assemble_output(CHAT, None, orjson.dumps(CHAT_JSON)).streamed


# --- never raises ----------------------------------------------------------------------------


@contextmanager
def no_safety_net() -> Iterator[None]:
    """Fail if the catch-all fired: that would mean a bug, merely hidden."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Collect(logging.WARNING)
    logger = logging.getLogger("proxy.recording.assemble")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
    assert not records, records[0].exc_info


ROUTES = st.sampled_from([CHAT, COMPLETIONS, RESPONSES, EMBEDDINGS, "/v1/models"])
CONTENT_TYPES = st.sampled_from([SSE, JSON, None, "text/plain"])

KEYS = [
    "choices",
    "delta",
    "message",
    "content",
    "tool_calls",
    "index",
    "id",
    "function",
    "name",
    "arguments",
    "usage",
    "model",
    "finish_reason",
    "refusal",
    "text",
    "error",
    "type",
    "response",
    "item",
    "output",
    "output_index",
    "content_index",
    "status",
    "call_id",
    "incomplete_details",
    "reason",
]
TYPES = [
    "response.output_text.delta",
    "response.refusal.delta",
    "response.output_item.added",
    "response.output_item.done",
    "response.function_call_arguments.delta",
    "response.completed",
    "response.incomplete",
    "response.failed",
    "error",
    "function_call",
    "message",
    "output_text",
    "refusal",
    "completed",
    "incomplete",
]
SCALARS = (
    st.none() | st.booleans() | st.integers(-3, 3) | st.sampled_from(TYPES) | st.text(max_size=5)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=25,
)


@settings(max_examples=200)
@given(ROUTES, CONTENT_TYPES, st.binary(max_size=1000), st.booleans(), st.booleans())
def test_assemble_never_raises_on_arbitrary_bytes(
    route: str, content_type: str | None, body: bytes, complete: bool, truncated: bool
) -> None:
    with no_safety_net():
        out = assemble_output(route, content_type, body, complete=complete, truncated=truncated)
    out.model_dump_json()
    assert out.partial or (complete and not truncated)


@settings(max_examples=200)
@given(ROUTES, st.lists(JSON_VALUES, max_size=8), st.booleans())
def test_assemble_never_raises_on_hostile_but_well_framed_streams(
    route: str, payloads: list[Any], done: bool
) -> None:
    body = sse(*payloads, done=done)
    with no_safety_net():
        out = assemble_output(route, SSE, body)
        json_out = assemble_output(route, JSON, orjson.dumps(payloads[0] if payloads else None))
    out.model_dump_json()
    json_out.model_dump_json()


# --- the whole-answer fast path ----------------------------------------------------------

ODD_SCALARS = st.none() | st.booleans() | st.integers(-1, 3) | st.sampled_from(["", "0", "x@y.io"])


def _often(draw: st.DrawFn, tenths: int) -> bool:
    return draw(st.integers(0, 9)) < tenths


@st.composite
def odd_tool_calls(draw: st.DrawFn) -> list[Any]:
    """Tool calls mostly in the usual shape, so that both paths get their share."""
    calls: list[Any] = []
    for position in range(draw(st.integers(0, 3))):
        if not _often(draw, 9):
            calls.append(draw(ODD_SCALARS))
            continue
        call: dict[str, Any] = {}
        if _often(draw, 5):
            call["index"] = position if _often(draw, 8) else draw(ODD_SCALARS)
        if _often(draw, 8):
            call["id"] = draw(st.sampled_from(["call_1", "call_2"]) | ODD_SCALARS)
        if _often(draw, 9):
            function = {key: draw(ODD_SCALARS) for key in ("name", "arguments") if _often(draw, 8)}
            call["function"] = function if _often(draw, 9) else draw(ODD_SCALARS)
        calls.append(call)
    return calls


@st.composite
def odd_choices(draw: st.DrawFn) -> list[Any]:
    choices: list[Any] = []
    for position in range(draw(st.integers(0, 3))):
        if not _often(draw, 9):
            choices.append(draw(ODD_SCALARS))
            continue
        message: dict[str, Any] = {
            key: draw(ODD_SCALARS) for key in ("content", "refusal") if _often(draw, 7)
        }
        if _often(draw, 5):
            message["tool_calls"] = draw(odd_tool_calls()) if _often(draw, 9) else draw(ODD_SCALARS)
        choice: dict[str, Any] = {}
        if _often(draw, 9):
            choice["index"] = position if _often(draw, 8) else draw(ODD_SCALARS)
        if _often(draw, 9):
            choice["message"] = message if _often(draw, 9) else draw(ODD_SCALARS)
        if not _often(draw, 9):
            choice["delta"] = message
        if not _often(draw, 9):
            choice["text"] = draw(ODD_SCALARS)
        if _often(draw, 7):
            choice["finish_reason"] = draw(ODD_SCALARS | st.just("stop"))
        choices.append(choice)
    return choices


def _accumulated(answer: dict[str, Any]) -> Any:
    acc = _ChoicesAcc()
    acc.add_chunk(answer, whole=True)
    return acc.output(body=answer, partial=False)


def test_the_usual_chat_answers_take_the_fast_path() -> None:
    assert _whole_chat_choices(CHAT_JSON) == _accumulated(CHAT_JSON)["choices"]


@settings(max_examples=500)
@given(odd_choices() | ODD_SCALARS)
def test_whole_chat_fast_path_agrees_with_the_accumulators(choices: Any) -> None:
    answer = {"model": "m", "choices": choices}
    fast = _whole_chat_choices(answer)
    if fast is not None:  # None hands the answer to the accumulators
        slow = _accumulated(answer)
        assert (fast, False) == (slow["choices"], slow["partial"])
