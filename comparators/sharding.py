"""Run a group consumer on every stream set of a campaign, and on new ones as they appear.

A campaign recorded with ``recording.shards: N`` has its pairs in N shard streams (and maybe
older ones in the unsharded stream; ``proxy.recording.shards``). Each stream set gets a
consumer of its own (a :class:`~comparators.consumer.GroupConsumer` made by the caller's
factory), all in this process and running at once: a blocking read on one shard never holds
back another, and on a Redis Cluster each consumer talks to the master that owns its shard.

The worker learns the shard count from Redis, not from its own config, so it reads what the
proxies wrote even when its config says otherwise; it checks again every
:data:`LAYOUT_REFRESH_S` and starts consumers for shards added by a proxy restarted with more.
Reading the layout waits out a Redis outage like the consumers do; a stored layout that makes
no sense ends the run with its key and value named.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from comparators.consumer import (
    RECONNECT_CAP_S,
    GroupConsumer,
    WorkerStats,
    output_max_len,
    transient,
)
from proxy.recording.keys import Shard
from proxy.recording.setup import RedisClient
from proxy.recording.shards import read_stream_sets
from proxy.stopping import wait_set

logger = logging.getLogger(__name__)

__all__ = ["LAYOUT_REFRESH_S", "ShardedRun"]

LAYOUT_REFRESH_S = 5.0


class ShardedRun:
    """The consumers of one campaign's stream sets, one per set, made by ``make``."""

    def __init__(
        self,
        client: RedisClient,
        campaign: str,
        make: Callable[[Shard], GroupConsumer],
        *,
        refresh_s: float = LAYOUT_REFRESH_S,
    ) -> None:
        self.client = client
        self.campaign = campaign
        self.make = make
        self.refresh_s = refresh_s
        self.consumers: dict[Shard, GroupConsumer] = {}

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> WorkerStats:
        """Consume every stream set until ``stop`` (with ``once``: until each is drained);
        the stats are summed over the consumers."""
        stop = stop or asyncio.Event()
        sets = await self._layout(stop)
        if sets is None:
            return WorkerStats()
        running: dict[Shard, asyncio.Task[WorkerStats]] = {}
        try:
            self._start(sets, running, once, stop)
            while not once and not stop.is_set():
                if await wait_set(stop, self.refresh_s):
                    break
                sets = await self._layout(stop)
                if sets is not None:
                    self._start(sets, running, once, stop)
                for task in running.values():
                    if task.done():
                        task.result()  # a consumer that ended on its own failed: say why
            done = await asyncio.gather(*running.values())
        finally:
            for task in running.values():
                task.cancel()
        return _sum(done)

    def _start(
        self,
        sets: list[Shard],
        running: dict[Shard, asyncio.Task[WorkerStats]],
        once: bool,
        stop: asyncio.Event,
    ) -> None:
        for shard in sets:
            if shard in running:
                continue
            consumer = self.consumers[shard] = self.make(shard)
            if running:
                logger.info("%s: a new shard; consuming %s too", self.campaign, consumer.pairs)
            running[shard] = asyncio.ensure_future(  # noqa: TID251 - gathered or cancelled
                consumer.run(once=once, stop=stop)
            )
        # Set before any consumer writes (the new ones start at the next await); with shards
        # added, the older ones keep a smaller share too.
        cap = output_max_len(sum(1 for shard in sets if shard is not None))
        for consumer in self.consumers.values():
            consumer.output_max_len = cap

    async def _layout(self, stop: asyncio.Event) -> list[Shard] | None:
        """The stream sets to consume, waiting while Redis is away; ``None`` when stopped
        meanwhile."""
        delay = 0.1
        while not stop.is_set():
            try:
                return await read_stream_sets(self.client, self.campaign)
            except Exception as exc:
                if not transient(exc):
                    raise
                logger.warning(
                    "%s: cannot read the shard layout (%s); trying again in %.1fs",
                    self.campaign, exc, delay,
                )  # fmt: skip
                await wait_set(stop, delay)
                delay = min(RECONNECT_CAP_S, delay * 2)
        return None


def _sum(runs: list[WorkerStats]) -> WorkerStats:
    total = WorkerStats()
    for stats in runs:
        for field in vars(total):
            setattr(total, field, getattr(total, field) + getattr(stats, field))
    return total
