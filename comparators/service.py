"""Run a comparator worker as a service: Redis, the scoring engine, a ``/metrics`` listener of
its own, and a graceful stop on SIGTERM (the batch in hand is finished and acknowledged).

With a ``judge:`` section the process also runs the LLM judge's consumer
(:class:`~comparators.judge.worker.JudgeWorker`) beside the comparators', on the same Redis
and metrics: two loops, so a slow judge never holds a score back.

Each runs one consumer per stream set of a sharded campaign (``comparators.sharding``), with
the gauges summed over them and the judge's concurrency limit shared by them."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from comparators.consumer import ConsumerOptions, WorkerStats, default_consumer_name
from comparators.engine import ScoringEngine
from comparators.judge.metrics import JudgeMetrics
from comparators.judge.worker import JudgeWorker, Segment
from comparators.metrics import WorkerMetrics
from comparators.sharding import ShardedRun
from comparators.worker import CompareWorker, LagBoard
from proxy.config.root import Config
from proxy.recording.keys import Shard
from proxy.recording.setup import open_client

logger = logging.getLogger(__name__)

__all__ = ["metrics_listener", "run_worker"]


@asynccontextmanager
async def metrics_listener(registry: CollectorRegistry, host: str, port: int) -> AsyncIterator[str]:
    """Serve ``/metrics`` and ``/healthz``; yields the bound URL."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        bound_host, bound_port = runner.addresses[0][:2]
        yield f"http://{bound_host}:{bound_port}"
    finally:
        await runner.cleanup()


async def run_worker(
    config: Config,
    *,
    campaign: str | None = None,
    once: bool = False,
    consumer: str | None = None,
    registry: CollectorRegistry | None = None,
    stop: asyncio.Event | None = None,
    serve_metrics: bool = True,
    handle_signals: bool = True,
) -> WorkerStats:
    registry = registry if registry is not None else CollectorRegistry()
    metrics = WorkerMetrics(registry)
    engine = ScoringEngine(
        config, on_comparator_error=lambda name: metrics.comparator_errors.labels(name).inc()
    )
    stop = stop or asyncio.Event()
    if not once and handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    worker_config = config.worker
    async with open_client(config.recording) as client:
        name = campaign or config.recording.campaign
        options = ConsumerOptions(
            consumer=consumer or worker_config.consumer,
            batch_size=worker_config.batch_size,
            block_ms=worker_config.block_ms,
            claim_idle_s=worker_config.claim_idle_s,
        )
        lag = LagBoard(metrics)

        def comparators(shard: Shard) -> CompareWorker:
            return CompareWorker(client, name, engine, metrics, shard=shard, lag=lag, **options)

        worker = ShardedRun(client, name, comparators)
        judge_config = config.judge
        judge: ShardedRun | None = None
        if judge_config is not None:
            judge_metrics = JudgeMetrics(registry)
            slots = asyncio.Semaphore(judge_config.max_concurrency)
            judged: Counter[Segment] = Counter()  # min_per_segment, over every shard

            def judges(shard: Shard) -> JudgeWorker:
                return JudgeWorker(
                    client, name, judge_config, engine.context.prices, judge_metrics,
                    shard=shard, slots=slots, per_segment=judged, **options,
                )  # fmt: skip

            judge = ShardedRun(client, name, judges)

        async def work() -> WorkerStats:
            if judge is None:
                return await worker.run(once=once, stop=stop)
            stats, _ = await asyncio.gather(
                worker.run(once=once, stop=stop), judge.run(once=once, stop=stop)
            )
            return stats

        if serve_metrics:
            async with metrics_listener(
                registry, worker_config.metrics.host, worker_config.metrics.port
            ) as at:
                logger.info(
                    "comparator worker %s on campaign %s%s, metrics at %s",
                    options["consumer"] or default_consumer_name(),
                    name,
                    "" if judge_config is None else f" with judge {judge_config.model}",
                    at,
                )
                return await work()
        return await work()
