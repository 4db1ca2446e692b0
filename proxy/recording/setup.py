"""Choose and open the recorder a config asks for: the configured Redis, or an embedded one
started on the spot so that ``darklaunch serve`` works on a machine without Redis.

The analysis plane opens its clients here too (:func:`open_client`), and takes the client
type and the errors to catch from here (:mod:`proxy.recording.connect`): one server or a Redis
Cluster, as the URL says."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CollectorRegistry

from proxy.config.recording import RecordingConfig
from proxy.metrics import RecorderMetrics
from proxy.recording.connect import (
    REDIS_ERRORS,
    RedisClient,
    RedisURLError,
    cluster_unavailable,
    open_redis,
)
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.writer import RedisRecorder

__all__ = [
    "REDIS_ERRORS",
    "RedisClient",
    "RedisURLError",
    "cluster_unavailable",
    "open_client",
    "open_redis",
    "open_redis_recorder",
    "resolve_redis",
]


@asynccontextmanager
async def resolve_redis(recording: RecordingConfig) -> AsyncIterator[str]:
    """The Redis URL to use; starts (and later stops) an embedded server when none is set."""
    if recording.redis_url is not None:
        yield recording.redis_url
        return
    embedded = EmbeddedRedis(recording.data_dir)
    url = await asyncio.to_thread(embedded.start)
    try:
        yield url
    finally:
        await asyncio.to_thread(embedded.stop)


@asynccontextmanager
async def open_client(recording: RecordingConfig) -> AsyncIterator[RedisClient]:
    """A client of the config's Redis (embedded when none is set), closed on the way out."""
    async with resolve_redis(recording) as url:
        client = open_redis(url)
        try:
            yield client
        finally:
            await client.aclose()


@asynccontextmanager
async def open_redis_recorder(
    recording: RecordingConfig, registry: CollectorRegistry, *, spool_name: str | None = None
) -> AsyncIterator[RedisRecorder]:
    async with resolve_redis(recording) as url:
        yield RedisRecorder(
            url,
            recording.campaign,
            RecorderMetrics(registry),
            spool_dir=recording.spool_dir,
            spool_name=spool_name,
            spool_max_bytes=recording.spool_max_bytes,
            max_len=recording.max_len,
            shards=recording.shards,
            retention_h=recording.retention_h,
            queue_size=recording.queue_size,
            batch_size=recording.batch_size,
            flush_timeout_s=recording.flush_timeout_s,
        )
