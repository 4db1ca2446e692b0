"""Forwarding to the incumbent: faithful bytes, live streams, our own errors in OpenAI shape."""

from __future__ import annotations

import asyncio
import gzip
import time
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

from tests.conftest import ProxyFactory, serve_handler


async def _raw(
    url: str, method: str = "POST", **kwargs: object
) -> tuple[int, CIMultiDict[str], bytes]:
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.request(method, url, **kwargs) as response,  # type: ignore[arg-type]
    ):
        return response.status, CIMultiDict(response.headers), await response.read()


async def test_bytes_and_headers_relayed_untouched(proxy_factory: ProxyFactory) -> None:
    payload = gzip.compress(b'{"weird":   "spacing",  "n": 1.50}')
    seen: dict[str, str] = {}

    async def upstream(request: web.Request) -> web.Response:
        seen.update(request.headers)
        seen["path_qs"] = request.path_qs
        seen["body"] = (await request.read()).decode()
        response = web.Response(body=payload, status=201, headers={"Content-Encoding": "gzip"})
        response.headers["Content-Type"] = "application/json"
        response.headers["X-Request-Id"] = "req-42"
        response.headers["Connection"] = "keep-alive"
        return response

    async with serve_handler(upstream) as url, proxy_factory(url) as proxy:
        status, headers, body = await _raw(
            proxy.url + "/v1/things?a=1&b=%20",
            data=b'{"x":1}',
            headers={
                "Authorization": "Bearer sk-client",
                "X-Custom": "yes",
                "Accept-Encoding": "gzip",
            },
        )
    assert status == 201
    assert body == payload  # not decompressed, not re-serialised
    assert headers["Content-Encoding"] == "gzip"
    assert headers["X-Request-Id"] == "req-42"
    assert seen["path_qs"] == "/v1/things?a=1&b=%20"
    assert seen["body"] == '{"x":1}'
    assert seen["Authorization"] == "Bearer sk-client"  # the incumbent does get the client's auth
    assert seen["X-Custom"] == "yes"
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http"


