"""The public listener's HTTP/1.1 server (:mod:`proxy.http.server`), driven directly.

Each test starts an :class:`HttpServer` on 127.0.0.1 port 0 with a handler of its own and talks
to it over raw sockets, so that framing, limits, deadlines and shutdown are checked byte for
byte. What the full proxy already covers over this server (a huge single header, CRLF in
request headers, chunked request bodies, ``Expect: 100-continue``, slowloris headers, absolute
targets not changing the upstream, ``Content-Length`` over the limit through the proxy, the
framing of relayed answers) is in ``test_bad_input.py`` and ``test_forward.py``.

Every wait is bounded, so a server that hangs fails a test instead of stalling the run.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict

from proxy.http.server import MAX_FIELD_BYTES, MAX_PIPELINED, HttpServer, Request, ResponseWriter

pytestmark = pytest.mark.timeout(20)

Handler = Callable[[Request, ResponseWriter], Awaitable[None]]


# -- the server ------------------------------------------------------------------------------


def make_server(
    handler: Handler,
    *,
    max_body_bytes: int = 1_000_000,
    header_timeout_s: float = 5.0,
    body_timeout_s: float = 5.0,
    keepalive_timeout_s: float = 5.0,
    send_timeout_s: float = 5.0,
) -> HttpServer:
    return HttpServer(
        handler,
        max_body_bytes=max_body_bytes,
        header_timeout_s=header_timeout_s,
        body_timeout_s=body_timeout_s,
        keepalive_timeout_s=keepalive_timeout_s,
        send_timeout_s=send_timeout_s,
    )


@asynccontextmanager
async def serving(
    handler: Handler,
    *,
    max_body_bytes: int = 1_000_000,
    header_timeout_s: float = 5.0,
    body_timeout_s: float = 5.0,
    keepalive_timeout_s: float = 5.0,
    send_timeout_s: float = 5.0,
) -> AsyncIterator[HttpServer]:
    server = make_server(
        handler,
        max_body_bytes=max_body_bytes,
        header_timeout_s=header_timeout_s,
        body_timeout_s=body_timeout_s,
        keepalive_timeout_s=keepalive_timeout_s,
        send_timeout_s=send_timeout_s,
    )
    await server.start("127.0.0.1", 0)
    try:
        yield server
    finally:
        if not server.stopping:  # a test may have closed it itself
            async with asyncio.timeout(5):
                await server.close(1.0)


async def answer_path(request: Request, response: ResponseWriter) -> None:
    """Answer every request with its own ``path_qs``."""
    response.send(200, [("Content-Type", "text/plain")], request.path_qs.encode())


def path_recorder(seen: list[str]) -> Handler:
    """A handler that notes each request's path, then answers it like :func:`answer_path`."""

    async def handler(request: Request, response: ResponseWriter) -> None:
        seen.append(request.path)
        await answer_path(request, response)

    return handler


# -- the client ------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    reason: str
    headers: CIMultiDict[str]
    body: bytes
    chunk_sizes: list[int]  # for a chunked answer: the size of each chunk, in order

    def error(self) -> dict[str, Any]:
        """The OpenAI-shaped error of the body, checked for shape."""
        assert self.headers["Content-Type"] == "application/json"
        assert int(self.headers["Content-Length"]) == len(self.body)
        document = orjson.loads(self.body)
        assert isinstance(document, dict)
        assert list(document) == ["error"]
        error = document["error"]
        assert isinstance(error, dict)
        assert {"message", "type", "code"} <= set(error)
        assert isinstance(error["message"], str)
        assert error["message"]
        assert isinstance(error["type"], str)
        assert self.headers["x-darklaunch-error"] == error["code"]
        return error


