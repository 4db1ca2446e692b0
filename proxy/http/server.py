"""A lean HTTP/1.1 server for the public listener: asyncio protocols over httptools (llhttp).

Why not aiohttp's server: on the benchmark machine its request and response objects, router
and writer cost about 45 µs of CPU per request before any handler code runs, where a protocol
over llhttp costs a few. On a proxy whose whole job is relaying that was the largest single
cost. aiohttp still serves the admin listener, where nothing is hot.

What a handler gets: a :class:`Request` whose body has been read whole (it is needed whole
both for the incumbent and for the mirror), and a :class:`ResponseWriter` that either sends
a complete answer in one write or starts one and streams it, with flow control.

What the server enforces, so no handler has to:

- framing: keep-alive, HTTP/1.0, pipelining (answered in order, one at a time, reading
  paused when too many are queued), ``Expect: 100-continue``, chunked request bodies;
- limits: header lines (431), the request target (414), the body (413, before it is read
  when ``Content-Length`` says so);
- deadlines: a request's headers must be complete within ``header_timeout_s`` of its first
  byte (slowloris), its body within ``body_timeout_s`` of its headers (408 either way), and
  an idle keep-alive connection is closed after ``keepalive_timeout_s``. One sweep per server
  checks them, so a request costs no timer. A client that reads nothing of its answer for
  ``send_timeout_s`` while bytes wait for it is disconnected;
- errors in OpenAI's shape for requests that fail to parse (400), with the connection closed.

Shutdown stops accepting, closes idle connections, lets requests in progress finish (their
answers say ``Connection: close``) and aborts what is left after the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.http.errors import error_body, error_headers

logger = logging.getLogger(__name__)

__all__ = ["Handler", "HttpServer", "Request", "ResponseWriter"]

# A single header line (name or value), and the request target: aiohttp's defaults.
MAX_FIELD_BYTES = 8190
# All of a request's head: request line and every header together.
MAX_HEAD_BYTES = 65536
# Complete requests waiting behind the one being answered before reading pauses.
MAX_PIPELINED = 8
# How long a connection answered with an error keeps reading (and discarding) before it is
# closed: closing while the client still sends would reset it and could destroy the answer.
LINGER_S = 1.0

_REASONS = {status.value: status.phrase for status in HTTPStatus}
_NO_BODY_STATUS = frozenset({204, 304})


class Request:
    """One parsed request. ``path`` is percent-decoded, for routing; ``path_qs`` is the target
    exactly as sent (origin form), for forwarding."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "path_qs", "remote", "version")

    def __init__(
        self,
        method: str,
        path: str,
        path_qs: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        version: str,
        keep_alive: bool,
        remote: str,
    ) -> None:
        self.method = method
        self.path = path
        self.path_qs = path_qs
        self.headers = headers
        self.body = body
        self.version = version
        self.keep_alive = keep_alive
        self.remote = remote

    @property
    def scheme(self) -> str:
        return "http"


Handler = Callable[[Request, "ResponseWriter"], Awaitable[None]]


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
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


class ResponseWriter:
    """The answer to one request: :meth:`send` a complete one, or :meth:`start` one and
    :meth:`write` it. Writes to a client that has gone raise :class:`ConnectionResetError`."""

    __slots__ = ("_chunked", "_conn", "_head_only", "_length", "finished", "started")

    def __init__(self, conn: _Connection, head_only: bool) -> None:
        self._conn = conn
        self._head_only = head_only
        self._chunked = False
        self._length: int | None = None
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
        self._length = content_length
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
        """End an answer that cannot be completed: the connection is closed, so a client
        expecting more bytes sees the answer cut short instead of waiting for them."""
        self.finished = True
        self._conn.keep_alive = False
        self._conn.close()

    @property
    def framed_by_length(self) -> bool:
        return self._length is not None


