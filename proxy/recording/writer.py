"""Write pair records to the campaign's Redis stream, losing none and duplicating none.

The request path only enqueues (:meth:`RedisRecorder.submit` never waits). One writer task
takes records off a bounded queue in batches and writes each batch with one ``EVALSHA`` of a
small Lua script that ``XADD``s every record. The script first sets a marker key for the
batch id with ``SET NX``; a batch that is replayed (because Redis died before we learned its
fate) finds its marker and is not written again. Lua scripts run atomically, so a batch is
either all in or all out.

A marker is only needed while a batch's fate is unknown. Once the writer has Redis's answer
for a batch it wrote fresh (not replayed from the spool), that batch can never be replayed, so
the script of the next write deletes its marker (same stream, same slot). Markers therefore
stay only for batches whose answer was lost, and for replayed ones (the spool's progress may
fail to be saved, and a restart would replay them again); one marker per batch for seven days
had cost about 10 GB of Redis per busy proxy process, more than the capped streams.

When Redis is down or refuses writes, batches go to the :class:`~proxy.recording.spool.Spool`
and are replayed in order when it answers again. New batches queue behind the spool, so order holds.

With ``shards`` > 1 a batch is split by :func:`~proxy.recording.shards.shard_of` into one
script call per shard, each with the shard's stream and its own marker for the batch id, so a
replay re-splits the batch the same way and each shard's part is written once; a batch is
written when every part is.

On a Redis Cluster (``redis+cluster://``) the script's two keys, the stream and the marker,
share the campaign's (or the shard's) hash tag and so one slot: the script runs on the master
that owns it.
While that master fails and its replica takes over, writes fail and are spooled like any
outage, then replayed to the new master (which holds the markers the old one replicated).

Losses are counted in ``darklaunch_records_dropped_total`` by reason: ``queue_full`` (the
writer could not keep up), ``spool_full`` (Redis was away longer than the spool could hold),
``spool_error`` (the disk refused the spool's write: full, failing) and ``shutdown`` (records
still queued when the flush deadline passed).

The spool is a fallback, so its failures are never fatal: the writer task is the only thing
that ever writes a record, and one that died on a full disk recorded nothing more until a
restart, even once Redis was back. A spool error drops the batch it was writing (counted), is
logged once for the whole run of errors it starts, and the writer goes on: batches already in
the spool replay when Redis answers, and new ones go straight to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from pathlib import Path

from redis.exceptions import NoScriptError

from proxy.metrics import RecorderMetrics
from proxy.recording.connect import REDIS_ERRORS, RedisClient, cluster_unavailable, open_redis
from proxy.recording.encode import PairData, encode_record
from proxy.recording.keys import (
    RECORD_FIELD,
    Shard,
    batch_marker_key,
    judgements_key,
    pairs_key,
    scores_key,
)
from proxy.recording.shards import pair_id_of, per_shard, record_shards, shard_of, stream_sets
from proxy.recording.spool import Spool
from proxy.stopping import wait_set
from proxy.tasks import TaskSet

logger = logging.getLogger(__name__)

__all__ = ["RedisRecorder"]

_WRITE_BATCH = f"""
local written = -1
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  for i = 3, #ARGV do
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', '{RECORD_FIELD}', ARGV[i])
  end
  written = #ARGV - 2
end
-- Last, not first: Redis (before 7) checks maxmemory only before a script's first write, and
-- DEL is not refused for memory, so a DEL first would let the XADDs past a full Redis.
if #KEYS > 2 then
  redis.call('DEL', KEYS[3])