async def read_response(reader: asyncio.StreamReader, *, head_only: bool = False) -> Response:
    """One response, framed strictly: by ``Content-Length``, by chunks (each checked), or, with
    neither, by the end of the connection. ``head_only`` for the answer to a HEAD."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
    version, status_text, reason = status_line.split(" ", 2)
    assert version == "HTTP/1.1", status_line
    status = int(status_text)
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, colon, value = line.partition(":")
        assert colon, f"not a header line: {line!r}"
        headers.add(name, value.strip())
    chunk_sizes: list[int] = []
    if head_only or status in (204, 304):
        body = b""
    elif "Transfer-Encoding" in headers:
        assert headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in headers
        pieces = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line[:-2], 16)
            if size == 0:
                assert await reader.readexactly(2) == b"\r\n"  # no trailers
                break
            chunk_sizes.append(size)
            pieces.append(await reader.readexactly(size))
            assert await reader.readexactly(2) == b"\r\n"
        body = b"".join(pieces)
    elif "Content-Length" in headers:
        body = await reader.readexactly(int(headers["Content-Length"]))
    else:
        body = await reader.read()  # close-delimited
    return Response(status, reason, headers, body, chunk_sizes)


async def parse_responses(data: bytes) -> list[Response]:
    """Every response in ``data`` (all a connection sent until it closed)."""
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    responses = []
    while not reader.at_eof():
        responses.append(await read_response(reader))
    return responses


class Client:
    """One raw connection to the server."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def response(self, *, head_only: bool = False, within: float = 2.0) -> Response:
        async with asyncio.timeout(within):
            return await read_response(self.reader, head_only=head_only)

    async def read_all(self, within: float = 2.0) -> bytes:
        """Everything until the server closes the connection (a reset counts as a close)."""
        chunks = []
        async with asyncio.timeout(within):
            with suppress(ConnectionResetError):
                while chunk := await self.reader.read(65536):
                    chunks.append(chunk)
        return b"".join(chunks)

    async def closed_by_server(self, within: float = 2.0) -> None:
        """Assert that the server closes the connection, sending nothing more."""
        assert await self.read_all(within) == b""


@asynccontextmanager
async def connect(server: HttpServer, *, rcvbuf: int | None = None) -> AsyncIterator[Client]:
    """A connection; ``rcvbuf`` pins the client's socket receive buffer (no autotuning)."""
    if rcvbuf is None:
        reader, writer = await asyncio.open_connection(*server.address)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, server.address)
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
    try:
        yield Client(reader, writer)
    finally:
        writer.close()
        with suppress(Exception):
            async with asyncio.timeout(1):
                await writer.wait_closed()


async def exchange(
    server: HttpServer, payload: bytes, *, piece: int = 0, pause_s: float = 0.0
) -> bytes:
    """Send ``payload`` (in pieces of ``piece`` bytes, ``pause_s`` apart, if given) while
    reading, and return all the server sent until it closed. Sending stops once an answer
    starts arriving: a server that refuses a request early need not be fed the rest."""
    async with connect(server) as client:
        received: list[bytes] = []

        async def read() -> None:
            with suppress(ConnectionResetError):
                while chunk := await client.reader.read(65536):
                    received.append(chunk)

        async def write() -> None:
            pieces = (
                [payload[i : i + piece] for i in range(0, len(payload), piece)]
                if piece
                else [payload]
            )
            with suppress(ConnectionError):
                for data in pieces:
                    if received:
                        return
                    client.send(data)
                    await client.writer.drain()
                    if pause_s:
                        await asyncio.sleep(pause_s)

        async with asyncio.timeout(5), asyncio.TaskGroup() as group:
            group.create_task(read())
            group.create_task(write())
        return b"".join(received)


def get(target: str, *headers: str, version: str = "1.1") -> bytes:
    lines = [f"GET {target} HTTP/{version}", *headers]
    if version == "1.1":
        lines.insert(1, "Host: test")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def elapsed_since(start: float) -> float:
    return asyncio.get_running_loop().time() - start


# -- requests as the handler sees them ---------------------------------------------------------


