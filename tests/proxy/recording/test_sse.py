from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.recording.sse import SseEvent, UsageEventFilter, iter_sse_events

# --- iter_sse_events -------------------------------------------------------------------------


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_events_split_on_blank_lines_with_any_line_ending(eol: str) -> None:
    raw = f"data: one{eol}{eol}event: ping{eol}data: two{eol}{eol}".encode()
    assert list(iter_sse_events(raw)) == [SseEvent(None, "one"), SseEvent("ping", "two")]


def test_data_lines_join_with_newline_and_only_one_space_is_stripped() -> None:
    raw = b"data: a\ndata:b\ndata:   c\ndata\n\n"
    assert list(iter_sse_events(raw)) == [SseEvent(None, "a\nb\n  c\n")]


def test_comments_ids_retries_and_unknown_fields_are_ignored() -> None:
    raw = b": keep-alive\n\n: OPENROUTER PROCESSING\nid: 7\nretry: 10\nfoo: bar\ndata: x\n\n"
    assert list(iter_sse_events(raw)) == [SseEvent(None, "x")]


def test_event_without_data_is_not_dispatched_and_its_type_does_not_leak() -> None:
    raw = b"event: lonely\n\ndata: x\n\n"
    assert list(iter_sse_events(raw)) == [SseEvent(None, "x")]


def test_unterminated_last_event_is_still_yielded() -> None:
    # Salvage: the caller decides completeness from the protocol's end marker.
    assert list(iter_sse_events(b'data: a\n\ndata: {"b"')) == [
        SseEvent(None, "a"),
        SseEvent(None, '{"b"'),
    ]


def test_leading_bom_and_invalid_utf8_do_not_break_parsing() -> None:
    raw = b"\xef\xbb\xbfdata: caf\xc3\xa9 \xff\n\n"
    assert list(iter_sse_events(raw)) == [SseEvent(None, "café \ufffd")]


def test_vertical_tab_and_form_feed_are_not_line_breaks() -> None:
    assert list(iter_sse_events(b"data: a\x0bb\x0cc\n\n")) == [SseEvent(None, "a\x0bb\x0cc")]


@settings(max_examples=200)
@given(st.binary(max_size=2000))
def test_iter_sse_events_never_raises(raw: bytes) -> None:
    for event in iter_sse_events(raw):
        assert isinstance(event.data, str)


# --- UsageEventFilter ------------------------------------------------------------------------

CHUNK = {
    "id": "chatcmpl-9x",
    "object": "chat.completion.chunk",
    "created": 1718000000,
    "model": "gpt-4o-mini-2024-07-18",
    "system_fingerprint": "fp_1",
}
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def content_event(text: str, eol: str = "\n") -> bytes:
    chunk = {**CHUNK, "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: " + orjson.dumps(chunk) + (eol * 2).encode()


def usage_event(eol: str = "\n") -> bytes:
    return b"data: " + orjson.dumps({**CHUNK, "choices": [], "usage": USAGE}) + (eol * 2).encode()


def done_event(eol: str = "\n") -> bytes:
    return f"data: [DONE]{eol}{eol}".encode()


def run_filter(chunks: list[bytes], **kwargs: int) -> bytes:
    f = UsageEventFilter(**kwargs)
    return b"".join(f.feed(c) for c in chunks) + f.flush()


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_usage_event_is_removed_at_every_split_point(eol: str) -> None:
    kept = [content_event("Hel", eol), content_event("lo", eol)]
    stream = b"".join([*kept, usage_event(eol), done_event(eol)])
    expected = b"".join([*kept, done_event(eol)])
    for cut in range(len(stream) + 1):
        assert run_filter([stream[:cut], stream[cut:]]) == expected, cut
    assert run_filter([stream[i : i + 1] for i in range(len(stream))]) == expected


def test_complete_events_are_forwarded_immediately_and_only_the_tail_is_held() -> None:
    f = UsageEventFilter()
    first = content_event("Hi")
    assert f.feed(first + b'data: {"id"') == first
    assert f.feed(b":1}\n") == b""
    assert f.feed(b"\n") == b'data: {"id":1}\n\n'
    assert f.flush() == b""


def test_usage_on_a_chunk_with_choices_and_null_usage_are_left_alone() -> None:
    riding = {**CHUNK, "choices": [{"index": 0, "delta": {}}], "usage": USAGE}
    null = {**CHUNK, "choices": [], "usage": None}
    stream = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in (riding, null))
    assert run_filter([stream]) == stream


def test_every_usage_only_event_is_removed() -> None:
    stream = content_event("a") + usage_event() + usage_event() + done_event()
    assert run_filter([stream]) == content_event("a") + done_event()


def test_unterminated_tail_is_returned_by_flush_unfiltered() -> None:
    f = UsageEventFilter()
    tail = usage_event().rstrip(b"\n")
    assert f.feed(tail) == b""
    assert f.flush() == tail


def test_oversized_event_is_forwarded_as_it_arrives() -> None:
    f = UsageEventFilter(max_held=16)
    assert f.feed(b"data: " + b"x" * 20) == b"data: " + b"x" * 20
    assert f.feed(b"yy\n") == b"yy\n"
    assert f.feed(b"\n" + usage_event()) == b"\n"
    assert f.flush() == b""


def test_crlf_split_between_cr_and_lf_after_dropped_usage_event() -> None:
    usage = usage_event("\r\n")
    assert run_filter([usage[:-1], usage[-1:] + done_event("\r\n")]) == done_event("\r\n")


# Streams built from realistic parts, cut at arbitrary places.

EOLS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def stream_parts(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    """A valid chat stream as (parts, expected output with usage-only events removed)."""
    eol = draw(EOLS)
    parts: list[tuple[bytes, bool]] = []
    for text in draw(st.lists(st.text(max_size=20), max_size=6)):
        part = content_event(text, eol)
        if draw(st.booleans()):
            part = f": keep-alive{eol}".encode() + part
        if draw(st.booleans()):
            part = f"event: message{eol}".encode() + part
        parts.append((part, False))
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), (usage_event(eol), True))
    parts.append((done_event(eol), False))
    return [p for p, _ in parts], b"".join(p for p, is_usage in parts if not is_usage)


@settings(max_examples=200)
@given(stream_parts(), st.lists(st.integers(min_value=0, max_value=5000), max_size=12))
def test_filter_over_arbitrary_chunkings_removes_exactly_the_usage_event(
    built: tuple[list[bytes], bytes], cuts: list[int]
) -> None:
    parts, expected = built
    stream = b"".join(parts)
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    assert run_filter(chunks) == expected


@settings(max_examples=200)
@given(
    st.binary(max_size=600)
    | st.text(alphabet='data: {}"usage"[]choices\r\n', max_size=300).map(str.encode),
    st.lists(st.integers(min_value=0, max_value=600), max_size=10),
)
def test_filter_never_raises_and_does_not_depend_on_chunking(raw: bytes, cuts: list[int]) -> None:
    bounds = sorted({0, len(raw), *(c % (len(raw) + 1) for c in cuts)})
    chunks = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    whole = run_filter([raw])
    assert run_filter(chunks) == whole
    if b'"usage"' not in raw:
        assert whole == raw
