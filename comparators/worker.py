"""The comparator worker: a group consumer (:mod:`comparators.consumer`) that scores every
(pair, mirror) of a campaign's pairs with the scoring engine, writes the score records and
keeps the worker's metrics, its lag gauges among them.

Entries that do not parse as a pair record are copied to ``darklaunch:{<campaign>}:dead`` and
acknowledged, so one bad entry cannot wedge the group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from comparators.consumer import Entry, GroupConsumer
from comparators.engine import ScoringEngine
from comparators.metrics import WorkerMetrics
from comparators.scores import ScoreRecord, score_json
from proxy.recording.keys import (
    CONSUMER_GROUP,
    RECORD_FIELD_BYTES,
    Shard,
    dead_key,
    scores_key,
)
from proxy.recording.schema import PairRecord
from proxy.recording.setup import RedisClient

logger = logging.getLogger(__name__)

__all__ = ["BACKLOG_CAP", "LAG_REFRESH_S", "CompareWorker", "LagBoard"]

BACKLOG_CAP = 1_000  # entries counted one by one where Redis (< 7) reports no group lag
LAG_REFRESH_S = 1.0  # the lag gauges are read at most this often


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