async def test_request_fields_origin_and_absolute_form() -> None:
    seen: list[Request] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        seen.append(request)
        response.send(200, [], b"ok")

    async with serving(handler) as server, connect(server) as client:
        client.send(
            b"POST /v1/a%20b/c%2Fd?x=%20y&x=2&e= HTTP/1.1\r\nHost: example\r\n"
            b"X-Rep: one\r\nx-rep: two\r\nContent-Length: 5\r\n\r\nhello"
        )
        first = await client.response()
        assert first.status == 200
        assert "Connection" not in first.headers  # kept alive, as HTTP/1.1 is by default
        client.send(b"DELETE http://elsewhere.example:8080/p%2Fq?z=%41 HTTP/1.0\r\n\r\n")
        second = await client.response()
        assert second.status == 200
        assert second.headers["Connection"] == "close"
        await client.closed_by_server()

    post, delete = seen
    assert post.method == "POST"
    assert post.path == "/v1/a b/c/d"  # decoded, for routing
    assert post.path_qs == "/v1/a%20b/c%2Fd?x=%20y&x=2&e="  # as sent, for forwarding
    assert post.headers.getall("X-REP") == ["one", "two"]
    assert post.headers["host"] == "example"
    assert post.body == b"hello"
    assert post.version == "1.1"
    assert post.keep_alive is True
    assert post.remote == "127.0.0.1"
    assert post.scheme == "http"
    assert delete.method == "DELETE"
    assert delete.path == "/p/q"  # the scheme and authority are dropped
    assert delete.path_qs == "/p%2Fq?z=%41"
    assert "Host" not in delete.headers
    assert delete.body == b""
    assert delete.version == "1.0"
    assert delete.keep_alive is False


# -- pipelining --------------------------------------------------------------------------------


async def test_pipelined_requests_are_answered_one_at_a_time_in_order() -> None:
    running = 0
    most_running = 0

    async def handler(request: Request, response: ResponseWriter) -> None:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        # the first is the slowest: finishing order would differ from arrival order
        await asyncio.sleep({"/1": 0.05, "/2": 0.0, "/3": 0.02}[request.path])
        running -= 1
        response.send(200, [], request.path.encode())

    async with serving(handler) as server, connect(server) as client:
        client.send(get("/1") + get("/2") + get("/3"))
        bodies = [(await client.response()).body for _ in range(3)]
    assert bodies == [b"/1", b"/2", b"/3"]
    assert most_running == 1


async def test_malformed_request_after_answered_ones_gets_400_and_close() -> None:
    async with serving(answer_path) as server, connect(server) as client:
        client.send(get("/a") + get("/b"))
        assert [(await client.response()).body for _ in range(2)] == [b"/a", b"/b"]
        client.send(b"GET /c HTTP/1.1\r\nBad Header: x\r\n\r\n")
        refusal = await client.response()
        assert refusal.status == 400
        assert refusal.headers["Connection"] == "close"
        error = refusal.error()
        assert error["code"] == "invalid_http_request"
        assert error["type"] == "invalid_request_error"
        await client.closed_by_server()


async def test_malformed_request_pipelined_behind_good_ones_gets_400_after_their_answers() -> None:
    async with serving(answer_path) as server:
        raw = await exchange(
            server, get("/a") + get("/b") + b"GET /c HTTP/1.1\r\nBad Header: x\r\n\r\n"
        )
    responses = await parse_responses(raw)
    assert [response.status for response in responses] == [200, 200, 400]
    assert [response.body for response in responses[:2]] == [b"/a", b"/b"]
    assert "Connection" not in responses[0].headers
    assert responses[2].headers["Connection"] == "close"
    assert responses[2].error()["code"] == "invalid_http_request"


async def test_more_than_max_pipelined_requests_pause_reading_and_all_get_answers() -> None:
    reading_while_answering: list[bool] = []
    servers: list[HttpServer] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        (connection,) = servers[0].connections
        assert connection.transport is not None
        reading_while_answering.append(connection.transport.is_reading())
        await asyncio.sleep(0.003)
        response.send(200, [], request.path.encode())

    count = 3 * MAX_PIPELINED
    async with serving(handler) as server, connect(server) as client:
        servers.append(server)
        client.send(b"".join(get(f"/{i}") for i in range(count)))
        bodies = [(await client.response()).body]
        # A second batch, sent while the server is not reading (it has more than MAX_PIPELINED
        # requests queued): it is read only if reading resumes.
        client.send(b"".join(get(f"/{i}") for i in range(count, 2 * count)))
        bodies += [(await client.response()).body for _ in range(2 * count - 1)]
    assert bodies == [f"/{i}".encode() for i in range(2 * count)]
    assert False in reading_while_answering[:count]  # reading did pause


# -- half-close and keep-alive -----------------------------------------------------------------


