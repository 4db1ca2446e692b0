"""The floor for darklaunch's HTTP layer: a bare relay, optionally with a fire-and-forget mirror.

    python -m loadtests.floor --port 8080 --incumbent http://127.0.0.1:8001 \
        [--candidate http://127.0.0.1:8002]

It does what darklaunch's relay must do and nothing else, on the same layer
(:class:`proxy.http.server.HttpServer` for the client,
:class:`proxy.http.upstream_pool.UpstreamPool` for the upstreams): take the body, call the
incumbent over a keep-alive pool, relay the answer (in one write when it came whole, as
darklaunch does); with ``--candidate`` it also sends the body to the candidate in a background
task and throws the answer away (no sampling, no bounds, no record, no metrics). Measured next
to darklaunch, it shows how much of darklaunch's cost is the HTTP layer and CPython themselves,
which no change inside darklaunch's logic can remove.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import uvloop

from proxy.http.cycle import Request
from proxy.http.server import HttpServer
from proxy.http.upstream_errors import UpstreamError
from proxy.http.upstream_pool import UpstreamPool
from proxy.http.writer import ResponseWriter

__all__ = ["main", "serve"]

_DROP = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding"})
_KEEP = ("content-type", "content-encoding")


async def serve(port: int, incumbent: str, candidate: str | None) -> None:
    """Relay on 127.0.0.1:``port`` until SIGTERM or SIGINT."""

    def pool(url: str) -> UpstreamPool:
        return UpstreamPool(url, max_connections=256, keepalive_timeout_s=30, connect_timeout_s=10)

    incumbent_pool = pool(incumbent)
    candidate_pool = pool(candidate) if candidate is not None else None
    background: set[asyncio.Task[Any]] = set()
    loop = asyncio.get_running_loop()

    async def mirror(path: str, headers: list[tuple[str, str]], body: bytes) -> None:
        assert candidate_pool is not None
        try:
            async with await candidate_pool.request("POST", path, headers, body) as response:
                await response.read()
        except (UpstreamError, TimeoutError):
            pass

    async def relay(request: Request, response: ResponseWriter) -> None:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP]
        if candidate_pool is not None:
            task = loop.create_task(mirror(request.path_qs, headers, request.body))
            background.add(task)
            task.add_done_callback(background.discard)
        async with await incumbent_pool.request(
            request.method, request.path_qs, headers, request.body
        ) as upstream:
            kept = [(k, v) for k, v in upstream.headers.items() if k.lower() in _KEEP]
            length = upstream.headers.get("content-length")
            if upstream.finished and length is not None:  # as darklaunch: one write
                response.send(upstream.status, kept, await upstream.read())
                return
            response.start(upstream.status, kept, content_length=int(length) if length else None)
            async for chunk in upstream:
                await response.write(chunk)
            await response.finish()

    server = HttpServer(
        relay,
        max_body_bytes=1 << 20,
        header_timeout_s=30,
        body_timeout_s=30,
        keepalive_timeout_s=75,
    )
    await server.start("127.0.0.1", port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close(1.0)
        await incumbent_pool.close()
        if candidate_pool is not None:
            await candidate_pool.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--incumbent", required=True)
    parser.add_argument("--candidate", default=None)
    args = parser.parse_args(argv)
    uvloop.run(serve(args.port, args.incumbent, args.candidate))


if __name__ == "__main__":
    main()
