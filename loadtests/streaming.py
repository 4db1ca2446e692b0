"""Streaming: an SSE upstream that stamps every event, and a client that times each one.

    python -m loadtests.streaming serve --port 8001 [--events 40] [--interval-ms 20]
    python -m loadtests.streaming client --url http://127.0.0.1:8080/v1/chat/completions \
        --duration 10 --concurrency 16

Why not nginx or the simulator: nginx cannot pace events. The simulator paces them, but the
client could only infer how late an event is by comparing arrival offsets across two runs,
which folds the upstream's own timer jitter into the figure. This server writes its
``CLOCK_MONOTONIC`` time (ns) into each ``chat.completion.chunk`` (as ``system_fingerprint``)
just before writing it; the client, on the same host and clock, subtracts that from the time
it parsed the event. That *delivery delay* through darklaunch minus the same through a
direct connection is the per-chunk delay darklaunch adds. Time to first token is timed by the
client from writing the request to parsing the first event with content.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import asdict, dataclass

import aiohttp
import uvloop
from aiohttp import web

from loadtests.openloop import percentile

__all__ = ["StreamResult", "create_app", "main", "run_streams"]

_STAMP = b'"system_fingerprint":"t'
_WORDS = (" the", " proxy", " relays", " each", " token", " as", " it", " arrives", ",", " so")


def _chunk(index: int, delta: dict[str, str], finish: str | None) -> bytes:
    event = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1741569952,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": f"t{time.monotonic_ns()}",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


def create_app(events: int, interval_ms: float, first_ms: float) -> web.Application:
    async def chat(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await asyncio.sleep(first_ms / 1000)
        if body.get("stream") is not True:
            text = "".join(_WORDS[i % len(_WORDS)] for i in range(events))
            return web.json_response(
                {"object": "chat.completion", "choices": [{"message": {"content": text}}]}
            )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        await response.prepare(request)
        await response.write(_chunk(0, {"role": "assistant", "content": ""}, None))
        for i in range(events):
            if i:
                await asyncio.sleep(interval_ms / 1000)
            await response.write(_chunk(i, {"content": _WORDS[i % len(_WORDS)]}, None))
        await response.write(_chunk(events, {}, "stop"))
        options = body.get("stream_options") or {}
        if options.get("include_usage"):
            usage = {"prompt_tokens": 41, "completion_tokens": events, "total_tokens": 41 + events}
            final = {"object": "chat.completion.chunk", "choices": [], "usage": usage}
            await response.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    return app


@dataclass
class StreamResult:
    streams: int
    failed: int
    events: int
    ttft_p50_ms: float
    ttft_p99_ms: float
    delivery_p50_ms: float
    delivery_p90_ms: float
    delivery_p99_ms: float
    delivery_max_ms: float
    gap_p50_ms: float
    gap_p99_ms: float


_REQUEST = {
    "model": "gpt-4o-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "Explain connection reuse in one paragraph."}],
}


async def _one_stream(
    session: aiohttp.ClientSession,
    url: str,
    ttfts: list[float],
    deliveries: list[float],
    gaps: list[float],
) -> None:
    started = time.monotonic_ns()
    first = True
    last = 0
    async with session.post(url, json=_REQUEST) as response:
        if response.status != 200:
            raise RuntimeError(f"status {response.status}")
        async for line in response.content:
            now = time.monotonic_ns()
            at = line.find(_STAMP)
            if at < 0:
                continue
            start = at + len(_STAMP)
            sent = int(line[start : line.index(b'"', start)])
            deliveries.append((now - sent) / 1e6)
            if first and b'"content":"' in line and b'"content":""' not in line:
                ttfts.append((now - started) / 1e6)
                first = False
            elif not first:
                gaps.append((now - last) / 1e6)
            last = now


async def run_streams(url: str, duration_s: float, concurrency: int) -> StreamResult:
    """``concurrency`` clients, each opening one stream after another for ``duration_s``."""
    ttfts: list[float] = []
    deliveries: list[float] = []
    gaps: list[float] = []
    counts = {"streams": 0, "failed": 0}
    deadline = time.monotonic() + duration_s
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client() -> None:
            while time.monotonic() < deadline:
                try:
                    await _one_stream(session, url, ttfts, deliveries, gaps)
                    counts["streams"] += 1
                except (aiohttp.ClientError, TimeoutError, RuntimeError):
                    counts["failed"] += 1
                    await asyncio.sleep(0.1)

        await asyncio.gather(*(client() for _ in range(concurrency)))
    ttfts.sort()
    deliveries.sort()
    gaps.sort()
    return StreamResult(
        streams=counts["streams"],
        failed=counts["failed"],
        events=len(deliveries),
        ttft_p50_ms=percentile(ttfts, 50),
        ttft_p99_ms=percentile(ttfts, 99),
        delivery_p50_ms=percentile(deliveries, 50),
        delivery_p90_ms=percentile(deliveries, 90),
        delivery_p99_ms=percentile(deliveries, 99),
        delivery_max_ms=deliveries[-1] if deliveries else 0.0,
        gap_p50_ms=percentile(gaps, 50),
        gap_p99_ms=percentile(gaps, 99),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--events", type=int, default=40)
    serve.add_argument("--interval-ms", type=float, default=20.0)
    serve.add_argument("--first-ms", type=float, default=50.0)
    client = sub.add_parser("client")
    client.add_argument("--url", required=True)
    client.add_argument("--duration", type=float, default=10.0)
    client.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    if args.command == "serve":
        app = create_app(args.events, args.interval_ms, args.first_ms)
        web.run_app(
            app,
            host="127.0.0.1",
            port=args.port,
            access_log=None,
            print=None,
            loop=uvloop.new_event_loop(),
        )
        return
    result = uvloop.run(run_streams(args.url, args.duration, args.concurrency))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