async def test_client_half_close_after_request_still_gets_the_answer() -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        await asyncio.sleep(0.05)  # the client's EOF arrives while this is answered
        response.send(200, [], b"still here")

    async with serving(handler) as server, connect(server) as client:
        client.send(get("/"))
        client.writer.write_eof()
        response = await client.response()
        assert response.status == 200
        assert response.body == b"still here"
        assert response.headers["Connection"] == "close"
        await client.closed_by_server()


async def test_client_half_close_after_pipelined_requests_gets_every_answer() -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        await asyncio.sleep(0.05)
        response.send(200, [], request.path.encode())

    async with serving(handler) as server, connect(server) as client:
        client.send(get("/a") + get("/b"))
        client.writer.write_eof()
        responses = await parse_responses(await client.read_all())
    assert [response.body for response in responses] == [b"/a", b"/b"]
    assert responses[-1].headers["Connection"] == "close"


async def test_idle_keepalive_connection_is_closed_after_the_timeout() -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        if request.path == "/slow":
            await asyncio.sleep(0.4)  # longer than the idle timeout: it does not apply here
        response.send(200, [], request.path.encode())

    async with serving(handler, keepalive_timeout_s=0.2) as server:
        async with connect(server) as client:
            client.send(get("/slow"))
            assert (await client.response()).body == b"/slow"
            await asyncio.sleep(0.1)  # within the timeout: still open
            client.send(get("/again"))
            assert (await client.response()).body == b"/again"
            answered = asyncio.get_running_loop().time()
            await client.closed_by_server(within=2.0)
            assert 0.15 <= elapsed_since(answered) < 1.5
        async with connect(server) as silent:  # never sends a byte
            opened = asyncio.get_running_loop().time()
            await silent.closed_by_server(within=2.0)
            assert 0.15 <= elapsed_since(opened) < 1.5


# -- HTTP/1.0 and response framing ---------------------------------------------------------------


async def streaming(request: Request, response: ResponseWriter) -> None:
    """Stream ``part1part2`` with no length: chunked for HTTP/1.1, close-delimited for 1.0."""
    response.start(200, [("Content-Type", "text/plain")], content_length=None)
    await response.write(b"part1")
    await response.write(b"")  # nothing: must not end a chunked body early
    await response.write(b"part2")
    await response.finish()
    await response.finish()  # a second finish is a no-op


async def test_http10_streamed_answer_is_close_delimited() -> None:
    seen: list[Request] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        seen.append(request)
        await streaming(request, response)

    async with serving(handler) as server, connect(server) as client:
        client.send(get("/s", "Connection: keep-alive", version="1.0"))
        raw = await client.read_all()  # returns only because the server closes
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nConnection: close" in head
    assert b"Transfer-Encoding" not in head
    assert b"Content-Length" not in head
    assert body == b"part1part2"
    assert seen[0].keep_alive is True  # the client asked to keep it: the answer could not


async def test_http10_keep_alive_whole_answer_keeps_the_connection() -> None:
    async with serving(answer_path) as server, connect(server) as client:
        for target in ("/1", "/2"):
            client.send(get(target, "Connection: keep-alive", version="1.0"))
            response = await client.response()
            assert response.body == target.encode()
            assert response.headers["Connection"] == "keep-alive"
            assert response.headers["Content-Length"] == "2"
        client.send(get("/3", version="1.0"))  # no keep-alive: the last one
        response = await client.response()
        assert response.body == b"/3"
        assert response.headers["Connection"] == "close"
        await client.closed_by_server()


async def test_http10_request_pipelined_before_http11_one_is_not_answered_chunked() -> None:
    async with serving(streaming) as server:
        raw = await exchange(
            server,
            get("/s", "Connection: keep-alive", version="1.0") + get("/t", "Connection: close"),
        )
    first_head = raw.partition(b"\r\n\r\n")[0]
    assert b"Transfer-Encoding" not in first_head


async def test_http11_streamed_answer_without_length_is_chunked() -> None:
    framed: list[bool] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        await streaming(request, response)
        framed.append(response.framed_by_length)

    async with serving(handler) as server, connect(server) as client:
        for _ in range(2):  # the second answer parses only if the first one ended properly
            client.send(get("/s"))
            response = await client.response()
            assert response.status == 200
            assert response.headers["Transfer-Encoding"] == "chunked"
            assert response.body == b"part1part2"
            assert response.chunk_sizes == [5, 5]
    assert framed == [False, False]


