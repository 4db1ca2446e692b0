"""The floor for any aiohttp proxy: a bare relay, optionally with a fire-and-forget mirror.

    python -m loadtests.floor --port 8080 --incumbent http://127.0.0.1:8001 \
        [--candidate http://127.0.0.1:8002]

It does what darklaunch's relay must do and nothing else: read the body, call the incumbent
over a keep-alive pool, stream the answer back; with ``--candidate`` it also sends the body to
the candidate in a background task and throws the answer away (no sampling, no bounds, no
record, no metrics). Measured next to darklaunch, it shows how much of darklaunch's cost is
aiohttp and CPython themselves, which no change inside darklaunch can remove.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import aiohttp
import uvloop
from aiohttp import web

__all__ = ["create_app", "main"]

_DROP = frozenset({"host", "content-length", "connection", "keep-alive", "transfer-encoding"})


def create_app(incumbent: str, candidate: str | None) -> web.Application:
    sessions: dict[str, aiohttp.ClientSession] = {}
    background: set[asyncio.Task[Any]] = set()

    async def mirror(session: aiohttp.ClientSession, url: str, body: bytes) -> None:
        try:
            async with session.post(url, data=body) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError):
            pass

    async def relay(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path = request.rel_url.raw_path_qs
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
        if candidate is not None:
            task = asyncio.get_running_loop().create_task(
                mirror(sessions["candidate"], candidate + path, body)
            )
            background.add(task)
            task.add_done_callback(background.discard)
        async with sessions["incumbent"].request(
            request.method, incumbent + path, data=body or None, headers=headers
        ) as upstream:
            response = web.StreamResponse(status=upstream.status)
            for name in ("Content-Type", "Content-Encoding"):
                if name in upstream.headers:
                    response.headers[name] = upstream.headers[name]
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def pools(app: web.Application) -> Any:
        for name in ("incumbent", "candidate"):
            sessions[name] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        yield
        for session in sessions.values():
            await session.close()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", relay)
    app.cleanup_ctx.append(pools)
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
