"""A lean HTTP/1.1 client for upstream calls: keep-alive pools over asyncio protocols, with
the wire format parsed by httptools (llhttp, the parser inside Node.js and uvicorn).

Why not aiohttp's ``ClientSession``: on the benchmark machine one ``ClientSession`` request
costs about 100 µs of CPU, and a mirrored request makes two, so the client alone capped a
mirroring proxy at a quarter of nginx's throughput (``loadtests/floor.py``). The same exchange
over a protocol object costs a tenth of that. The proxy needs only a small part of a general
client: complete request bodies sent to a fixed origin, answers relayed as raw bytes. There are
no redirects, cookies, proxies, decompression or ``Expect`` handshakes, and the only retry is
the one every keep-alive client needs: a pooled connection the upstream closed while it sat
idle is replaced once, if not a single byte of an answer came back on it.

Errors (every one is raised from this module, never a parser's or the socket's own)::

    UpstreamError
    ├── ConnectFailed   the connection could not be opened (refused, DNS, TLS)
    ├── Disconnected    the upstream closed the connection before the answer ended
    └── BadResponse     the upstream's bytes are not an HTTP/1.1 answer

A deadline that passes raises the built-in ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Iterable
from types import TracebackType
from typing import Self, cast
from urllib.parse import urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

__all__ = [
    "BadResponse",
    "ConnectFailed",
    "Disconnected",
    "UpstreamError",
    "UpstreamPool",
    "UpstreamResponse",
    "client_ssl_context",
]

# Flow control: a slow reader (the client of a streamed answer) pauses the upstream socket
# once this much is buffered, so a fast upstream cannot fill memory.
_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})


class UpstreamError(Exception):
    """An upstream call failed; ``str()`` says how, in words fit for a log line."""


class ConnectFailed(UpstreamError):
    pass


class Disconnected(UpstreamError):
    pass


class BadResponse(UpstreamError):
    pass


class _StaleConnection(Disconnected):
    """A reused connection closed before any byte of the answer: safe to send again."""


def client_ssl_context(verify_tls: bool, ca_bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_bundle)
    if not verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class UpstreamResponse:
    """An answer whose status line and headers have arrived; the body is an async iterator
    of chunks as the upstream sent them (de-chunked, never decompressed).

    Use it as an async context manager: leaving before the body ended closes the connection,
    since a half-read answer would corrupt the next request on it.
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_connection",
        "_error",
        "_finished",
        "_headers",
        "_raw_headers",
        "_waiter",
        "reason",
        "status",
    )

    def __init__(
        self,
        connection: _Connection,
        status: int,
        reason: str,
        raw_headers: list[tuple[bytes, bytes]],
    ) -> None:
        self._connection: _Connection | None = connection
        self.status = status
        self.reason = reason
        self._raw_headers = raw_headers
        self._headers: CIMultiDictProxy[str] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._finished = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        if self._headers is None:
            headers: CIMultiDict[str] = CIMultiDict()
            for name, value in self._raw_headers:
                headers.add(_text(name), _text(value))
            self._headers = CIMultiDictProxy(headers)
        return self._headers

    @property
    def finished(self) -> bool:
        """The whole body has arrived (it may not all have been read yet)."""
        return self._finished

    def move_deadline(self, when: float | None) -> None:
        """Give the rest of this answer until ``when`` (event-loop time) instead."""
        if self._connection is not None and not self._finished:
            self._connection.set_deadline(when)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._finished:
                raise StopAsyncIteration
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        connection = self._connection
        if connection is not None and connection.paused and self._buffered <= _LOW_WATER:
            connection.resume()
        return chunk

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading: an unfinished answer's connection is closed, never reused."""
        connection, self._connection = self._connection, None
        if connection is not None and not self._finished:
            connection.abort()

    # Called by the connection.

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self._wake()
        if self._buffered > _HIGH_WATER and self._connection is not None:
            self._connection.pause()

    def _finish(self) -> None:
        self._finished = True
        self._connection = None
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if not self._finished and self._error is None:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; it carries one exchange at a time."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.paused = False
        self.reused = False
        self.idle_since = 0.0
        self._head_waiter: asyncio.Future[UpstreamResponse] | None = None
        self._response: UpstreamResponse | None = None
        self._reason = b""
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._interim = False
        self._head_only = False
        self._until_eof = False
        self._got_bytes = False
        self._deadline: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._head_waiter is None and self._response is None:
            self.abort()  # bytes nobody asked for: the connection's framing is lost
            return
        self._got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadResponse("the upstream switched protocols, which is not supported"))
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"the upstream's answer is not valid HTTP/1.1: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_deadline()
        self.pool._forget(self)
        response = self._response
        if self._head_waiter is not None:
            if self.reused and not self._got_bytes:
                error: UpstreamError = _StaleConnection("the upstream closed a pooled connection")
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
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self._interim = True
            self._reason = b""
            self._raw_headers = []
            return
        response = UpstreamResponse(self, status, _text(self._reason), self._raw_headers)
        self._reason = b""
        self._raw_headers = []
        self._until_eof = status not in (204, 304) and not any(
            name.lower() in (b"content-length", b"transfer-encoding")
            for name, _ in response._raw_headers
        )
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

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        response, self._response = self._response, None
        self._cancel_deadline()
        if response is not None:
            response._finish()
        # The answer's last bytes may have paused reading; a finished answer no longer
        # resumes it, and the next exchange on this connection must be read.
        self.resume()
        if self.parser.should_keep_alive() and not self.closed:
            self.pool._release(self)
        else:
            self.abort()

    # Used by the pool and the response.

    def send(
        self, data: bytes, head_only: bool, deadline: float | None
    ) -> asyncio.Future[UpstreamResponse]:
        waiter: asyncio.Future[UpstreamResponse] = self.pool.loop.create_future()
        if self.closed or self.transport is None or self.transport.is_closing():
            waiter.set_exception(_StaleConnection("the upstream closed a pooled connection"))
            return waiter
        self._head_waiter = waiter
        self._head_only = head_only
        self._got_bytes = False
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
        if not self.closed:
            self.closed = True
            self._cancel_deadline()
            if self.transport is not None:
                self.transport.abort()
            self.pool._forget(self)


