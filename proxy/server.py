"""Run the proxy: bind the public and admin listeners, serve until told to stop, shut down
gracefully (stop accepting, finish in-flight requests and mirrors, flush the recorder)."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry

from proxy.app import ProxyState, build_state, create_admin_app
from proxy.config.root import Config
from proxy.http.cycle import Handler
from proxy.http.server import HttpServer
from proxy.recording.setup import open_redis_recorder
from proxy.recording.sink import Recorder
from proxy.recording.writer import RedisRecorder

logger = logging.getLogger(__name__)

__all__ = ["ListenError", "RunningProxy", "running_proxy", "serve_forever"]

SHUTDOWN_TIMEOUT_S = 60.0
MIRROR_DRAIN_TIMEOUT_S = 30.0


class ListenError(OSError):
    """A listener could not bind: the message names the config key, the address and why."""

    def __init__(self, listener: str, key: str, host: str, port: int, cause: OSError) -> None:
        reason = os.strerror(cause.errno) if cause.errno else str(cause)
        expected = (
            "a port no other process listens on"
            if cause.errno == errno.EADDRINUSE
            else "an address and port this host lets darklaunch listen on"
        )
        super().__init__(
            f"{key}: cannot listen on {host}:{port} ({listener} listener): "
            f"{reason.lower()}; expected {expected}"
        )
        self.errno = cause.errno


async def _bind(listener: str, key: str, host: str, port: int, start: Awaitable[None]) -> None:
    try:
        await start
    except OSError as exc:
        raise ListenError(listener, key, host, port, exc) from exc


@dataclass
class RunningProxy:
    url: str
    admin_url: str
    state: ProxyState


def _bound_url(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    return f"http://{host}:{port}"


@asynccontextmanager
async def running_proxy(
    config: Config,
    *,
    recorder: Recorder | None = None,
    registry: CollectorRegistry | None = None,
    worker_index: int | None = None,
) -> AsyncIterator[RunningProxy]:
    """Serve until the block exits, then shut down gracefully. Port 0 picks a free port.

    Without an explicit ``recorder``, records go to the configured (or an embedded) Redis.
    """
    registry = registry if registry is not None else CollectorRegistry()
    async with AsyncExitStack() as stack:
        if recorder is None:
            spool = None if worker_index is None else f"{config.recording.campaign}-w{worker_index}"
            recorder = await stack.enter_async_context(
                open_redis_recorder(config.recording, registry, spool_name=spool)
            )
        # Feedback goes to the recorder's own Redis (embedded or not), by a client of its own.
        redis_url = (
            recorder.url if isinstance(recorder, RedisRecorder) else config.recording.redis_url
        )
        async with _serve(
            config, recorder, registry, worker_index is not None, redis_url
        ) as running:
            yield running


def _stop_serving(state: ProxyState) -> None:
    state.serving = False
    logger.info("draining: /readyz answers 503 from now on")


async def _drain_mirrors(state: ProxyState) -> None:
    cancelled = await state.mirror.stop(MIRROR_DRAIN_TIMEOUT_S)
    if cancelled:
        logger.warning(
            "%d mirrored pairs were still running at shutdown and were cancelled", cancelled
        )


@asynccontextmanager
async def _serve(
    config: Config,
    recorder: Recorder,
    registry: CollectorRegistry,
    reuse_port: bool,
    redis_url: str | None = None,
) -> AsyncIterator[RunningProxy]:
    """Start resources, then listeners; stop in reverse. Only what started is stopped, and
    the order at shutdown matters: /readyz turns 503 at once, the public listener finishes its
    answers (whose pairs need the mirror) while the admin listener still tells load balancers
    and scrapers so, mirrors drain (their records need the recorder), the recorder flushes.

    Raises :class:`ListenError` when a port cannot be bound."""
    state = build_state(config, recorder=recorder, registry=registry)
    listen = config.listen
    async with AsyncExitStack() as stack:
        await state.recorder.start()
        stack.push_async_callback(state.recorder.stop)
        await state.forwarder.start()
        stack.push_async_callback(state.forwarder.stop)
        if state.cohort is not None:
            state.cohort.open()
            stack.push_async_callback(state.cohort.close)  # after the drain: shadows use it
        await state.mirror.start()
        stack.push_async_callback(_drain_mirrors, state)
        if state.rollout is not None:
            await state.rollout.start(redis_url)
            stack.push_async_callback(state.rollout.stop)
        handler: Handler = state.forwarder.handle
        if state.feedback is not None:
            state.feedback.store.start(redis_url)
            stack.push_async_callback(state.feedback.store.stop)
            handler = state.feedback.route(handler)

        admin = config.admin
        admin_runner = web.AppRunner(create_admin_app(state), access_log=None)
        await admin_runner.setup()
        stack.push_async_callback(admin_runner.cleanup)
        site = web.TCPSite(admin_runner, admin.host, admin.port, reuse_port=reuse_port or None)
        await _bind("admin", "admin.port", admin.host, admin.port, site.start())

        public = HttpServer(
            handler,
            max_body_bytes=listen.max_body_bytes,
            header_timeout_s=listen.header_read_timeout_s,
            body_timeout_s=listen.body_read_timeout_s,
            keepalive_timeout_s=listen.keepalive_timeout_s,
            send_timeout_s=listen.send_timeout_s,
        )
        await _bind(
            "public",
            "listen.port",
            listen.host,
            listen.port,
            public.start(listen.host, listen.port, reuse_port=reuse_port),
        )
        stack.push_async_callback(public.close, SHUTDOWN_TIMEOUT_S)
        state.serving = True
        stack.callback(_stop_serving, state)  # runs first at shutdown, before the drain

        host, port = public.address
        running = RunningProxy(f"http://{host}:{port}", _bound_url(admin_runner), state)
        logger.info("darklaunch proxy on %s, admin on %s", running.url, running.admin_url)
        yield running


async def serve_forever(
    config: Config, *, recorder: Recorder | None = None, worker_index: int | None = None
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully. A ``worker_index`` means one
    of several processes (``--workers``): ports are shared and the spool file is its own."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_proxy(config, recorder=recorder, worker_index=worker_index):
        tune_garbage_collector()
        await stop.wait()
        logger.info("shutting down: finishing in-flight requests and mirrors")


# Collect the young generation after this many net allocations instead of 700.
GC_GEN0_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Keep full collections off the request path.

    Everything allocated at start-up (modules, config, pools) lives as long as the process, yet
    CPython's full collections traverse it again and again: under load they paused the proxy
    for about 25 ms roughly once a second, straight into the clients' p99. Freezing the
    start-up heap takes it out of collection, and a larger young-generation threshold makes
    collections rarer. Called once the listeners are up, in serving processes only.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
