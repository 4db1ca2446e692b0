"""The floor for darklaunch's HTTP layer: a bare relay, optionally with a fire-and-forget mirror.

    python -m loadtests.floor --port 8080 --incumbent http://127.0.0.1:8001 \
        [--candidate http://127.0.0.1:8002]

It does what darklaunch's relay must do and nothing else, on the same layer (aiohttp's server,
:class:`proxy.http_client.UpstreamPool` for the upstreams): read the body, call the incumbent
over a keep-alive pool, stream the answer back; with ``--candidate`` it also sends the body to
the candidate in a background task and throws the answer away (no sampling, no bounds, no
record, no metrics). Measured next to darklaunch, it shows how much of darklaunch's cost is
the HTTP layer and CPython themselves, which no change inside darklaunch's logic can remove.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvloop
from aiohttp import web

from proxy.http_client import UpstreamError, UpstreamPool

__all__ = ["create_app", "main"]

_DROP = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding"})


def create_app(incumbent: str, candidate: str | None) -> web.Application:
    pools: dict[str, UpstreamPool] = {}
    background: set[asyncio.Task[Any]] = set()

    async def mirror(
        pool: UpstreamPool, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        try:
            async with await pool.request("POST", path, headers, body) as response:
                await response.read()
        except (UpstreamError, TimeoutError):
            pass

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.rel_url.raw_path_qs
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP]
        if "candidate" in pools:
            task = asyncio.get_running_loop().create_task(
                mirror(pools["candidate"], path, headers, body)
            )
            background.add(task)
            task.add_done_callback(background.discard)
        async with await pools["incumbent"].request(
            request.method, path, headers, body
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name in ("Content-Type", "Content-Encoding"):
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            length = upstream.headers.get("Content-Length")
            if length is not None:
                response.content_length = int(length)
            await response.prepare(request)
            async for chunk in upstream:
                await response.write(chunk)
            await response.write_eof()
            return response

    async def open_pools(app: web.Application) -> Any:
        urls = {"incumbent": incumbent, "candidate": candidate}
        for name, url in urls.items():
            if url is not None:
                pools[name] = UpstreamPool(
                    url, max_connections=256, keepalive_timeout_s=30, connect_timeout_s=10
                )
        yield
        for pool in pools.values():
            await pool.close()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", relay)
    app.cleanup_ctx.append(open_pools)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--incumbent", required=True)
    parser.add_argument("--candidate", default=None)
    args = parser.parse_args(argv)
    web.run_app(
        create_app(args.incumbent, args.candidate),
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
