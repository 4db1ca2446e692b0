"""The entry point: flags, routes, content types, plain JSON, and the promise never to raise."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.recording.assembly.common import TEXT_BODY_CAP
from proxy.recording.assembly.dispatch import assemble_output
from proxy.recording.schema import Output
from tests.proxy.recording.assembly.samples import (
    CHAT,
    CHAT_JSON,
    COMPLETIONS,
    EMBEDDINGS,
    JSON,
    RESPONSES,
    SSE,
    chat_stream,
    sse,
)


def test_incomplete_or_truncated_bytes_make_the_output_partial() -> None:
    body = chat_stream(["a"])
    assert assemble_output(CHAT, SSE, body, complete=False).partial
    truncated = assemble_output(CHAT, SSE, body, truncated=True)
    assert (truncated.partial, truncated.truncated) == (True, True)


# --- non-streamed JSON -----------------------------------------------------------------------


def test_embeddings_json_keeps_the_body_and_usage() -> None:
    body: dict[str, Any] = {
        "object": "list",
        "model": "text-embedding-3-small",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
    }
    out = assemble_output(EMBEDDINGS, JSON, orjson.dumps(body))
    assert out == Output(
        body=body,
        usage=body["usage"],
        response_model="text-embedding-3-small",
        format="embeddings",
    )


@pytest.mark.parametrize(
    ("route", "format"),
    [
        (CHAT, "chat"),
        (COMPLETIONS, "completions"),
        (RESPONSES, "responses"),
        (EMBEDDINGS, "embeddings"),
        ("/v1/models", "other"),
    ],
)
def test_error_json_is_kept_as_body_without_choices(route: str, format: str) -> None:
    error = {
        "error": {
            "message": "Rate limit reached",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    out = assemble_output(route, JSON, orjson.dumps(error))
    # An error is an outcome, scored as such, never "unscored", even on an unknown route.
    assert out == Output(body=error, format=format)


@pytest.mark.parametrize("route", [CHAT, RESPONSES, "/v1/models"])
def test_invalid_json_keeps_capped_text_and_is_partial(route: str) -> None:
    body = b"<html>502 Bad Gateway</html>" + b"x" * TEXT_BODY_CAP
    out = assemble_output(route, "text/html", body)
    assert out.partial
    assert out.body == body[:TEXT_BODY_CAP].decode()


def test_other_routes_keep_parsed_json_and_are_unscored() -> None:
    body = {"object": "list", "data": [{"id": "gpt-4o", "object": "model"}]}
    assert assemble_output("/v1/models", JSON, orjson.dumps(body)) == Output(
        body=body, format="other", unscored="unknown_format"
    )


def test_an_unknown_stream_keeps_its_text_and_is_unscored() -> None:
    body = b"event: ping\ndata: {}\n\ndata: whatever\n\n"
    out = assemble_output("/v1/unknown", SSE, body)
    assert out.unscored == "unknown_format"
    assert out.streamed
    assert out.body == body.decode()
    assert out.text == ""


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
    logger = logging.getLogger("proxy.recording.assembly")
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
