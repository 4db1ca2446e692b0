"""The upstream HTTP/1.1 client against real servers on 127.0.0.1.

Most upstreams here are raw ``asyncio.start_server`` servers whose handlers write exact bytes,
so that a test can misbehave precisely; a few are aiohttp apps. Every test runs twice: on
asyncio's own loop and on uvloop, which production uses (its transports are not
``asyncio.Transport`` subclasses, and it reads and times differently).
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import pytest
import trustme
import uvloop
from aiohttp import web

from proxy.http.client import (
    BadResponse,
    ConnectFailed,
    Disconnected,
    UpstreamPool,
    UpstreamResponse,
    client_ssl_context,
)
from tests.conftest import serve_handler

pytestmark = pytest.mark.timeout(20)

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
        request_line, *lines = head[:-4].decode().split("\r\n")
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


# Bodies and their framing.


@on_both_loops
async def test_content_length_body_status_reason_and_headers() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("201 Made It", ["X-Multi: a", "x-multi: b"], b"hello world"))
        await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        response, body = await fetch(pool)
    assert (response.status, response.reason) == (201, "Made It")
    assert response.headers.getall("X-MULTI") == ["a", "b"]
    assert response.headers["Content-Length"] == "11"
    assert body == b"hello world"
    assert response.finished


@on_both_loops
async def test_chunked_body_arrives_dechunked_byte_for_byte() -> None:
    chunks = [b"hello ", b"a\r\n0\r\n\r\nb", bytes(range(256))]  # framing look-alikes inside

    async def handler(peer: Peer) -> None:
        while await peer.next_request() is not None:
            head = answer("200 OK", ["Transfer-Encoding: chunked"])
            peer.send(head + chunked(*chunks)[:-2] + b"X-Trailer: yes\r\n\r\n")

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        first = await fetch(pool)
        second = await fetch(pool)
    assert first[1] == second[1] == b"".join(chunks)
    assert server.accepted == 1  # the trailer did not break the framing of the next answer


@on_both_loops
async def test_body_delimited_by_connection_close() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nno length, ")
        await peer.writer.drain()
        await asyncio.sleep(0.02)
        peer.send(b"no chunks")  # then the handler returns and the server closes

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        response, body = await fetch(pool)
        assert body == b"no length, no chunks"
        assert response.finished
        await fetch(pool)
    assert server.accepted == 2


@on_both_loops
async def test_204_and_304_have_no_body_and_keep_the_connection() -> None:
    answers = [answer("204 No Content"), answer("304 Not Modified", ["Content-Length: 5"])]

    async def handler(peer: Peer) -> None:
        for data in answers:
            await peer.next_request()
            peer.send(data)
        await echo(peer)

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        for status in (204, 304):
            response, body = await fetch(pool, within=1)
            assert (response.status, body) == (status, b"")
        assert (await fetch(pool))[1] == b"GET /"
    assert server.accepted == 1


@on_both_loops
async def test_head_answer_ends_at_its_head_and_is_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.next_request() is not None:
            peer.send(answer("200 OK", ["Content-Length: 1000"]))  # and no body, as HEAD says

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        response, body = await fetch(pool, method="HEAD", within=1)
        assert (response.status, response.headers["Content-Length"], body) == (200, "1000", b"")
        await server.hangups(1)
        await fetch(pool, method="HEAD", within=1)
    assert server.accepted == 2


@on_both_loops
async def test_streamed_chunks_arrive_before_the_answer_ends() -> None:
    first_seen = asyncio.Event()

    async def upstream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"first")
        await first_seen.wait()  # the rest only once the client has the first chunk
        await response.write(b"second")
        await response.write_eof()
        return response

    chunks = []
    async with (
        serve_handler(upstream) as url,
        open_pool(url) as pool,
        await pool.request("GET", "/", (), b"", deadline=soon(2)) as response,
    ):
        assert response.headers["Transfer-Encoding"] == "chunked"
        async for chunk in response:
            chunks.append(chunk)
            first_seen.set()
    assert chunks == [b"first", b"second"]


# The request on the wire.


@on_both_loops
async def test_request_line_host_headers_and_content_length() -> None:
    async with RawServer(echo) as server, open_pool(server.url + "/base/") as pool:
        await fetch(pool, "/v1/chat?x=1", "POST", headers=[("X-B", "2"), ("X-A", "1")], body=b"{}")
        await fetch(pool, "/empty", "POST")
        await fetch(pool, "/get?q=a%20b", "GET", headers=[("X-A", "1"), ("X-A", "3")])
        await fetch(pool, "/item", "DELETE")
    host = ("Host", f"127.0.0.1:{server.port}")
    post, empty_post, get, delete = server.requests
    assert (post.method, post.target, post.body) == ("POST", "/base/v1/chat?x=1", b"{}")
    assert post.headers == [host, ("X-B", "2"), ("X-A", "1"), ("Content-Length", "2")]
    assert empty_post.headers == [host, ("Content-Length", "0")]
    assert (get.target, get.headers) == ("/base/get?q=a%20b", [host, ("X-A", "1"), ("X-A", "3")])
    assert (delete.method, delete.headers) == ("DELETE", [host])


@on_both_loops
async def test_line_breaks_in_a_header_or_path_are_refused_before_sending() -> None:
    cases: list[tuple[str, list[tuple[str, str]]]] = [
        ("/", [("X-Evil", "a\r\nX-Injected: 1")]),
        ("/", [("X-Evil", "a\nb")]),
        ("/", [("X-Ev\ril", "a")]),
        ("/x HTTP/1.1\r\nX-Injected: 1\r\n", []),
    ]
    async with RawServer(echo) as server, open_pool(server.url) as pool:
        for path, headers in cases:
            with pytest.raises(ValueError, match="line break"):
                await pool.request("GET", path, headers, b"", deadline=soon(1))
        assert pool.size == 0
    assert server.accepted == 0


# Keep-alive.


@on_both_loops
async def test_sequential_requests_share_one_connection() -> None:
    async with RawServer(echo) as server, open_pool(server.url) as pool:
        bodies = [(await fetch(pool, f"/{n}"))[1] for n in range(3)]
        assert pool.size == 1
    assert bodies == [b"GET /0", b"GET /1", b"GET /2"]
    assert server.accepted == 1


@on_both_loops
async def test_connection_close_and_http_1_0_answers_are_not_reused() -> None:
    answers = [
        answer("200 OK", ["Connection: close"], b"ok"),
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    ]

    async def handler(peer: Peer) -> None:  # keeps the connection open: the client must close it
        while await peer.next_request() is not None:
            peer.send(answers[peer.index - 1] if peer.index <= len(answers) else answer("200 OK"))

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        for n in range(len(answers)):
            response, body = await fetch(pool)
            assert (response.status, body) == (200, b"ok")
            await server.hangups(n + 1)
        await fetch(pool)
    assert server.accepted == 3


@on_both_loops
async def test_pooled_connection_the_server_closed_while_idle_is_replaced() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("200 OK", body=b"once"))  # then the handler returns: the server closes

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        await fetch(pool)
        await eventually(lambda: pool.size == 0)  # the client saw the close while idle
        _, body = await fetch(pool)
    assert body == b"once"
    assert server.accepted == 2
    assert len(server.requests) == 2  # nothing was sent on the closed connection


@on_both_loops
async def test_request_racing_an_idle_close_is_sent_again_once() -> None:
    async def handler(peer: Peer) -> None:
        if peer.index == 1:
            await peer.next_request()
            peer.send(answer("200 OK", body=b"first"))
        await peer.next_request()
        # ... and close without answering, as an upstream does when its idle timer fired
        # just as the request arrived.

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        assert (await fetch(pool, "/1"))[1] == b"first"
        with pytest.raises(Disconnected):  # the fresh connection also closed: no second retry
            await fetch(pool, "/2")
        assert pool.size == 0
    assert server.accepted == 2
    assert [request.target for request in server.requests] == ["/1", "/2", "/2"]


@on_both_loops
async def test_request_racing_an_idle_close_succeeds_on_a_new_connection() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        if peer.index == 1:
            peer.send(answer("200 OK", body=b"first"))
            await peer.next_request()  # and close it without answering
        else:
            peer.send(answer("200 OK", body=b"retried"))
            await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        assert (await fetch(pool))[1] == b"first"
        assert (await fetch(pool))[1] == b"retried"
    assert server.accepted == 2
    assert len(server.requests) == 3  # the second request went out twice


@on_both_loops
async def test_fresh_connection_closed_without_an_answer_is_disconnected() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        with pytest.raises(Disconnected, match="before answering"):
            await fetch(pool)
    assert server.accepted == 1


@on_both_loops
async def test_interim_1xx_answers_are_skipped() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.next_request() is not None:
            peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            await peer.writer.drain()
            await asyncio.sleep(0.01)
            early_hints = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
            peer.send(early_hints + answer("200 OK", ["X-Final: yes"], b"final"))

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        for _ in range(2):
            response, body = await fetch(pool, within=1)
            assert (response.status, response.reason, body) == (200, "OK", b"final")
            assert response.headers["X-Final"] == "yes"
            assert "Link" not in response.headers
    assert server.accepted == 1


# Failures.


@on_both_loops
async def test_bytes_that_are_not_http_are_a_bad_response() -> None:
    for garbage in [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n",
    ]:

        async def handler(peer: Peer, garbage: bytes = garbage) -> None:
            await peer.next_request()
            peer.send(garbage)
            await peer.wait_for_hangup()

        async with RawServer(handler) as server, open_pool(server.url) as pool:
            with pytest.raises(BadResponse):
                await fetch(pool, within=1)
            await server.hangups(1)
            assert pool.size == 0


@on_both_loops
async def test_bad_chunk_framing_mid_body_is_a_bad_response_after_the_good_chunks() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("200 OK", ["Transfer-Encoding: chunked"]) + b"5\r\nhello\r\nZZ\r\n")
        await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        received: list[bytes] = []
        async with await pool.request("GET", "/", (), b"", deadline=soon(1)) as response:
            with pytest.raises(BadResponse):
                await collect(response, received)
    assert received == [b"hello"]


@on_both_loops
async def test_connection_refused_is_connect_failed() -> None:
    with socket.socket() as bound_not_listening:  # holds the port, refuses connections
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        async with open_pool(f"http://127.0.0.1:{port}") as pool:
            with pytest.raises(ConnectFailed, match=f"cannot connect to 127.0.0.1:{port}"):
                await fetch(pool)
            assert pool.size == 0


@on_both_loops
async def test_close_mid_body_is_disconnected_after_the_partial_chunks() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("200 OK", ["Content-Length: 100"]) + b"hello")
        await peer.writer.drain()
        await asyncio.sleep(0.02)  # then close, 95 bytes short

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        received: list[bytes] = []
        async with await pool.request("GET", "/", (), b"", deadline=soon(1)) as response:
            with pytest.raises(Disconnected, match="mid-answer"):
                await collect(response, received)
        assert pool.size == 0
    assert received == [b"hello"]


# Deadlines.


async def _head_then_silence(peer: Peer) -> None:
    await peer.next_request()
    peer.send(answer("200 OK", ["Transfer-Encoding: chunked"]) + b"5\r\nfirst\r\n")
    await peer.wait_for_hangup()


async def _no_answer(peer: Peer) -> None:
    await peer.next_request()
    await peer.wait_for_hangup()


@on_both_loops
async def test_no_answer_by_the_deadline_is_a_timeout() -> None:
    async with RawServer(_no_answer) as server, open_pool(server.url) as pool:
        start = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/", (), b"", deadline=soon(0.2))
        assert 0.18 <= elapsed_since(start) < 1.0
        await server.hangups(1)  # the connection was closed
        assert pool.size == 0


@on_both_loops
async def test_cancelling_a_request_closes_its_connection() -> None:
    async with RawServer(_no_answer) as server, open_pool(server.url) as pool:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await pool.request("GET", "/", (), b"")
        await server.hangups(1)
        assert pool.size == 0


@on_both_loops
async def test_deadline_passing_mid_body_raises_from_iteration_and_closes() -> None:
    async with RawServer(_head_then_silence) as server, open_pool(server.url) as pool:
        received: list[bytes] = []
        start = asyncio.get_running_loop().time()
        async with await pool.request("GET", "/", (), b"", deadline=soon(0.2)) as response:
            with pytest.raises(TimeoutError):
                await collect(response, received)
        assert 0.18 <= elapsed_since(start) < 1.0
        await server.hangups(1)
        assert pool.size == 0
    assert received == [b"first"]


@on_both_loops
async def test_move_deadline_gives_a_slow_body_more_time() -> None:
    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("200 OK", ["Transfer-Encoding: chunked"]) + b"5\r\nfirst\r\n")
        await asyncio.sleep(0.3)
        peer.send(b"4\r\nlast\r\n0\r\n\r\n")
        await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        start = asyncio.get_running_loop().time()
        async with await pool.request("GET", "/", (), b"", deadline=soon(0.15)) as response:
            response.move_deadline(soon(2))
            assert await response.read() == b"firstlast"
        assert elapsed_since(start) >= 0.25  # well past the first deadline
        assert server.hung_up == 0  # the answer completed, so the connection went back idle
        assert pool.size == 1


@on_both_loops
async def test_tls_handshake_that_never_completes_is_a_timeout() -> None:
    async def silent(peer: Peer) -> None:  # plain TCP: it never answers the ClientHello
        await peer.wait_for_hangup()

    async with RawServer(silent) as server:
        url = server.url.replace("http://", "https://")
        insecure = client_ssl_context(False, None)
        for deadline_s, connect_timeout_s in [(0.15, 5.0), (5.0, 0.15)]:
            async with open_pool(
                url, connect_timeout_s=connect_timeout_s, ssl_context=insecure
            ) as pool:
                start = asyncio.get_running_loop().time()
                with pytest.raises(TimeoutError):
                    await fetch(pool, within=deadline_s)
                assert 0.13 <= elapsed_since(start) < 1.0
                assert pool.size == 0
        await server.hangups(2)


# The connection limit.


@on_both_loops
async def test_callers_beyond_the_limit_wait_for_a_connection() -> None:
    async def handler(peer: Peer) -> None:
        while (request := await peer.next_request()) is not None:
            await asyncio.sleep(0.05)
            peer.send(answer("200 OK", body=request.target.encode()))

    async with RawServer(handler) as server, open_pool(server.url, max_connections=2) as pool:
        results = await asyncio.gather(*(fetch(pool, f"/{n}") for n in range(5)))
        assert pool.size == 2
    assert [body for _, body in results] == [f"/{n}".encode() for n in range(5)]
    assert server.max_open == 2
    assert server.accepted == 2


@on_both_loops
async def test_a_closed_connection_frees_its_slot_for_a_waiter() -> None:
    async def handler(peer: Peer) -> None:
        request = await peer.next_request()
        assert request is not None
        await asyncio.sleep(0.02)
        peer.send(answer("200 OK", ["Connection: close"], request.target.encode()))

    async with RawServer(handler) as server, open_pool(server.url, max_connections=1) as pool:
        results = await asyncio.gather(*(fetch(pool, f"/{n}") for n in range(3)))
        assert pool.size == 0
    assert [body for _, body in results] == [b"/0", b"/1", b"/2"]
    assert server.max_open == 1
    assert server.accepted == 3


@on_both_loops
async def test_a_waiter_past_its_deadline_times_out_without_leaking_its_slot() -> None:
    async def handler(peer: Peer) -> None:
        while (request := await peer.next_request()) is not None:
            if request.target == "/slow":
                await asyncio.sleep(0.5)
            peer.send(answer("200 OK", body=request.target.encode()))

    async with RawServer(handler) as server, open_pool(server.url, max_connections=1) as pool:
        async with asyncio.TaskGroup() as group:
            slow = group.create_task(fetch(pool, "/slow"))
            await eventually(lambda: len(server.requests) == 1)
            start = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError):
                await fetch(pool, "/impatient", within=0.1)
            assert elapsed_since(start) < 0.4  # it did not wait for the slow answer
        assert slow.result()[1] == b"/slow"
        assert pool.size == 1
        assert (await fetch(pool, "/after"))[1] == b"/after"
        assert pool.size == 1
    assert [request.target for request in server.requests] == ["/slow", "/after"]
    assert server.accepted == 1


# Giving up on an answer.


@on_both_loops
async def test_leaving_an_unfinished_answer_closes_its_connection() -> None:
    async def handler(peer: Peer) -> None:
        if peer.index == 1:
            await peer.next_request()
            peer.send(answer("200 OK", ["Content-Length: 100000"]) + b"x" * 10)
            await peer.wait_for_hangup()
        else:
            await echo(peer)

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        async with await pool.request("GET", "/", (), b"", deadline=soon(1)) as response:
            assert await anext(response) == b"x" * 10
        await server.hangups(1)
        assert pool.size == 0
        assert (await fetch(pool, "/next"))[1] == b"GET /next"
    assert server.accepted == 2


@on_both_loops
async def test_leaving_a_finished_unread_answer_keeps_its_connection() -> None:
    async with RawServer(echo) as server, open_pool(server.url) as pool:
        async with await pool.request("GET", "/first", (), b"", deadline=soon(1)) as response:
            await eventually(lambda: response.finished)
        assert (await fetch(pool, "/second"))[1] == b"GET /second"
    assert server.accepted == 1


# Flow control.


@on_both_loops
async def test_a_slow_reader_pauses_the_upstream_and_gets_every_byte() -> None:
    payload = random.Random(7).randbytes(32 * 1024 * 1024)  # beyond what socket buffers hold
    drained = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("200 OK", body=payload))
        await peer.writer.drain()
        drained.set()
        await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        async with await pool.request("GET", "/", (), b"", deadline=soon(10)) as response:
            await asyncio.sleep(0.3)  # reading nothing: the upstream must stall
            assert not drained.is_set()
            received = bytearray()
            async for chunk in response:
                received += chunk
                await asyncio.sleep(0)  # a slow reader: every chunk costs a loop iteration
        assert drained.is_set()
        assert pool.size == 1
    assert len(received) == len(payload)
    assert received == payload


@on_both_loops
async def test_an_answer_completing_while_paused_leaves_a_usable_connection() -> None:
    """The last bytes of the answer push the buffer over the high-water mark and end the
    answer in the same read: the connection goes back to the pool, and must read again."""
    first_part = b"a" * 256 * 1024  # exactly the high-water mark: no pause yet

    async def handler(peer: Peer) -> None:
        await peer.next_request()
        peer.send(answer("200 OK", [f"Content-Length: {len(first_part) + 100}"]))
        peer.send(first_part)
        await peer.writer.drain()
        await asyncio.sleep(0.05)
        peer.send(b"b" * 100)
        await echo(peer)

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        async with await pool.request("GET", "/", (), b"", deadline=soon(2)) as response:
            await eventually(lambda: response.finished)
            assert await response.read() == first_part + b"b" * 100
        assert (await fetch(pool, "/next", within=1))[1] == b"GET /next"
    assert server.accepted == 1


# The pool's own housekeeping.


@on_both_loops
async def test_idle_connections_are_closed_after_the_keepalive_timeout() -> None:
    async with RawServer(echo) as server, open_pool(server.url, keepalive_timeout_s=0.2) as pool:
        await fetch(pool)
        start = asyncio.get_running_loop().time()
        await server.hangups(1)
        assert 0.15 <= elapsed_since(start) < 1.0
        assert pool.size == 0
        assert (await fetch(pool, "/again"))[1] == b"GET /again"
    assert server.accepted == 2


@on_both_loops
async def test_closing_the_pool_closes_connections_and_fails_later_requests() -> None:
    async with (
        RawServer(_head_then_silence) as server,
        open_pool(server.url, max_connections=1) as pool,
    ):

        async def wait_for_a_connection() -> None:
            with pytest.raises(ConnectFailed, match="closed"):
                await fetch(pool)

        async with await pool.request("GET", "/", (), b"", deadline=soon(2)) as streaming:
            async with asyncio.TaskGroup() as group:
                group.create_task(wait_for_a_connection())
                await asyncio.sleep(0.05)
                await pool.close()
            with pytest.raises(Disconnected):
                await streaming.read()
        await server.hangups(1)
        with pytest.raises(ConnectFailed, match="closed"):
            await fetch(pool)
        assert pool.size == 0
    assert server.accepted == 1  # nothing connected after the close


# TLS.


def _tls_server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@on_both_loops
async def test_https_upstream_verified_with_a_ca_bundle() -> None:
    ca = trustme.CA()
    with ca.cert_pem.tempfile() as ca_path:
        verified = client_ssl_context(True, ca_path)
    async with (
        RawServer(echo, ssl_context=_tls_server_context(ca)) as server,
        open_pool(server.url, ssl_context=verified) as pool,
    ):
        bodies = [(await fetch(pool, f"/{n}"))[1] for n in range(2)]
    assert bodies == [b"GET /0", b"GET /1"]
    assert server.accepted == 1


@on_both_loops
async def test_https_upstream_without_verification() -> None:
    async with (
        RawServer(echo, ssl_context=_tls_server_context(trustme.CA())) as server,
        open_pool(server.url, ssl_context=client_ssl_context(False, None)) as pool,
    ):
        assert (await fetch(pool, "/x"))[1] == b"GET /x"


@on_both_loops
async def test_https_upstream_with_an_unknown_ca_is_connect_failed() -> None:
    async with (
        RawServer(echo, ssl_context=_tls_server_context(trustme.CA())) as server,
        open_pool(server.url, ssl_context=client_ssl_context(True, None)) as pool,
    ):
        with pytest.raises(ConnectFailed, match="certificate verify failed"):
            await fetch(pool)
        assert pool.size == 0
    assert server.requests == []
