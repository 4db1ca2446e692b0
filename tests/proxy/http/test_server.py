"""The listener (:mod:`proxy.http.server`): shutting down and sharing a port, over raw sockets
(:mod:`tests.proxy.http.raw_client`).
"""

from __future__ import annotations

import asyncio

import pytest

from proxy.http.cycle import Request
from proxy.http.writer import ResponseWriter
from tests.proxy.http.raw_client import (
    connect,
    elapsed_since,
    get,
    make_server,
    serving,
)

pytestmark = pytest.mark.timeout(20)


# -- shutdown and listening --------------------------------------------------------------------


async def test_close_finishes_answers_in_progress_and_closes_idle_connections() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        if request.path == "/slow":
            entered.set()
            await release.wait()
        response.send(200, [], request.path.encode())

    async with serving(handler) as server:
        address = server.address
        async with connect(server) as idle, connect(server) as busy:
            idle.send(get("/fast"))
            assert (await idle.response()).body == b"/fast"
            busy.send(get("/slow"))
            async with asyncio.timeout(2):
                await entered.wait()
            started = asyncio.get_running_loop().time()
            closing = asyncio.get_running_loop().create_task(server.close(5.0))
            await idle.closed_by_server(within=1.0)
            assert elapsed_since(started) < 0.5
            with pytest.raises(ConnectionRefusedError):  # no longer listening
                await asyncio.wait_for(asyncio.open_connection(*address), 1.0)
            await asyncio.sleep(0.05)
            assert not closing.done()  # the answer in progress is waited for
            release.set()
            response = await busy.response()
            assert response.body == b"/slow"
            assert response.headers["Connection"] == "close"
            await busy.closed_by_server()
            await asyncio.wait_for(closing, 1.0)
            assert elapsed_since(started) < 1.0


async def test_close_cancels_a_handler_still_running_after_the_timeout() -> None:
    entered = asyncio.Event()
    cancelled = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        entered.set()
        try:
            await asyncio.Event().wait()  # never answers
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with serving(handler) as server, connect(server) as client:
        client.send(get("/"))
        async with asyncio.timeout(2):
            await entered.wait()
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(server.close(0.3), 2.0)
        assert 0.25 <= elapsed_since(started) < 0.9
        async with asyncio.timeout(1):
            await cancelled.wait()
        await client.closed_by_server()


async def test_reuse_port_lets_two_servers_share_a_port() -> None:
    async def first(request: Request, response: ResponseWriter) -> None:
        response.send(200, [], b"first")

    async def second(request: Request, response: ResponseWriter) -> None:
        response.send(200, [], b"second")

    one = make_server(first)
    await one.start("127.0.0.1", 0, reuse_port=True)
    try:
        host, port = one.address
        with pytest.raises(OSError, match=r"(?i)in use"):  # without the option: taken
            await make_server(second).start(host, port)
        two = make_server(second)
        await two.start(host, port, reuse_port=True)
        try:
            assert two.address == (host, port)
            for _ in range(4):
                async with connect(one) as client:
                    client.send(get("/", "Connection: close"))
                    assert (await client.response()).body in (b"first", b"second")
        finally:
            await two.close(1.0)
    finally:
        await one.close(1.0)
