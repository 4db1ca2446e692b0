"""The comparator worker: one consumer of the ``comparators`` group on a campaign's pairs.

Many workers share a stream by running under different consumer names; Redis hands each entry
to one of them. Each (pair, mirror) is scored exactly once *in effect*: a batch's scores are
written and its entries acknowledged by one Lua script, atomically, and only for entries that
are still pending for this consumer. So a worker that was slow enough for another to
``XAUTOCLAIM`` its entries writes nothing for them, and a worker that dies mid-batch has
written nothing, leaving its entries to be reclaimed and scored by someone else.

Entries that do not parse as a pair record are copied to ``darklaunch:{<campaign>}:dead`` and
acknowledged, so one bad entry cannot wedge the group.

A worker outlives its Redis: when a command fails for a transient reason (connection refused
or lost, a timeout, a server still loading its data) it waits, with a capped exponential
backoff, and starts over from its own pending entries, which is all it can have lost (results
are written and acknowledged together). Each reconnect is counted. An error that waiting
cannot fix (a wrong password, a key of the wrong type) still ends the run.

A consumer reads one stream set of a campaign: the unsharded streams, or one shard's
(``recording.shards``; ``proxy.recording.shards``). ``comparators.sharding`` runs one
consumer per stream set and adds consumers when the campaign gains shards.

On a Redis Cluster every key a consumer touches carries its stream set's hash tag, so its
script and its transaction run on the one master that owns that slot; while that master fails
over to its replica (``CLUSTERDOWN``, no node for the slot) the worker waits, as for a Redis
restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from pydantic import ValidationError
from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoScriptError,
    ResponseError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from comparators.engine import ScoringEngine
from comparators.metrics import WorkerMetrics
from comparators.scores import ScoreRecord, score_json
from proxy.recording.keys import (
    CONSUMER_GROUP,
    RECORD_FIELD,
    RECORD_FIELD_BYTES,
    Shard,
    dead_key,
    pairs_key,
    scores_key,
)
from proxy.recording.schema import PairRecord
from proxy.recording.setup import RedisClient, cluster_unavailable
from proxy.recording.shards import per_shard

logger = logging.getLogger(__name__)

__all__ = [
    "OUTPUT_MAX_LEN",
    "WRITE_AND_ACK",
    "CompareWorker",
    "ConsumerOptions",
    "GroupConsumer",
    "LagBoard",
    "WorkerStats",
    "default_consumer_name",
    "output_max_len",
]

OUTPUT_MAX_LEN = 1_000_000  # entries kept in a campaign's scores (or judgements), all shards


def output_max_len(shards: int) -> int:
    """Entries kept in each of a campaign's ``shards`` scores (or judgements) streams: their
    share of :data:`OUTPUT_MAX_LEN`, as ``recording.max_len`` is shared by the pairs streams."""
    return per_shard(OUTPUT_MAX_LEN, shards)


BACKLOG_CAP = 1_000  # entries counted one by one where Redis (< 7) reports no group lag
LAG_REFRESH_S = 1.0  # the lag gauges are read at most this often
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


class LagBoard:
    """The pending and backlog gauges of a campaign, summed over its stream sets: each
    shard's consumer reports its own stream, and the gauges show the campaign."""

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics
        self._pending: dict[str, int] = {}
        self._backlog: dict[str, int] = {}

    def report(
        self, stream: str, *, pending: int | None = None, backlog: int | None = None
    ) -> None:
        if pending is not None:
            self._pending[stream] = pending
            self.metrics.pending.set(sum(self._pending.values()))
        if backlog is not None:
            self._backlog[stream] = backlog
            self.metrics.backlog.set(sum(self._backlog.values()))


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
    (:class:`CompareWorker`) and the LLM judge (``comparators.judge.worker``) are two."""

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
        stop = stop or asyncio.Event()
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
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


class CompareWorker(GroupConsumer):
    """The comparators' consumer: scores every (pair, mirror) with the scoring engine."""

    def __init__(
        self,
        client: RedisClient,
        campaign: str,
        engine: ScoringEngine,
        metrics: WorkerMetrics,
        *,
        shard: Shard = None,
        lag: LagBoard | None = None,
        consumer: str | None = None,
        batch_size: int = 64,
        block_ms: int = 1000,
        claim_idle_s: float = 60.0,
    ) -> None:
        super().__init__(
            client,
            campaign,
            scores_key(campaign, shard),
            shard=shard,
            consumer=consumer,
            batch_size=batch_size,
            block_ms=block_ms,
            claim_idle_s=claim_idle_s,
        )
        self.scores = self.output
        self.engine = engine
        self.metrics = metrics
        self._lag_read = float("-inf")
        self.lag = lag if lag is not None else LagBoard(metrics)

    async def after_round(self) -> None:
        await self.update_lag()

    async def _process(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        started = time.perf_counter()
        batch: list[tuple[bytes, list[bytes]]] = []
        scored: list[list[ScoreRecord]] = []
        for entry_id, fields in entries:
            self.stats.entries += 1
            try:
                record = PairRecord.model_validate_json(fields[RECORD_FIELD_BYTES])
            except (KeyError, ValidationError, ValueError) as exc:
                await self._dead_letter(entry_id, fields, exc)
                continue
            results = self.engine.score(record)
            scored.append(results)
            batch.append((entry_id, [score_json(r) for r in results]))
        written = await self._write(batch)
        for ok, results in zip(written, scored, strict=True):
            if ok:
                self.stats.scored += 1
                self._observe(results)
            else:
                self.stats.skipped_not_owned += 1
        self.metrics.batch_duration.observe(time.perf_counter() - started)

    async def _dead_letter(
        self, entry_id: bytes, fields: dict[bytes, bytes], exc: Exception
    ) -> None:
        logger.error("entry %s is not a pair record (%s); moved to the dead stream", entry_id, exc)
        self.stats.bad += 1
        self.metrics.bad_records.inc()
        pipe: Any = self.client.pipeline(transaction=True)
        dead = dead_key(self.campaign, self.shard)
        pipe.xadd(dead, {**fields, b"source_id": entry_id}, maxlen=100_000)
        pipe.xack(self.pairs, CONSUMER_GROUP, entry_id)
        await pipe.execute()

    def _observe(self, results: list[ScoreRecord]) -> None:
        for result in results:
            self.metrics.observe_score(result)

    def on_reconnect(self) -> None:
        self.metrics.reconnects.inc()

    async def update_lag(self, *, now: float | None = None) -> None:
        """Refresh the pending and backlog gauges, at most once per :data:`LAG_REFRESH_S`.

        Both come from cheap commands: ``XINFO GROUPS`` holds the pending count and, from
        Redis 7, the group's ``lag``. Older servers report no lag, so the entries after the
        group's last delivered id are counted by a script in Redis, at most
        :data:`BACKLOG_CAP` of them (the gauge then reads "at least"), and only when the
        stream has moved past it.
        Reading up to 10,000 whole records after every batch once cost the worker two thirds
        of its time."""
        now = time.monotonic() if now is None else now
        if now - self._lag_read < LAG_REFRESH_S:
            return
        self._lag_read = now
        groups: Any = await self.client.xinfo_groups(self.pairs)
        group = next(
            (g for g in groups if g["name"] in (CONSUMER_GROUP, CONSUMER_GROUP.encode())), None
        )
        if group is None:
            return
        self.lag.report(self.pairs, pending=int(group["pending"]))
        lag = group.get("lag")
        if isinstance(lag, int):
            self.lag.report(self.pairs, backlog=lag)
            return
        last = _text(group["last-delivered-id"])
        stream: Any = await self.client.xinfo_stream(self.pairs)
        if _text(stream["last-generated-id"]) == last:
            self.lag.report(self.pairs, backlog=0)
            return
        newer: Any = await self.client.eval(
            _COUNT_AFTER, 1, self.pairs, f"({last}", BACKLOG_CAP
        )  # counted in Redis: the records themselves never cross the wire
        self.lag.report(self.pairs, backlog=int(newer))


# The number of entries of KEYS[1] from id ARGV[1] on, at most ARGV[2].
_COUNT_AFTER = "return #redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2])"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
