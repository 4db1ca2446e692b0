"""A lean HTTP/1.1 client for upstream calls: a keep-alive pool per origin.

Why not aiohttp's ``ClientSession``: on the benchmark machine one ``ClientSession`` request
costs about 100 µs of CPU, and a mirrored request makes two, so the client alone capped a
mirroring proxy at a quarter of nginx's throughput (``loadtests/floor.py``). The same exchange
over a protocol object costs a tenth of that. The proxy needs only a small part of a general
client: complete request bodies sent to a fixed origin, answers relayed as raw bytes. There are
no redirects, cookies, proxies, decompression or ``Expect`` handshakes.

The only retry is the one every keep-alive client needs, and only for idempotent methods: a
request sent on a pooled connection that the upstream closed while it sat idle, before a
single byte of an answer came back, is sent once more on a new connection. A ``POST`` never
is (RFC 9110 §9.2.2): the upstream may have received it, and for an LLM API a repeat is a
second bill and a second tool side effect. So that this race is rare, a pooled connection is
reused only if its socket has nothing unread (the upstream has not closed it unseen; checked
after a second idle) and it has sat idle for less than the pool's ``keepalive_timeout_s`` and
the upstream's own ``Keep-Alive: timeout``, if it sent one, less a margin.

The layers, each in its own module:

- :class:`UpstreamPool` (here): opens, lends, takes back and sweeps connections, and writes
  requests;
- :class:`proxy.http.upstream_connection.UpstreamConnection`: one connection, parsing
  answers with httptools;
- :class:`proxy.http.upstream_response.UpstreamResponse`: one answer, its body streamed;
- :mod:`proxy.http.upstream_errors`: what is raised, and how it is reported.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Iterable
from urllib.parse import urlsplit

from proxy.http.upstream_connection import PROBE_AFTER_IDLE_S, UpstreamConnection
from proxy.http.upstream_errors import ConnectFailed, StaleConnection
from proxy.http.upstream_response import UpstreamResponse

__all__ = ["IDEMPOTENT_METHODS", "UpstreamPool", "client_ssl_context"]

_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})
# RFC 9110 §9.2.2: the methods a client may send again by itself.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


def client_ssl_context(verify_tls: bool, ca_bundle: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_bundle)
    if not verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


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
        self._idle: deque[UpstreamConnection] = deque()
        self._open: set[UpstreamConnection] = set()
        self._opening = 0
        self._waiters: deque[asyncio.Future[UpstreamConnection | None]] = deque()
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
        attempts = (1, 2) if method in IDEMPOTENT_METHODS else (2,)
        for attempt in attempts:
            connection = await self._acquire(deadline)
            try:
                return await connection.send(data, head_only, deadline)
            except StaleConnection:
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
        try:
            # The client's fields are text one character per byte (Latin-1): the same bytes.
            raw = head.encode("latin-1")
        except UnicodeEncodeError:  # a configured value past Latin-1: it goes as UTF-8
            raw = head.encode("utf-8", "surrogateescape")
        return raw + b"\r\n\r\n" + body

    async def _acquire(self, deadline: float | None) -> UpstreamConnection:
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
            idle = now - connection.idle_since
            if idle > self.keepalive_timeout_s or idle > connection.keepalive_s:
                connection.abort()
                continue
            if idle >= PROBE_AFTER_IDLE_S and connection.readable():  # closed, unseen so far
                connection.abort()
                continue
            connection.reused = True
            return connection
        if self.size >= self.max_connections:
            waiter: asyncio.Future[UpstreamConnection | None] = self.loop.create_future()
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

    async def _connect(self, deadline: float | None) -> UpstreamConnection:
        self._opening += 1
        try:
            when = self.loop.time() + self.connect_timeout_s
            async with asyncio.timeout_at(when if deadline is None else min(when, deadline)):
                _, connection = await self.loop.create_connection(
                    lambda: UpstreamConnection(self),
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

    def _give_back(self, connection: UpstreamConnection | None) -> None:
        if connection is None:  # a reserved slot nobody will use
            self._opening -= 1
            self._wake()
        else:
            self.release(connection)

    def release(self, connection: UpstreamConnection) -> None:
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

    def forget(self, connection: UpstreamConnection) -> None:
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
