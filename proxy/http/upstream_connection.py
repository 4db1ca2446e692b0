"""One keep-alive connection to an upstream: an asyncio protocol whose answers are parsed by
httptools (llhttp, the parser inside Node.js and uvicorn).

:class:`UpstreamConnection` carries one exchange at a time: :meth:`~UpstreamConnection.send`
writes a request and returns a future for the answer's head, then the body is fed to the
:class:`~proxy.http.upstream_response.UpstreamResponse` as it arrives. A finished answer
hands the connection back to its pool when the upstream keeps it alive; anything that leaves
its framing in doubt (an unread answer, bytes nobody asked for, a parse error, a deadline)
closes it instead.

What arrives before the body (status line and header fields) and after a chunked body (the
trailer section) is held in memory until its line or section ends, so both are bounded: see
:data:`MAX_HEAD_BYTES`, :data:`MAX_LINE_BYTES` and :data:`MAX_FIELDS`. An upstream over any of
them fails the exchange with :class:`~proxy.http.upstream_errors.HeadTooLarge` and loses the
connection, as soon as the limit is passed rather than when a deadline does.

The connection knows of its pool only what :class:`Owner` says
(:class:`proxy.http.upstream_pool.UpstreamPool` is one).
"""

from __future__ import annotations

import asyncio
import select
from typing import Protocol, cast

import httptools

from proxy.http.state import UpstreamState
from proxy.http.upstream_errors import (
    BadResponse,
    Disconnected,
    HeadTooLarge,
    StaleConnection,
    UpstreamError,
)
from proxy.http.upstream_response import UpstreamResponse, header_text

__all__ = [
    "MAX_FIELDS",
    "MAX_HEAD_BYTES",
    "MAX_LINE_BYTES",
    "PROBE_AFTER_IDLE_S",
    "Owner",
    "UpstreamConnection",
]

# Without these an upstream that sends ``200 OK`` and then header lines without end grew the
# proxy by hundreds of MB before a deadline passed (issue 17). They are the public listener's
# limits on a request (``proxy.http.protocol``: MAX_HEAD_BYTES, MAX_FIELD_BYTES) and HAProxy's
# header count (``tune.http.maxhdr``, 101); a real answer's head is a few KB (nginx holds one
# in ``proxy_buffer_size``, 4 or 8 KB by default, and answers 502 past it).
#
# All of an answer's head: its status line and fields, interim (1xx) answers' included, counted
# as the bytes of the lines (``name: value`` and a line break). Trailers have as much again.
MAX_HEAD_BYTES = 65536
# One line: a status line's reason phrase, or a field's name and value together.
MAX_LINE_BYTES = 8190
# Fields in a head (interim answers' included), and in a trailer section.
MAX_FIELDS = 100
# A status line's bytes besides the reason phrase: ``HTTP/1.1 200 `` and its line break.
_STATUS_LINE_BYTES = 15
# An unfinished line longer than this is over MAX_LINE_BYTES whatever it is: the status line's
# ``HTTP/1.1 200 ``, a field's ``: ``, and a CR are not counted in the limit.
_MAX_RAW_LINE = MAX_LINE_BYTES + _STATUS_LINE_BYTES


def _count_lines(section: str, fields: list[tuple[bytes, bytes]], counted: int) -> int:
    """The bytes of ``fields`` as lines (``name: value`` and a line break) on top of
    ``counted``; raises :class:`HeadTooLarge` if a line or the total is over its limit."""
    size = counted
    for name, value in fields:
        line = len(name) + len(value)
        if line > MAX_LINE_BYTES:
            kind = "header" if section == "head" else "trailer"
            raise HeadTooLarge(f"a {kind} line is over {MAX_LINE_BYTES} bytes")
        size += line + 4
    if size > MAX_HEAD_BYTES:
        raise HeadTooLarge(f"the {section} is over {MAX_HEAD_BYTES} bytes")
    return size


def _keep_alive_hint(value: bytes) -> float:
    """Seconds a connection may sit idle, from a ``Keep-Alive`` header's ``timeout=N`` (RFC
    2068 §19.7.1; Apache and others send it), less a margin for the request's flight time:
    a request sent as the upstream's timer fires is lost with the connection."""
    for parameter in value.split(b","):
        name, _, number = parameter.strip().partition(b"=")
        if name.strip().lower() == b"timeout":
            try:
                timeout = float(number.strip())
            except ValueError:
                break
            if timeout >= 0:
                return timeout - min(1.0, timeout / 2)
    return float("inf")


# The fields of an answer's head the connection reads itself (one set lookup for the rest).
_READ_FIELDS = frozenset({b"content-length", b"transfer-encoding", b"keep-alive"})
# A pooled connection idle at least this long has its socket checked before reuse (see
# readable): an upstream's idle timer takes seconds to fire, so one idle for less cannot
# have been closed that way, and a busy pool pays no system call per request.
PROBE_AFTER_IDLE_S = 1.0

_IDLE = UpstreamState.IDLE
_WAITING = UpstreamState.WAITING
_BODY = UpstreamState.BODY
_CLOSED = UpstreamState.CLOSED


