"""One upstream connection (:mod:`proxy.http.upstream_connection`) against real servers on
127.0.0.1 (:mod:`tests.proxy.http.raw_upstream`): how answers are framed and parsed, how
malformed ones fail, and the deadline of an exchange.

Every test runs twice: on asyncio's own loop and on uvloop, which production uses (its
transports are not ``asyncio.Transport`` subclasses, and it reads and times differently).
"""

from __future__ import annotations

import asyncio

import pytest

from proxy.http.state import UpstreamState
from proxy.http.upstream_errors import BadResponse, Disconnected
from tests.proxy.http.raw_upstream import (
    Peer,
    RawServer,
    answer,
    chunked,
    collect,
    echo,
    elapsed_since,
    eventually,
    fetch,
    head_then_silence,
    no_answer,
    on_both_loops,
    open_pool,
    soon,
)

pytestmark = pytest.mark.timeout(20)


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


@on_both_loops
async def test_no_answer_by_the_deadline_is_a_timeout() -> None:
    async with RawServer(no_answer) as server, open_pool(server.url) as pool:
        start = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await pool.request("GET", "/", (), b"", deadline=soon(0.2))
        assert 0.18 <= elapsed_since(start) < 1.0
        await server.hangups(1)  # the connection was closed
        assert pool.size == 0


@on_both_loops
async def test_cancelling_a_request_closes_its_connection() -> None:
    async with RawServer(no_answer) as server, open_pool(server.url) as pool:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await pool.request("GET", "/", (), b"")
        await server.hangups(1)
        assert pool.size == 0


@on_both_loops
async def test_deadline_passing_mid_body_raises_from_iteration_and_closes() -> None:
    async with RawServer(head_then_silence) as server, open_pool(server.url) as pool:
        received: list[bytes] = []
        start = asyncio.get_running_loop().time()
        async with await pool.request("GET", "/", (), b"", deadline=soon(0.2)) as response:
            with pytest.raises(TimeoutError):
                await collect(response, received)
        assert 0.18 <= elapsed_since(start) < 1.0
        await server.hangups(1)
        assert pool.size == 0
    assert received == [b"first"]


# The connection's state.


@on_both_loops
async def test_a_connection_goes_idle_waiting_body_idle_and_closed() -> None:
    """:class:`~proxy.http.state.UpstreamState` through one exchange, and the upstream's
    close: the pool holds the connection only while it is IDLE."""
    go_on = asyncio.Event()
    answer_now = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.next_request()
        await answer_now.wait()
        peer.send(answer("200 OK", ["Transfer-Encoding: chunked"]) + b"5\r\nfirst\r\n")
        await go_on.wait()
        peer.send(b"0\r\n\r\n")
        await asyncio.sleep(0.05)  # then the upstream closes the idle connection

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        pending = asyncio.ensure_future(  # noqa: TID251 - awaited below
            pool.request("GET", "/", [], b"", deadline=soon(2.0))
        )
        await eventually(lambda: len(pool._open) == 1)
        (connection,) = pool._open
        states = [connection.state]  # the request is written: its head is awaited
        answer_now.set()
        response = await pending
        states.append(connection.state)
        go_on.set()
        assert await response.read() == b"first"
        states.append(connection.state)
        await eventually(lambda: connection.closed)
        states.append(connection.state)
    assert states == [
        UpstreamState.WAITING,
        UpstreamState.BODY,
        UpstreamState.IDLE,
        UpstreamState.CLOSED,
    ]