async def test_streamed_answer_with_content_length_is_not_chunked() -> None:
    framed: list[bool] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        response.start(200, [], content_length=8)
        framed.append(response.framed_by_length)
        await response.write(b"abcd")
        await response.write(b"efgh")
        await response.finish()

    async with serving(handler) as server, connect(server) as client:
        for _ in range(2):
            client.send(get("/"))
            response = await client.response()
            assert response.headers["Content-Length"] == "8"
            assert "Transfer-Encoding" not in response.headers
            assert response.body == b"abcdefgh"
    assert framed == [True, True]


async def test_head_and_204_answers_carry_no_body() -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        if request.path == "/empty":
            response.send(204, [], b"must not be sent")
        elif request.path == "/stream":
            response.start(200, [], content_length=None)
            await response.write(b"must not be sent either")
            await response.finish()
        else:
            response.send(200, [("Content-Type", "text/plain")], b"hello world")

    async with serving(handler) as server, connect(server) as client:
        # Pipelined on one connection: a stray body byte would break the next status line.
        client.send(
            b"HEAD /x HTTP/1.1\r\nHost: test\r\n\r\n"
            + get("/empty")
            + b"HEAD /stream HTTP/1.1\r\nHost: test\r\n\r\n"
            + get("/x")
        )
        head = await client.response(head_only=True)
        assert head.status == 200
        assert head.headers["Content-Length"] == "11"
        empty = await client.response()
        assert empty.status == 204
        assert "Content-Length" not in empty.headers
        assert "Transfer-Encoding" not in empty.headers
        streamed_head = await client.response(head_only=True)
        assert streamed_head.status == 200
        assert "Transfer-Encoding" not in streamed_head.headers
        whole = await client.response()
        assert whole.body == b"hello world"
        client.send(get("/x", "Connection: close"))
        assert (await client.response()).body == b"hello world"
        await client.closed_by_server()  # nothing stray before the close either


# -- what the server refuses -------------------------------------------------------------------


async def test_h2c_upgrade_is_answered_as_http11_then_closed() -> None:
    seen: list[str] = []
    kept: list[bool] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        seen.append(request.path)
        kept.append(request.keep_alive)
        await answer_path(request, response)

    async with serving(handler) as server, connect(server) as client:
        client.send(
            b"GET /u HTTP/1.1\r\nHost: test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"  # what an h2c client sends after a 101
            + get("/after")
        )
        response = await client.response()
        assert response.status == 200
        assert response.body == b"/u"
        assert "Upgrade" not in response.headers
        assert response.headers["Connection"] == "close"
        await client.closed_by_server()
    assert seen == ["/u"]
    assert kept == [False]  # the handler is told the connection ends with this answer


async def test_connect_gets_405_in_openai_shape() -> None:
    seen: list[str] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        seen.append(request.method)
        await answer_path(request, response)

    async with serving(handler) as server:
        raw = await exchange(
            server, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        )
    (response,) = await parse_responses(raw)
    assert response.status == 405
    assert response.headers["Connection"] == "close"
    assert response.error()["code"] == "bad_method"
    assert seen == []


async def test_request_target_over_the_limit_gets_414() -> None:
    async with serving(answer_path) as server:
        longest = "/" + "a" * (MAX_FIELD_BYTES - 1)
        (accepted,) = await parse_responses(
            await exchange(server, get(longest, "Connection: close"))
        )
        assert accepted.status == 200
        assert accepted.body == longest.encode()
        raw = await exchange(server, get(longest + "a", "Connection: close"))
    (refused,) = await parse_responses(raw)
    assert refused.status == 414
    assert refused.headers["Connection"] == "close"
    assert refused.error()["code"] == "request_uri_too_long"


def many_small_headers(total: int) -> bytes:
    """A request head of at least ``total`` bytes, every header line well under the limit,
    without its final empty line."""
    head = b"GET / HTTP/1.1\r\nHost: test\r\n"
    index = 0
    while len(head) < total:
        head += b"X-Filler-%04d: %s\r\n" % (index, b"v" * 80)
        index += 1
    return head


