"""A simulated OpenAI- and Anthropic-compatible model server: the upstream for tests, the
demo and load tests.

It plays the incumbent and the candidate alike. It is a real aiohttp app on a real socket that
speaks the wire format closely enough for the official ``openai`` SDK, and Anthropic's Messages
API (``POST /v1/messages``, :mod:`proxy.sim.anthropic`) closely enough for the ``anthropic``
SDK, so the proxy meets the same bytes, pacing and failures it will meet in production. The
behaviour lives in a :class:`~proxy.sim.profile.SimProfile` that can be changed while the
server runs; what an answer says (the content bank's facts for its own questions, phrase-bank
prose otherwise) is decided in :mod:`proxy.sim.wire` and :mod:`proxy.sim.text`, identically in
every fault mode and in both APIs.

Fault modes (``SimProfile.mode``):

- ``ok``: answer normally.
- ``hang``: accept the request and never answer (until the client leaves or shutdown).
- ``reset``: drop the connection with a TCP reset before any byte of the answer.
- ``garbage``: ``200`` with a body that is not JSON.
- ``error``: ``error_status`` with an OpenAI error body, or an Anthropic one on its route, for
  streamed requests too, as both APIs fail before a stream starts (``error_rate`` does this by
  chance).
- ``slow_headers``: wait ``slow_headers_ms`` more before the status line, then answer.
- ``die_mid_stream``: send about half of the answer, then reset the connection.
- ``malformed_sse``: one event's JSON is cut in half (a non-streamed body is cut in half).
- ``huge``: pad the answer to ``huge_bytes`` (SSE comments in streams, an extra JSON field
  otherwise), written in 64 KiB blocks so it is never held in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import random
import socket
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from proxy.sim import anthropic, text, wire
from proxy.sim.profile import SimProfile

__all__ = [
    "PROFILE_KEY",
    "STATS_KEY",
    "SimServer",
    "SimStats",
    "create_app",
    "main",
    "replace_profile",
    "run_simulator_forever",
    "running_simulator",
]

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorReply = Callable[[int, str, str | None], web.Response]
_KEEP = 100
_GARBAGE = b"\x00\xff<html><body>502 Bad Gateway</body></html>\xfe not json {"


@dataclass
class SimStats:
    """What the simulator saw, so tests can check what an upstream actually received.

    Header names are lower-cased; only the last 100 bodies and header sets are kept.
    """

    requests: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def note(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        self.requests += 1
        self.by_path[path] = self.by_path.get(path, 0) + 1
        self.bodies.append(body)
        del self.bodies[:-_KEEP]
        self.headers.append(headers)
        del self.headers[:-_KEEP]
        return self.requests


PROFILE_KEY = web.AppKey("darklaunch_sim_profile", SimProfile)
STATS_KEY = web.AppKey("darklaunch_sim_stats", SimStats)


def replace_profile(app: web.Application, profile: SimProfile) -> None:
    """Change how a (possibly running) simulator behaves from its next request on.

    aiohttp deprecates changing a started app's state, so the app owns one live profile and
    this copies the new values into it. Requests in flight keep the snapshot they started with.
    """
    live = app[PROFILE_KEY]
    for name in SimProfile.model_fields:
        setattr(live, name, getattr(profile, name))


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    kinds = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
    kind = kinds.get(status, "server_error" if status >= 500 else "invalid_request_error")
    headers = {"retry-after": "1"} if status in (429, 503) else None
    body = {"error": {"message": message, "type": kind, "param": param, "code": None}}
    return web.json_response(body, status=status, headers=headers)


def _anthropic_error(status: int, message: str, param: str | None = None) -> web.Response:
    """An error as Anthropic spells it: its messages name the field, so ``param`` is unused;
    the ``request-id`` header repeats the body's ``request_id``."""
    request_id = f"req_{uuid.uuid4().hex}"
    headers = {"request-id": request_id, "x-request-id": request_id}
    headers |= {"retry-after": "1"} if status in (429, 503, 529) else {}
    body = anthropic.error_body(status, message, request_id)
    return web.json_response(body, status=status, headers=headers)


