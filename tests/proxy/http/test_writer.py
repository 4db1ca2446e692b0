"""The answer a handler writes (:mod:`proxy.http.writer`): its framing for HTTP/1.1 and 1.0
clients, HEAD and bodiless statuses, header injection refused, and flow control, over raw
sockets (:mod:`tests.proxy.http.raw_client`).
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from proxy.http.cycle import Request
from proxy.http.writer import ResponseWriter
from tests.proxy.http.raw_client import (
    answer_path,
    connect,
    exchange,
    get,
    serving,
)

pytestmark = pytest.mark.timeout(20)


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
    async with serving(streaming) as server, connect(server) as client:
        for _ in range(2):  # the second answer parses only if the first one ended properly
            client.send(get("/s"))
            response = await client.response()
            assert response.status == 200
            assert response.headers["Transfer-Encoding"] == "chunked"
            assert response.body == b"part1part2"
            assert response.chunk_sizes == [5, 5]


async def test_streamed_answer_with_content_length_is_not_chunked() -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        response.start(200, [], content_length=8)
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


# -- header injection --------------------------------------------------------------------------


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