async def test_head_over_64k_in_many_small_headers_gets_431() -> None:
    seen: list[str] = []
    handler = path_recorder(seen)

    async with serving(handler) as server:
        payload = many_small_headers(120_000) + b"\r\n"
        raw = await exchange(server, payload, piece=2000, pause_s=0.002)
    (response,) = await parse_responses(raw)
    assert response.status == 431
    assert response.headers["Connection"] == "close"
    assert response.error()["code"] == "request_header_too_large"
    assert seen == []


async def test_head_over_64k_arriving_in_one_read_gets_431() -> None:
    seen: list[str] = []
    handler = path_recorder(seen)

    async with serving(handler) as server, connect(server) as client:
        client.send(many_small_headers(66_000) + b"Connection: close\r\n")
        await client.writer.drain()
        await asyncio.sleep(0.05)
        client.send(b"\r\n")
        (response,) = await parse_responses(await client.read_all())
    assert seen == []
    assert response.status == 431


async def test_content_length_over_the_limit_gets_413_before_the_body_is_sent() -> None:
    seen: list[bytes] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        seen.append(request.body)
        response.send(200, [], b"")

    async with serving(handler, max_body_bytes=100) as server:
        async with connect(server) as client:
            # only the head: the refusal must not wait for a body
            client.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 101\r\n\r\n")
            response = await client.response()
            assert response.status == 413
            assert response.headers["Connection"] == "close"
            assert response.error()["code"] == "request_too_large"
            await client.closed_by_server()
        async with connect(server) as client:
            client.send(
                b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n" + b"b" * 100
            )
            assert (await client.response()).status == 200
    assert seen == [b"b" * 100]


async def test_chunked_body_growing_over_the_limit_gets_413() -> None:
    seen: list[bytes] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        seen.append(request.body)
        response.send(200, [], b"")

    head = b"POST / HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with serving(handler, max_body_bytes=100) as server:
        async with connect(server) as client:
            client.send(
                head + b"3c\r\n" + b"a" * 60 + b"\r\n" + b"28\r\n" + b"b" * 40 + b"\r\n0\r\n\r\n"
            )
            assert (await client.response()).status == 200  # exactly the limit
        async with connect(server) as client:
            client.send(head + b"3c\r\n" + b"a" * 60 + b"\r\n")
            await client.writer.drain()
            client.send(b"29\r\n" + b"b" * 41 + b"\r\n")  # one byte over, and no end yet
            response = await client.response()
            assert response.status == 413
            assert response.headers["Connection"] == "close"
            assert response.error()["code"] == "request_too_large"
            await client.closed_by_server()
    assert seen == [b"a" * 60 + b"b" * 40]


async def test_body_not_received_in_time_gets_408() -> None:
    seen: list[str] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        seen.append(request.path)
        response.send(200, [], b"")

    async with (
        serving(handler, header_timeout_s=5.0, body_timeout_s=0.2) as server,
        connect(server) as client,
    ):
        client.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nabc")
        sent = asyncio.get_running_loop().time()
        response = await client.response(within=3.0)
        assert 0.15 <= elapsed_since(sent) < 2.0
        assert response.status == 408
        assert response.headers["Connection"] == "close"
        assert response.error()["code"] == "request_timeout"
        await client.closed_by_server()
    assert seen == []


# -- handler failures ----------------------------------------------------------------------------


async def test_handler_failing_before_answering_gets_500_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        if request.path == "/raise":
            raise RuntimeError("handler bug")
        if request.path == "/silent":
            return  # returns without answering
        await answer_path(request, response)

    async with serving(handler) as server:
        for path in ("/raise", "/silent"):
            with caplog.at_level(logging.ERROR, logger="proxy.http.server"):
                async with connect(server) as client:
                    client.send(get(path) + get("/queued"))  # the connection ends after the 500
                    response = await client.response()
                    assert response.status == 500
                    assert response.headers["Connection"] == "close"
                    error = response.error()
                    assert error["code"] == "internal_error"
                    assert error["type"] == "server_error"
                    await client.closed_by_server()
            assert any(path in record.getMessage() for record in caplog.records)
            caplog.clear()
            async with connect(server) as client:  # a new connection is served as usual
                client.send(get("/ok"))
                assert (await client.response()).body == b"/ok"


