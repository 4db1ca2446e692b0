"""Server-sent events, read the way a client reads them.

Two consumers need SSE framing and want different things from it. The assembler reads a whole
buffered body after the fact and wants every event, even a cut-off last one, so that it can
salvage what an upstream said before it died. The live path rewrites nothing but must drop the
one usage-only event the proxy asked for on the client's behalf, without buffering the stream
and without altering a single byte of anything else.

Framing follows the WHATWG rules that matter for OpenAI-style streams: lines end in ``\\n``,
``\\r\\n`` or ``\\r``; a blank line ends an event; ``data`` lines are joined with ``\\n``; one
space after the colon is dropped; lines starting with ``:`` are comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

__all__ = ["SseEvent", "UsageEventFilter", "iter_sse_events"]

_BOM = b"\xef\xbb\xbf"
_CR = 0x0D
_LF = 0x0A

# What a LF at the very start of a chunk means when the previous chunk ended in CR: that LF is
# the second half of a CRLF terminator, so it must go where the CR went.
_NO_CR = 0
_CR_IN_EVENT = 1  # the CR ended a line inside the open event
_CR_CLOSED_KEPT = 2  # the CR ended an event that was forwarded
_CR_CLOSED_DROPPED = 3  # the CR ended the usage event that was dropped


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event; ``event`` is ``None`` when the stream named no type."""

    event: str | None
    data: str


def iter_sse_events(data: bytes) -> Iterator[SseEvent]:
    """Yield the events of a complete or cut-off SSE body.

    Unlike a browser, this also yields a last event that is not followed by a blank line: a
    stream cut off mid-event may still carry a usable chunk, and the protocols we read end with
    an explicit marker (``[DONE]``, ``response.completed``) whose absence is what tells the
    caller the answer is partial. A cut-off JSON payload simply fails to parse.
    """
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    event: bytes | None = None
    parts: list[bytes] = []
    for line in data.splitlines():  # bytes.splitlines splits on \n, \r\n and \r only
        if not line:
            if parts:
                yield _event(event, parts)
                parts = []
            event = None
            continue
        if line[0] == 0x3A:  # ":" starts a comment (keep-alives, OpenRouter's processing notes)
            continue
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            parts.append(value)
        elif name == b"event":
            event = value
    if parts:
        yield _event(event, parts)


def _event(event: bytes | None, parts: list[bytes]) -> SseEvent:
    data = parts[0] if len(parts) == 1 else b"\n".join(parts)
    name = event.decode("utf-8", "replace") if event else None
    return SseEvent(name, data.decode("utf-8", "replace"))


def _is_usage_only(event: bytes) -> bool:
    # Most events are content deltas; the substring test keeps JSON parsing off the hot path.
    if b'"usage"' not in event:
        return False
    events = list(iter_sse_events(event))
    if len(events) != 1:
        return False
    try:
        chunk = orjson.loads(events[0].data)
    except orjson.JSONDecodeError:
        return False
    return (
        isinstance(chunk, dict)
        and chunk.get("choices") == []
        and isinstance(chunk.get("usage"), dict)
    )


class UsageEventFilter:
    """Drop usage-only chunks from a chat stream whose client never asked for usage.

    The proxy sets ``stream_options.include_usage`` on streamed requests so that it can record
    token counts, which makes the upstream send one extra ``choices: []`` chunk the client did
    not request and may not expect. This filter removes every such chunk and forwards every
    other byte unchanged and as soon as its event is complete, so time to first token is
    untouched. Only the start of the last incomplete event is ever held back.

    A usage object riding on a chunk that also has choices is left alone: removing it would
    mean rewriting the event, and clients ignore it there.

    An event larger than ``max_held`` cannot be a usage chunk; rather than buffer a hostile
    upstream's endless line, the filter forwards it as it arrives.
    """

    __slots__ = ("_after_cr", "_held", "_line_start", "_max_held", "_passthrough")

    def __init__(self, *, max_held: int = 64 * 1024) -> None:
        self._max_held = max_held
        self._held = bytearray()
        self._passthrough = False  # the open event is too big to hold and is being forwarded
        self._line_start = True  # the next byte starts a line
        self._after_cr = _NO_CR

    def feed(self, chunk: bytes) -> bytes:
        """Take the next bytes from upstream; return what may be forwarded now."""
        n = len(chunk)
        if not n:
            return b""
        out = bytearray()
        pos = start = 0
        if self._after_cr != _NO_CR and chunk[0] == _LF:
            pos = 1
            if self._after_cr == _CR_CLOSED_KEPT:
                out += b"\n"
            if self._after_cr != _CR_IN_EVENT:
                start = 1
        self._after_cr = _NO_CR

        line_start = self._line_start
        lf = chunk.find(b"\n", pos)
        cr = chunk.find(b"\r", pos)
        while lf != -1 or cr != -1:
            if cr == -1 or (lf != -1 and lf < cr):
                j, end = lf, lf + 1
            else:
                j = cr
                end = cr + 2 if cr + 1 < n and chunk[cr + 1] == _LF else cr + 1
            blank = line_start and j == pos
            line_start = True
            pos = end
            if blank:
                dropped = self._close(chunk[start:end], out)
                start = end
                if end == n and chunk[-1] == _CR:
                    self._after_cr = _CR_CLOSED_DROPPED if dropped else _CR_CLOSED_KEPT
            elif end == n and chunk[-1] == _CR:
                self._after_cr = _CR_IN_EVENT
            if 0 <= lf < pos:
                lf = chunk.find(b"\n", pos)
            if 0 <= cr < pos:
                cr = chunk.find(b"\r", pos)
        self._line_start = line_start and pos == n

        if start < n:
            if self._passthrough:
                out += chunk[start:]
            else:
                self._held += chunk[start:]
                if len(self._held) > self._max_held:
                    out += self._held
                    self._held.clear()
                    self._passthrough = True
        return bytes(out)

    def flush(self) -> bytes:
        """Return the held-back tail at end of stream, unfiltered: it never became an event."""
        tail = bytes(self._held)
        self._held.clear()
        self._passthrough = False
        self._line_start = True
        self._after_cr = _NO_CR
        return tail

    def _close(self, tail: bytes, out: bytearray) -> bool:
        """Finish the open event with ``tail``; forward it unless it is usage-only."""
        if self._passthrough:
            self._passthrough = False
            out += tail
            return False
        if self._held:
            self._held += tail
            event = bytes(self._held)
            self._held.clear()
        else:
            event = tail
        if _is_usage_only(event):
            return True
        out += event
        return False