class _Connection(asyncio.Protocol):
    """One client connection: parses requests, runs the handler on each in turn, and tracks
    which deadline (if any) currently applies to it."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.remote = ""
        self.version = "1.1"
        self.keep_alive = True
        self.write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._closing = False  # an error was (or will be) answered: input is ignored
        self._refusal: bytes | None = None  # that answer, held while a request is answered
        self._last_request = False  # upgrade asked for, or shutting down: no more requests
        # the request being parsed
        self._in_message = False
        self._url: list[bytes] = []
        self._headers: list[tuple[str, str]] = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._head_size = 0  # bytes of the request line and headers, as parsed
        self._head_fed = 0  # bytes read while the head was incomplete
        # requests parsed and waiting, and the one being answered
        self._queue: deque[Request] = deque()
        self._task: asyncio.Task[None] | None = None
        # the deadline that applies now: "idle", "header", "body" or "" (none)
        self.deadline_kind = "idle"
        self.deadline = self.loop.time() + server.keepalive_timeout_s

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's: no subclass
        peer = transport.get_extra_info("peername")
        self.remote = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.deadline_kind = ""
        self.server.forget(self)
        self._queue.clear()
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_exception(ConnectionResetError("the client closed the connection"))

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self.deadline_kind == "header":
            # The parser buffers a header line until it ends; this bounds that buffer. The
            # exact limit is counted in the callbacks, which see only head bytes.
            self._head_fed += len(data)
            if self._head_fed > 2 * MAX_HEAD_BYTES:
                self._refuse(431, "the request head is too large", "request_header_too_large")
                return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request is complete; whatever follows would be another protocol, which this
            # proxy does not speak. It is answered as plain HTTP, and then the connection ends.
            self._last_request = True
            self._closing = True
        except httptools.HttpParserError as exc:
            if not self._closing:
                message = str(exc.args[0] if exc.args else exc)
                self._refuse(400, f"malformed HTTP request: {message}", "invalid_http_request")

    def eof_received(self) -> bool | None:
        """A client may half-close once it has sent its request: it still gets the answer."""
        self._last_request = True
        return True if self._task is not None or self._queue else None

    # -- httptools callbacks --------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._in_message = True
        self._head_size = 0
        self._head_fed = 0
        self.deadline_kind = "header"
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
            self._refuse(431, "the request head is too large", "request_header_too_large")
            raise _Refused
        self._headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        parser = self.parser
        method = parser.get_method()
        if method == b"CONNECT":
            self._refuse(405, "CONNECT is not supported: this is not a forward proxy", "bad_method")
            raise _Refused
        limit = self.server.max_body_bytes
        expects_continue = has_body = False
        for name, value in self._headers:
            lowered = name.lower()
            if lowered == "content-length" and value.isdigit():
                if int(value) > limit:
                    self._refuse(
                        413,
                        f"request body of {value} bytes is over the limit of {limit} bytes "
                        "(listen.max_body_bytes)",
                        "request_too_large",
                    )
                    raise _Refused
                has_body = int(value) > 0
            elif lowered == "transfer-encoding":
                has_body = True
            elif lowered == "expect" and value.lower() == "100-continue":
                expects_continue = True
        if expects_continue and has_body and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.deadline_kind = "body"
        self.deadline = self.loop.time() + self.server.body_timeout_s

    def on_body(self, body: bytes) -> None:
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
        parser = self.parser
        url = b"".join(self._url) if len(self._url) != 1 else self._url[0]
        target = url.decode("latin-1")
        if not target.startswith("/"):
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                self._refuse(400, f"malformed request target {target!r}", "invalid_http_request")
                raise _Refused from None
            path_only = (parsed.path or b"/").decode("latin-1")
            query = parsed.query
            target = path_only + ("?" + query.decode("latin-1") if query else "")
        raw_path, _, _ = target.partition("?")
        version = parser.get_http_version()
        # An upgrade asked for is answered as plain HTTP/1.1, and then the connection ends.
        keep_alive = (
            parser.should_keep_alive() and not parser.should_upgrade() and not self._last_request
        )
        body = b"".join(self._body) if len(self._body) != 1 else self._body[0]
        request = Request(
            parser.get_method().decode("ascii"),
            unquote(raw_path) if "%" in raw_path else raw_path,
            target,
            CIMultiDictProxy(CIMultiDict(self._headers)),
            body,
            version,
            keep_alive,
            self.remote,
        )
        self._url = []
        self._headers = []
        self._body = []
        self._body_size = 0
        self._in_message = False
        self.deadline_kind = ""
        self._queue.append(request)
        if self._task is None:
            self._next()
        elif len(self._queue) >= MAX_PIPELINED and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

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
            elif not self._in_message:
                self.deadline_kind = "idle"
                self.deadline = self.loop.time() + self.server.keepalive_timeout_s
            if self._reading_paused:
                self._reading_paused = False
                self.transport.resume_reading()
            return
        request = self._queue.popleft()
        self.version = request.version
        self.keep_alive = request.keep_alive and not self.server.stopping
        self._task = self.loop.create_task(self._answer(request))

    async def _answer(self, request: Request) -> None:
        response = ResponseWriter(self, request.method == "HEAD")
        try:
            await self.server.handler(request, response)
            if not response.started:
                raise RuntimeError("the handler returned without answering")
            if not response.finished:
                response.abort()
        except ConnectionError:
            self.keep_alive = False
        except Exception:
            logger.exception("error answering %s %s", request.method, request.path)
            if response.started:
                response.abort()
            else:
                self.keep_alive = False
                with contextlib.suppress(ConnectionError):
                    response.send(
                        500,
                        error_headers("internal_error"),
                        error_body(500, "internal error in darklaunch", "internal_error"),
                    )
        finally:
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
        if self._drain is None:
            self._drain = self.loop.create_future()
        try:
            async with asyncio.timeout(self.server.send_timeout_s):
                await asyncio.shield(self._drain)
        except TimeoutError:
            logger.info(
                "disconnecting a client that read nothing for %ss", self.server.send_timeout_s
            )
            self.keep_alive = False
            if self.transport is not None:
                self.transport.abort()
            raise ConnectionResetError("the client stopped reading its answer") from None

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # -- errors and deadlines ---------------------------------------------------------------

    def _refuse(self, status: int, message: str, code: str) -> None:
        """Answer a request that will not reach the handler, and end the connection: what the
        client sends next cannot be trusted to start a new request."""
        if self._closing:
            return
        self._closing = True
        self._in_message = False
        self.deadline_kind = ""
        body = error_body(status, message, code)
        answer = _head(
            status,
            None,
            error_headers(code),
            f"Connection: close\r\nContent-Length: {len(body)}\r\n",
        )
        if self._task is not None:  # requests before this one are being answered: it waits
            self._last_request = True
            self._refusal = answer + body
        else:
            self._send_refusal(answer + body)

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
        """The current deadline has passed."""
        kind, self.deadline_kind = self.deadline_kind, ""
        if kind == "idle":
            self.close()
        elif kind == "header":
            logger.info("closing a connection whose request headers took too long")
            self._refuse(408, "request headers were not received in time", "request_timeout")
        elif kind == "body":
            self._refuse(408, "the request body was not received in time", "request_timeout")

    def shut_down(self) -> None:
        """The server is stopping: an idle connection closes now, a busy one after its answer."""
        self._last_request = True
        if self._task is None:
            self.close()

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.transport is not None:
            self.transport.abort()


class _Refused(Exception):
    """Stops the parser once a request has been answered with an error."""


class HttpServer:
    """The listener: owns the listening socket, the connections and the deadline sweep."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_body_bytes: int,
        header_timeout_s: float,
        body_timeout_s: float,
        keepalive_timeout_s: float,
        send_timeout_s: float = 60.0,
    ) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.send_timeout_s = send_timeout_s
        self.connections: set[_Connection] = set()
        self.stopping = False
        self.loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._address: tuple[str, int] | None = None
        self._all_closed = asyncio.Event()
        shortest = min(header_timeout_s, body_timeout_s, keepalive_timeout_s, 1.0)
        self._sweep_every_s = max(0.02, shortest / 5)

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        self._server = await self.loop.create_server(
            lambda: _Connection(self), host, port, reuse_port=reuse_port or None, backlog=1024
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (str(host), int(port))
        self._sweeper = self.loop.create_task(self._sweep())

    @property
    def address(self) -> tuple[str, int]:
        """Where the server listens (or listened, once closed)."""
        if self._address is None:
            raise RuntimeError("the server has not started")
        return self._address

    def forget(self, conn: _Connection) -> None:
        self.connections.discard(conn)
        if self.stopping and not self.connections:
            self._all_closed.set()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every_s)
            now = self.loop.time()
            for conn in [c for c in self.connections if c.deadline_kind and c.deadline <= now]:
                conn.expire()

    async def close(self, timeout_s: float) -> None:
        """Stop accepting, let answers in progress finish for up to ``timeout_s``, then abort."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shut_down()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._all_closed.wait()
        for conn in list(self.connections):
            conn.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            await self._server.wait_closed()
