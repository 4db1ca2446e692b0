"""One client connection (:mod:`proxy.http.protocol`): how requests are parsed, pipelined and
refused, keep-alive and half-close, and the deadlines, over raw sockets
(:mod:`tests.proxy.http.raw_client`).
"""

from __future__ import annotations

import asyncio

import pytest

from proxy.http.cycle import Request
from proxy.http.protocol import MAX_FIELD_BYTES, MAX_PIPELINED, MAX_QUEUED_BYTES
from proxy.http.server import HttpServer
from proxy.http.writer import ResponseWriter
from tests.proxy.http.raw_client import (
    answer_path,
    connect,
    elapsed_since,
    exchange,
    get,
    parse_responses,
    path_recorder,
    serving,
)
from tests.proxy.http.raw_upstream import eventually

pytestmark = pytest.mark.timeout(20)


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


async def test_pipelined_bodies_over_the_queued_bytes_cap_pause_reading() -> None:
    """Fewer than MAX_PIPELINED requests, but bodies of 400 KB: reading pauses once the
    queued bodies pass MAX_QUEUED_BYTES, so a connection holds about that much, not
    MAX_PIPELINED bodies at the body limit. Every request is still answered, in order."""
    reading: list[bool] = []
    servers: list[HttpServer] = []
    release = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        if request.path == "/0":
            await release.wait()
        response.send(200, [], b"%s %d" % (request.path.encode(), len(request.body)))

    body = b"b" * 400_000
    post = b"POST /%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
    count = 6
    assert count < MAX_PIPELINED
    assert 3 * len(body) > MAX_QUEUED_BYTES
    async with serving(handler) as server, connect(server) as client:
        servers.append(server)
        client.send(b"".join(post % (i, len(body)) + body for i in range(count)))
        (connection,) = server.connections
        await eventually(lambda: not connection.transport or not connection.transport.is_reading())
        assert connection.transport is not None
        reading.append(connection.transport.is_reading())
        release.set()
        bodies = [(await client.response()).body for _ in range(count)]
    assert reading == [False]
    assert bodies == [b"/%d 400000" % i for i in range(count)]


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