@pytest.mark.parametrize("content_length", [100, None], ids=["length", "chunked"])
async def test_handler_failing_after_start_cuts_the_answer_short(
    content_length: int | None,
) -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        response.start(200, [], content_length=content_length)
        await response.write(b"0123456789")
        raise RuntimeError("upstream went away")

    async with serving(handler) as server, connect(server) as client:
        client.send(get("/"))  # keep-alive: only the server's close can end this
        raw = await client.read_all()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    if content_length is None:
        assert b"Transfer-Encoding: chunked" in head
        assert body == b"a\r\n0123456789\r\n"  # no last chunk
    else:
        assert b"Content-Length: 100" in head
        assert body == b"0123456789"
    with pytest.raises(asyncio.IncompleteReadError):
        await parse_responses(raw)


async def test_response_header_with_bare_cr_or_lf_is_refused() -> None:
    refused: list[Exception] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        name, value = {
            "/lf-value": ("X-A", "v\nX-Injected: yes"),
            "/cr-value": ("X-A", "v\rX-Injected: yes"),
            "/lf-name": ("X-Injected: yes\nX-A", "v"),
        }[request.path]
        try:
            response.send(200, [(name, value)], b"ok")
        except ValueError as exc:
            refused.append(exc)
            raise

    async with serving(handler) as server:
        for path in ("/lf-value", "/cr-value", "/lf-name"):
            raw = await exchange(server, get(path))
            assert b"X-Injected" not in raw
            assert b"ok" not in raw
    assert len(refused) == 3


@pytest.mark.parametrize("where", ["value", "name", "reason"])
async def test_response_header_with_crlf_pair_is_refused(where: str) -> None:
    refused: list[Exception] = []

    async def handler(request: Request, response: ResponseWriter) -> None:
        headers, reason = [("X-A", "v")], None
        if where == "value":
            headers = [("X-A", "v\r\nX-Injected: yes")]
        elif where == "name":
            headers = [("X-Injected: yes\r\nX-A", "v")]
        else:
            reason = "OK\r\nX-Injected: yes"
        try:
            response.send(200, headers, b"ok", reason=reason)
        except ValueError as exc:
            refused.append(exc)
            raise

    async with serving(handler) as server:
        raw = await exchange(server, get("/", "Connection: close"))
    assert b"X-Injected" not in raw
    assert len(refused) == 1


async def test_refused_response_header_still_gets_a_500() -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        response.send(200, [("X-A", "v\nX-Injected: yes")], b"ok")

    async with serving(handler) as server:
        raw = await exchange(server, get("/"))
    assert raw.startswith(b"HTTP/1.1 500 "), raw
    (response,) = await parse_responses(raw)
    assert response.error()["code"] == "internal_error"


# -- flow control ------------------------------------------------------------------------------


@pytest.mark.parametrize("pause_s", [0.0, 0.01], ids=["blocked-in-write", "between-writes"])
async def test_client_gone_mid_stream_makes_write_raise(
    pause_s: float, caplog: pytest.LogCaptureFixture
) -> None:
    outcome: list[BaseException] = []
    done = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        response.start(200, [], content_length=None)
        try:
            for _ in range(1000):  # 64 MB at most: far more than the client reads
                await response.write(b"x" * 65536)
                if pause_s:
                    await asyncio.sleep(pause_s)
        except BaseException as exc:
            outcome.append(exc)
            raise
        finally:
            done.set()

    async with serving(handler) as server:
        async with connect(server) as client:
            client.send(get("/"))
            async with asyncio.timeout(2):
                await client.reader.readuntil(b"\r\n\r\n")
                await client.reader.readexactly(1000)
            if not pause_s:
                await asyncio.sleep(0.1)  # let the server fill the buffers and block
        # the client's socket is closed now
        async with asyncio.timeout(3):
            await done.wait()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConnectionResetError)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_write_blocks_while_the_client_does_not_read() -> None:
    megabyte = b"m" * (1 << 20)
    total = 16  # megabytes: far more than the socket buffers on both sides can hold
    written: list[int] = []
    started = asyncio.Event()
    done = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        response.start(200, [], content_length=total * len(megabyte))
        started.set()
        for index in range(total):
            await response.write(megabyte)
            written.append(index)
        await response.finish()
        done.set()

    async with serving(handler) as server, connect(server, rcvbuf=65536) as client:
        client.send(get("/"))
        async with asyncio.timeout(2):
            await started.wait()
        await asyncio.sleep(0.3)
        assert not done.is_set()
        assert len(written) < total  # the handler waits in write(), the rest not yet produced
        response = await client.response(within=10.0)
        assert len(response.body) == total * len(megabyte)
        async with asyncio.timeout(2):
            await done.wait()
    assert len(written) == total


