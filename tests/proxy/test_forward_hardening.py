"""Issue 17 through the whole proxy: memory a client cannot exhaust, interim answers in their
place, heads and bodies framed as sent, header bytes relayed as bytes.

Each test sends hostile or borderline bytes over a raw socket to a real proxy in front of a
raw upstream (:class:`tests.proxy.http.raw_upstream.RawServer`) that records every request it
receives, and checks both what reached the upstream and what the client got, byte for byte
where it matters. The request framing rules (dot segments, trailers, HTTP/1.0 with
``Transfer-Encoding``) are in ``test_forward_framing.py``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from urllib.parse import urlsplit

import pytest

from proxy.server import RunningProxy
from tests.conftest import ProxyFactory
from tests.proxy.http.raw_client import parse_responses, read_response
from tests.proxy.http.raw_upstream import Peer, RawServer, answer, chunked, echo, eventually
from tests.proxy.http.test_upstream_head_limits import peak_rss_growth
from tests.proxy.test_forward_framing import assert_refused, get, send

pytestmark = pytest.mark.timeout(60)

MB = 1 << 20


@asynccontextmanager
async def connected(
    proxy: RunningProxy, *, rcvbuf: int | None = None
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw connection to the proxy; ``rcvbuf`` pins the socket's receive buffer."""
    parts = urlsplit(proxy.url)
    assert parts.hostname is not None
    assert parts.port is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.open_connection(sock=sock)
    try:
        yield reader, writer
    finally:
        writer.close()


async def read_until_closed(reader: asyncio.StreamReader, within: float = 5.0) -> bytes:
    chunks = []
    async with asyncio.timeout(within):
        with suppress(ConnectionResetError):
            while chunk := await reader.read(65536):
                chunks.append(chunk)
    return b"".join(chunks)


# -- 1: a client that pipelines and never reads ---------------------------------------------------


async def test_pipelined_requests_never_read_fetch_few_answers_and_end_at_the_send_timeout(
    proxy_factory: ProxyFactory,
) -> None:
    """Issue 17's attack: 2,560 pipelined GETs of 128 bytes, answered with 64 KB each, sent
    at once and never read. Before, the proxy fetched every answer (RSS +159 MB) and kept the
    socket open for ever; nginx fetched 11 and closed at its send timeout."""
    big = b"x" * 65536

    async def upstream(peer: Peer) -> None:
        while await peer.next_request() is not None:
            peer.send(answer("200 OK", body=big))

    request = get("/v1/models", "X-Pad: " + "p" * (128 - len(get("/v1/models", "X-Pad: "))))
    assert len(request) == 128
    send_timeout_s = 1.0
    async with (
        RawServer(upstream) as incumbent,
        proxy_factory(incumbent.url, listen={"send_timeout_s": send_timeout_s}) as proxy,
        peak_rss_growth() as growth,
        connected(proxy, rcvbuf=64 * 1024) as (reader, writer),
    ):
        writer.write(request * 2560)
        # It sends while the proxy reads, then the proxy stops reading: a client this slow
        # gets disconnected, whatever it still has to send.
        with suppress(ConnectionError, TimeoutError):
            async with asyncio.timeout(send_timeout_s + 3.0):
                await writer.drain()
        await asyncio.sleep(send_timeout_s + 1.0)
        fetched = len(incumbent.requests)
        # The proxy disconnected the client: what it sent before is there, then the end.
        received = await read_until_closed(reader)
        await asyncio.sleep(0.2)
        assert len(incumbent.requests) == fetched  # nothing fetched once it gave up
    assert 1 <= fetched <= 16, fetched  # 7 measured; nginx 1.22: 11
    assert received.count(b"HTTP/1.1 200 OK\r\n") <= fetched
    assert growth[0] < 30 * MB, growth


# -- 9: Expect: 100-continue behind an answer in progress -----------------------------------------


async def slow_first_answer(peer: Peer) -> None:
    """Answers ``/slow`` in two chunks 0.3 s apart, everything else like :func:`echo`."""
    while (request := await peer.next_request()) is not None:
        if request.target.endswith("/slow"):
            peer.send(answer("200 OK", ["Transfer-Encoding: chunked"]) + b"5\r\nfirst\r\n")
            await asyncio.sleep(0.3)
            peer.send(b"4\r\nlast\r\n0\r\n\r\n")
        else:
            body = f"{request.method} {request.target} {request.body!r}".encode()
            peer.send(answer("200 OK", body=body))


