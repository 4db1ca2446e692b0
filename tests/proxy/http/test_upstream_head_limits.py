"""The limits on an upstream's head and trailer section (issue 17, item 2), end to end.

An upstream that sends ``HTTP/1.1 200 OK`` and then header lines without end used to grow the
proxy's memory until a deadline passed (+941 MB in 3 s). Here raw upstreams on 127.0.0.1
(:class:`tests.proxy.http.raw_upstream.RawServer`) write such bytes for real, up to 50 MB or
until the connection closes, behind a real proxy for the incumbent's and the candidate's
cases; the upstream client alone (:mod:`proxy.http.upstream_pool`, on both loops) checks the
exact limits, the trailer section and the connection's fate. Each test checks both sides: what
the client got, and that the upstream's write was cut short because the proxy stopped reading
and closed the connection, with the proxy's memory unchanged meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from proxy.http.upstream_connection import MAX_FIELDS, MAX_HEAD_BYTES, MAX_LINE_BYTES
from proxy.http.upstream_errors import HeadTooLarge
from proxy.recording.sink import MemoryRecorder
from proxy.server import RunningProxy
from tests.conftest import ProxyFactory
from tests.proxy.http.raw_upstream import (
    Peer,
    RawServer,
    answer,
    chunked,
    collect,
    echo,
    eventually,
    fetch,
    on_both_loops,
    open_pool,
    soon,
)

pytestmark = pytest.mark.timeout(60)

MB = 1024 * 1024
WRITE_CAP = 50 * MB  # what a hostile upstream writes at most if nobody stops it
# Well before the cap: the proxy stopped within 64 KiB of the head; the rest is what the
# sockets' buffers took before the close reached the upstream (about 256 KiB here).
CUT_SHORT = 2 * MB
SEND_BUFFER = 64 * 1024  # the hostile upstream's socket's
RSS_GROWTH = 20 * MB  # the proxy's memory meanwhile: not the megabytes the upstream sent
ANSWER_WITHIN_S = 3.0  # the configured deadlines are 30 s and more: this is the limit's doing
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@dataclass(frozen=True)
class Hostile:
    """What a hostile upstream sends after a request: ``first``, then ``repeat`` again and
    again until ``WRITE_CAP`` or the connection closes (``repeat`` empty: ``first`` only)."""

    name: str
    first: bytes
    repeat: bytes
    error: str  # what the error names: the limit passed


HOSTILE = [
    Hostile(
        "endless-header-lines",
        b"HTTP/1.1 200 OK\r\n",
        b"".join(b"X-Pad-%04d: %s\r\n" % (i, b"v" * 40) for i in range(1000)),
        f"the head has more than {MAX_FIELDS} fields",
    ),
    Hostile(
        "one-enormous-header-line",
        b"HTTP/1.1 200 OK\r\nX-Huge: ",
        b"a" * 65536,
        f"a header line is over {MAX_LINE_BYTES} bytes",
    ),
    Hostile(
        "10000-tiny-headers",
        b"HTTP/1.1 200 OK\r\n"
        + b"".join(b"x%d: y\r\n" % i for i in range(10_000))
        + b"Content-Length: 2\r\n\r\nok",
        b"",
        f"the head has more than {MAX_FIELDS} fields",
    ),
    Hostile(
        "endless-status-line",
        b"HTTP/1.1 200 ",
        b"O" * 65536,
        f"the status line is over {MAX_LINE_BYTES} bytes",
    ),
]


class HostileUpstream:
    """A raw upstream whose first connection answers its request with hostile bytes; later
    connections answer like :func:`~tests.proxy.http.raw_upstream.echo`."""

    def __init__(self, hostile: Hostile) -> None:
        self.hostile = hostile
        self.written = 0  # bytes of the hostile answer the socket took
        self.refused = False  # a write failed: the proxy closed the connection mid-answer
        self.done = False  # the hostile connection ended, one way or the other

    async def __call__(self, peer: Peer) -> None:
        if peer.index > 1:
            await echo(peer)
            return
        await peer.next_request()
        # A send buffer of its own size, not one the kernel grows to megabytes: what the socket
        # took is then about what the proxy read (and its receive buffer held) before it closed.
        peer.writer.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER
        )
        try:
            for piece in self._pieces():
                peer.send(piece)
                await peer.writer.drain()
                self.written += len(piece)
        except ConnectionError:
            self.refused = True
        else:
            await peer.wait_for_hangup()  # a finite answer: the proxy must close, not wait
        finally:
            self.done = True

    def _pieces(self) -> Iterator[bytes]:
        yield self.hostile.first
        while self.hostile.repeat and self.written < WRITE_CAP:
            yield self.hostile.repeat

    def assert_cut_short(self, server: RawServer) -> None:
        """The proxy stopped reading and closed the connection: an endless answer's write
        failed long before the cap, a finite one's connection was closed by the proxy."""
        assert self.done
        if self.hostile.repeat:
            assert self.refused, self.written
            assert self.written < CUT_SHORT, self.written
        else:
            assert self.refused or server.hung_up >= 1


