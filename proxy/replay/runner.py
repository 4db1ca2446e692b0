"""The replay: every item of a golden set asked of the incumbent and the candidates, at bounded
concurrency and rate, with retries, recorded as one pair record per item.

- **The same calls as live.** Each call is built by the mirror's own
  :func:`~proxy.mirroring.crossapi.outgoing` (model rewrite, overrides, translation) with the
  candidate's configured headers, and sent through a :class:`~proxy.mirroring.target
  .CandidateTarget` (its pool, timeouts and capture limit). A candidate that cannot be asked
  an item (no faithful translation) skips that item, counted by reason.
- **Resumable, never paying twice.** An item's pairs and its name in the campaign's replayed
  set are written in one transaction; a replay reads that set first and asks only the rest.
  Asked to stop (SIGINT, SIGTERM), it starts no new item and finishes and records the ones in
  flight, so a stopped replay resumes without asking any item twice. Only a process killed
  outright loses the items in flight (at most ``concurrency``), which are asked again.
- **A noise floor offline.** With ``noise_floor`` the incumbent is asked twice and its second
  answer is the pair's replica, as the live ``mirror.noise_rate`` does. Candidates are asked
  once: two answers to one item are not two independent pairs, and counting them as such
  would narrow every interval of the gate falsely.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import CollectorRegistry

from proxy.config.root import Config
from proxy.config.upstreams import CandidateConfig
from proxy.metrics import ProxyMetrics
from proxy.mirroring.crossapi import Outgoing, api_headers, outgoing
from proxy.mirroring.pair import PendingPair
from proxy.mirroring.request import candidate_headers, replica_headers
from proxy.mirroring.target import CandidateTarget, replica_config
from proxy.mirroring.translate import Untranslatable
from proxy.pairing import PairBuilder
from proxy.recording.connect import RedisClient
from proxy.recording.encode import PairData, encode_record
from proxy.recording.exchange import UpstreamResult
from proxy.recording.keys import RECORD_FIELD, pairs_key, replayed_key
from proxy.recording.schema import Role
from proxy.recording.sink import MemoryRecorder
from proxy.replay.recorded import recorded_side
from proxy.replay.retry import RetryPolicy
from proxy.replay.throttle import Pacer
from proxy.replay.work import ReplayItem, done_member, replay_pair_id

__all__ = ["ReplayOptions", "ReplaySummary", "Replayer"]

logger = logging.getLogger(__name__)

_NO_HEADERS: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict())


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    campaign: str
    version: str
    candidates: tuple[str, ...] | None = None  # None: every configured candidate
    concurrency: int = 8
    rate: float | None = None
    noise_floor: bool = False
    recorded_incumbent: bool = False
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    seed: int | None = None


@dataclass(slots=True)
class ReplaySummary:
    """What a replay did; ``skipped`` is by ``<target>: <reason>``."""

    total: int = 0
    already_done: int = 0
    replayed: int = 0
    pairs: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    calls: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    waited_s: float = 0.0
    interrupted: bool = False

    @property
    def remaining(self) -> int:
        return self.total - self.already_done - self.replayed


def _incumbent_config(config: Config) -> CandidateConfig:
    return replica_config(config).model_copy(update={"name": "incumbent"})


def _candidates(config: Config, names: tuple[str, ...] | None) -> list[CandidateConfig]:
    known = {c.name: c for c in config.candidates}
    if names is None:
        return list(known.values())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(
            f"--candidates: got {', '.join(unknown)}; expected names from the config's "
            f"candidates: {', '.join(known) or 'none configured'}"
        )
    return [known[n] for n in names]


class Replayer:
    """One replay of one golden-set version into one campaign."""

    def __init__(
        self,
        config: Config,
        options: ReplayOptions,
        redis: RedisClient,
        *,
        on_item: Callable[[ReplaySummary], None] | None = None,
    ) -> None:
        if options.concurrency < 1:
            raise ValueError(f"concurrency: got {options.concurrency}; expected at least 1")
        self.config = config
        self.options = options
        self.redis = redis
        self.on_item = on_item
        metrics = ProxyMetrics(CollectorRegistry())
        self.incumbent = CandidateTarget(_incumbent_config(config), metrics, role=Role.INCUMBENT)
        self.replica = CandidateTarget(replica_config(config), metrics, role=Role.REPLICA)
        self.targets = [
            CandidateTarget(c, metrics) for c in _candidates(config, options.candidates)
        ]
        self.builder = PairBuilder(config, MemoryRecorder())
        self.pacer = Pacer(options.rate)
        self.rng = random.Random(options.seed)
        self.capture_limit = config.recording.max_output_bytes
        self.summary = ReplaySummary()

    async def run(
        self, items: Sequence[ReplayItem], stop: asyncio.Event | None = None
    ) -> ReplaySummary:
        """Replay what is not yet recorded; return when done or, once ``stop`` is set, when
        the items in flight are recorded."""
        stop = stop or asyncio.Event()
        summary = self.summary
        summary.total = len(items)
        done = await self.redis.smembers(replayed_key(self.options.campaign))
        names = {m.decode() if isinstance(m, bytes) else m for m in done}
        todo = [i for i in items if done_member(self.options.version, i.id) not in names]
        summary.already_done = len(items) - len(todo)
        queue: asyncio.Queue[ReplayItem] = asyncio.Queue()
        for item in todo:
            queue.put_nowait(item)
        targets = [self.incumbent, self.replica, *self.targets]
        for target in targets:
            target.open()
        try:
            # A task group: one worker's failure (Redis gone) cancels the others at once.
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.options.concurrency, max(len(todo), 1))):
                    group.create_task(self._work(queue, stop))
        finally:
            for target in targets:
                await target.close()
        summary.interrupted = summary.remaining > 0
        return summary

    async def _work(self, queue: asyncio.Queue[ReplayItem], stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await self._item(item)
            self.summary.replayed += 1
            if self.on_item is not None:
                self.on_item(self.summary)

    async def _item(self, item: ReplayItem) -> None:
        options = self.options
        raw = orjson.dumps(item.request)
        calls: list[tuple[CandidateTarget, Outgoing]] = []
        for target in self.targets:
            out = outgoing(target.config, item.route, item.route, item.request, raw)
            if isinstance(out, Untranslatable):
                self.summary.skipped[f"{target.name}: {out.reason}"] += 1
                logger.info("item %s not sent to %s: %s", item.id, target.name, out.detail)
                continue
            calls.append((target, out))
        recorded = item.recorded_incumbent if options.recorded_incumbent else None
        if options.recorded_incumbent and recorded is None:
            self.summary.skipped["incumbent: no recorded answer"] += 1
            return
        ask_incumbent = recorded is None
        if ask_incumbent:
            incumbent_out = outgoing(
                self.incumbent.config, item.route, item.route, item.request, raw
            )
            assert not isinstance(incumbent_out, Untranslatable)  # api unset: never translated
            calls.insert(0, (self.incumbent, incumbent_out))
        if ask_incumbent and options.noise_floor:
            # The incumbent asked again, as the live replica is: its nondeterminism.
            calls.append((self.replica, calls[0][1]))
        pair_id = replay_pair_id(options.campaign, options.version, item.id, 0)
        results = await asyncio.gather(*(self._call(t, out, pair_id) for t, out in calls))
        await self._write(item, [self._record(item, pair_id, calls, list(results), recorded)])

    def _record(
        self,
        item: ReplayItem,
        pair_id: str,
        calls: list[tuple[CandidateTarget, Outgoing]],
        results: list[UpstreamResult],
        recorded: dict[str, object] | None,
    ) -> PairData:
        asked = list(zip((target for target, _ in calls), results, strict=True))
        if recorded is None:
            (_, incumbent), mirrors = asked[0], asked[1:]
        else:
            incumbent, mirrors = UpstreamResult(), asked
        pending = PendingPair(
            "POST", item.route, item.route, item.request, _NO_HEADERS, 0.0, sample_rate=1.0
        )
        pending.pair_id = pair_id
        record = self.builder.build(pending, incumbent, mirrors)
        if recorded is not None:
            record["incumbent"] = recorded_side(dict(recorded))
        tags = {k: v for k, v in item.tags.items() if k != "kind"}
        record["request"]["tags"] = {**tags, **record["request"]["tags"]}
        record["source"] = "replay"
        record["golden"] = {"version": self.options.version, "item": item.id, "round": 0}
        record["expected"] = item.expected
        return record

    async def _call(self, target: CandidateTarget, out: Outgoing, pair_id: str) -> UpstreamResult:
        config = target.config
        if target.role is Role.INCUMBENT:
            headers = replica_headers(config, _NO_HEADERS, pair_id)
        else:
            headers = api_headers(config, candidate_headers(config, _NO_HEADERS, pair_id))
        policy = self.options.retry
        attempt = 0
        while True:
            await self.pacer.wait()
            result = await target.call(
                "POST", out.path_qs, out.body, headers, time.perf_counter(), self.capture_limit
            )
            result.route = out.route
            self.summary.calls[target.name] += 1
            if attempt >= policy.retries or not policy.retryable(result):
                return result
            delay = policy.delay(attempt, result.retry_after, self.rng)
            self.summary.retries[target.name] += 1
            self.summary.waited_s += delay
            attempt += 1
            await asyncio.sleep(delay)

    async def _write(self, item: ReplayItem, records: list[PairData]) -> None:
        """The item's pairs and its done mark, all or nothing."""
        campaign = self.options.campaign
        pipe: Any = self.redis.pipeline(transaction=True)
        async with pipe:
            for record in records:
                pipe.xadd(
                    pairs_key(campaign),
                    {RECORD_FIELD: encode_record(record)},
                    maxlen=self.config.recording.max_len,
                    approximate=True,
                )
            pipe.sadd(replayed_key(campaign), done_member(self.options.version, item.id))
            await pipe.execute()
        self.summary.pairs += len(records)