async def test_100_continue_for_a_pipelined_request_waits_until_the_earlier_answer_ends(
    proxy_factory: ProxyFactory,
) -> None:
    async with (
        RawServer(slow_first_answer) as incumbent,
        proxy_factory(incumbent.url) as proxy,
        connected(proxy) as (reader, writer),
    ):
        writer.write(
            get("/v1/slow") + b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 5\r\n\r\n"
        )
        async with asyncio.timeout(5):
            first = await read_response(reader)
            # Only now, after the whole first answer, the interim one.
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert (first.status, first.body, first.chunk_sizes) == (200, b"firstlast", [5, 4])
        writer.write(b"hello")
        async with asyncio.timeout(5):
            second = await read_response(reader)
    assert second.body == b"POST /v1/embeddings b'hello'"
    assert [(r.target, r.body) for r in incumbent.requests] == [
        ("/v1/slow", b""),
        ("/v1/embeddings", b"hello"),
    ]


async def test_100_continue_is_sent_at_once_when_nothing_is_answered(
    proxy_factory: ProxyFactory,
) -> None:
    async with (
        RawServer(echo) as incumbent,
        proxy_factory(incumbent.url) as proxy,
        connected(proxy) as (reader, writer),
    ):
        writer.write(
            b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: 2\r\n\r\n"
        )
        async with asyncio.timeout(5):
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            writer.write(b"{}")
            response = await read_response(reader)
    assert response.body == b"POST /v1/embeddings"


# -- 10: a large body right behind a head that came in pieces -------------------------------------


async def test_a_large_post_whose_head_arrives_in_pieces_is_forwarded_whole(
    proxy_factory: ProxyFactory,
) -> None:
    """A 100-byte head whose first bytes come in a read of their own, then the rest of it and
    a 250 KB body in one write, on a warm connection: the head guard counted the body's bytes
    as head and answered 431 every time."""
    body = b"b" * 250_000
    head = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % len(body)
    async with (
        RawServer(echo) as incumbent,
        proxy_factory(incumbent.url) as proxy,
        connected(proxy) as (reader, writer),
    ):
        for _ in range(3):
            writer.write(head[:10])
            await writer.drain()
            await asyncio.sleep(0.05)  # its own read
            writer.write(head[10:] + body)
            async with asyncio.timeout(5):
                response = await read_response(reader)
            assert response.status == 200, response.body
    assert [(r.target, len(r.body)) for r in incumbent.requests] == [
        ("/v1/embeddings", 250_000)
    ] * 3
    assert all(r.body == body for r in incumbent.requests)


# -- 11: header bytes are bytes -------------------------------------------------------------------


async def test_header_bytes_that_are_not_utf8_pass_unchanged_both_ways(
    proxy_factory: ProxyFactory,
) -> None:
    async def upstream(peer: Peer) -> None:
        while await peer.next_request() is not None:
            peer.send(
                b"HTTP/1.1 200 OK\r\nX-Utf8: caf\xc3\xa9\r\nX-Latin: caf\xe9\r\n"
                b"X-Raw: \xff\xfe\x80\r\nContent-Length: 2\r\n\r\nok"
            )

    async with (
        RawServer(upstream) as incumbent,
        proxy_factory(incumbent.url) as proxy,
        connected(proxy) as (reader, writer),
    ):
        writer.write(
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Utf8: caf\xc3\xa9\r\nX-Latin: caf\xe9\r\n\r\n"
        )
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
            assert await reader.readexactly(2) == b"ok"
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")  # before: a 500 for the byte 0xff
    assert b"\r\nX-Utf8: caf\xc3\xa9\r\n" in head
    assert b"\r\nX-Latin: caf\xe9\r\n" in head
    assert b"\r\nX-Raw: \xff\xfe\x80\r\n" in head
    (request,) = incumbent.requests
    sent = {name: value.encode("latin-1") for name, value in request.headers}
    assert sent["X-Utf8"] == b"caf\xc3\xa9"
    assert sent["X-Latin"] == b"caf\xe9"


# -- 12: an upgrade asked for on a request with a body --------------------------------------------

H2C = (
    b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
    b"HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n"
)
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


@pytest.mark.parametrize(
    ("framing", "body"),
    [
        (b"Content-Length: 11\r\n", b"hello world"),
        (b"Transfer-Encoding: chunked\r\n", chunked(b"hello", b" world")),
    ],
    ids=["content-length", "chunked"],
)
async def test_an_h2c_upgrade_request_keeps_its_body_and_then_the_connection_ends(
    proxy_factory: ProxyFactory, framing: bytes, body: bytes
) -> None:
    """``curl --http2`` on plain HTTP sends ``Upgrade: h2c`` with its POST: the body reached
    the upstream as ``Content-Length: 0``. It is answered as HTTP/1.1 with its body, and the
    HTTP/2 bytes that follow are never taken for a request."""
    async with RawServer(echo) as incumbent, proxy_factory(incumbent.url) as proxy:
        payload = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n" + H2C + framing + b"\r\n"
        (response,) = await parse_responses(
            await send(proxy, payload + body + H2_PREFACE + get("/v1/after"))
        )
    assert response.status == 200
    assert response.headers["Connection"] == "close"
    assert "Upgrade" not in response.headers
    assert [(r.method, r.target, r.body) for r in incumbent.requests] == [
        ("POST", "/v1/embeddings", b"hello world")
    ]