@asynccontextmanager
async def peak_rss_growth() -> AsyncIterator[list[int]]:
    """Sample this process's RSS (the proxy runs in it) every few ms; the list yielded holds
    the largest growth over the block's start once the block ends."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * page

    start = rss()
    peak = [start]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], rss())
            await asyncio.sleep(0.005)

    growth: list[int] = []
    task = asyncio.create_task(sample())  # noqa: TID251 - cancelled and awaited below
    try:
        yield growth
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        growth.append(max(peak[0], rss()) - start)


def sample(proxy: RunningProxy, metric: str, **labels: str) -> float:
    value = proxy.state.registry.get_sample_value(metric, labels)
    return 0.0 if value is None else value


async def post(session: aiohttp.ClientSession, proxy: RunningProxy) -> tuple[int, Any, float]:
    """A chat completion through the proxy: its status, JSON body and seconds taken."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with session.post(proxy.url + "/v1/chat/completions", json=CHAT) as response:
        body = await response.read()
        taken = loop.time() - started
        if response.content_type == "application/json":
            return response.status, await response.json(), taken
        return response.status, body, taken


# -- through the proxy ------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.name)
async def test_an_incumbent_whose_head_never_ends_gets_502_and_the_next_request_is_served(
    proxy_factory: ProxyFactory, hostile: Hostile
) -> None:
    upstream = HostileUpstream(hostile)
    async with (
        RawServer(upstream) as incumbent,
        proxy_factory(incumbent.url, incumbent={"url": incumbent.url, "timeout_s": 30}) as proxy,
        aiohttp.ClientSession() as session,
    ):
        async with peak_rss_growth() as growth:
            status, error, taken = await post(session, proxy)
            await eventually(lambda: upstream.done, within=ANSWER_WITHIN_S)
        assert status == 502
        assert taken < ANSWER_WITHIN_S
        assert error["error"]["code"] == "upstream_error"
        assert error["error"]["type"] == "upstream_error"
        assert hostile.error in error["error"]["message"]
        upstream.assert_cut_short(incumbent)
        assert growth[0] < RSS_GROWTH, growth
        assert sample(proxy, "darklaunch_upstream_errors_total", kind="protocol") == 1

        status, body, _ = await post(session, proxy)
        assert (status, body) == (200, b"POST /v1/chat/completions")
        assert incumbent.accepted == 2  # the hostile connection was never reused


