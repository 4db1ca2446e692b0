"""Hostile and unusual input: a clear status, an OpenAI-shaped error body, no open proxy, and a
proxy that keeps serving afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp import web

from proxy.server import RunningProxy
from tests.conftest import ProxyFactory, serve_handler

Seen = list[tuple[str, str, bytes, dict[str, str]]]


async def _echo_handler_factory(seen: Seen) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An upstream that records what reached it and echoes the path."""

    async def handler(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.method, request.path_qs, body, dict(request.headers)))
        return web.json_response({"ok": True, "path": request.path_qs, "bytes": len(body)})

    return handler


def _address(proxy: RunningProxy) -> tuple[str, int]:
    parts = urlsplit(proxy.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


async def _raw(
    proxy: RunningProxy, payload: bytes, *, pause_s: float = 0.0, timeout_s: float = 5.0
) -> bytes:
    """Send raw bytes (optionally one at a time, with pauses) while reading concurrently, until
    EOF or timeout. A server that answers and closes early is fine: what it sent is returned."""
    reader, writer = await asyncio.open_connection(*_address(proxy))
    chunks: list[bytes] = []

    async def read_all() -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                chunks.append(chunk)

    async def write_all() -> None:
        pieces = [payload[i : i + 1] for i in range(len(payload))] if pause_s else [payload]
        with contextlib.suppress(ConnectionError):
            for piece in pieces:
                if chunks:
                    return
                writer.write(piece)
                await writer.drain()
                if pause_s:
                    await asyncio.sleep(pause_s)

    reading = asyncio.ensure_future(read_all())  # noqa: TID251 - awaited below
    await write_all()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reading, timeout_s)
    writer.close()
    return b"".join(chunks)


def _status_and_body(raw: bytes) -> tuple[int, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


async def _still_serves(proxy: RunningProxy) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(proxy.url + "/v1/models") as response,
    ):
        assert response.status == 200


async def test_non_json_content_type_is_forwarded_unchanged_and_not_mirrored(
    proxy_factory: ProxyFactory,
) -> None:
    seen: Seen = []
    async with (
        serve_handler(await _echo_handler_factory(seen)) as inc,
        serve_handler(await _echo_handler_factory([])) as cand,
        proxy_factory(inc, [{"name": "c", "url": cand}]) as proxy,
        aiohttp.ClientSession() as session,
    ):
        form = aiohttp.FormData()
        form.add_field("file", b"\x00\x01binary", filename="a.bin")
        async with session.post(
            proxy.url + "/v1/chat/completions",
            data=b"plain words",
            headers={"Content-Type": "text/plain"},
        ) as r:
            assert r.status == 200
        async with session.post(proxy.url + "/v1/chat/completions", data=form) as r:
            assert r.status == 200
        skipped = proxy.state.registry.get_sample_value(
            "darklaunch_mirror_skipped_total", {"candidate": "c", "reason": "body_not_json_object"}
        )
    assert seen[0][2] == b"plain words"
    assert seen[0][3]["Content-Type"] == "text/plain"
    assert seen[1][3]["Content-Type"].startswith("multipart/form-data")
    assert skipped == 2


async def test_huge_header_gets_431_in_openai_shape(proxy_factory: ProxyFactory) -> None:
    async with serve_handler(await _echo_handler_factory([])) as inc, proxy_factory(inc) as proxy:
        raw = await _raw(
            proxy, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        )
        status, body = _status_and_body(raw)
        assert status == 431
        assert orjson.loads(body)["error"]["code"] == "request_header_too_large"
        await _still_serves(proxy)


async def test_crlf_injection_and_invalid_headers_get_400(proxy_factory: ProxyFactory) -> None:
    seen: Seen = []
    async with serve_handler(await _echo_handler_factory(seen)) as inc, proxy_factory(inc) as proxy:
        for payload in (
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: one\rX-Injected: two\r\n\r\n",
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header Name: v\r\n\r\n",
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n",
        ):
            status, body = _status_and_body(await _raw(proxy, payload))
            assert status == 400
            error = orjson.loads(body)["error"]
            assert error["code"] == "invalid_http_request"
            assert error["type"] == "invalid_request_error"
        await _still_serves(proxy)
    assert all("X-Injected" not in headers for *_, headers in seen)


