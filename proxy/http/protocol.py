"""One client connection of the public listener: an asyncio protocol over httptools (llhttp).

:class:`HttpProtocol` owns the socket. It parses requests, runs an
:func:`~proxy.http.cycle.exchange` on each in turn, and enforces, so that no handler has to:

- framing: keep-alive, HTTP/1.0, pipelining (answered in order, one at a time; reading
  paused past MAX_PIPELINED requests or MAX_QUEUED_BYTES of bodies), ``100 Continue`` sent
  when the request's turn comes, chunked bodies (trailer fields dropped), the body of a
  request that asked for an upgrade, and the rules on a head of :mod:`proxy.http.framing`;
- limits: header lines (431), the request target (414), the body (413, before it is read
  when ``Content-Length`` says so), the bytes held for a client that does not read;
- deadlines: headers within ``header_timeout_s`` of the first byte (slowloris), the body
  within ``body_timeout_s`` of the headers (408 either way), an idle keep-alive connection
  closed after ``keepalive_timeout_s``; the server's sweep checks them
  (:meth:`HttpProtocol.expire`), so a request costs no timer. A client that reads nothing
  for ``send_timeout_s`` while bytes wait for it is disconnected (:class:`Connection`);
- errors in OpenAI's shape for requests that fail to parse (400), with the connection closed.

Where a connection is in its life is one :class:`~proxy.http.state.ConnectionState`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from typing import Protocol, cast
from urllib.parse import unquote

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.http.cycle import Handler, Request, exchange
from proxy.http.framing import Refusal, UpgradeBody, body_framing, origin_form
from proxy.http.state import ANSWERING, BODY, CLOSED, CLOSING, HEAD, IDLE
from proxy.http.writer import Connection, error_answer

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_FIELD_BYTES",
    "MAX_HEAD_BYTES",
    "MAX_PIPELINED",
    "MAX_QUEUED_BYTES",
    "HttpProtocol",
    "Listener",
]

# A single header line (name or value), and the request target: aiohttp's defaults.
MAX_FIELD_BYTES = 8190
# All of a request's head: request line and every header together.
MAX_HEAD_BYTES = 65536
# Complete requests waiting behind the one being answered before reading pauses, and the
# bytes of their bodies: a client pipelining large bodies holds at most about this much.
MAX_PIPELINED = 8
MAX_QUEUED_BYTES = 1 << 20
# Bytes of an answer the kernel holds unsent for a client (TCP_NOTSENT_LOWAT; Linux only).
MAX_UNSENT_BYTES = 128 * 1024
_TCP_NOTSENT_LOWAT: int | None = getattr(socket, "TCP_NOTSENT_LOWAT", None)
# How long a connection answered with an error keeps reading (and discarding) before it is
# closed: closing while the client still sends would reset it and could destroy the answer.
LINGER_S = 1.0


class Listener(Protocol):
    """What a connection needs of the server that accepted it
    (:class:`proxy.http.server.HttpServer`)."""

    loop: asyncio.AbstractEventLoop
    handler: Handler
    max_body_bytes: int
    header_timeout_s: float
    body_timeout_s: float
    keepalive_timeout_s: float
    send_timeout_s: float
    stopping: bool
    connections: set[HttpProtocol]

    def forget(self, conn: HttpProtocol) -> None: ...


class HttpProtocol(Connection):
    """One client connection: parses requests, answers each in turn, and keeps its
    :class:`~proxy.http.state.ConnectionState` (and so the deadline that applies to it)."""

    def __init__(self, server: Listener) -> None:
        super().__init__(server.loop, server.send_timeout_s)
        self.server = server
        self.parser = self._parser = httptools.HttpRequestParser(self)
        self.remote = ""
        self.state = IDLE
        self.deadline = self.loop.time() + server.keepalive_timeout_s
        self._reading_paused = False  # too much queued: reading waits for answers
        self._last_request = False  # the client half-closed, or the server is stopping
        self._refusal: bytes | None = None  # an error answer held while a request is answered
        # the request being parsed
        self._url: list[bytes] = []
        self._target = ""  # its target in origin form, once its head is complete
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._head_size = 0  # bytes of the request line and headers, as parsed
        self._head_fed = 0  # bytes of whole reads that were all head (see data_received)
        self._head_began = False  # a request's head began in the read being parsed
        self._method, self._version = "GET", "1.1"  # once its head is read
        self._length = -1  # the body's Content-Length, -1 if it has none
        self._continue = False  # 100 Continue waits for the request's turn (``_next``)
        self._upgrade_framing = b""  # an upgrade asked for with a body: BodyFraming.as_head
        # Chunks seen on this connection, and the number of the one whose header came last
        # if no data has followed it (0 otherwise): the last chunk's, while its trailer
        # section arrives. ``_trailer_fed`` bounds that section as ``_head_fed`` bounds a head.
        self._chunks = 0
        self._bare_chunk = 0
        self._trailer_fed = 0
        # requests parsed and waiting, and the exchange answering one
        self._queue: deque[Request] = deque()
        self._queued_bytes = 0  # of the queued requests' bodies
        self._task: asyncio.Task[None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if _TCP_NOTSENT_LOWAT is not None:
                # The kernel holds at most this much unsent, the rest waits in the transport,
                # whose high-water mark pauses the answer: else the socket buffer of a client
                # that reads nothing grows to 4 MB (Linux), with as many answers fetched.
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, _TCP_NOTSENT_LOWAT, MAX_UNSENT_BYTES)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.state = CLOSED
        self.server.forget(self)
        self._queue.clear()
        self._fail_drain()

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state is CLOSING:
            return
        bare_chunk = self._bare_chunk
        self._head_began = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            # The request's head is complete; what follows would be another protocol, which
            # this proxy does not speak: the request is answered as plain HTTP/1.1, and then
            # the connection ends. Its body, if it has one, is read first.
            self._last_request = True
            if self._upgrade_framing:
                self._read_upgrade_body(data[upgrade.args[0] :] if upgrade.args else b"")
            else:
                self.state = CLOSING
            return
        except httptools.HttpParserError as exc:
            if self.state is not CLOSING:
                message = str(exc.args[0] if exc.args else exc)
                self._refuse(400, f"malformed HTTP request: {message}", "invalid_http_request")
            return
        if self.state is HEAD and not self._head_began:
            # All of this read was head: the parser buffers a header line until it ends, and
            # this bounds that buffer (the exact limit is counted in the callbacks). A read
            # where a head begins is not counted: its first bytes may be an earlier body.
            self._head_fed += len(data)
            if self._head_fed > 2 * MAX_HEAD_BYTES:
                self._refuse(431, "the request head is too large", "request_header_too_large")
                return
        if bare_chunk and self._bare_chunk == bare_chunk:
            # All of this read is the trailer section of the last chunk, where the parser
            # buffers a field until its line ends: a line that never ends is refused here.
            self._trailer_fed += len(data)
            if self._trailer_fed > 2 * MAX_HEAD_BYTES:
                self._refuse(431, "the request trailers are too large", "request_header_too_large")

    def eof_received(self) -> bool | None:
        """A client may half-close once it has sent its request: it still gets the answer."""
        self._last_request = True
        return True if self._task is not None or self._queue else None

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._head_size = 0
        self._head_fed = 0
        self._head_began = True
        self.state = HEAD
        self.deadline = self.loop.time() + self.server.header_timeout_s

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        self._head_size += len(url)
        if self._head_size > MAX_FIELD_BYTES:
            self._refuse(414, "the request target is too long", "request_uri_too_long")
            raise _Refused

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) > MAX_FIELD_BYTES or len(value) > MAX_FIELD_BYTES:
            self._refuse(
                431,
                f"a request header is too long: over {MAX_FIELD_BYTES} bytes",
                "request_header_too_large",
            )
            raise _Refused
        self._head_size += len(name) + len(value) + 4
        if self._head_size > MAX_HEAD_BYTES:
            part = "head and trailers are" if self.state is BODY else "head is"
            self._refuse(431, f"the request {part} too large", "request_header_too_large")
            raise _Refused
        if self.state is BODY:
            # A trailer field, after the last chunk: llhttp reports it like a header. Merged
            # into the headers it would let a client add ``Authorization`` or ``X-User-Id``
            # that nothing looking at the head saw (RFC 9110 §6.5.1 forbids the merge); and
            # the body goes on with a Content-Length, which has no trailers to carry it. So
            # it is dropped, as nginx drops it, after counting against the head's limits.
            return
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        parser = self.parser
        url = b"".join(self._url) if len(self._url) != 1 else self._url[0]
        version = parser.get_http_version()
        try:
            framing = body_framing(
                parser.get_method(), self._headers, version, self.server.max_body_bytes
            )
            self._target = origin_form(url)
        except Refusal as refusal:
            self._refuse(refusal.status, str(refusal), refusal.code)
            raise _Refused from None
        self._method = parser.get_method().decode("ascii")
        self._version = version
        self._length = framing.length
        has_body = framing.has_body
        if has_body and parser.should_upgrade():
            self._upgrade_framing = framing.as_head()
        self.state = BODY
        if framing.expects_continue and has_body and self._task is not None:
            # Earlier requests are being answered: 100 Continue, and so the body, wait for
            # this one's turn (``_next``), which no deadline should count against.
            self._continue = True
            self.deadline = float("inf")
        else:
            if framing.expects_continue and has_body:
                self._send_continue()
            self.deadline = self.loop.time() + self.server.body_timeout_s

    def on_chunk_header(self) -> None:
        self._chunks += 1
        self._bare_chunk = self._chunks
        self._trailer_fed = 0

    def on_chunk_complete(self) -> None:
        self._bare_chunk = 0

    def on_body(self, body: bytes) -> None:
        self._bare_chunk = 0
        if self._continue:  # the client sent its body without waiting for 100 Continue
            self._continue = False
            self.deadline = self.loop.time() + self.server.body_timeout_s
        self._body_size += len(body)
        if self._body_size > self.server.max_body_bytes:
            limit = self.server.max_body_bytes
            self._refuse(
                413,
                f"request body is over the limit of {limit} bytes (listen.max_body_bytes)",
                "request_too_large",
            )
            raise _Refused
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._upgrade_framing:
            if self.parser is self._parser:
                return  # llhttp stopped at the head: _read_upgrade_body reads the body
            self._upgrade_framing = b""
            keep_alive = False
        else:
            # An upgrade asked for is answered as plain HTTP/1.1, then the connection ends.
            parser = self.parser
            upgrade = parser.should_upgrade()
            keep_alive = parser.should_keep_alive() and not upgrade and not self._last_request
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        if self._length >= 0 and len(body) != self._length:
            # llhttp frames a body by its Content-Length, so this holds unless a body was
            # framed some other way: a request never goes on with a body of another length.
            self._refuse(
                400,
                f"the request body has {len(body)} bytes, not the {self._length} its "
                "Content-Length says",
                "invalid_http_request",
            )
            raise _Refused
        target = self._target
        raw_path, _, _ = target.partition("?")
        request = Request(
            self._method,
            unquote(raw_path) if "%" in raw_path else raw_path,
            target,
            CIMultiDictProxy(CIMultiDict(self._headers)),
            body,
            self._version,
            keep_alive,
            self.remote,
        )
        self._url = []
        self._target = ""
        self._headers = []
        self._body = []
        self._body_size = 0
        self.state = CLOSING if self.parser is not self._parser else ANSWERING
        self._queue.append(request)
        self._queued_bytes += len(body)
        if self._task is None:
            self._next()
        elif (
            len(self._queue) >= MAX_PIPELINED or self._queued_bytes > MAX_QUEUED_BYTES
        ) and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def _send_continue(self) -> None:
        if self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _read_upgrade_body(self, rest: bytes) -> None:
        """Read the body llhttp left to an upgrade (:class:`~proxy.http.framing.UpgradeBody`)."""
        self.parser = httptools.HttpRequestParser(UpgradeBody(self))
        try:
            self.parser.feed_data(self._upgrade_framing + rest)
        except httptools.HttpParserError as exc:
            if self.state is not CLOSING:
                message = str(exc.args[0] if exc.args else exc)
                self._refuse(400, f"malformed HTTP request: {message}", "invalid_http_request")

    # -- answering --------------------------------------------------------------------------

    def _next(self) -> None:
        """Answer the next queued request, or go idle."""
        if not self._queue:
            self._task = None
            if self.transport is None:
                return
            if self._refusal is not None:
                self._send_refusal(self._refusal)
            elif not self.keep_alive or self._last_request or self.server.stopping:
                self.close()
            elif self.state is ANSWERING:  # not while a pipelined request is being read
                self.state = IDLE
                self.deadline = self.loop.time() + self.server.keepalive_timeout_s
            elif self._continue and self.state is BODY:  # its turn: the body may come
                self._continue = False
                self._send_continue()
                self.deadline = self.loop.time() + self.server.body_timeout_s
            if self._reading_paused:
                self._reading_paused = False
                self.transport.resume_reading()
            return
        request = self._queue.popleft()
        self._queued_bytes -= len(request.body)
        self.version = request.version
        self.keep_alive = request.keep_alive and not self.server.stopping
        self._task = self.loop.create_task(exchange(self, self.server.handler, request))

    def answered(self) -> None:
        """The exchange running on this connection has ended."""
        if self.keep_alive and self.transport is not None:
            self._next()
        else:
            self._queue.clear()
            self._task = None
            self.close()

    def connection_header(self) -> str:
        """The ``Connection`` header this answer needs, decided as it is sent: an HTTP/1.0
        client that asked to keep the connection must be told it was kept."""
        if self.server.stopping or (
            self._last_request and not self._queue and self._refusal is None
        ):
            self.keep_alive = False
        if not self.keep_alive:
            return "Connection: close\r\n"
        return "Connection: keep-alive\r\n" if self.version == "1.0" else ""

    # -- errors and deadlines ---------------------------------------------------------------

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer a request that will not reach the handler, and end the connection: what the
        client sends next cannot be trusted to start a new request."""
        if self.state is CLOSING or self.state is CLOSED:
            return
        self.state = CLOSING
        answer = error_answer(status, message, code)
        if self._task is not None:  # requests before this one are being answered: it waits
            self._last_request = True
            self._refusal = answer
        else:
            self._send_refusal(answer)

    def _send_refusal(self, answer: bytes) -> None:
        self._refusal = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        transport.write(answer)
        if transport.can_write_eof():
            transport.write_eof()
        if self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        self.loop.call_later(LINGER_S, self.close)

    def expire(self) -> None:
        """The deadline of the current state (one of :data:`~proxy.http.state.TIMED`) passed."""
        state = self.state
        if state is IDLE:
            self.state = CLOSING
            self.close()
        elif state is HEAD:
            logger.info("closing a connection whose request headers took too long")
            self._refuse(408, "request headers were not received in time", "request_timeout")
        elif state is BODY:
            self._refuse(408, "the request body was not received in time", "request_timeout")

    def shut_down(self) -> None:
        """The server is stopping: an idle connection closes now, a busy one after its answer."""
        self._last_request = True
        if self._task is None:
            self.close()

    def cancel(self) -> None:  # the server stops now
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None:
            self.transport.abort()


class _Refused(Exception):
    """Stops the parser once a request has been answered with an error."""
