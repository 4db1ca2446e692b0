"""Wiring: build one proxy process's state from a validated config, and its admin listener's
aiohttp app. (The public listener is :mod:`proxy.http.server`, started by :mod:`proxy.server`.)
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from proxy.admin import add_admin_routes
from proxy.config.root import Config
from proxy.feedback import FeedbackEndpoint, build_feedback
from proxy.forward import Forwarder
from proxy.metrics import ProxyMetrics, RolloutMetrics
from proxy.mirroring.mirror import Mirror
from proxy.pairing import PairBuilder
from proxy.recording.sink import MemoryRecorder, Recorder
from proxy.rollout.follower import RolloutFollower
from proxy.rollout.serve import CohortServer

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
    # True while the public listener accepts clients: set once it listens, cleared first at
    # shutdown (before the drain), so /readyz turns a load balancer away in time.
    serving: bool = False
    # The public listener's feedback endpoint (``feedback.enabled``), else ``None``.
    feedback: FeedbackEndpoint | None = None
    # A staged rollout's state and serving path (``rollout:``), else ``None``.
    rollout: RolloutFollower | None = None
    cohort: CohortServer | None = None


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
    pairs = PairBuilder(config, recorder)
    mirror = Mirror(config, metrics, pairs)
    # Feedback redacts with the pairs' redactor: one set of patterns, one cache.
    feedback, memory = build_feedback(config, metrics, pairs.redactor)
    follower, cohort = None, None
    if config.rollout is not None:
        rollout_metrics = RolloutMetrics(registry)
        follower = RolloutFollower(config.recording.campaign, config.rollout, rollout_metrics)
        cohort = CohortServer(config, metrics, rollout_metrics, follower, mirror)
    forwarder = Forwarder(config, metrics, mirror, memory=memory, cohort=cohort)
    return ProxyState(
        config, registry, metrics, recorder, mirror, forwarder,
        feedback=feedback, rollout=follower, cohort=cohort,
    )  # fmt: skip


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
    """Liveness, with detail for people: always 200 while the process answers.

    The recorder's state is detail, never a failure: while Redis is away the proxy serves and
    spools (``darklaunch_recorder_spool_bytes`` and its alert say so), and restarting it would
    not bring Redis back.
    """
    state = request.app[STATE_KEY]
    return web.json_response(
        {
            "status": "ok",
            "pid": os.getpid(),
            "serving": state.serving,
            "recorder": "healthy" if state.recorder.healthy else "spooling",
        }
    )


async def _readyz(request: web.Request) -> web.Response:
    """Ready means "can serve clients": the public listener accepts and is not draining.

    Nothing downstream counts. A Redis outage only makes the recorder spool, and an unreachable
    incumbent is the fallback path's business (``fallback``), the same for every proxy; taking
    them all out of the load balancer for either would turn a degraded service into none.
    """
    serving = request.app[STATE_KEY].serving
    return web.json_response(
        {"status": "ready" if serving else "not_serving", "serving": serving},
        status=200 if serving else 503,
    )


def create_admin_app(state: ProxyState) -> web.Application:
    """The admin listener: metrics, health and the admin API, never on the public port."""
    app = web.Application()
    app[STATE_KEY] = state
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    add_admin_routes(app, state.config.admin.token, state.mirror, state.rollout)
    return app
