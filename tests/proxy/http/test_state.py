"""A client connection's state (:mod:`proxy.http.state`) through its transitions, as a real
connection goes through them (:mod:`tests.proxy.http.raw_client`): each request's head, body
and answer, a refusal, an upgrade, the keep-alive deadline, and the end.
"""

from __future__ import annotations

import asyncio

import pytest

from proxy.http.cycle import Request
from proxy.http.protocol import HttpProtocol
from proxy.http.server import HttpServer
from proxy.http.state import TIMED, ConnectionState
from proxy.http.writer import ResponseWriter
from tests.proxy.http.raw_client import answer_path, connect, get, serving

pytestmark = pytest.mark.timeout(20)


async def only_connection(server: HttpServer) -> HttpProtocol:
    """The server's one connection, once it has been accepted."""
    async with asyncio.timeout(2):
        while not server.connections:  # noqa: ASYNC110 - polling a set, no event to wait on
            await asyncio.sleep(0.005)
    (connection,) = server.connections
    return connection


def state_of(connection: HttpProtocol) -> ConnectionState:
    """The connection's state now (read in a call, so that a type checker does not carry an
    earlier assertion's narrowing past the awaits in between)."""
    return connection.state


async def reaches(connection: HttpProtocol, state: ConnectionState) -> None:
    """Wait (boundedly) until ``connection`` is in ``state``."""
    async with asyncio.timeout(2):
        while connection.state is not state:  # noqa: ASYNC110 - no event to wait on
            await asyncio.sleep(0.005)


async def test_state_follows_each_request_through_head_body_and_answer() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        entered.set()
        await release.wait()
        response.send(200, [], request.path.encode())

    async with serving(handler) as server, connect(server) as client:
        connection = await only_connection(server)
        await reaches(connection, ConnectionState.IDLE)
        client.send(b"POST /first HTTP/1.1\r\nHost: test\r\n")
        await reaches(connection, ConnectionState.HEAD)
        client.send(b"Content-Length: 4\r\n\r\nab")
        await reaches(connection, ConnectionState.BODY)
        client.send(b"cd")
        async with asyncio.timeout(2):
            await entered.wait()
        await reaches(connection, ConnectionState.ANSWERING)
        # A pipelined request is read while the first is answered.
        client.send(b"GET /second HTTP/1.1\r\n")
        await reaches(connection, ConnectionState.HEAD)
        client.send(b"Host: test\r\n\r\n")
        await reaches(connection, ConnectionState.ANSWERING)
        release.set()
        assert [(await client.response()).body for _ in range(2)] == [b"/first", b"/second"]
        await reaches(connection, ConnectionState.IDLE)


async def test_state_is_closing_once_a_request_is_refused_then_closed() -> None:
    async with serving(answer_path) as server, connect(server) as client:
        connection = await only_connection(server)
        client.send(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n")
        assert (await client.response()).status == 400
        assert state_of(connection) is ConnectionState.CLOSING
        await client.closed_by_server()
        await reaches(connection, ConnectionState.CLOSED)
        assert connection not in server.connections


async def test_state_is_closing_after_an_upgrade_is_answered() -> None:
    async with serving(answer_path) as server, connect(server) as client:
        connection = await only_connection(server)
        client.send(b"GET /u HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")
        assert (await client.response()).body == b"/u"
        assert state_of(connection) in (ConnectionState.CLOSING, ConnectionState.CLOSED)
        await client.closed_by_server()
        await reaches(connection, ConnectionState.CLOSED)


async def test_an_idle_connection_past_its_deadline_is_closed_by_the_sweep() -> None:
    async with (
        serving(answer_path, keepalive_timeout_s=0.2) as server,
        connect(server) as client,
    ):
        connection = await only_connection(server)
        assert state_of(connection) is ConnectionState.IDLE
        await client.closed_by_server()
        await reaches(connection, ConnectionState.CLOSED)


async def test_only_a_state_with_a_deadline_expires() -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        entered.set()
        await release.wait()
        response.send(200, [], b"ok")

    async with serving(handler) as server, connect(server) as client:
        connection = await only_connection(server)
        client.send(get("/"))
        async with asyncio.timeout(2):
            await entered.wait()
        assert state_of(connection) not in TIMED
        connection.expire()  # a handler's time is not the connection's to limit
        assert state_of(connection) is ConnectionState.ANSWERING
        release.set()
        assert (await client.response()).body == b"ok"
        await reaches(connection, ConnectionState.IDLE)
        assert state_of(connection) in TIMED
        connection.expire()
        assert state_of(connection) is ConnectionState.CLOSING
        await client.closed_by_server()
        await reaches(connection, ConnectionState.CLOSED)