async def test_a_client_that_stops_reading_is_disconnected_after_the_send_timeout() -> None:
    megabyte = b"m" * (1 << 20)
    outcome: list[BaseException | None] = []
    ended = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        response.start(200, [], content_length=16 * len(megabyte))
        try:
            for _ in range(16):
                await response.write(megabyte)
            outcome.append(None)
        except ConnectionError as exc:
            outcome.append(exc)
            raise
        finally:
            ended.set()

    async with (
        serving(handler, send_timeout_s=0.3) as server,
        connect(server, rcvbuf=65536) as client,
    ):
        client.send(get("/"))
        started = time.monotonic()
        async with asyncio.timeout(5):
            await ended.wait()
        waited = time.monotonic() - started
        assert isinstance(outcome[0], ConnectionResetError)
        assert 0.3 <= waited < 3.0
        async with asyncio.timeout(2):
            while server.connections:  # noqa: ASYNC110 - dropped, not kept open
                await asyncio.sleep(0.01)


# -- shutdown and listening --------------------------------------------------------------------


async def test_close_finishes_answers_in_progress_and_closes_idle_connections() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        if request.path == "/slow":
            entered.set()
            await release.wait()
        response.send(200, [], request.path.encode())

    async with serving(handler) as server:
        address = server.address
        async with connect(server) as idle, connect(server) as busy:
            idle.send(get("/fast"))
            assert (await idle.response()).body == b"/fast"
            busy.send(get("/slow"))
            async with asyncio.timeout(2):
                await entered.wait()
            started = asyncio.get_running_loop().time()
            closing = asyncio.get_running_loop().create_task(server.close(5.0))
            await idle.closed_by_server(within=1.0)
            assert elapsed_since(started) < 0.5
            with pytest.raises(ConnectionRefusedError):  # no longer listening
                await asyncio.wait_for(asyncio.open_connection(*address), 1.0)
            await asyncio.sleep(0.05)
            assert not closing.done()  # the answer in progress is waited for
            release.set()
            response = await busy.response()
            assert response.body == b"/slow"
            assert response.headers["Connection"] == "close"
            await busy.closed_by_server()
            await asyncio.wait_for(closing, 1.0)
            assert elapsed_since(started) < 1.0


async def test_close_cancels_a_handler_still_running_after_the_timeout() -> None:
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        entered.set()
        try:
            await asyncio.Event().wait()  # never answers
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serving(handler) as server, connect(server) as client:
        client.send(get("/"))
        async with asyncio.timeout(2):
            await entered.wait()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(server.close(0.3), 2.0)
        assert 0.25 <= elapsed_since(started) < 0.9
        async with asyncio.timeout(1):
            await cancelled.wait()
        await client.closed_by_server()


async def test_reuse_port_lets_two_servers_share_a_port() -> None:
    async def first(request: Request, response: ResponseWriter) -> None:
        response.send(200, [], b"first")

    async def second(request: Request, response: ResponseWriter) -> None:
        response.send(200, [], b"second")

    one = make_server(first)
    await one.start("127.0.0.1", 0, reuse_port=True)
    try:
        host, port = one.address
        with pytest.raises(OSError, match=r"(?i)in use"):  # without the option: taken
            await make_server(second).start(host, port)
        two = make_server(second)
        await two.start(host, port, reuse_port=True)
        try:
            assert two.address == (host, port)
            for _ in range(4):
                async with connect(one) as client:
                    client.send(get("/", "Connection: close"))
                    assert (await client.response()).body in (b"first", b"second")
        finally:
            await two.close(1.0)
    finally:
        await one.close(1.0)
