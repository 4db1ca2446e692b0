"""A lean HTTP/1.1 server for the public listener: asyncio protocols over httptools (llhttp).

Why not aiohttp's server: on the benchmark machine its request and response objects, router
and writer cost about 45 µs of CPU per request before any handler code runs, where a protocol
over llhttp costs a few. On a proxy whose whole job is relaying that was the largest single
cost. aiohttp still serves the admin listener, where nothing is hot.

The layers, each in its own module:

- :class:`HttpServer` (here): listens, tracks the connections, sweeps their deadlines and
  shuts down;
- :class:`proxy.http.protocol.HttpProtocol`: one connection; parses requests and enforces
  framing, limits and deadlines (its :class:`~proxy.http.state.ConnectionState`);
- :func:`proxy.http.cycle.exchange`: one request and its answer, run by the handler;
- :class:`proxy.http.writer.ResponseWriter`: what a handler answers with, framing and flow
  control included.

What a handler gets: a :class:`~proxy.http.cycle.Request` whose body has been read whole and a
:class:`~proxy.http.writer.ResponseWriter`.

Shutdown stops accepting, closes idle connections, lets requests in progress finish (their
answers say ``Connection: close``) and aborts what is left after the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib

from proxy.http.cycle import Handler
from proxy.http.protocol import HttpProtocol
from proxy.http.state import TIMED

__all__ = ["HttpServer"]


class HttpServer:
    """The listener: owns the listening socket, the connections and the deadline sweep."""

    def __init__(
        self,
        handler: Handler,
        *,
        max_body_bytes: int,
        header_timeout_s: float,
        body_timeout_s: float,
        keepalive_timeout_s: float,
        send_timeout_s: float = 60.0,
    ) -> None:
        self.handler = handler
        self.max_body_bytes = max_body_bytes
        self.header_timeout_s = header_timeout_s
        self.body_timeout_s = body_timeout_s
        self.keepalive_timeout_s = keepalive_timeout_s
        self.send_timeout_s = send_timeout_s
        self.connections: set[HttpProtocol] = set()
        self.stopping = False
        self.loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._address: tuple[str, int] | None = None
        self._all_closed = asyncio.Event()
        shortest = min(header_timeout_s, body_timeout_s, keepalive_timeout_s, 1.0)
        self._sweep_every_s = max(0.02, shortest / 5)

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        self._server = await self.loop.create_server(
            lambda: HttpProtocol(self), host, port, reuse_port=reuse_port or None, backlog=1024
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = (str(host), int(port))
        self._sweeper = self.loop.create_task(self._sweep())

    @property
    def address(self) -> tuple[str, int]:
        """Where the server listens (or listened, once closed)."""
        if self._address is None:
            raise RuntimeError("the server has not started")
        return self._address

    def forget(self, conn: HttpProtocol) -> None:
        self.connections.discard(conn)
        if self.stopping and not self.connections:
            self._all_closed.set()

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_every_s)
            now = self.loop.time()
            for conn in [c for c in self.connections if c.state in TIMED and c.deadline <= now]:
                conn.expire()

    async def close(self, timeout_s: float) -> None:
        """Stop accepting, let answers in progress finish for up to ``timeout_s``, then abort."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            conn.shut_down()
        if self.connections:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._all_closed.wait()
        for conn in list(self.connections):
            conn.cancel()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._server is not None:
            await self._server.wait_closed()
