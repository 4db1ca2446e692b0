"""Upstreams on 127.0.0.1 for the upstream client's tests, and the client side of them.

Most upstreams here are raw ``asyncio.start_server`` servers whose handlers write exact bytes,
so that a test can misbehave precisely; a few are aiohttp apps. Every test runs twice
(:func:`on_both_loops`): on asyncio's own loop and on uvloop, which production uses (its
transports are not ``asyncio.Transport`` subclasses, and it reads and times differently).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import pytest
import uvloop

from proxy.http.upstream_pool import UpstreamPool
from proxy.http.upstream_response import UpstreamResponse

LOOP_FACTORIES: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def on_both_loops(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[str], None]:
    """Turn an async test into a sync one that runs it on each loop in ``LOOP_FACTORIES``."""

    @pytest.mark.parametrize("loop", list(LOOP_FACTORIES))
    def run(loop: str) -> None:
        with asyncio.Runner(loop_factory=LOOP_FACTORIES[loop]) as runner:
            runner.run(test())

    run.__name__ = run.__qualname__ = test.__name__
    run.__doc__ = test.__doc__
    return run


# A raw upstream: one handler call per accepted connection.


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes


class Peer:
    """The server's end of one accepted connection."""

    def __init__(
        self, server: RawServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.server = server
        self.index = server.accepted  # 1 for the first connection the server accepted
        self.reader = reader
        self.writer = writer

    async def next_request(self) -> Request | None:
        """The next request on this connection, or None once the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            if isinstance(exc, asyncio.IncompleteReadError) and exc.partial:
                raise AssertionError(f"a truncated request head: {exc.partial!r}") from exc
            self.server.hung_up += 1
            return None
        # One character per byte: a test can compare a field's bytes with ``.encode("latin-1")``.
        request_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        method, target, version = request_line.split(" ")
        assert version == "HTTP/1.1"
        headers = [(name, value) for name, _, value in (line.partition(": ") for line in lines)]
        length = sum(int(value) for name, value in headers if name.lower() == "content-length")
        request = Request(method, target, headers, await self.reader.readexactly(length))
        self.server.requests.append(request)
        return request

    async def wait_for_hangup(self) -> None:
        """Read (and drop) whatever comes until the client closes the connection."""
        with suppress(ConnectionResetError):
            while await self.reader.read(65536):
                pass
        self.server.hung_up += 1

    def send(self, data: bytes) -> None:
        self.writer.write(data)


Handler = Callable[[Peer], Awaitable[None]]


class RawServer:
    """An upstream on 127.0.0.1 port 0 that counts what happens to its connections."""

    def __init__(self, handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.ssl_context = ssl_context
        self.accepted = 0  # connections accepted
        self.open = 0  # connections whose handler is still running
        self.max_open = 0
        self.hung_up = 0  # connections on which the server read the client's close
        self.requests: list[Request] = []
        self.errors: list[BaseException] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def hangups(self, count: int) -> None:
        """Wait until the server has read the client's close on ``count`` connections."""
        await eventually(lambda: self.hung_up >= count)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port: int = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        if self.errors and exc is None:
            raise self.errors[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.accepted += 1
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        # A handler task must not end cancelled: Python 3.11's start_server logs that as an error.
        with suppress(asyncio.CancelledError):
            try:
                await self.handler(Peer(self, reader, writer))
            except ConnectionError:
                pass  # the client went away mid-answer: several tests do that on purpose
            except Exception as exc:  # an assertion in a handler fails the test at exit
                self.errors.append(exc)
            finally:
                self.open -= 1
                writer.close()
                with suppress(Exception):
                    async with asyncio.timeout(1):
                        await writer.wait_closed()
        self._tasks.discard(task)


def answer(status: str, headers: Iterable[str] = (), body: bytes = b"") -> bytes:
    """A response with a Content-Length (unless ``headers`` frame the body another way)."""
    lines = [f"HTTP/1.1 {status}", *headers]
    if not any(line.lower().startswith(("content-length", "transfer-encoding")) for line in lines):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def chunked(*chunks: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


async def echo(peer: Peer) -> None:
    """Keep-alive: answer every request with its own method and target."""
    while (request := await peer.next_request()) is not None:
        peer.send(answer("200 OK", body=f"{request.method} {request.target}".encode()))


# Upstreams that answer late or never.


async def head_then_silence(peer: Peer) -> None:
    await peer.next_request()
    peer.send(answer("200 OK", ["Transfer-Encoding: chunked"]) + b"5\r\nfirst\r\n")
    await peer.wait_for_hangup()


async def no_answer(peer: Peer) -> None:
    await peer.next_request()
    await peer.wait_for_hangup()


# The client side.


@asynccontextmanager
async def open_pool(
    url: str,
    *,
    max_connections: int = 4,
    keepalive_timeout_s: float = 30.0,
    connect_timeout_s: float = 2.0,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[UpstreamPool]:
    pool = UpstreamPool(
        url,
        max_connections=max_connections,
        keepalive_timeout_s=keepalive_timeout_s,
        connect_timeout_s=connect_timeout_s,
        ssl_context=ssl_context,
    )
    try:
        yield pool
    finally:
        await pool.close()


def soon(seconds: float) -> float:
    """A deadline ``seconds`` from now, in event-loop time."""
    return asyncio.get_running_loop().time() + seconds


async def fetch(
    pool: UpstreamPool,
    path: str = "/",
    method: str = "GET",
    *,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    within: float = 2.0,
) -> tuple[UpstreamResponse, bytes]:
    """One whole exchange, with ``within`` seconds for it: the response's head and its body."""
    async with await pool.request(method, path, headers, body, deadline=soon(within)) as response:
        return response, await response.read()


async def eventually(condition: Callable[[], bool], within: float = 2.0) -> None:
    """Wait until ``condition()`` holds; fail the test if it does not ``within`` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polling plain counters, no event to wait on
            await asyncio.sleep(0.005)


async def collect(response: UpstreamResponse, into: list[bytes]) -> None:
    """Read the body chunk by chunk into ``into``, so a test sees what came before an error."""
    async for chunk in response:
        into.append(chunk)


def elapsed_since(start: float) -> float:
    return asyncio.get_running_loop().time() - start
