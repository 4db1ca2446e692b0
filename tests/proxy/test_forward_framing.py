"""The request framing rules (``docs/RELIABILITY.md``, "Bad input") through the whole proxy.

Each test sends hostile bytes over a raw socket to a real proxy whose incumbent (and, for
trailers, candidate) is a raw upstream recording every request it receives
(:class:`tests.proxy.http.raw_upstream.RawServer`), and checks both sides: what the client
got, byte for byte where it matters, and what reached the upstreams. The incumbent sits under
a base path, ``/base``, with a configured credential, as in issue 17: a path that climbs out
of ``/base`` would reach the rest of that host with the incumbent's key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from proxy.http.protocol import MAX_HEAD_BYTES
from proxy.server import RunningProxy
from tests.conftest import ProxyFactory
from tests.proxy.http.raw_client import Response, parse_responses, read_response
from tests.proxy.http.raw_upstream import RawServer, echo, eventually

pytestmark = pytest.mark.timeout(60)

INCUMBENT_KEY = "Bearer sk-incumbent"


@dataclass
class Setup:
    proxy: RunningProxy
    incumbent: RawServer
    candidate: RawServer


@asynccontextmanager
async def proxy_under_base_path(proxy_factory: ProxyFactory) -> AsyncIterator[Setup]:
    """A proxy to an incumbent at ``/base`` with its own key, and one candidate."""
    async with RawServer(echo) as incumbent, RawServer(echo) as candidate:
        incumbent_config = {
            "url": incumbent.url + "/base",
            "headers": {"Authorization": INCUMBENT_KEY},
        }
        async with proxy_factory(
            incumbent.url,
            [{"name": "c", "url": candidate.url}],
            incumbent=incumbent_config,
        ) as proxy:
            yield Setup(proxy, incumbent, candidate)


async def send(proxy: RunningProxy, payload: bytes, *, piece: int = 0) -> bytes:
    """Send ``payload`` on a new connection (in pieces of ``piece`` bytes, each its own read,
    if given) and return all the proxy sent until it closed."""
    parts = urlsplit(proxy.url)
    assert parts.hostname is not None
    assert parts.port is not None
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        step = piece or len(payload)
        with suppress(ConnectionError):  # a refusal may close the connection before the end
            for start in range(0, len(payload), step):
                writer.write(payload[start : start + step])
                await writer.drain()
                if piece:
                    await asyncio.sleep(0.002)
        chunks = []
        async with asyncio.timeout(5):
            with suppress(ConnectionResetError):
                while chunk := await reader.read(65536):
                    chunks.append(chunk)
        return b"".join(chunks)
    finally:
        writer.close()


def get(target: str, *headers: str) -> bytes:
    return ("\r\n".join([f"GET {target} HTTP/1.1", "Host: x", *headers]) + "\r\n\r\n").encode()


def assert_refused(response: Response, code: str) -> None:
    assert response.status == 400
    assert response.headers["Connection"] == "close"
    error = response.error()
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"


# -- dot segments --------------------------------------------------------------------------------

DOT_SEGMENT_TARGETS = [
    "/../../secret",
    "/v1/../../secret",
    "/./secret",
    "/v1/.",
    "/v1/..",
    "/../secret?x=1",
    "/%2e%2e/%2e%2e/secret",
    "/%2E%2E/%2E%2E/secret",
    "/.%2e/secret",
    "/%2e./secret",
    "/%2E%2e/secret",
    "/%2e/secret",
    "/v1/..%2f..%2fsecret",
    "/v1/..%2F..%2Fsecret",
    "/v1/%2e%2e%2fsecret",
    "/v1/x%2f..%2f..%2fsecret",
    "/v1\\..\\..\\secret",
    "/v1/..%5c..%5csecret",
    "/..;/secret",
    "/v1/files/a/..;x=1/b",
    "http://evil.example/../secret",
    "http://evil.example/v1/%2e%2e/%2e%2e/secret",
]


async def test_dot_segments_get_400_and_never_reach_the_incumbent(
    proxy_factory: ProxyFactory,
) -> None:
    async with proxy_under_base_path(proxy_factory) as setup:
        for target in DOT_SEGMENT_TARGETS:
            # a request pipelined behind the refused one must not be read as a request either
            raw = await send(setup.proxy, get(target) + get("/v1/models", "Connection: close"))
            (response,) = await parse_responses(raw)
            assert response.status == 400, target
            assert_refused(response, "invalid_request_path")
        assert setup.incumbent.requests == []
        assert setup.incumbent.accepted == 0
        # and the proxy still serves
        (response,) = await parse_responses(
            await send(setup.proxy, get("/v1/models", "Connection: close"))
        )
        assert response.status == 200
    assert [request.target for request in setup.incumbent.requests] == ["/base/v1/models"]


async def test_dot_segment_is_refused_before_the_body_is_sent(
    proxy_factory: ProxyFactory,
) -> None:
    async with proxy_under_base_path(proxy_factory) as setup:
        parts = urlsplit(setup.proxy.url)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            # only the head, with Expect: 100-continue: no 100, a refusal without the body
            writer.write(
                b"POST /v1/%2e%2e/%2e%2e/admin HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            async with asyncio.timeout(3):
                response = await read_response(reader)
                assert await reader.read() == b""
        finally:
            writer.close()
        assert_refused(response, "invalid_request_path")
    assert setup.incumbent.requests == []


LEGITIMATE_TARGETS = [
    "/v1/files/abc.def",
    "/v1/chat/completions?x=../y",
    "/v1/models/gpt-3.5-turbo",
    "/v1/files/.hidden",
    "/v1/files/a..b",
    "/v1/files/...",
    "/v1/files/a.%2e",
    "/v1/files/%2e%2e%2e",
    "/v1/files/file%2Dname.txt",
    "/v1/things?path=/../../etc/passwd&dots=%2e%2e%2f",
    "/v1/a%20b/c%2Fd?q=%41",
]


async def test_paths_with_dots_but_no_dot_segment_reach_the_incumbent_byte_for_byte(
    proxy_factory: ProxyFactory,
) -> None:
    async with proxy_under_base_path(proxy_factory) as setup:
        payload = b"".join(get(target) for target in LEGITIMATE_TARGETS[:-1])
        raw = await send(setup.proxy, payload + get(LEGITIMATE_TARGETS[-1], "Connection: close"))
        responses = await parse_responses(raw)
    assert [response.status for response in responses] == [200] * len(LEGITIMATE_TARGETS)
    received = [request.target for request in setup.incumbent.requests]
    assert received == ["/base" + target for target in LEGITIMATE_TARGETS]
    assert [response.body.decode() for response in responses] == [
        f"GET /base{target}" for target in LEGITIMATE_TARGETS
    ]


# -- trailers ------------------------------------------------------------------------------------

CHAT_BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'


def chunked_chat(trailers: bytes, *headers: str) -> bytes:
    """A chunked chat completion from a client with its own key, ``trailers`` after the last
    chunk (each line with its CRLF)."""
    head = "\r\n".join(
        [
            "POST /v1/chat/completions HTTP/1.1",
            "Host: x",
            "Authorization: Bearer sk-client",
            "Content-Type: application/json",
            "Transfer-Encoding: chunked",
            "Trailer: X-User-Id, Authorization",
            *headers,
        ]
    )
    first, second = CHAT_BODY[:20], CHAT_BODY[20:]
    chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n" % (len(first), first, len(second), second)
    return head.encode() + b"\r\n\r\n" + chunks + trailers + b"\r\n"


TWO_TRAILERS = b"X-User-Id: admin\r\nAuthorization: Bearer sk-smuggled\r\n"


@pytest.mark.parametrize(
    ("trailers", "piece"),
    [(b"", 0), (TWO_TRAILERS, 0), (b"X-User-Id: admin\r\n", 0), (TWO_TRAILERS, 5)],
    ids=["no-trailers", "trailers", "one-trailer", "trailers-in-5-byte-reads"],
)
async def test_request_trailers_are_dropped_and_the_body_forwarded_whole(
    proxy_factory: ProxyFactory, trailers: bytes, piece: int
) -> None:
    async with proxy_under_base_path(proxy_factory) as setup:
        # a request pipelined after the trailers must be read as a request of its own
        payload = chunked_chat(trailers) + get("/v1/models?after=1", "Connection: close")
        responses = await parse_responses(await send(setup.proxy, payload, piece=piece))
        await eventually(lambda: len(setup.candidate.requests) == 1, within=5.0)
    assert [response.status for response in responses] == [200, 200]
    assert responses[1].body == b"GET /base/v1/models?after=1"
    chat, after = setup.incumbent.requests
    assert chat.target == "/base/v1/chat/completions"
    assert chat.body == CHAT_BODY
    assert after.target == "/base/v1/models?after=1"
    for request in [chat, after, *setup.candidate.requests]:
        names = [name.lower() for name, _ in request.headers]
        assert "x-user-id" not in names
        assert "trailer" not in names
        assert "transfer-encoding" not in names
        assert names.count("authorization") <= 1
    assert dict(chat.headers)["Authorization"] == INCUMBENT_KEY
    assert dict(after.headers)["Authorization"] == INCUMBENT_KEY
    (mirrored,) = setup.candidate.requests
    assert mirrored.target == "/v1/chat/completions"
    assert "authorization" not in [name.lower() for name, _ in mirrored.headers]


async def test_request_trailers_without_configured_headers_do_not_replace_the_clients(
    proxy_factory: ProxyFactory,
) -> None:
    """Without a configured key the client's own ``Authorization`` is forwarded: a trailer
    must not add a second one, or replace it."""
    async with RawServer(echo) as incumbent, proxy_factory(incumbent.url) as proxy:
        payload = chunked_chat(
            b"Authorization: Bearer sk-smuggled\r\nX-User-Id: admin\r\n", "Connection: close"
        )
        (response,) = await parse_responses(await send(proxy, payload))
    assert response.status == 200
    (chat,) = incumbent.requests
    assert chat.body == CHAT_BODY
    assert [value for name, value in chat.headers if name.lower() == "authorization"] == [
        "Bearer sk-client"
    ]
    assert "x-user-id" not in [name.lower() for name, _ in chat.headers]


async def test_a_trailer_section_over_the_head_limit_gets_431(
    proxy_factory: ProxyFactory,
) -> None:
    async with proxy_under_base_path(proxy_factory) as setup:
        body = b"5\r\nhello\r\n0\r\n"
        head = b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        many = b"".join(b"X-T-%05d: %s\r\n" % (i, b"v" * 80) for i in range(MAX_HEAD_BYTES // 90))
        # A field that never ends: bounded like a head's (twice its limit, counted from the
        # first read after the last chunk's header), not buffered for as long as it comes.
        never_ending = b"X-Long: " + b"a" * (8 * MAX_HEAD_BYTES)
        for trailers in (many + b"\r\n", never_ending):
            (response,) = await parse_responses(await send(setup.proxy, head + body + trailers))
            assert response.status == 431
            assert response.headers["Connection"] == "close"
            assert response.error()["code"] == "request_header_too_large"
    assert setup.incumbent.requests == []


# -- HTTP/1.0 with Transfer-Encoding -------------------------------------------------------------


async def test_http10_with_transfer_encoding_gets_400_and_the_connection_closes(
    proxy_factory: ProxyFactory,
) -> None:
    smuggled = get("/v1/models?smuggled=1")
    async with proxy_under_base_path(proxy_factory) as setup:
        for extra in ("", "Connection: keep-alive\r\n"):
            payload = (
                b"POST /v1/embeddings HTTP/1.0\r\n"
                + extra.encode()
                + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
                + smuggled
            )
            (response,) = await parse_responses(await send(setup.proxy, payload))
            assert_refused(response, "invalid_http_request")
            assert "HTTP/1.0" in response.error()["message"]
        # HTTP/1.0 with a Content-Length is still answered, and kept alive when asked
        (first, second) = await parse_responses(
            await send(
                setup.proxy,
                b"POST /v1/embeddings HTTP/1.0\r\nConnection: keep-alive\r\n"
                b"Content-Length: 5\r\n\r\nhello"
                b"GET /v1/models HTTP/1.0\r\n\r\n",
            )
        )
    assert (first.status, second.status) == (200, 200)
    assert first.headers["Connection"] == "keep-alive"
    assert [(r.target, r.body) for r in setup.incumbent.requests] == [
        ("/base/v1/embeddings", b"hello"),
        ("/base/v1/models", b""),
    ]