class UpstreamPool:
    """Keep-alive connections to one origin, at most ``max_connections`` open at a time;
    callers beyond that wait, first come first served, for a connection to come free."""

    def __init__(
        self,
        base_url: str,
        *,
        max_connections: int,
        keepalive_timeout_s: float,
        connect_timeout_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream URL {base_url!r}: expected http:// or https:// and a host")
        self.loop = asyncio.get_running_loop()
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = (
            (ssl_context or client_ssl_context(True, None)) if parts.scheme == "https" else None
        )
        self.host_header = parts.netloc.rpartition("@")[2]
        self.base_path = parts.path.rstrip("/")
        self.max_connections = max_connections
        self.keepalive_timeout_s = keepalive_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._idle: deque[_Connection] = deque()
        self._open: set[_Connection] = set()
        self._opening = 0
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def size(self) -> int:
        """Connections open or being opened."""
        return len(self._open) + self._opening

    async def request(
        self,
        method: str,
        path_qs: str,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        *,
        deadline: float | None = None,
    ) -> UpstreamResponse:
        """Send one request and return once the answer's head has arrived.

        ``deadline`` (event-loop time) bounds the whole exchange, body included; move it with
        :meth:`UpstreamResponse.move_deadline`. ``path_qs`` is appended to the base URL's path.
        """
        data = self._encode(method, path_qs, headers, body)
        head_only = method == "HEAD"
        for attempt in (1, 2):
            connection = await self._acquire(deadline)
            try:
                return await connection.send(data, head_only, deadline)
            except _StaleConnection:
                if attempt == 2:
                    raise
            except BaseException:
                connection.abort()
                raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        # Waiters first: each connection aborted below frees a slot, which would otherwise
        # wake a waiter to open a new connection.
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(ConnectFailed("the connection pool is closed"))
        self._waiters.clear()
        for connection in list(self._open):
            connection.abort()

    def _encode(
        self, method: str, path_qs: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> bytes:
        lines = [f"{method} {self.base_path}{path_qs} HTTP/1.1", f"Host: {self.host_header}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        if body or method not in _BODYLESS_METHODS:
            lines.append(f"Content-Length: {len(body)}")
        head = "\r\n".join(lines)
        # One CR and one LF per line break and nowhere else: a header value smuggling a line
        # break (a config value expanded from the environment, say) cannot add a header.
        if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
            raise ValueError("a request header or path contains a line break")
        return head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body

    async def _acquire(self, deadline: float | None) -> _Connection:
        if self._closed:
            raise ConnectFailed("the connection pool is closed")
        now = self.loop.time()
        while self._idle:
            connection = self._idle.pop()
            if (
                connection.closed
                or connection.transport is None
                or connection.transport.is_closing()
            ):
                continue
            if now - connection.idle_since > self.keepalive_timeout_s:
                connection.abort()
                continue
            connection.reused = True
            return connection
        if self.size >= self.max_connections:
            waiter: asyncio.Future[_Connection | None] = self.loop.create_future()
            self._waiters.append(waiter)
            try:
                if deadline is None:
                    handed = await waiter
                else:
                    async with asyncio.timeout_at(deadline):
                        handed = await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._give_back(waiter.result())
                else:
                    waiter.cancel()
                raise
            if handed is not None:
                handed.reused = True
                return handed
            self._opening -= 1  # the slot reserved for us by _wake()
        return await self._connect(deadline)

    async def _connect(self, deadline: float | None) -> _Connection:
        self._opening += 1
        try:
            when = self.loop.time() + self.connect_timeout_s
            async with asyncio.timeout_at(when if deadline is None else min(when, deadline)):
                _, connection = await self.loop.create_connection(
                    lambda: _Connection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl is not None else None,
                )
        except BaseException as exc:
            self._opening -= 1
            self._wake()
            # Refused, unreachable, DNS, TLS verification. TimeoutError is an OSError too, but
            # a deadline or the connect timeout passing stays a TimeoutError.
            if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
                raise ConnectFailed(
                    f"cannot connect to {self.host}:{self.port}: {exc.strerror or exc}"
                ) from exc
            raise
        self._opening -= 1
        self._open.add(connection)
        if self._closed:
            connection.abort()
            raise ConnectFailed("the connection pool is closed")
        return connection

    def _give_back(self, connection: _Connection | None) -> None:
        if connection is None:  # a reserved slot nobody will use
            self._opening -= 1
            self._wake()
        else:
            self._release(connection)

    def _release(self, connection: _Connection) -> None:
        """A connection finished an exchange and can carry another."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        connection.idle_since = self.loop.time()
        connection.reused = True
        self._idle.append(connection)
        if self._sweeper is None:
            self._sweeper = self.loop.call_later(self.keepalive_timeout_s, self._sweep)

    def _forget(self, connection: _Connection) -> None:
        """A connection closed: its slot goes to the next waiter, if any."""
        if connection in self._open:
            self._open.discard(connection)
            self._wake()

    def _wake(self) -> None:
        while self._waiters and self.size < self.max_connections:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._opening += 1  # reserved: the waiter opens the connection itself
                waiter.set_result(None)

    def _sweep(self) -> None:
        """Close connections idle for longer than the keep-alive timeout."""
        self._sweeper = None
        cutoff = self.loop.time() - self.keepalive_timeout_s
        while self._idle and self._idle[0].idle_since <= cutoff:
            self._idle.popleft().abort()
        if self._idle:
            delay = self._idle[0].idle_since - cutoff
            self._sweeper = self.loop.call_later(max(delay, 0.05), self._sweep)
