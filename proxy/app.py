"""Wiring: build one proxy process's state from a validated config, and its admin listener's
aiohttp app. (The public listener is :mod:`proxy.http.server`, started by :mod:`proxy.server`.)
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from proxy.admin import add_admin_routes
from proxy.config.root import Config
from proxy.forward import Forwarder
from proxy.metrics import ProxyMetrics
from proxy.mirroring.mirror import Mirror
from proxy.pairing import PairBuilder
from proxy.recording.sink import MemoryRecorder, Recorder

logger = logging.getLogger(__name__)

__all__ = ["STATE_KEY", "ProxyState", "build_state", "create_admin_app"]


@dataclass
class ProxyState:
    """Everything one proxy process owns; shared by its public and admin apps."""

    config: Config
    registry: CollectorRegistry
    metrics: ProxyMetrics
    recorder: Recorder
    mirror: Mirror
    forwarder: Forwarder


STATE_KEY = web.AppKey("darklaunch_state", ProxyState)


def build_state(
    config: Config,
    *,
    recorder: Recorder | None = None,
    registry: CollectorRegistry | None = None,
) -> ProxyState:
    registry = registry if registry is not None else CollectorRegistry()
    metrics = ProxyMetrics(registry)
    recorder = recorder if recorder is not None else MemoryRecorder()
    mirror = Mirror(config, metrics, PairBuilder(config, recorder))
    forwarder = Forwarder(config, metrics, mirror)
    return ProxyState(config, registry, metrics, recorder, mirror, forwarder)


async def _metrics(request: web.Request) -> web.Response:
    registry = request.app[STATE_KEY].registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # One of several worker processes: report every worker's samples, not just ours.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return web.Response(
        body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "pid": os.getpid()})


async def _incumbent_reachable(url: str, timeout_s: float = 1.0) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(timeout_s):
            _, writer = await asyncio.open_connection(parts.hostname, port)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def _readyz(request: web.Request) -> web.Response:
    """Ready when the incumbent accepts connections and the recorder is writing."""
    state = request.app[STATE_KEY]
    checks = {
        "incumbent": await _incumbent_reachable(state.config.incumbent.url),
        "recorder": state.recorder.healthy,
    }
    ready = all(checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status=200 if ready else 503,
    )


def create_admin_app(state: ProxyState) -> web.Application:
    """The admin listener: metrics, health and the admin API, never on the public port."""
    app = web.Application()
    app[STATE_KEY] = state
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    add_admin_routes(app, state.config.admin.token, state.mirror)
    return app
