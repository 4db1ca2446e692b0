"""The answer to one request on the public listener: :class:`ResponseWriter`.

A handler either sends a complete answer with :meth:`~ResponseWriter.send` (status line,
headers, ``Content-Length`` and body in one write), or starts one with
:meth:`~ResponseWriter.start` and streams its body with :meth:`~ResponseWriter.write`. The
writer frames the body: by ``Content-Length`` when the length is known, in chunks for an
HTTP/1.1 client otherwise, and by the end of the connection for an HTTP/1.0 one. HEAD, 204
and 304 answers carry no body.

Flow control: once the client's socket buffer is over its high-water mark,
:meth:`~ResponseWriter.write` waits until the client has read enough (the connection's
``drained``), and a client that reads nothing for the server's send timeout is disconnected.
A write to a client that has gone raises :class:`ConnectionResetError`.

:class:`Connection` is the write side of a client connection, flow control included; the
server's :class:`proxy.http.protocol.HttpProtocol` builds the rest of the connection on it, so
that nothing here imports the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from http import HTTPStatus

from proxy.http.errors import error_body, error_headers

logger = logging.getLogger(__name__)

__all__ = ["Connection", "ResponseWriter", "error_answer", "send_error"]

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_NO_BODY_STATUS = frozenset({204, 304})


class Connection(asyncio.Protocol):
    """A client connection as an answer sees it: where the answer is written. This part writes,
    waits while the client's socket buffer is full, and disconnects a client that reads nothing
    for ``send_timeout_s``; :class:`proxy.http.protocol.HttpProtocol` is the whole connection."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send_timeout_s: float) -> None:
        self.loop = loop
        self.send_timeout_s = send_timeout_s
        self.transport: asyncio.Transport | None = None
        # the answer being sent
        self.version = "1.1"  # the request's HTTP version
        self.keep_alive = True  # whether the connection carries another request after it
        # flow control
        self.write_paused = False
        self._drain: asyncio.Future[None] | None = None

    def connection_header(self) -> str:
        """The ``Connection`` header the answer being sent needs; it settles ``keep_alive``."""
        raise NotImplementedError

    def answered(self) -> None:
        """The exchange running on this connection (:func:`proxy.http.cycle.exchange`) ended."""
        raise NotImplementedError

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        transport.write(data)

    async def drained(self) -> None:
        """Wait until the client has read enough for writing to go on, within the server's
        send timeout; a client that reads nothing for that long is disconnected."""
        if self.transport is None:
            raise ConnectionResetError("the client closed the connection")
        drain = self._drain
        if drain is None:
            drain = self._drain = self.loop.create_future()
        try:
            async with asyncio.timeout(self.send_timeout_s):
                await asyncio.shield(drain)
            return
        except TimeoutError:
            pass
        finally:
            if not drain.done():
                # This wait was the future's only reader. Left pending, it would be failed by
                # ``connection_lost`` (``_fail_drain``) after the abort below, and asyncio
                # logs a failed future nobody reads at ERROR ("Future exception was never
                # retrieved") when it is collected: once for every client disconnected here.
                drain.cancel()
                if self._drain is drain:
                    self._drain = None
        logger.info("disconnecting a client that read nothing for %ss", self.send_timeout_s)
        self.keep_alive = False
        if self.transport is not None:
            self.transport.abort()
        raise ConnectionResetError("the client stopped reading its answer")

    def close(self) -> None:
        """Close once what is written has been sent; a client that will not read it is
        disconnected after ``send_timeout_s``, so a close never waits for ever on a flush."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.close()
        if transport.get_write_buffer_size():
            self.loop.call_later(self.send_timeout_s, _abort_if_open, transport)

    def _fail_drain(self) -> None:
        """The transport is gone: a write waiting for the client raises."""
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_exception(ConnectionResetError("the client closed the connection"))


def _abort_if_open(transport: asyncio.Transport) -> None:
    """A closing transport still flushing after the send timeout: its client stopped reading."""
    if transport.get_write_buffer_size():
        logger.info("disconnecting a client that read nothing of its last answer")
        transport.abort()


def _head(status: int, reason: str | None, headers: Iterable[tuple[str, str]], extra: str) -> bytes:
    """Status line and headers. A CR or LF inside a name, a value or the reason would let it
    start a header (or a body) of its own, so it is refused rather than written: each valid
    line holds exactly one CR and one LF, so any other shows up in the counts."""
    written = [f"{name}: {value}\r\n" for name, value in headers]
    lines = "".join(written)
    reason = reason or _REASONS.get(status, "Unknown")
    if (
        lines.count("\r") != len(written)
        or lines.count("\n") != len(written)
        or "\r" in reason
        or "\n" in reason
    ):
        raise ValueError("a response header name, value or reason contains CR or LF")
    text = f"HTTP/1.1 {status} {reason}\r\n{lines}{extra}\r\n"
    try:
        # Relayed fields are text one character per byte (Latin-1): the upstream's bytes.
        return text.encode("latin-1")
    except UnicodeEncodeError:  # a configured value past Latin-1: it goes as UTF-8
        return text.encode("utf-8", "surrogateescape")


def error_answer(status: int, message: str, code: str) -> bytes:
    """One of our errors as a complete answer that ends the connection, in bytes: for a
    request the server refuses before any handler sees it."""
    body = error_body(status, message, code)
    head = _head(
        status,
        None,
        error_headers(code),
        f"Connection: close\r\nContent-Length: {len(body)}\r\n",
    )
    return head + body


class ResponseWriter:
    """The answer to one request: :meth:`send` a complete one, or :meth:`start` one and
    :meth:`write` it. Writes to a client that has gone raise :class:`ConnectionResetError`."""

    __slots__ = ("_chunked", "_conn", "_head_only", "finished", "started")

    def __init__(self, conn: Connection, head_only: bool) -> None:
        self._conn = conn
        self._head_only = head_only
        self._chunked = False
        self.started = False
        self.finished = False

    def send(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        reason: str | None = None,
    ) -> None:
        """The whole answer (status line, headers, ``Content-Length`` and body) in one write."""
        if self.started:
            raise RuntimeError("the response has already started")
        conn = self._conn
        extra = conn.connection_header()
        if status not in _NO_BODY_STATUS:
            extra += f"Content-Length: {len(body)}\r\n"
        head = _head(status, reason, headers, extra)
        self.started = self.finished = True
        conn.write(head if self._head_only or status in _NO_BODY_STATUS else head + body)

    def start(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        *,
        content_length: int | None,
        reason: str | None = None,
    ) -> None:
        """Send the head of an answer whose body follows in :meth:`write`. Without a length,
        the body is chunked (or, for an HTTP/1.0 client, ended by closing the connection)."""
        if self.started:
            raise RuntimeError("the response has already started")
        conn = self._conn
        head_only = self._head_only or status in _NO_BODY_STATUS
        chunked = False
        extra = ""
        if content_length is not None and status != 204:
            extra = f"Content-Length: {content_length}\r\n"
        elif not head_only:
            if conn.version == "1.1":
                chunked = True
                extra = "Transfer-Encoding: chunked\r\n"
            else:
                conn.keep_alive = False  # only the end of the connection can end this body
        head = _head(status, reason, headers, conn.connection_header() + extra)
        self.started = True
        self._head_only = head_only
        self._chunked = chunked
        conn.write(head)

    async def write(self, data: bytes) -> None:
        if not self.started or self.finished:
            raise RuntimeError("write() needs a started, unfinished response")
        if not data or self._head_only:
            return
        conn = self._conn
        if self._chunked:
            conn.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            conn.write(data)
        if conn.write_paused:
            await conn.drained()

    async def finish(self, *, close: bool = False) -> None:
        """End the body; ``close`` also ends the connection once it is sent."""
        if self.finished:
            return
        if not self.started:
            raise RuntimeError("finish() needs a started response")
        self.finished = True
        if close:
            self._conn.keep_alive = False
        if self._chunked:
            self._conn.write(b"0\r\n\r\n")

    def abort(self) -> None:
        """End an answer that cannot be completed, such as one whose upstream failed after
        its head was sent. The connection is closed once the bytes relayed so far are sent,
        without the end a complete answer would have (the last chunk of a chunked body, the
        rest of a length): the client sees the answer cut short, never a clean end that an
        SDK would take for a complete (and not retried) answer, as nginx does."""
        self.finished = True
        self._conn.keep_alive = False
        self._conn.close()


def send_error(
    response: ResponseWriter,
    status: int,
    message: str,
    code: str,
    *,
    headers: list[tuple[str, str]] | None = None,
) -> None:
    """Answer on the public listener with one of our errors (:mod:`proxy.http.errors`)."""
    body = error_body(status, message, code)
    response.send(status, [*error_headers(code), *(headers or [])], body)