class Owner(Protocol):
    """What a connection needs of the pool it belongs to."""

    loop: asyncio.AbstractEventLoop

    def release(self, connection: UpstreamConnection) -> None:
        """The connection finished an exchange and can carry another."""

    def forget(self, connection: UpstreamConnection) -> None:
        """The connection closed."""


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection; it carries one exchange at a time (:class:`UpstreamState`)."""

    def __init__(self, pool: Owner) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.state = _IDLE
        self.paused = False
        self.reused = False
        self.idle_since = 0.0
        # How long it may sit idle before the upstream may close it: from the last answer's
        # ``Keep-Alive: timeout=N``, with a margin (see _keep_alive_hint); else unknown.
        self.keepalive_s = float("inf")
        self._poll: select.poll | None = None
        self._head_waiter: asyncio.Future[UpstreamResponse] | None = None
        self._response: UpstreamResponse | None = None
        self._reason = b""
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._interim = False
        self._head_only = False
        self._until_eof = False
        self._got_bytes = False
        self._deadline: asyncio.TimerHandle | None = None
        # What the limits are checked against (see _check_head and _check_trailers).
        self._head_fed = 0  # bytes of the head in the reads before the one being parsed
        self._reading = 0  # bytes of the read being parsed
        self._line = 0  # bytes of the line unfinished at the end of the last read checked
        self._interim_fields = 0  # fields of the interim heads before the final one
        self._interim_bytes = 0  # and the bytes of those heads' lines

    @property
    def closed(self) -> bool:
        return self.state is _CLOSED

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._poll = select.poll()
            self._poll.register(sock.fileno(), select.POLLIN)

    def data_received(self, data: bytes) -> None:
        response = self._response
        if response is None:
            if self.state is not _WAITING:
                self.abort()  # bytes nobody asked for: the connection's framing is lost
                return
            self._reading = len(data)
            buffered = 0
        else:
            buffered = response._buffered
        self._got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadResponse("the upstream switched protocols, which is not supported"))
            return
        except httptools.HttpParserError as exc:
            refused = exc.__context__  # raised in a callback below, which httptools wraps
            if isinstance(refused, BadResponse):
                self._fail(refused)
            else:
                self._fail(BadResponse(f"the upstream's answer is not valid HTTP/1.1: {exc}"))
            return
        if response is None:
            if self.state is _WAITING:
                self._check_head(data)
        # The body goes on (a failure would have dropped it): check a read that brought none
        # of it, and trailer fields.
        elif response is self._response and (response._buffered == buffered or self._raw_headers):
            self._check_trailers(data, body=response._buffered != buffered)

    # The limits. The parser holds a line until it ends (httptools a field's name and value,
    # we the reason phrase), and we the fields until the head ends, so an upstream that never
    # ends either would grow memory without bound. Whole heads and trailer sections are
    # counted exactly in the callbacks below; what is still arriving is checked after each
    # read, so that one read (at most 256 KiB) is the most held beyond a limit.

    def _check_head(self, data: bytes) -> None:
        """The head is still arriving after this read, so all of ``data`` was head: its bytes
        so far are known exactly, and its last line, unfinished, starts after the last line
        break (or is the line unfinished before this read, grown by all of it)."""
        self._head_fed += len(data)
        end = data.rfind(b"\n")
        self._line = self._line + len(data) if end < 0 else len(data) - end - 1
        if self._line > _MAX_RAW_LINE:
            line = "the status line" if self._line == self._head_fed else "a header line"
            error = HeadTooLarge(f"{line} is over {MAX_LINE_BYTES} bytes")
        elif self._interim_fields + len(self._raw_headers) > MAX_FIELDS:
            error = HeadTooLarge(f"the head has more than {MAX_FIELDS} fields")
        elif self._head_fed > MAX_HEAD_BYTES + 2:  # the blank line that ends it is not counted
            error = HeadTooLarge(f"the head is over {MAX_HEAD_BYTES} bytes")
        else:
            return
        self._fail(error)

    def _check_trailers(self, data: bytes, *, body: bool) -> None:
        """The body is still arriving after this read. A read that brought none of it was
        chunk framing or the trailer section after the last chunk, whose last line may be
        unfinished; one that brought some may have ended with the start of trailers too."""
        if not body:
            end = data.rfind(b"\n")
            self._line = self._line + len(data) if end < 0 else len(data) - end - 1
            if self._line > _MAX_RAW_LINE:
                self._fail(HeadTooLarge(f"a trailer line is over {MAX_LINE_BYTES} bytes"))
                return
        if self._raw_headers:
            try:
                self._count_trailers()
            except HeadTooLarge as error:
                self._fail(error)

    def _count_trailers(self) -> None:
        if len(self._raw_headers) > MAX_FIELDS:
            raise HeadTooLarge(f"the trailer section has more than {MAX_FIELDS} fields")
        _count_lines("trailer section", self._raw_headers, 0)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _CLOSED
        self._cancel_deadline()
        self.pool.forget(self)
        response = self._response
        if self._head_waiter is not None:
            if self.reused and not self._got_bytes:
                error: UpstreamError = StaleConnection("the upstream closed a pooled connection")
            else:
                error = Disconnected("the upstream closed the connection before answering")
            self._reject(error)
        elif response is not None:
            self._response = None
            if self._until_eof:
                response._finish()  # no length and no chunking: the close ends the body
            else:
                response._fail(Disconnected("the upstream closed the connection mid-answer"))

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        # After the final head these are trailer fields (after the last chunk), counted and
        # then dropped, as nginx drops them: the headers are relayed already, and RFC 9110
        # §6.5.1 forbids merging them into the headers.
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        fields = self._raw_headers
        if self._interim_fields + len(fields) > MAX_FIELDS:
            raise HeadTooLarge(f"the head has more than {MAX_FIELDS} fields")
        # A head that came in no more bytes than one line may have (a real one: a few KB) is
        # within every limit on bytes, and is not measured; a bigger one is, exactly. So is an
        # interim (1xx) head, whose lines count towards the final head's limits.
        if status < 200 or self._head_fed + self._reading > MAX_LINE_BYTES:
            if len(self._reason) > MAX_LINE_BYTES:
                raise HeadTooLarge(f"the status line is over {MAX_LINE_BYTES} bytes")
            status_line = len(self._reason) + _STATUS_LINE_BYTES
            size = _count_lines("head", fields, self._interim_bytes + status_line)
            if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
                self._interim = True
                self._interim_fields += len(fields)
                self._interim_bytes = size
                self._reason = b""
                self._raw_headers = []
                return
        self._line = 0
        response = UpstreamResponse(self, status, header_text(self._reason), self._raw_headers)
        self._reason = b""
        self._raw_headers = []
        framed = framed_by_chunks = False
        for name, value in response._raw_headers:
            lowered = name.lower()
            if lowered not in _READ_FIELDS:
                continue
            if lowered == b"content-length":
                framed = True
            elif lowered == b"transfer-encoding":
                if framed_by_chunks or value.strip().lower() != b"chunked":
                    # ``gzip, chunked`` relayed de-chunked would reach the client still
                    # compressed with nothing to say so (RFC 9112 §6.1: only chunked is known).
                    raise BadResponse(
                        f"the upstream's Transfer-Encoding {header_text(value)!r} is not "
                        "supported: only 'chunked' is"
                    )
                framed = framed_by_chunks = True
            elif lowered == b"keep-alive":
                self.keepalive_s = _keep_alive_hint(value)
        self._until_eof = status not in (204, 304) and not framed
        waiter, self._head_waiter = self._head_waiter, None
        if waiter is None or waiter.done():  # the caller gave up while the head arrived
            self.abort()
            return
        waiter.set_result(response)
        if self._head_only:  # a HEAD answer's length describes a body that never comes
            response._finish()
            self.abort()
            return
        self._response = response
        self.state = _BODY

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        if self._raw_headers:  # a trailer section
            self._count_trailers()
            self._raw_headers = []
        response, self._response = self._response, None
        self._cancel_deadline()
        if response is not None:
            response._finish()
        # The answer's last bytes may have paused reading; a finished answer no longer
        # resumes it, and the next exchange on this connection must be read.
        self.resume()
        if self.parser.should_keep_alive() and self.state is _BODY:
            self.state = _IDLE
            self.pool.release(self)
        else:
            self.abort()

    # Used by the pool and the response.

    def readable(self) -> bool:
        """Whether the socket of this idle connection has something to read that the event
        loop has not read yet: the upstream closed it (or sent bytes nobody asked for) since
        the loop last looked. Such a connection must not carry a request: one sent on it
        would fail, and only an idempotent one could be sent again (httpcore checks the
        same before reusing a connection)."""
        return self._poll is not None and bool(self._poll.poll(0))

    def send(
        self, data: bytes, head_only: bool, deadline: float | None
    ) -> asyncio.Future[UpstreamResponse]:
        waiter: asyncio.Future[UpstreamResponse] = self.pool.loop.create_future()
        if self.state is not _IDLE or self.transport is None or self.transport.is_closing():
            waiter.set_exception(StaleConnection("the upstream closed a pooled connection"))
            return waiter
        self.state = _WAITING
        self._head_waiter = waiter
        self._head_only = head_only
        self._got_bytes = False
        self._head_fed = self._line = self._interim_fields = self._interim_bytes = 0
        self.set_deadline(deadline)
        self.transport.write(data)
        return waiter

    def set_deadline(self, when: float | None) -> None:
        self._cancel_deadline()
        if when is not None:
            self._deadline = self.pool.loop.call_at(when, self._expire)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self._fail(TimeoutError("the upstream did not answer in time"))

    def _fail(self, error: BaseException) -> None:
        self._reject(error)
        response, self._response = self._response, None
        if response is not None:
            response._fail(error)
        self.abort()

    def _reject(self, error: BaseException) -> None:
        waiter, self._head_waiter = self._head_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        if self.state is not _CLOSED:
            self.state = _CLOSED
            self._cancel_deadline()
            if self.transport is not None:
                self.transport.abort()
            self.pool.forget(self)