@pytest.mark.parametrize("hostile", HOSTILE, ids=lambda h: h.name)
async def test_a_candidate_whose_head_never_ends_is_a_failed_mirror_and_the_client_is_served(
    proxy_factory: ProxyFactory, hostile: Hostile
) -> None:
    upstream = HostileUpstream(hostile)
    recorder = MemoryRecorder()
    async with (
        RawServer(echo) as incumbent,
        RawServer(upstream) as candidate,
        proxy_factory(
            incumbent.url,
            [{"name": "c", "url": candidate.url, "first_byte_timeout_s": 30, "timeout_s": 60}],
            recorder=recorder,
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        async with peak_rss_growth() as growth:
            status, body, taken = await post(session, proxy)
            await eventually(lambda: upstream.done, within=ANSWER_WITHIN_S)
            assert await proxy.state.mirror.tasks.drain(ANSWER_WITHIN_S) == 0
        assert (status, body) == (200, b"POST /v1/chat/completions")
        assert taken < ANSWER_WITHIN_S
        upstream.assert_cut_short(candidate)
        assert growth[0] < RSS_GROWTH, growth
        assert (
            sample(proxy, "darklaunch_candidate_errors_total", candidate="c", kind="protocol") == 1
        )
        (record,) = recorder.records
        (mirror,) = record.mirrors
        assert mirror.error is not None
        assert mirror.error.kind == "protocol"
        assert hostile.error in mirror.error.message

        # The next request: the client is served, and the mirror succeeds on a new connection.
        status, body, _ = await post(session, proxy)
        assert (status, body) == (200, b"POST /v1/chat/completions")
        assert await proxy.state.mirror.tasks.drain(ANSWER_WITHIN_S) == 0
        assert recorder.records[1].mirrors[0].error is None
        assert recorder.records[1].mirrors[0].status == 200
        assert candidate.accepted == 2


async def test_an_incumbent_whose_trailers_never_end_is_cut_off_after_its_body(
    proxy_factory: ProxyFactory,
) -> None:
    """A chunked answer relayed to the client, then trailer lines without end: the client has
    every chunk but not the end of the body (the answer is cut short, since the proxy cannot
    tell it is whole), the proxy stops reading at the trailer limit and counts a protocol
    error."""
    hostile = Hostile(
        "endless-trailers",
        answer("200 OK", ["Transfer-Encoding: chunked"]) + b"5\r\nhello\r\n0\r\n",
        b"".join(b"X-Trailer-%04d: %s\r\n" % (i, b"t" * 40) for i in range(1000)),
        f"the trailer section has more than {MAX_FIELDS} fields",
    )
    upstream = HostileUpstream(hostile)
    async with (
        RawServer(upstream) as incumbent,
        proxy_factory(incumbent.url, incumbent={"url": incumbent.url, "timeout_s": 30}) as proxy,
        aiohttp.ClientSession() as session,
    ):
        async with peak_rss_growth() as growth:
            loop = asyncio.get_running_loop()
            started = loop.time()
            async with session.post(proxy.url + "/v1/chat/completions", json=CHAT) as response:
                assert response.status == 200
                assert await response.content.readexactly(5) == b"hello"
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()
            assert loop.time() - started < ANSWER_WITHIN_S
            await eventually(lambda: upstream.done, within=ANSWER_WITHIN_S)
        upstream.assert_cut_short(incumbent)
        assert growth[0] < RSS_GROWTH, growth
        assert sample(proxy, "darklaunch_upstream_errors_total", kind="protocol") == 1

        status, body, _ = await post(session, proxy)
        assert (status, body) == (200, b"POST /v1/chat/completions")


# -- the upstream client alone: the exact limits ------------------------------------------------


def head(*fields: bytes, reason: bytes = b"OK") -> bytes:
    return b"HTTP/1.1 200 " + reason + b"\r\n" + b"".join(f + b"\r\n" for f in fields)


def field_of(size: int, name: bytes = b"X-Big") -> bytes:
    """A field whose name and value together are ``size`` bytes."""
    return name + b": " + b"v" * (size - len(name))


CONTENT_LENGTH = b"Content-Length: 2\r\n"  # the handlers end each head with it, and "ok"


def head_of_size(size: int) -> bytes:
    """A head whose lines, line breaks and ``CONTENT_LENGTH`` included, are ``size`` bytes:
    fields of the longest line allowed, and one to make up the rest."""
    longest = [field_of(MAX_LINE_BYTES, b"X-%d" % i) for i in range(size // MAX_LINE_BYTES - 1)]
    rest = size - len(head(*longest)) - len(CONTENT_LENGTH) - len(b": \r\n")
    return head(*longest, field_of(rest))


# Heads right at each limit, and one byte or field past it. In pieces of 1000 bytes, so that
# lines span reads.
AT_THE_LIMITS = {
    "fields": head(*(b"X-F%d: v" % i for i in range(MAX_FIELDS - 1))),
    "line": head(field_of(MAX_LINE_BYTES)),
    "reason": head(reason=b"R" * MAX_LINE_BYTES),
    "head": head_of_size(MAX_HEAD_BYTES),
}
PAST_THE_LIMITS = {
    "fields": (
        head(*(b"X-F%d: v" % i for i in range(MAX_FIELDS))),
        f"the head has more than {MAX_FIELDS} fields",
    ),
    "line": (
        head(field_of(MAX_LINE_BYTES + 1)),
        f"a header line is over {MAX_LINE_BYTES} bytes",
    ),
    "reason": (
        head(reason=b"R" * (MAX_LINE_BYTES + 1)),
        f"the status line is over {MAX_LINE_BYTES} bytes",
    ),
    "head": (
        head_of_size(MAX_HEAD_BYTES + 1),
        f"the head is over {MAX_HEAD_BYTES} bytes",
    ),
    "interim-answers-without-end": (
        b"HTTP/1.1 100 Continue\r\n\r\n" * 10_000,
        f"the head is over {MAX_HEAD_BYTES} bytes",
    ),
}


def send_in_pieces(peer: Peer, data: bytes, piece: int = 1000) -> None:
    for start in range(0, len(data), piece):
        peer.send(data[start : start + piece])


@on_both_loops
async def test_heads_right_at_each_limit_are_answers() -> None:
    async def handler(peer: Peer) -> None:
        for whole in AT_THE_LIMITS.values():
            await peer.next_request()
            send_in_pieces(peer, whole + CONTENT_LENGTH + b"\r\nok")
            await peer.writer.drain()
        await peer.wait_for_hangup()

    assert len(AT_THE_LIMITS["head"] + CONTENT_LENGTH) == MAX_HEAD_BYTES
    async with RawServer(handler) as server, open_pool(server.url, max_connections=1) as pool:
        for name in AT_THE_LIMITS:
            response, body = await fetch(pool)
            assert (response.status, body) == (200, b"ok"), name
    assert server.accepted == 1


@on_both_loops
async def test_a_head_one_past_each_limit_is_refused_and_its_connection_closed() -> None:
    async def handler(peer: Peer) -> None:
        if peer.index > len(PAST_THE_LIMITS):
            await echo(peer)
            return
        whole, _ = list(PAST_THE_LIMITS.values())[peer.index - 1]
        await peer.next_request()
        send_in_pieces(peer, whole + CONTENT_LENGTH + b"\r\nok")
        await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url, max_connections=1) as pool:
        for name, (_, message) in PAST_THE_LIMITS.items():
            with pytest.raises(HeadTooLarge, match=message):
                await fetch(pool)
            assert pool.size == 0, name
        _, body = await fetch(pool)  # the pool opens a new connection and goes on
        assert body == b"GET /"
        await server.hangups(len(PAST_THE_LIMITS))


@on_both_loops
async def test_trailers_are_dropped_and_never_join_the_next_answers_headers() -> None:
    """Trailers within the limits end the answer normally, on a connection kept alive; before,
    they were kept and became headers of the next answer on that connection."""
    trailers = b"".join(b"X-Trailer-%d: t\r\n" % i for i in range(MAX_FIELDS)) + b"\r\n"

    async def handler(peer: Peer) -> None:
        await peer.next_request()
        send_in_pieces(
            peer, answer("200 OK", ["Transfer-Encoding: chunked"]) + chunked(b"abc")[:-2] + trailers
        )
        await peer.next_request()
        peer.send(answer("200 OK", body=b"second"))
        await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url) as pool:
        _, body = await fetch(pool)
        assert body == b"abc"
        second, body = await fetch(pool)
    assert body == b"second"
    assert [name for name in second.headers if name.lower().startswith("x-")] == []
    assert server.accepted == 1


TRAILERS_PAST_THE_LIMITS = {
    "fields": (
        b"".join(b"X-T%d: t\r\n" % i for i in range(MAX_FIELDS + 1)) + b"\r\n",
        f"the trailer section has more than {MAX_FIELDS} fields",
    ),
    "field": (
        field_of(MAX_LINE_BYTES + 1) + b"\r\n\r\n",
        f"a trailer line is over {MAX_LINE_BYTES} bytes",
    ),
    "line-without-end": (
        b"X-Endless: " + b"t" * 100_000,
        f"a trailer line is over {MAX_LINE_BYTES} bytes",
    ),
    "section": (
        b"".join(field_of(MAX_LINE_BYTES, b"X-%d" % i) + b"\r\n" for i in range(9)),
        f"the trailer section is over {MAX_HEAD_BYTES} bytes",
    ),
}


@on_both_loops
async def test_trailers_past_each_limit_fail_the_body_after_its_chunks() -> None:
    async def handler(peer: Peer) -> None:
        if peer.index > len(TRAILERS_PAST_THE_LIMITS):
            await echo(peer)
            return
        trailers, _ = list(TRAILERS_PAST_THE_LIMITS.values())[peer.index - 1]
        await peer.next_request()
        body = chunked(b"first", b"second")[:-2]  # the last chunk, then the trailers
        send_in_pieces(peer, answer("200 OK", ["Transfer-Encoding: chunked"]) + body + trailers)
        await peer.wait_for_hangup()

    async with RawServer(handler) as server, open_pool(server.url, max_connections=1) as pool:
        for name, (_, message) in TRAILERS_PAST_THE_LIMITS.items():
            chunks: list[bytes] = []
            async with await pool.request("GET", "/", (), b"", deadline=soon(5)) as response:
                with pytest.raises(HeadTooLarge, match=message):
                    await collect(response, chunks)
            assert b"".join(chunks) == b"firstsecond", name
            assert pool.size == 0, name
        _, body = await fetch(pool)
        assert body == b"GET /"
        await server.hangups(len(TRAILERS_PAST_THE_LIMITS))
