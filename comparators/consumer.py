"""A consumer of the ``comparators`` group on a campaign's pairs, writing what it makes of
each entry to a stream of its own. The comparator worker (``comparators.worker``) and the LLM
judge (``comparators.judge.worker``) are two.

Many consumers share a stream by running under different consumer names; Redis hands each
entry to one of them. Each entry's results are written exactly once *in effect*: a batch's
results are written and its entries acknowledged by one Lua script, atomically, and only for
entries that are still pending for this consumer. So a consumer that was slow enough for
another to ``XAUTOCLAIM`` its entries writes nothing for them, and one that dies mid-batch has
written nothing, leaving its entries to be reclaimed by someone else.

A consumer outlives its Redis: when a command fails for a transient reason (connection refused
or lost, a timeout, a server still loading its data) it waits, with a capped exponential
backoff, and starts over from its own pending entries, which is all it can have lost (results
are written and acknowledged together). Each reconnect is counted. An error that waiting
cannot fix (a wrong password, a key of the wrong type) still ends the run.

A consumer reads one stream set of a campaign: the unsharded streams, or one shard's
(``recording.shards``; ``proxy.recording.shards``). ``comparators.sharding`` runs one
consumer per stream set and adds consumers when the campaign gains shards.

On a Redis Cluster every key a consumer touches carries its stream set's hash tag, so its
script and its transaction run on the one master that owns that slot; while that master fails
over to its replica (``CLUSTERDOWN``, no node for the slot) the consumer waits, as for a Redis
restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from proxy.recording.keys import CONSUMER_GROUP, RECORD_FIELD, Shard, pairs_key
from proxy.recording.setup import RedisClient, cluster_unavailable
from proxy.recording.shards import per_shard
from proxy.stopping import wait_set

logger = logging.getLogger(__name__)

__all__ = [
    "OUTPUT_MAX_LEN",
    "RECONNECT_CAP_S",
    "WRITE_AND_ACK",
    "ConsumerOptions",
    "Entry",
    "GroupConsumer",
    "WorkerStats",
    "default_consumer_name",
    "output_max_len",
    "transient",
]

OUTPUT_MAX_LEN = 1_000_000  # entries kept in a campaign's scores (or judgements), all shards


def output_max_len(shards: int) -> int:
    """Entries kept in each of a campaign's ``shards`` scores (or judgements) streams: their
    share of :data:`OUTPUT_MAX_LEN`, as ``recording.max_len`` is shared by the pairs streams."""
    return per_shard(OUTPUT_MAX_LEN, shards)


RECONNECT_BASE_S = 0.1
RECONNECT_CAP_S = 5.0
_REFUSED = re.compile(r"auth|wrongpass|password|noperm", re.IGNORECASE)

# Writes each entry's results to KEYS[2] and acknowledges it in KEYS[1]'s group ARGV[1], only
# for entries still pending for consumer ARGV[2]; the judge (comparators.judge.worker) too.
WRITE_AND_ACK = f"""
local written = {{}}
local i = 4
while i <= #ARGV do
  local id = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  local mine = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1, ARGV[2])
  if #mine > 0 then
    for j = 1, n do
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', '{RECORD_FIELD}', ARGV[i + 1 + j])
    end
    redis.call('XACK', KEYS[1], ARGV[1], id)
    table.insert(written, 1)
  else
    table.insert(written, 0)
  end
  i = i + 2 + n
