"""Chat Completions and legacy Completions, streamed or whole."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.recording.assembly.chat import _ChoicesAcc, _whole_chat_choices
from proxy.recording.assembly.dispatch import assemble_output
from proxy.recording.schema import Choice, Output, ToolCall
from tests.proxy.recording.assembly.samples import (
    CHAT,
    CHAT_JSON,
    COMPLETIONS,
    JSON,
    SSE,
    USAGE,
    chat_stream,
    chunk,
    delta,
    sse,
    tool_delta,
)

# --- chat streams ----------------------------------------------------------------------------


def test_chat_stream_joins_content_across_many_chunks() -> None:
    pieces = ["The", " capital", " of", " France", " is", " Paris", "."]
    out = assemble_output(CHAT, SSE, chat_stream(pieces))
    assert out == Output(
        streamed=True,
        format="chat",
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


# --- non-streamed JSON -----------------------------------------------------------------------


def test_chat_json() -> None:
    out = assemble_output(CHAT, JSON, orjson.dumps(CHAT_JSON))
    assert out == Output(
        body=CHAT_JSON,
        format="chat",
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


def test_chat_json_without_choices_is_partial() -> None:
    assert assemble_output(CHAT, JSON, b'{"id": "x"}').partial
    assert assemble_output(CHAT, JSON, b"[1, 2]").partial


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
