"""Anthropic's Messages API, as events or as a whole Message, spelled the way Anthropic sends it."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.recording.assembly.dispatch import assemble_output
from proxy.recording.schema import Choice, Output, ToolCall
from tests.proxy.recording.assembly.samples import JSON, SSE
from tests.proxy.recording.assembly.test_dispatch import no_safety_net

MESSAGES = "/v1/messages"
MODEL = "claude-sonnet-4-5-20250929"

# --- Anthropic samples -----------------------------------------------------------------------

START_USAGE = {
    "input_tokens": 472,
    "cache_creation_input_tokens": 1024,
    "cache_read_input_tokens": 2048,
    "cache_creation": {"ephemeral_5m_input_tokens": 1024, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 2,
    "service_tier": "standard",
}
END_USAGE = {**START_USAGE, "output_tokens": 89}


def message(*content: dict[str, Any], stop_reason: str | None = "end_turn", **extra: Any) -> Any:
    """A whole Message object, as a non-streamed answer carries it."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": list(content),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": END_USAGE,
        **extra,
    }


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool_use(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments}


def thinking(value: str) -> dict[str, Any]:
    return {"type": "thinking", "thinking": value, "signature": "EqQBCgIYAhIM1gbcDa9GJwZA"}


def stream(*events: dict[str, Any] | bytes) -> bytes:
    """Frame events as Anthropic does: a named event and its typed data; bytes go as data."""
    out = []
    for e in events:
        if isinstance(e, bytes):
            out.append(b"event: content_block_delta\ndata: " + e + b"\n\n")
        else:
            out.append(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n")
    return b"".join(out)


def message_start(usage: dict[str, Any] = START_USAGE) -> dict[str, Any]:
    empty = message(stop_reason=None, usage=usage)
    return {"type": "message_start", "message": empty}


def block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": {"type": kind, **fields}}


def block_stop(index: int) -> dict[str, Any]:
    return {"type": "content_block_stop", "index": index}


def message_delta(stop_reason: str | None, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": usage,
    }


PING = {"type": "ping"}
STOP = {"type": "message_stop"}
OVERLOADED = {"type": "overloaded_error", "message": "Overloaded"}


def text_block(index: int, *pieces: str) -> list[dict[str, Any]]:
    deltas = [delta(index, "text_delta", text=p) for p in pieces]
    return [block_start(index, text("")), *deltas, block_stop(index)]


def thinking_block(index: int, *pieces: str) -> list[dict[str, Any]]:
    start = block_start(index, {"type": "thinking", "thinking": "", "signature": ""})
    deltas = [delta(index, "thinking_delta", thinking=p) for p in pieces]
    signature = delta(index, "signature_delta", signature="EqQBCgIYAhIM1gbcDa9GJwZA")
    return [start, *deltas, signature, block_stop(index)]


def tool_block(index: int, call_id: str, name: str, *fragments: str) -> list[dict[str, Any]]:
    """A streamed tool call: ``input`` is ``{}`` at the start, the first fragment often ""."""
    deltas = [delta(index, "input_json_delta", partial_json=f) for f in fragments]
    return [block_start(index, tool_use(call_id, name, {})), *deltas, block_stop(index)]


def answer_stream(stop_reason: str, *blocks: list[dict[str, Any]]) -> bytes:
    events = [message_start(), PING, *(e for block in blocks for e in block)]
    return stream(*events, message_delta(stop_reason, {"output_tokens": 89}), STOP)


# --- non-streamed Messages -------------------------------------------------------------------


def test_plain_text_message() -> None:
    body = message(text("Hello! "), text("How can I help?"))
    out = assemble_output(MESSAGES, JSON, orjson.dumps(body))
    assert out == Output(
        body=body,
        format="messages",
        choices=[Choice(text="Hello! How can I help?", finish_reason="stop")],
        usage=END_USAGE,
        response_model=MODEL,
    )


def test_plain_message_with_thinking_tool_use_and_server_tools() -> None:
    body = message(
        thinking("The user wants the weather. "),
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"},
        thinking("Search first."),
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        text("Checking the weather in Paris."),
        tool_use("toolu_01A09q90qw90lq917835lq9", "get_weather", {"city": "Paris", "n": 1.5}),
        {"type": "a_block_invented_next_year", "text": "not text"},
        tool_use("toolu_02", "get_time", {}),
        stop_reason="tool_use",
    )
    out = assemble_output(MESSAGES, JSON, orjson.dumps(body))
    assert not out.partial
    assert out.choices == [
        Choice(
            text="Checking the weather in Paris.",
            tool_calls=[
                ToolCall(
                    id="toolu_01A09q90qw90lq917835lq9",
                    name="get_weather",
                    arguments='{"city":"Paris","n":1.5}',
                ),
                ToolCall(id="toolu_02", name="get_time", arguments="{}"),
            ],
            finish_reason="tool_calls",
            reasoning="The user wants the weather. Search first.",
        )
    ]


def test_reasoning_is_none_without_thinking_and_empty_for_redacted_only() -> None:
    plain = assemble_output(MESSAGES, JSON, orjson.dumps(message(text("Hi"))))
    redacted = {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"}
    only_redacted = assemble_output(MESSAGES, JSON, orjson.dumps(message(redacted, text("Hi"))))
    empty_thinking = assemble_output(MESSAGES, JSON, orjson.dumps(message(thinking(""))))
    assert plain.choices[0].reasoning is None
    assert only_redacted.choices[0].reasoning is None
    assert empty_thinking.choices[0].reasoning == ""


def test_error_json_body_is_kept_as_body_and_scored() -> None:
    error = {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }
    out = assemble_output(MESSAGES, JSON, orjson.dumps(error))
    assert out == Output(body=error, format="messages")


@pytest.mark.parametrize(
    "body",
    [
        b"[1, 2]",
        b'"overloaded"',
        b"null",
        b"{}",
        b'{"type": "message", "content": "Hello"}',
        b'{"type": "message", "content": [1, "a", null, {"type": 7}], "usage": []}',
        b"<html><body>529 Overloaded</body></html>",
        b"",
    ],
)
def test_garbage_bodies_are_partial_and_do_not_raise(body: bytes) -> None:
    with no_safety_net():
        out = assemble_output(MESSAGES, JSON, body)
    out.model_dump_json()
    assert (out.partial, out.format, out.unscored) == (True, "messages", None)


def test_odd_but_well_formed_blocks_are_read_leniently() -> None:
    block = {"type": "tool_use", "id": 5, "name": None, "input": "x"}
    out = assemble_output(MESSAGES, JSON, orjson.dumps({"content": [block, text("ok")]}))
    assert out.choices == [Choice(text="ok", tool_calls=[ToolCall(arguments='"x"')])]
    assert (out.partial, out.usage, out.response_model) == (False, None, None)


def test_tool_input_too_deep_to_write_is_partial() -> None:
    deep = b"[" * 300 + b"1" + b"]" * 300  # orjson reads 1,024 levels but writes only 254
    block = b'{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": ' + deep + b"}}"
    body = b'{"type": "message", "content": [' + block + b'], "stop_reason": "tool_use"}'
    with no_safety_net():
        out = assemble_output(MESSAGES, JSON, body)
    assert out.partial
    assert out.tool_calls == [ToolCall(id="toolu_1", name="f", arguments="")]


# --- stop reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "pause_turn"),
        ("refusal", "content_filter"),
        ("a_reason_invented_next_year", "a_reason_invented_next_year"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_stop_reason_mapping(stop_reason: str, finish_reason: str, streamed: bool) -> None:
    if streamed:
        out = assemble_output(MESSAGES, SSE, answer_stream(stop_reason, text_block(0, "No.")))
    else:
        body = message(text("No."), stop_reason=stop_reason)
        out = assemble_output(MESSAGES, JSON, orjson.dumps(body))
    assert out.finish_reason == finish_reason
    assert out.choices[0].refusal == ("No." if stop_reason == "refusal" else None)
    assert out.text == "No."


@pytest.mark.parametrize("streamed", [False, True])
def test_a_refusal_without_text_is_still_visible(streamed: bool) -> None:
    if streamed:
        out = assemble_output(MESSAGES, SSE, answer_stream("refusal"))
    else:
        out = assemble_output(MESSAGES, JSON, orjson.dumps(message(stop_reason="refusal")))
    assert out.choices == [Choice(finish_reason="content_filter", refusal="refusal")]


# --- streams ---------------------------------------------------------------------------------


def test_streamed_text_in_many_deltas() -> None:
    pieces = ["The", " capital", " of", " France", " is", " Paris", "."]
    out = assemble_output(MESSAGES, SSE, answer_stream("end_turn", text_block(0, *pieces)))
    assert out == Output(
        streamed=True,
        format="messages",
        choices=[Choice(text="The capital of France is Paris.", finish_reason="stop")],
        usage=END_USAGE,
        response_model=MODEL,
    )


def test_streamed_tool_use_joins_input_json_fragments() -> None:
    body = answer_stream(
        "tool_use",
        text_block(0, "Let me check."),
        tool_block(
            1, "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", "", '{"city', '": "Pa', 'ris"}'
        ),
        tool_block(2, "toolu_02", "get_time", ""),  # no arguments: its only fragment is ""
    )
    out = assemble_output(MESSAGES, SSE, body)
    assert not out.partial
    assert out.choices == [
        Choice(
            text="Let me check.",
            tool_calls=[
                ToolCall(
                    id="toolu_01T1x1fJ34qAmk2tNTrN7Up6",
                    name="get_weather",
                    arguments='{"city":"Paris"}',
                ),
                ToolCall(id="toolu_02", name="get_time", arguments="{}"),
            ],
            finish_reason="tool_calls",
        )
    ]


def test_streamed_tool_arguments_that_are_not_json_are_kept_as_they_arrived() -> None:
    events = [message_start(), *tool_block(0, "toolu_1", "get_weather", '{"city": "Pa')]
    out = assemble_output(MESSAGES, SSE, stream(*events))
    assert out.partial
    assert out.tool_calls == [ToolCall(id="toolu_1", name="get_weather", arguments='{"city": "Pa')]


def test_streamed_thinking_is_kept_apart_from_text() -> None:
    body = answer_stream(
        "end_turn",
        thinking_block(0, "Let me think", " about Paris."),
        text_block(1, "Paris", " is the capital."),
    )
    out = assemble_output(MESSAGES, SSE, body)
    assert out.choices == [
        Choice(
            text="Paris is the capital.",
            finish_reason="stop",
            reasoning="Let me think about Paris.",
        )
    ]


def test_streamed_blocks_are_ordered_by_their_index() -> None:
    events = [
        message_start(),
        block_start(1, text("")),
        block_start(0, text("")),
        delta(1, "text_delta", text="world"),
        delta(0, "text_delta", text="Hello, "),
    ]
    out = assemble_output(MESSAGES, SSE, stream(*events, message_delta("end_turn", {}), STOP))
    assert (out.text, out.partial) == ("Hello, world", False)


def test_streamed_usage_merges_message_start_and_message_delta() -> None:
    # message_start counts the prompt; message_delta the cumulative output, and (on newer
    # models) the prompt again, with a null where a count does not apply.
    start = {
        "input_tokens": 10,
        "cache_creation_input_tokens": 5,
        "cache_read_input_tokens": 0,
        "output_tokens": 1,
    }
    update = {
        "input_tokens": 12,
        "cache_read_input_tokens": 2048,
        "cache_creation_input_tokens": None,
        "output_tokens": 40,
        "server_tool_use": None,
    }
    body = stream(
        message_start(start),
        *text_block(0, "Hi"),
        message_delta(None, {"output_tokens": 20}),
        message_delta("end_turn", update),
        STOP,
    )
    assert assemble_output(MESSAGES, SSE, body).usage == {
        "input_tokens": 12,
        "cache_creation_input_tokens": 5,
        "cache_read_input_tokens": 2048,
        "output_tokens": 40,
        "server_tool_use": None,
    }


def test_error_event_mid_stream_keeps_the_error_and_the_text_so_far() -> None:
    error = {"type": "error", "error": OVERLOADED}
    body = stream(message_start(), *text_block(0, "Par"), error, delta(0, "text_delta", text="!"))
    out = assemble_output(MESSAGES, SSE, body)
    assert out.partial
    assert out.body == {"error": OVERLOADED}
    assert out.text == "Par!"
    assert out.finish_reason is None


def test_an_error_event_that_is_not_json_is_kept_as_text() -> None:
    body = stream(message_start()) + b"event: error\ndata: upstream overloaded\n\n"
    out = assemble_output(MESSAGES, SSE, body)
    assert (out.partial, out.body, out.choices) == (True, {"error": "upstream overloaded"}, [])


def test_stream_cut_before_message_stop_is_partial() -> None:
    full = answer_stream("end_turn", text_block(0, "Hello", " there"))
    cut = full[: full.index(b"event: message_delta")]
    out = assemble_output(MESSAGES, SSE, cut)
    assert (out.partial, out.text, out.finish_reason) == (True, "Hello there", None)
    assert out.usage == START_USAGE
    assert not assemble_output(MESSAGES, SSE, full).partial


def test_malformed_event_json_is_partial_but_keeps_the_rest() -> None:
    body = stream(
        message_start(),
        block_start(0, text("")),
        delta(0, "text_delta", text="Hello"),
        b'{"type": "content_block_delta", "index": 0, "delta": {"type": "text_del',
        delta(0, "text_delta", text=" world"),
        message_delta("end_turn", {"output_tokens": 3}),
        STOP,
    )
    out = assemble_output(MESSAGES, SSE, body)
    assert (out.partial, out.text, out.finish_reason) == (True, "Hello world", "stop")


def test_a_delta_whose_start_was_lost_is_salvaged() -> None:
    events = [message_start(), delta(0, "text_delta", text="orphan"), delta(1, "ping_delta")]
    out = assemble_output(MESSAGES, SSE, stream(*events, message_delta("end_turn", {}), STOP))
    assert (out.partial, out.text) == (True, "orphan")


def test_nothing_after_message_stop_is_read() -> None:
    body = answer_stream("end_turn", text_block(0, "Hi")) + stream(
        {"type": "error", "error": OVERLOADED}
    )
    out = assemble_output(MESSAGES, SSE, body)
    assert (out.partial, out.body, out.text) == (False, None, "Hi")


# --- twins -----------------------------------------------------------------------------------


TWIN_BLOCKS = [
    thinking_block(0, "The user asks", " for weather."),
    text_block(1, "I'll look", " that up."),
    tool_block(
        2,
        "toolu_01",
        "get_weather",
        "",
        '{"location": "San Fra',
        'ncisco, CA", "unit": ',
        '"celsius"}',
    ),
    tool_block(3, "toolu_02", "get_time", ""),
]


def sdk_final_message(body: bytes) -> dict[str, Any]:
    """The Message that Anthropic's own SDK assembles from ``body``: the stream's twin."""

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": SSE}, content=body)

    http = httpx2.Client(transport=httpx2.MockTransport(answer))
    with (
        anthropic.Anthropic(api_key="sk-ant-test", http_client=http) as client,
        client.messages.stream(
            model=MODEL, max_tokens=1024, messages=[{"role": "user", "content": "Weather?"}]
        ) as events,
    ):
        return events.get_final_message().to_dict()


def test_a_streamed_answer_and_its_non_streamed_twin_assemble_alike() -> None:
    streamed = answer_stream("tool_use", *TWIN_BLOCKS)
    whole = message(
        thinking("The user asks for weather."),
        text("I'll look that up."),
        tool_use("toolu_01", "get_weather", {"location": "San Francisco, CA", "unit": "celsius"}),
        tool_use("toolu_02", "get_time", {}),
        stop_reason="tool_use",
    )
    twins = [
        assemble_output(MESSAGES, SSE, streamed),
        assemble_output(MESSAGES, JSON, orjson.dumps(whole)),
        assemble_output(MESSAGES, JSON, orjson.dumps(sdk_final_message(streamed))),
    ]
    a = twins[0]
    assert a.choices[0].reasoning == "The user asks for weather."
    assert a.tool_calls[0].arguments == '{"location":"San Francisco, CA","unit":"celsius"}'
    for b in twins[1:]:
        assert (a.choices, a.usage, a.response_model, a.partial) == (
            b.choices,
            b.usage,
            b.response_model,
            b.partial,
        )


# --- routes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "format"),
    [
        (MESSAGES, "messages"),
        ("/anthropic/v1/messages?beta=true", "messages"),
        ("/v1/messages/count_tokens", "other"),
        ("/v1/messages/batches", "other"),
        ("/v1/messages/batches/msgbatch_01/results", "other"),
        ("/v1/threads/thread_abc123/messages", "other"),
    ],
)
def test_routes(route: str, format: str) -> None:
    out = assemble_output(route, JSON, b'{"input_tokens": 14}')
    assert out.format == format
    assert (out.unscored is None) == (format == "messages")


# --- never raises ----------------------------------------------------------------------------

EVENT_TYPES = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "ping",
    "error",
]
KEYS = [
    *("type", "index", "message", "content_block", "delta", "usage", "error", "model"),
    *("text", "thinking", "partial_json", "input", "id", "name", "stop_reason", "content"),
]
WORDS = [
    *EVENT_TYPES,
    *("text", "tool_use", "thinking", "redacted_thinking", "end_turn", "refusal", "{"),
    *("text_delta", "input_json_delta", "thinking_delta", "signature_delta"),
]
SCALARS = (
    st.none() | st.booleans() | st.integers(-2, 3) | st.sampled_from(WORDS) | st.text(max_size=4)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=20,
)
# An event is a name (or none) and its data: JSON shaped like Anthropic's, or raw bytes.
EVENTS = st.lists(
    st.tuples(
        st.sampled_from([*EVENT_TYPES, None]),
        JSON_VALUES.map(orjson.dumps) | st.binary(max_size=20),
    ),
    max_size=10,
)


@settings(max_examples=300)
@given(EVENTS, JSON_VALUES, st.booleans(), st.booleans())
def test_random_event_sequences_and_bodies_never_raise(
    events: list[tuple[str | None, bytes]], value: Any, complete: bool, truncated: bool
) -> None:
    frames = []
    for name, data in events:
        frames.append((b"event: " + name.encode() + b"\n" if name else b"") + b"data: " + data)
    body = b"\n\n".join(frames)
    with no_safety_net():
        out = assemble_output(MESSAGES, SSE, body, complete=complete, truncated=truncated)
        whole = assemble_output(MESSAGES, JSON, orjson.dumps({"type": "message", "content": value}))
    out.model_dump_json()
    whole.model_dump_json()
    assert len(out.choices) <= 1
    assert out.partial or (complete and not truncated)


@settings(max_examples=200)
@given(st.binary(max_size=1000), st.sampled_from([SSE, JSON, None]))
def test_random_bytes_never_raise(body: bytes, content_type: str | None) -> None:
    with no_safety_net():
        out = assemble_output(MESSAGES, content_type, body)
    out.model_dump_json()