def _abort(request: web.BaseRequest) -> None:
    """Reset the connection (RST, not FIN), the way a crashed upstream or a balancer does."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _send_json(request: web.Request, p: SimProfile, reply: wire.Reply) -> web.StreamResponse:
    """Answer in one body, after as long as streaming the same tokens would have taken."""
    parts = [s for a in reply.answers for s in a.parts()]
    pieces = sum(len(text.split_pieces(s, p.tokens_per_chunk)) for s in parts)
    if pieces > 1 and p.token_interval_ms:
        await asyncio.sleep((pieces - 1) * p.token_interval_ms / 1000)
    body = json.dumps(reply.body, indent=2).encode()
    if p.mode == "malformed_sse":
        body = body[: len(body) // 2]
    if p.mode not in ("huge", "die_mid_stream"):
        return web.Response(body=body, content_type="application/json")
    resp = web.StreamResponse(headers={"Content-Type": "application/json"})
    head, pad, tail = body, 0, b""
    if p.mode == "huge":
        head, tail = body.rstrip()[:-1] + b',\n  "sim_padding": "', b'"\n}\n'
        pad = max(p.huge_bytes - len(head) - len(tail), 0)
    resp.content_length = len(head) + pad + len(tail)
    try:
        await resp.prepare(request)
        if p.mode == "die_mid_stream":
            await resp.write(head[: len(head) // 2])
            _abort(request)
            return resp
        await resp.write(head)
        await _write_padding(resp, pad, b"x")
        await resp.write(tail)
        await resp.write_eof()
    except ConnectionError:
        logger.debug("client left during a %s answer", p.mode)
    return resp


async def _write_padding(resp: web.StreamResponse, size: int, unit: bytes) -> None:
    block = unit * (65536 // len(unit))
    while size > 0:
        await resp.write(block[:size])
        size -= len(block)


async def _send_stream(
    request: web.Request, p: SimProfile, events: list[wire.Event]
) -> web.StreamResponse:
    """Write SSE events one at a time, each flushed, with the profile's pacing and faults."""
    headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
    resp = web.StreamResponse(headers=headers)
    middle = len(events) // 2
    paced = False
    try:
        await resp.prepare(request)
        for i, event in enumerate(events):
            if p.mode == "die_mid_stream" and i == middle:
                _abort(request)
                return resp
            if event[2] and paced and p.token_interval_ms:
                await asyncio.sleep(p.token_interval_ms / 1000)
            chunk = wire.sse(event)
            if p.mode == "malformed_sse" and i == middle:
                chunk = chunk[: len(chunk) // 2] + b"\n\n"
            await resp.write(chunk)
            if p.mode == "huge" and event[2] and not paced:
                await _write_padding(resp, p.huge_bytes, b": padding\n\n")
            paced = paced or event[2]
        await resp.write_eof()
    except ConnectionError:
        logger.debug("client left the stream early")
    return resp


def _endpoint(build: Callable[[wire.Call], wire.Reply], error: ErrorReply = _error) -> Handler:
    """Wrap a wire builder with what every request gets: bookkeeping, latency and faults,
    with errors spelled by ``error`` (the route's API: OpenAI's unless told)."""

    async def serve(request: web.Request) -> web.StreamResponse:
        stats = request.app[STATS_KEY]
        stats.in_flight += 1
        try:
            raw = await request.read()
            headers = {k.lower(): v for k, v in request.headers.items()}
            counter = stats.note(request.path, raw, headers)
            p = request.app[PROFILE_KEY].model_copy()
            rng = random.Random(f"{p.seed}:{counter}") if p.seed is not None else random.Random()
            fault = await _before_answer(request, p, rng, error)
            if fault is not None:
                return fault
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return error(400, "We could not parse the JSON body of your request.", None)
            try:
                reply = build(wire.Call(p, rng, body))
            except wire.BadRequest as exc:
                return error(400, str(exc), exc.param)
            if reply.events is None:
                return await _send_json(request, p, reply)
            return await _send_stream(request, p, reply.events)
        finally:
            stats.in_flight -= 1

    return serve


async def _not_found(request: web.Request) -> web.StreamResponse:
    headers = {k.lower(): v for k, v in request.headers.items()}
    request.app[STATS_KEY].note(request.path, await request.read(), headers)
    return _error(404, f"Invalid URL ({request.method} {request.path})")


async def _before_answer(
    request: web.Request, p: SimProfile, rng: random.Random, error: ErrorReply
) -> web.StreamResponse | None:
    delay = p.latency_ms + (rng.expovariate(1 / p.latency_jitter_ms) if p.latency_jitter_ms else 0)
    delay += p.slow_headers_ms if p.mode == "slow_headers" else 0
    if delay:
        await asyncio.sleep(delay / 1000)
    if p.mode == "hang":
        await asyncio.Event().wait()
    if p.mode == "reset":
        _abort(request)
        return web.Response()
    if p.mode == "error" or rng.random() < p.error_rate:
        return error(
            p.error_status, f"The simulated upstream {p.name!r} failed (mode={p.mode}).", None
        )
    if p.mode == "garbage":
        return web.Response(body=_GARBAGE, content_type="application/json")
    return None


async def _request_id(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer has an id; Anthropic's route also in ``request-id``, where its SDK reads it."""
    request_id = response.headers.setdefault("x-request-id", f"req_{uuid.uuid4().hex}")
    if request.path == anthropic.PATH:
        response.headers.setdefault("request-id", request_id)


def create_app(profile: SimProfile) -> web.Application:
    """A simulator app that owns a copy of ``profile``: see ``replace_profile`` to change it."""
    app = web.Application()
    app[PROFILE_KEY] = profile.model_copy()
    app[STATS_KEY] = SimStats()
    app.on_response_prepare.append(_request_id)
    app.router.add_post("/v1/chat/completions", _endpoint(wire.chat))
    app.router.add_post("/v1/completions", _endpoint(wire.completions))
    app.router.add_post("/v1/responses", _endpoint(wire.responses))
    app.router.add_post("/v1/embeddings", _endpoint(wire.embeddings))
    app.router.add_post(anthropic.PATH, _endpoint(anthropic.messages, _anthropic_error))
    app.router.add_get("/v1/models", _endpoint(wire.models))
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


class SimServer:
    """A running simulator: where it listens, and handles to change and observe it.

    ``server.profile = other`` or ``server.profile.mode = "hang"`` take effect on the next
    request.
    """

    __slots__ = ("app", "url")

    def __init__(self, url: str, app: web.Application) -> None:
        self.url = url
        self.app = app

    @property
    def profile(self) -> SimProfile:
        return self.app[PROFILE_KEY]

    @profile.setter
    def profile(self, value: SimProfile) -> None:
        replace_profile(self.app, value)

    @property
    def stats(self) -> SimStats:
        return self.app[STATS_KEY]


@contextlib.asynccontextmanager
async def running_simulator(
    profile: SimProfile, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[SimServer]:
    """Serve a simulator on ``host`` (an ephemeral port by default) for the ``async with`` body.

    Handlers are cancelled when their client leaves, and shutdown waits at most half a second,
    so hung requests never hold up a test.
    """
    app = create_app(profile)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0][1]
        yield SimServer(f"http://{host}:{bound}", app)
    finally:
        await runner.cleanup()


async def _serve_forever(host: str, port: int, profile: SimProfile) -> None:
    async with running_simulator(profile, host=host, port=port) as server:
        logger.info(
            "simulator %r (%s, mode=%s) on %s",
            profile.name,
            profile.model,
            profile.mode,
            server.url,
        )
        await asyncio.Event().wait()


def run_simulator_forever(host: str, port: int, profile: SimProfile) -> None:
    """Run a standalone simulator until interrupted (for the CLI and manual poking)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(host, port, profile))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Serve a simulated OpenAI- and Anthropic-compatible model."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--profile", default="{}", help="SimProfile fields as a JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    run_simulator_forever(args.host, args.port, SimProfile.model_validate_json(args.profile))


if __name__ == "__main__":
    main()