end
return written
"""


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class WorkerStats:
    """What one run did; ``--once`` prints it."""

    entries: int = 0
    scored: int = 0
    skipped_not_owned: int = 0
    bad: int = 0
    reclaimed: int = 0
    reconnects: int = 0


def transient(exc: BaseException) -> bool:
    """Whether waiting can fix a Redis error: a lost or refused connection, a timeout, a server
    loading its data (all ``ConnectionError``s to redis-py), a cluster failing over, but not a
    rejected password or command, which redis-py also reports as connection errors."""
    if isinstance(exc, AuthenticationError | AuthorizationError):
        return False
    if cluster_unavailable(exc):
        return True
    if isinstance(exc, RedisConnectionError) and _REFUSED.search(str(exc)):
        return False  # "NOAUTH", "WRONGPASS", "HELLO must be called ... authenticated", ...
    return isinstance(exc, RedisConnectionError | RedisTimeoutError | ConnectionError)


Entry = tuple[bytes, dict[bytes, bytes]]


class ConsumerOptions(TypedDict):
    """How a group consumer reads (``worker:`` in the config)."""

    consumer: str | None
    batch_size: int
    block_ms: int
    claim_idle_s: float


class GroupConsumer:
    """One consumer of a group on a campaign's pairs stream, writing what it makes of each
    entry to a stream of its own: reading new and reclaimed entries, and writing and
    acknowledging a batch in one step (:data:`WRITE_AND_ACK`). The comparators
    (:class:`comparators.worker.CompareWorker`) and the LLM judge
    (``comparators.judge.worker``) are two."""

    group: str = CONSUMER_GROUP

    def __init__(
        self,
        client: RedisClient,
        campaign: str,
        output: str,
        *,
        shard: Shard = None,
        consumer: str | None = None,
        batch_size: int = 64,
        block_ms: int = 1000,
        claim_idle_s: float = 60.0,
    ) -> None:
        self.client = client
        self.campaign = campaign
        self.shard = shard
        self.pairs = pairs_key(campaign, shard)
        self.output = output
        # Entries kept in ``output``: the campaign's cap divided over its shards
        # (:func:`output_max_len`, set by the sharded run); unsharded, the whole cap.
        self.output_max_len = OUTPUT_MAX_LEN
        self.consumer = consumer or default_consumer_name()
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self.stats = WorkerStats()
        # The event the current run stops on: a consumer whose batches wait on something slow
        # (the judge) can give a batch up for it instead of finishing it.
        self.stopping = asyncio.Event()
        self._sha: str | None = None
        self._claim_cursor = "0-0"
        self._healthy = True

    async def ensure_group(self) -> None:
        """Create the group at the start of the stream, so pairs recorded before the first
        worker ran are read too."""
        try:
            await self.client.xgroup_create(self.pairs, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> WorkerStats:
        """Work until ``stop`` is set; with ``once``, until nothing is left to read or claim.
        Transient Redis errors are waited out (see the module docstring), never raised."""
        stop = self.stopping = stop or asyncio.Event()
        failures = 0
        while not stop.is_set():
            try:
                await self._rounds(once, stop)
                break
            except Exception as exc:
                if not transient(exc):
                    raise
                failures = 1 if self._healthy else failures + 1
                self._healthy = False
                self.stats.reconnects += 1
                self.on_reconnect()
                delay = min(RECONNECT_CAP_S, RECONNECT_BASE_S * 2.0 ** min(failures, 16))
                delay *= random.uniform(0.5, 1.0)
                logger.warning(
                    "%s: Redis unavailable (%s: %s); trying again in %.1fs",
                    self.consumer, type(exc).__name__, exc, delay,
                )  # fmt: skip
                await wait_set(stop, delay)
        return self.stats

    def on_reconnect(self) -> None:
        """Called after each transient failure (the comparators count it in a metric)."""

    async def _rounds(self, once: bool, stop: asyncio.Event) -> None:
        # After a restart the stream and its group may be gone (a Redis without persistence).
        await self.ensure_group()
        # Entries this consumer name was given before a crash come first.
        await self._process(await self._read("0"))
        while not stop.is_set():
            claimed = await self._claim()
            await self._process(claimed)
            fresh = await self._read(">", block=not once)
            await self._process(fresh)
            await self.after_round()
            self._healthy = True
            if once and not claimed and not fresh:
                break

    async def _process(self, entries: Sequence[Entry]) -> None:
        raise NotImplementedError

    async def after_round(self) -> None:
        """Called after each round of reading (the comparators refresh their lag gauges)."""

    async def _read(self, start: str, *, block: bool = False) -> list[Entry]:
        response: Any = await self.client.xreadgroup(
            self.group,
            self.consumer,
            {self.pairs: start},
            count=self.batch_size,
            block=self.block_ms if block else None,
        )
        if not response:
            return []
        entries: list[Entry] = response[0][1]
        # Reading "0" also returns already-acknowledged ids with empty bodies; skip those.
        return [(entry_id, fields) for entry_id, fields in entries if fields]

    async def _claim(self) -> list[Entry]:
        """Take over entries another consumer left pending for longer than the idle time."""
        response: Any = await self.client.xautoclaim(
            self.pairs,
            self.group,
            self.consumer,
            self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.batch_size,
        )
        cursor, entries = response[0], response[1]
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        claimed: list[Entry] = [(entry_id, fields) for entry_id, fields in entries if fields]
        if claimed:
            self.stats.reclaimed += len(claimed)
            logger.info("reclaimed %d stale entries from other consumers", len(claimed))
        return claimed

    async def _write(self, batch: list[tuple[bytes, list[bytes]]]) -> list[bool]:
        """Write results and acknowledge, atomically, for the entries still ours; returns,
        per entry, whether it was."""
        if not batch:
            return []
        args: list[bytes | str | int] = [self.group, self.consumer, self.output_max_len]
        for entry_id, payloads in batch:
            args.extend([entry_id, len(payloads), *payloads])
        if self._sha is None:
            self._sha = await self.client.script_load(WRITE_AND_ACK)
        try:
            written = await self.client.evalsha(self._sha, 2, self.pairs, self.output, *args)
        except NoScriptError:
            self._sha = await self.client.script_load(WRITE_AND_ACK)
            written = await self.client.evalsha(self._sha, 2, self.pairs, self.output, *args)
        return [bool(flag) for flag in written]
