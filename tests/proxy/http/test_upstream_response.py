"""An upstream's answer as the caller reads it (:mod:`proxy.http.upstream_response`), against
real servers on 127.0.0.1 (:mod:`tests.proxy.http.raw_upstream`): streaming, moving its
deadline, giving up on it, and flow control.

Every test runs twice: on asyncio's own loop and on uvloop, which production uses (its
transports are not ``asyncio.Transport`` subclasses, and it reads and times differently).
"""

from __future__ import annotations

import asyncio
import random

import pytest
from aiohttp import web

from tests.conftest import serve_handler
from tests.proxy.http.raw_upstream import (
    Peer,
    RawServer,
    answer,
    echo,
    elapsed_since,
    eventually,
    fetch,
    on_both_loops,
    open_pool,
    soon,
)

pytestmark = pytest.mark.timeout(20)


# Streaming.


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