async def test_configured_headers_override_and_host_comes_from_config(
    proxy_factory: ProxyFactory,
) -> None:
    seen: dict[str, str] = {}

    async def upstream(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.json_response({"ok": True})

    async with (
        serve_handler(upstream) as url,
        proxy_factory(
            url, incumbent={"url": url, "headers": {"Authorization": "Bearer sk-server"}}
        ) as proxy,
    ):
        status, _, _ = await _raw(
            proxy.url + "/v1/models",
            "GET",
            headers={"Authorization": "Bearer sk-client", "Host": "evil.example"},
        )
    assert status == 200
    assert seen["Authorization"] == "Bearer sk-server"
    assert seen["Host"] == url.removeprefix("http://")


async def test_stream_is_not_buffered(proxy_factory: ProxyFactory) -> None:
    async def upstream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(5):
            await response.write(
                f"data: {orjson.dumps({'i': i, 'sent': time.monotonic()}).decode()}\n\n".encode()
            )
            await asyncio.sleep(0.2)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    delays: list[float] = []
    async with (
        serve_handler(upstream) as url,
        proxy_factory(url) as proxy,
        aiohttp.ClientSession() as session,
        session.post(proxy.url + "/v1/chat/completions", data=b'{"stream":true}') as response,
    ):
        assert response.headers["Content-Type"] == "text/event-stream"
        async for line in response.content:
            if line.startswith(b"data: {"):
                event = orjson.loads(line[6:])
                delays.append(time.monotonic() - event["sent"])
    assert len(delays) == 5
    assert max(delays) < 0.05, delays


async def test_incumbent_error_passes_through_verbatim(proxy_factory: ProxyFactory) -> None:
    body = (
        b'{"error": {"message": "Rate limit reached", "type": "requests",'
        b' "param": null, "code": "rate_limit_exceeded"}}'
    )

    async def upstream(request: web.Request) -> web.Response:
        return web.Response(
            status=429, body=body, headers={"Retry-After": "7", "Content-Type": "application/json"}
        )

    async with serve_handler(upstream) as url, proxy_factory(url) as proxy:
        status, headers, got = await _raw(proxy.url + "/v1/chat/completions", data=b"{}")
    assert (status, got, headers["Retry-After"]) == (429, body, "7")
    assert "x-darklaunch-error" not in headers


async def test_connection_refused_is_502_in_openai_shape(
    proxy_factory: ProxyFactory, unused_tcp_port: int
) -> None:
    async with proxy_factory(f"http://127.0.0.1:{unused_tcp_port}") as proxy:
        status, headers, body = await _raw(proxy.url + "/v1/chat/completions", data=b"{}")
    error = orjson.loads(body)["error"]
    assert status == 502
    assert error["code"] == "upstream_unreachable"
    assert error["type"] == "upstream_error"
    assert "connect" in error["message"]
    assert headers["x-darklaunch-error"] == "upstream_unreachable"


async def test_timeout_is_504(proxy_factory: ProxyFactory) -> None:
    async def upstream(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({})

    async with (
        serve_handler(upstream) as url,
        proxy_factory(url, incumbent={"url": url, "timeout_s": 0.3}) as proxy,
    ):
        started = time.monotonic()
        status, _, body = await _raw(proxy.url + "/v1/chat/completions", data=b"{}")
    assert status == 504
    assert orjson.loads(body)["error"]["code"] == "upstream_timeout"
    assert time.monotonic() - started < 2


async def test_body_over_limit_is_413_and_proxy_keeps_serving(proxy_factory: ProxyFactory) -> None:
    async def upstream(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async with (
        serve_handler(upstream) as url,
        proxy_factory(url, listen={"max_body_bytes": 1024}) as proxy,
    ):
        status, _, body = await _raw(proxy.url + "/v1/chat/completions", data=b"x" * 4096)
        assert status == 413
        error = orjson.loads(body)["error"]
        assert error["code"] == "request_too_large"
        assert "1024" in error["message"]
        status, _, _ = await _raw(proxy.url + "/v1/chat/completions", data=b"{}")
        assert status == 200


async def test_incumbent_dying_mid_stream_cuts_the_client_stream_short(
    proxy_factory: ProxyFactory,
) -> None:
    async def upstream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b'data: {"i": 0}\n\n')
        await asyncio.sleep(0.05)
        assert request.transport is not None
        request.transport.abort()
        return response

    async with serve_handler(upstream) as url, proxy_factory(url) as proxy:
        parts = urlsplit(proxy.url)
        for _ in range(2):  # and the proxy goes on serving
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
            async with asyncio.timeout(5):
                received = await reader.read(-1)  # until the proxy closes the connection
            writer.close()
            head, _, body = received.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"Transfer-Encoding: chunked" in head
            # The chunk relayed (0x10 bytes), then the connection closed without the last
            # chunk: the client sees the answer cut short, never a clean end.
            assert body == b'10\r\ndata: {"i": 0}\n\n\r\n'


async def test_framing_follows_the_upstream_for_whole_chunked_and_head_answers(
    proxy_factory: ProxyFactory,
) -> None:
    async def upstream(request: web.Request) -> web.StreamResponse:
        if request.path == "/chunked":
            response = web.StreamResponse(headers={"Content-Type": "text/plain"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            await response.write(b"one,")
            await response.write(b"two")
            await response.write_eof()
            return response
        return web.Response(body=b"0123456789", content_type="text/plain")

    async with serve_handler(upstream) as url, proxy_factory(url) as proxy:
        status, headers, body = await _raw(proxy.url + "/whole", method="GET")
        assert (status, body) == (200, b"0123456789")
        assert headers["Content-Length"] == "10"
        assert "Transfer-Encoding" not in headers

        status, headers, body = await _raw(proxy.url + "/chunked", method="GET")
        assert (status, body) == (200, b"one,two")
        assert headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in headers

        status, headers, body = await _raw(proxy.url + "/whole", method="HEAD")
        assert (status, body) == (200, b"")
        assert headers["Content-Length"] == "10"  # the length of the body a GET would get
