"""A raw-socket client for the public listener's HTTP/1.1 server, and servers to point it at.

Each test starts an :class:`~proxy.http.server.HttpServer` on 127.0.0.1 port 0 with a handler
of its own and talks to it over raw sockets, so that framing, limits, deadlines and shutdown
are checked byte for byte. What the full proxy already covers over this server (a huge single
header, CRLF in request headers, chunked request bodies, ``Expect: 100-continue``, slowloris
headers, absolute targets not changing the upstream, ``Content-Length`` over the limit through
the proxy, the framing of relayed answers) is in ``test_bad_input.py`` and ``test_forward.py``.

Every wait is bounded, so a server that hangs fails a test instead of stalling the run.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict

from proxy.http.cycle import Request
from proxy.http.server import HttpServer
from proxy.http.writer import ResponseWriter

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