async def test_chunked_request_body_is_forwarded_whole(proxy_factory: ProxyFactory) -> None:
    seen: Seen = []
    async with serve_handler(await _echo_handler_factory(seen)) as inc, proxy_factory(inc) as proxy:
        payload = (
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
        )
        status, _body = _status_and_body(await _raw(proxy, payload))
    assert status == 200
    assert seen[0][2] == b'{"a": 1}'
    assert "Transfer-Encoding" not in seen[0][3]


async def test_expect_100_continue(proxy_factory: ProxyFactory) -> None:
    seen: Seen = []
    async with serve_handler(await _echo_handler_factory(seen)) as inc, proxy_factory(inc) as proxy:
        reader, writer = await asyncio.open_connection(*_address(proxy))
        writer.write(
            b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
            b"Expect: 100-continue\r\n"
            b"Connection: close\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100")
        writer.write(b"{}")
        final = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    assert final.startswith(b"HTTP/1.1 200")
    assert seen[0][2] == b"{}"


async def test_http10_and_pipelined_requests(proxy_factory: ProxyFactory) -> None:
    seen: Seen = []
    async with serve_handler(await _echo_handler_factory(seen)) as inc, proxy_factory(inc) as proxy:
        raw = await _raw(proxy, b"GET /v1/models HTTP/1.0\r\n\r\n")
        assert raw.startswith(b"HTTP/1.0 200") or raw.startswith(b"HTTP/1.1 200")
        pipelined = (
            b"GET /v1/models?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /v1/models?n=2 HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /v1/models?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        raw = await _raw(proxy, pipelined)
    assert raw.count(b"HTTP/1.1 200") == 3
    assert raw.index(b"n=1") < raw.index(b"n=2") < raw.index(b"n=3")
    assert [path for _, path, _, _ in seen[1:]] == [
        "/v1/models?n=1",
        "/v1/models?n=2",
        "/v1/models?n=3",
    ]


async def test_slowloris_headers_and_body_are_cut_off(proxy_factory: ProxyFactory) -> None:
    async with (
        serve_handler(await _echo_handler_factory([])) as inc,
        proxy_factory(
            inc, listen={"header_read_timeout_s": 0.5, "body_read_timeout_s": 0.5}
        ) as proxy,
    ):
        started = time.monotonic()
        raw = await _raw(
            proxy,
            b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaa\r\n\r\n",
            pause_s=0.1,
        )
        assert time.monotonic() - started < 4
        status, body = _status_and_body(raw)
        assert status == 408
        assert orjson.loads(body)["error"]["code"] == "request_timeout"
        # Headers on time, body dribbled: without the body deadline no answer would come at all.
        raw = await _raw(
            proxy,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{",
            timeout_s=3,
        )
        status, body = _status_and_body(raw)
        assert status == 408
        assert orjson.loads(body)["error"]["code"] == "request_timeout"
        await _still_serves(proxy)


async def test_absolute_uri_host_header_and_traversal_never_change_the_upstream(
    proxy_factory: ProxyFactory,
) -> None:
    seen: Seen = []
    evil_seen: Seen = []
    async with (
        serve_handler(await _echo_handler_factory(seen)) as inc,
        serve_handler(await _echo_handler_factory(evil_seen)) as evil,
        proxy_factory(inc) as proxy,
    ):
        evil_host = urlsplit(evil).netloc
        for target in (
            f"http://{evil_host}/v1/models",
            f"//{evil_host}/v1/models",
            "/v1/../../../etc/passwd",
            "/%2e%2e/%2e%2e/admin",
            f"/@{evil_host}/v1/models",
        ):
            request = (
                f"GET {target} HTTP/1.1\r\nHost: {evil_host}\r\nConnection: close\r\n\r\n".encode()
            )
            raw = await _raw(proxy, request)
            assert raw.startswith(b"HTTP/1.1 "), raw[:80]
        await _still_serves(proxy)
    assert evil_seen == []
    assert len(seen) >= 4
    assert all(headers["Host"] == urlsplit(inc).netloc for *_, headers in seen)