async def test_an_h2c_upgrade_request_with_a_bad_chunked_body_gets_400(
    proxy_factory: ProxyFactory,
) -> None:
    async with RawServer(echo) as incumbent, proxy_factory(incumbent.url) as proxy:
        payload = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n" + H2C
        payload += b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
        (response,) = await parse_responses(await send(proxy, payload))
    assert_refused(response, "invalid_http_request")
    assert incumbent.requests == []


# -- 13: bodies are as long as their Content-Length says ------------------------------------------


async def test_a_body_cut_short_by_the_client_is_never_forwarded(
    proxy_factory: ProxyFactory,
) -> None:
    async with (
        RawServer(echo) as incumbent,
        proxy_factory(incumbent.url) as proxy,
        connected(proxy) as (reader, writer),
    ):
        writer.write(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        writer.write_eof()
        assert await read_until_closed(reader) == b""
        await asyncio.sleep(0.1)
    assert incumbent.requests == []


async def test_bytes_past_the_content_length_are_a_request_of_their_own(
    proxy_factory: ProxyFactory,
) -> None:
    """``Content-Length: 3`` and five bytes: the upstream gets three, the other two do not
    start a request (400), and nothing after them is forwarded."""
    async with RawServer(echo) as incumbent, proxy_factory(incumbent.url) as proxy:
        payload = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nhello"
        first, second = await parse_responses(await send(proxy, payload + get("/v1/next")))
    assert first.status == 200
    assert_refused(second, "invalid_http_request")
    assert [(r.target, r.body) for r in incumbent.requests] == [("/v1/embeddings", b"hel")]


async def test_an_answer_shorter_than_its_content_length_is_cut_short_for_the_client(
    proxy_factory: ProxyFactory,
) -> None:
    async def upstream(peer: Peer) -> None:
        await peer.next_request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"a" * 50)
        await peer.writer.drain()
        await asyncio.sleep(0.05)  # then the connection closes, 50 bytes short

    async with RawServer(upstream) as incumbent, proxy_factory(incumbent.url) as proxy:
        received = await send(proxy, get("/v1/models"))
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"\r\nContent-Length: 100\r\n" in head + b"\r\n"
    assert body == b"a" * 50  # and then the end of the connection: never 100 bytes
    await eventually(lambda: incumbent.open == 0)


# -- heads the differential tests (test_differential.py) found forwarded looser than h11 --------


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        (
            b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
            b"3\r\nabc\r\n0\r\n\r\n",
            501,
            "unsupported_transfer_encoding",
        ),
        (b"GET /v1/models HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "invalid_http_request"),
        (b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_request_path"),
        # llhttp reads these request lines; neither is HTTP/1.x framing (RFC 9110 §15.6.6)
        (b"GET /v1/models HTTP/2.0\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"),
        (b"GET /v1/models HTTP/0.9\r\nHost: x\r\n\r\n", 505, "http_version_not_supported"),
        (b"GET /v1/models\r\n\r\n", 505, "http_version_not_supported"),
    ],
    ids=["gzip-chunked", "two-hosts", "asterisk", "http-2.0", "http-0.9", "no-version"],
)
async def test_heads_a_strict_reader_rejects_are_refused_and_nothing_is_forwarded(
    proxy_factory: ProxyFactory, payload: bytes, status: int, code: str
) -> None:
    async with RawServer(echo) as incumbent, proxy_factory(incumbent.url) as proxy:
        (response,) = await parse_responses(await send(proxy, payload + get("/v1/after")))
    assert response.status == status
    assert response.headers["Connection"] == "close"
    assert response.error()["code"] == code
    assert incumbent.requests == []


async def test_fields_named_by_any_connection_line_are_hop_by_hop_both_ways(
    proxy_factory: ProxyFactory,
) -> None:
    """The ``Connection`` lines of a message are one list (RFC 9110 §5.3), and the fields
    they name are the hop's (§7.6.1): a second line named ``X-A``, which was forwarded."""

    async def upstream(peer: Peer) -> None:
        while await peer.next_request() is not None:
            peer.send(
                b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: x-hop\r\n"
                b"X-Hop: secret\r\nX-Kept: 1\r\nContent-Length: 2\r\n\r\nok"
            )

    async with RawServer(upstream) as incumbent, proxy_factory(incumbent.url) as proxy:
        payload = (
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n"
            b"Connection: x-a\r\nX-A: 1\r\nX-B: 2\r\nConnection: close\r\n\r\n"
        )
        (response,) = await parse_responses(await send(proxy, payload))
    assert response.status == 200
    assert "X-Hop" not in response.headers
    assert response.headers["X-Kept"] == "1"
    (request,) = incumbent.requests
    names = {name.lower() for name, _ in request.headers}
    assert "x-a" not in names
    assert "x-b" in names
