"""One exchange (:mod:`proxy.http.cycle`): whatever the handler does, the client gets an
answer, or a connection closed on an answer cut short; over raw sockets
(:mod:`tests.proxy.http.raw_client`).
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from proxy.http.cycle import Request
from proxy.http.writer import ResponseWriter
from tests.proxy.http.raw_client import (
    answer_path,
    connect,
    exchange,
    get,
    parse_responses,
    serving,
)

pytestmark = pytest.mark.timeout(20)


# -- handler failures ----------------------------------------------------------------------------


async def test_handler_failing_before_answering_gets_500_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        if request.path == "/raise":
            raise RuntimeError("handler bug")
        if request.path == "/silent":
            return  # returns without answering
        await answer_path(request, response)

    async with serving(handler) as server:
        for path in ("/raise", "/silent"):
            with caplog.at_level(logging.ERROR, logger="proxy.http.cycle"):
                async with connect(server) as client:
                    client.send(get(path) + get("/queued"))  # the connection ends after the 500
                    response = await client.response()
                    assert response.status == 500
                    assert response.headers["Connection"] == "close"
                    error = response.error()
                    assert error["code"] == "internal_error"
                    assert error["type"] == "server_error"
                    await client.closed_by_server()
            assert any(path in record.getMessage() for record in caplog.records)
            caplog.clear()
            async with connect(server) as client:  # a new connection is served as usual
                client.send(get("/ok"))
                assert (await client.response()).body == b"/ok"


@pytest.mark.parametrize("content_length", [100, None], ids=["length", "chunked"])
async def test_handler_failing_after_start_cuts_the_answer_short(
    content_length: int | None,
) -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        response.start(200, [], content_length=content_length)
        await response.write(b"0123456789")
        raise RuntimeError("upstream went away")

    async with serving(handler) as server, connect(server) as client:
        client.send(get("/"))  # keep-alive: only the server's close can end this
        raw = await client.read_all()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    if content_length is None:
        assert b"Transfer-Encoding: chunked" in head
        assert body == b"a\r\n0123456789\r\n"  # no last chunk
    else:
        assert b"Content-Length: 100" in head
        assert body == b"0123456789"
    with pytest.raises(asyncio.IncompleteReadError):
        await parse_responses(raw)


async def test_refused_response_header_still_gets_a_500() -> None:
    async def handler(request: Request, response: ResponseWriter) -> None:
        response.send(200, [("X-A", "v\nX-Injected: yes")], b"ok")

    async with serving(handler) as server:
        raw = await exchange(server, get("/"))
    assert raw.startswith(b"HTTP/1.1 500 "), raw
    (response,) = await parse_responses(raw)
    assert response.error()["code"] == "internal_error"