end
return written
"""
# How long a batch marker lives: replays happen within this window or not at all.
BATCH_MARKER_TTL_S = 7 * 24 * 3600
RETRY_BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
# How long the writer lets a batch fill after its first record. Each write has a fixed cost on
# the serving loop (a script call, its reply, two wake-ups) whatever its size; under load,
# writing as soon as one record was queued meant many writes of a few records each. A few
# milliseconds more before a record reaches the stream is nothing to its readers.
BATCH_LINGER_S = 0.005


class RedisRecorder:
    """The production :class:`~proxy.recording.sink.Recorder`."""

    def __init__(
        self,
        url: str,
        campaign: str,
        metrics: RecorderMetrics,
        *,
        spool_dir: Path,
        spool_name: str | None = None,
        spool_max_bytes: int = 1 << 30,
        max_len: int = 1_000_000,
        shards: int = 1,
        retention_h: float | None = None,
        queue_size: int = 10_000,
        batch_size: int = 256,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.campaign = campaign
        self.shards = shards
        self.streams = {shard: pairs_key(campaign, shard) for shard in stream_sets(shards)}
        self.metrics = metrics
        self.max_len = per_shard(max_len, shards)  # per stream: the total stays max_len
        self._layout_recorded = shards == 1  # one shard needs no record: absent means 1
        # Per stream, the marker of the last fresh batch Redis confirmed: the next write
        # there deletes it.
        self._spent_markers: dict[Shard, str] = {}
        self.retention_h = retention_h
        self.batch_size = batch_size
        self.flush_timeout_s = flush_timeout_s
        self.spool = Spool(spool_dir, spool_name or campaign, spool_max_bytes)
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=queue_size)
        # A single server's client retries nothing (a failed write is spooled, and replayed).
        self.client: RedisClient = open_redis(url, socket_timeout=5.0, socket_connect_timeout=2.0)
        self._sha: str | None = None
        self._tasks = TaskSet("recorder")
        self._stopping = asyncio.Event()
        self._failures = 0
        self._last_trim = 0.0
        self.healthy = True
        self._dropped = {
            reason: metrics.dropped.labels(reason)
            for reason in ("queue_full", "spool_full", "spool_error", "shutdown", "encode_error")
        }
        # Records dropped since the spool last failed, or ``None`` while it works: the spool's
        # errors are logged once per run of them, not once per batch of a long outage.
        self._spool_trouble: int | None = None

    def submit(self, record: PairData) -> None:
        if self._stopping.is_set() and not self._tasks:
            self._dropped["shutdown"].inc()
            return
        try:
            payload = encode_record(record)
        except ValueError:
            logger.exception("cannot encode pair %s", record["pair_id"])
            self._dropped["encode_error"].inc()
            return
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self._dropped["queue_full"].inc()

    async def start(self) -> None:
        self._tasks.spawn(self._run(), name="recorder-writer")

    async def stop(self) -> None:
        """Flush the queue and the spool to Redis within ``flush_timeout_s``; whatever is
        left stays in the spool for the next start (it is not lost)."""
        self._stopping.set()
        cancelled = await self._tasks.drain(self.flush_timeout_s)
        left = self.queue.qsize()
        if left:
            # The writer was cancelled with records in memory; the spool keeps them.
            batch: list[bytes] = []
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            try:
                if not self.spool.append(uuid.uuid4().hex, batch):
                    self._dropped["shutdown"].inc(len(batch))
            except OSError as exc:
                self._spool_failed("cannot write", exc, len(batch))
        if cancelled:
            logger.warning("recorder flush timed out; %d records kept in %s", left, self.spool.path)
        await self.client.aclose()

    async def _take_batch(self) -> list[bytes]:
        """Wait for one record (or shutdown), then take whatever else is already queued."""
        if self.queue.empty():
            getter = asyncio.ensure_future(self.queue.get())  # noqa: TID251 - awaited below
            stopper = asyncio.ensure_future(self._stopping.wait())  # noqa: TID251
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not getter.done():
                getter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getter
                return []
            batch = [getter.result()]
        else:
            batch = []
        if self.queue.qsize() + len(batch) < self.batch_size and not self._stopping.is_set():
            await asyncio.sleep(BATCH_LINGER_S)
        while len(batch) < self.batch_size and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        return batch

    def _update_gauges(self) -> None:
        # Set, not set_function: callbacks do not work across processes (``--workers``).
        self.metrics.queue_depth.set(self.queue.qsize())
        self.metrics.spool_bytes.set(self.spool.pending_bytes)

    async def _run(self) -> None:
        try:
            await self._loop()
        finally:
            self._update_gauges()

    async def _loop(self) -> None:
        while True:
            self._update_gauges()
            if self.spool:
                if await self._replay_one():
                    continue  # new records wait in the queue, behind the spool: order holds
                # Redis still refuses: everything waiting goes to disk, in order, so memory
                # stays free; at shutdown the spool keeps it for the next start.
                self._spool_queued()
                if self._stopping.is_set():
                    return
                await self._backoff()
                continue
            if self._stopping.is_set() and self.queue.empty():
                return
            batch = await self._take_batch()
            if not batch:
                continue
            batch_id = uuid.uuid4().hex
            if await self._write(batch_id, batch, fresh=True):
                self._spool_works()  # the spool is not needed, whatever state its disk is in
            elif not self._spool_batch(batch_id, batch):
                # Neither Redis nor the disk takes records: wait before trying Redis again,
                # while new records wait in the queue rather than being dropped batch by batch.
                await self._backoff()
            await self._maybe_trim()

    def _spool_queued(self) -> None:
        while not self.queue.empty():
            size = min(self.batch_size, self.queue.qsize())
            self._spool_batch(uuid.uuid4().hex, [self.queue.get_nowait() for _ in range(size)])

    def _spool_batch(self, batch_id: str, batch: list[bytes]) -> bool:
        """Spool ``batch``; ``False`` when it was dropped (and counted) instead."""
        if not batch:
            return True
        try:
            spooled = self.spool.append(batch_id, batch)
        except OSError as exc:
            self._spool_failed("cannot write", exc, len(batch))
            return False
        if not spooled:
            self._dropped["spool_full"].inc(len(batch))
            return False
        self.metrics.spooled.inc(len(batch))
        self._spool_works()
        return True

    async def _replay_one(self) -> bool:
        """Replay the oldest spooled batch; ``False`` when it could not be (Redis refused, or
        the spool could not be read), so the caller backs off."""
        try:
            batch = await asyncio.to_thread(self.spool.peek)
            if batch is None:
                self.spool.skip_torn_tail()
                return True
        except OSError as exc:
            self._spool_failed("cannot read", exc, 0)
            return False
        if not await self._write(batch.batch_id, batch.records):
            return False
        self.metrics.replayed.inc(len(batch.records))
        try:
            await asyncio.to_thread(self.spool.commit, batch)
        except OSError as exc:
            # Replayed all the same: only a restart would replay it again, and its marker
            # keeps that from writing it twice.
            self._spool_failed("cannot save the replay progress of", exc, 0)
        else:
            self._spool_works()
        return True

    def _spool_failed(self, what: str, exc: OSError, records: int) -> None:
        """Count ``records`` as dropped for a spool error; log only the first of a run."""
        self._dropped["spool_error"].inc(records)
        if self._spool_trouble is None:
            self._spool_trouble = 0
            logger.warning(
                "%s the spool %s (%s); records that cannot be spooled are dropped "
                "(reason spool_error) until it works again or Redis answers",
                what,
                self.spool.path,
                exc,
            )
        self._spool_trouble += records

    def _spool_works(self) -> None:
        """The run of spool errors (if any) is over: say what it cost, once."""
        if self._spool_trouble is not None:
            logger.warning(
                "recording goes on: %d records were dropped while the spool %s failed",
                self._spool_trouble,
                self.spool.path,
            )
            self._spool_trouble = None

    def _split(self, records: list[bytes]) -> dict[Shard, list[bytes]]:
        """The batch's records by the shard each goes to, in their order within each."""
        if self.shards == 1:
            return {None: records}
        parts: dict[Shard, list[bytes]] = {}
        for record in records:
            # Every record has an id (the encoder writes it); an unreadable one would still
            # land in one fixed shard rather than be lost.
            shard = shard_of(pair_id_of(record) or "", self.shards)
            parts.setdefault(shard, []).append(record)
        return parts

    async def _write_part(self, shard: Shard, batch_id: str, records: list[bytes]) -> int:
        keys = [self.streams[shard], batch_marker_key(self.campaign, batch_id, shard)]
        spent = self._spent_markers.get(shard)
        if spent is not None:
            keys.append(spent)
        args: list[bytes | str | int] = [self.max_len, BATCH_MARKER_TTL_S, *records]
        if self._sha is None:
            self._sha = await self.client.script_load(_WRITE_BATCH)
        try:
            written = await self.client.evalsha(self._sha, len(keys), *keys, *args)
        except NoScriptError:
            # A cluster loads scripts per node: a shard on a node not seen yet lacks it.
            self._sha = await self.client.script_load(_WRITE_BATCH)
            written = await self.client.evalsha(self._sha, len(keys), *keys, *args)
        if spent is not None and self._spent_markers.get(shard) == spent:
            del self._spent_markers[shard]
        return int(written)

    async def _write(self, batch_id: str, records: list[bytes], *, fresh: bool = False) -> bool:
        """One idempotent batch write, atomic per shard. ``False`` means "not known to be
        written": the whole batch is spooled, and its replay skips the shards it reached.
        ``fresh``: the batch comes from the queue, not the spool, so once confirmed its
        markers are spent (see the module docstring)."""
        try:
            if not self._layout_recorded:
                await record_shards(self.client, self.campaign, self.shards)
                self._layout_recorded = True
            parts = self._split(records)
            outcome = [
                (await self._write_part(shard, batch_id, part), len(part))
                for shard, part in parts.items()
            ]
            if fresh:  # every part is in: no replay of this batch can happen now
                for shard in parts:
                    self._spent_markers[shard] = batch_marker_key(self.campaign, batch_id, shard)
        except (*REDIS_ERRORS, OSError) as exc:
            self._failures += 1
            if self.healthy:
                logger.warning("redis write failed (%s); spooling to %s", exc, self.spool.path)
            self.healthy = False
            self.metrics.write_errors.labels(_error_kind(exc)).inc()
            return False
        if not self.healthy:
            logger.info("redis is back; replaying the spool")
        self.healthy = True
        self._failures = 0
        for written, count in outcome:
            if written >= 0:
                self.metrics.written.inc(count)
            else:
                self.metrics.duplicates.inc(count)
        return True

    async def _backoff(self) -> None:
        delay = RETRY_BACKOFF_S[min(self._failures, len(RETRY_BACKOFF_S) - 1)]
        await wait_set(self._stopping, delay)

    async def _maybe_trim(self) -> None:
        """Apply the age limit: ``XTRIM MINID`` at most once a minute, to the pairs streams
        and to the scores and judgements the workers wrote about them (entry ids are the
        times they were written), so that ``retention_h`` bounds all of a campaign's records,
        not only the pairs."""
        if self.retention_h is None:
            return
        now = time.time()
        if now - self._last_trim < 60.0:
            return
        self._last_trim = now
        min_id = f"{int((now - self.retention_h * 3600) * 1000)}-0"
        retained = [
            key(self.campaign, shard)
            for shard in self.streams
            for key in (pairs_key, scores_key, judgements_key)
        ]
        for stream in retained:
            try:
                await self.client.xtrim(stream, minid=min_id, approximate=True)
            except REDIS_ERRORS as exc:
                logger.warning("retention trim of %s failed: %s", stream, exc)


def _error_kind(exc: BaseException) -> str:
    text = str(exc)
    if "OOM command not allowed" in text:
        return "oom"
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return "timeout"
    if isinstance(exc, ConnectionError | OSError) or "Connection" in type(exc).__name__:
        return "connection"
    if cluster_unavailable(exc):  # a failover in progress: the slot's master is not there
        return "connection"
    return "other"
