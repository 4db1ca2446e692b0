"""Write feedback entries to the campaign's feedback stream, while the client waits.

Unlike pair records, feedback is written synchronously: the client is told whether its
feedback was recorded, so it can retry, and nothing is spooled. A refused write raises
:class:`FeedbackNotStored` with a reason from a closed vocabulary (the ``reason`` label of
``darklaunch_feedback_dropped_total``):

- ``redis_unreachable``: no connection could be made, or it broke;
- ``redis_timeout``: Redis did not answer in time;
- ``redis_refused``: Redis answered with an error (out of memory, read-only replica, ...);
- ``no_redis``: this process records to no Redis at all (an in-memory recorder: tests, the
  demo's dry runs, ``--no-record``).

The client is a small one of its own (a pool of a few connections, created at start-up
from the recorder's Redis URL, embedded or not), so a burst of feedback
never queues behind the pair writer's batches, and the writer's never behind feedback.
On a Redis Cluster the same bound holds: the cluster client's pools fail at once when full
rather than wait, so at most :data:`MAX_CONNECTIONS` writes are in flight and the others wait
their turn, as long as a plain pool would let them.
"""

from __future__ import annotations

import asyncio
import logging

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from proxy.recording.connect import RedisClient, is_cluster_url, open_redis
from proxy.recording.keys import RECORD_FIELD, feedback_key

logger = logging.getLogger(__name__)

__all__ = ["DROP_REASONS", "FEEDBACK_MAX_LEN", "FeedbackNotStored", "FeedbackStore"]

DROP_REASONS = ("redis_unreachable", "redis_timeout", "redis_refused", "no_redis")
# Entries kept in the feedback stream (approximately: ``MAXLEN ~`` trims whole nodes).
FEEDBACK_MAX_LEN = 100_000
MAX_CONNECTIONS = 4
SOCKET_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 1.0


class FeedbackNotStored(Exception):
    """Redis did not take the entry; ``reason`` is one of :data:`DROP_REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class FeedbackStore:
    """``XADD`` to ``darklaunch:{<campaign>}:feedback``, capped at :data:`FEEDBACK_MAX_LEN`."""

    def __init__(self, campaign: str, *, max_len: int = FEEDBACK_MAX_LEN) -> None:
        self.stream = feedback_key(campaign)
        self.max_len = max_len
        self.client: RedisClient | None = None
        # A cluster client's turn to write (its pools do not wait); None on a single server.
        self._turns: asyncio.Semaphore | None = None

    def start(self, url: str | None) -> None:
        """Connect lazily to ``url`` (the recorder's Redis); ``None``: record nothing."""
        if url is None:
            logger.info("feedback: no Redis to record to; feedback will be refused (503)")
            return
        if is_cluster_url(url):
            self.client = open_redis(
                url,
                max_connections=MAX_CONNECTIONS,  # per node
                socket_timeout=SOCKET_TIMEOUT_S,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                retry=Retry(NoBackoff(), 1),  # the cluster client's own: once, at once
            )
            self._turns = asyncio.Semaphore(MAX_CONNECTIONS)
            return
        # Blocking: a burst beyond the pool waits for a connection (up to the socket
        # timeout) instead of failing at once with "too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            url,
            max_connections=MAX_CONNECTIONS,
            timeout=SOCKET_TIMEOUT_S,
            socket_timeout=SOCKET_TIMEOUT_S,
            socket_connect_timeout=CONNECT_TIMEOUT_S,
            # One retry, at once: enough to replace a pooled connection Redis closed (a
            # restart); more would only keep the client waiting on a Redis that is away.
            retry=Retry(NoBackoff(), 1),
        )
        self.client = aioredis.Redis.from_pool(pool)

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def write(self, payload: bytes) -> None:
        """Append one encoded entry; raises :class:`FeedbackNotStored` when Redis refuses."""
        client = self.client
        if client is None:
            raise FeedbackNotStored("no_redis", "this proxy records to no Redis")
        if self._turns is None:
            await self._write(client, payload)
            return
        try:
            async with asyncio.timeout(SOCKET_TIMEOUT_S):
                await self._turns.acquire()
        except TimeoutError as exc:
            # What a full BlockingConnectionPool says after the same wait.
            raise FeedbackNotStored("redis_unreachable", "No connection available.") from exc
        try:
            await self._write(client, payload)
        finally:
            self._turns.release()

    async def _write(self, client: RedisClient, payload: bytes) -> None:
        try:
            await client.xadd(
                self.stream, {RECORD_FIELD: payload}, maxlen=self.max_len, approximate=True
            )
        except (RedisTimeoutError, TimeoutError) as exc:
            raise FeedbackNotStored("redis_timeout", str(exc) or "no answer in time") from exc
        except (RedisConnectionError, OSError, RedisClusterException) as exc:
            # RedisClusterException: no node of the cluster answered, or a slot has no master.
            raise FeedbackNotStored("redis_unreachable", str(exc) or type(exc).__name__) from exc
        except RedisError as exc:
            raise FeedbackNotStored("redis_refused", str(exc) or type(exc).__name__) from exc
