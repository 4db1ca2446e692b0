"""A sharded campaign end to end on a real Redis: the proxy's writer spreads pairs over three
shard streams (after some went to the unsharded stream, as when ``shards`` is raised part way
through), workers score each (pair, mirror) once into the matching shard, the gauges add up
the shards, and the readers (report, gate, campaigns) see one campaign."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import cast

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from comparators.campaign import count_pairs, load_scores
from comparators.commands import find_campaigns, gate_campaign, report_campaign
from comparators.consumer import OUTPUT_MAX_LEN, output_max_len
from comparators.engine import ScoringEngine
from comparators.gate.policy import GatePolicy
from comparators.metrics import WorkerMetrics
from comparators.scores import ScoreRecord
from comparators.service import run_worker
from comparators.sharding import ShardedRun
from comparators.worker import CompareWorker, LagBoard
from proxy.metrics import RecorderMetrics
from proxy.recording.encode import PairData
from proxy.recording.keys import Shard, scores_key
from proxy.recording.shards import shard_of
from proxy.recording.writer import RedisRecorder
from tests.comparators.test_worker import make_pair, worker_config
from tests.conftest import stream_entries
from tests.proxy.http.raw_upstream import eventually


async def _record(url: str, campaign: str, spool: Path, first: int, count: int, shards: int) -> int:
    """Write pairs ``first`` .. ``first + count - 1`` with the proxy's writer; returns the
    number of (pair, mirror)s."""
    recorder = RedisRecorder(url, campaign, RecorderMetrics(CollectorRegistry()), spool_dir=spool,
                             shards=shards)  # fmt: skip
    await recorder.start()
    mirrors = 0
    for i in range(first, first + count):
        pair = make_pair(i, campaign)
        mirrors += len(pair.mirrors)
        recorder.submit(cast("PairData", pair.model_dump()))
    await recorder.stop()
    return mirrors


async def _scores_by_shard(url: str, campaign: str, shards: int) -> dict[Shard, list[ScoreRecord]]:
    found: dict[Shard, list[ScoreRecord]] = {}
    for shard in [None, *range(shards)]:
        entries = await stream_entries(url, scores_key(campaign, shard))
        found[shard] = [ScoreRecord.model_validate_json(f[b"record"]) for _, f in entries]
    return found


async def test_a_sharded_campaign_is_scored_once_per_shard_and_read_as_one(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    mirrors = await _record(redis_url, campaign, tmp_path, 0, 30, shards=1)
    mirrors += await _record(redis_url, campaign, tmp_path, 30, 270, shards=3)
    config = worker_config(redis_url, campaign, batch_size=16)
    runs = await asyncio.gather(
        run_worker(config, once=True, consumer="w1", serve_metrics=False),
        run_worker(config, once=True, consumer="w2", serve_metrics=False),
    )
    assert sum(run.scored for run in runs) == 300
    assert sum(run.skipped_not_owned for run in runs) == 0
    by_shard = await _scores_by_shard(redis_url, campaign, 3)
    assert {s.pair_id for s in by_shard[None]} == {f"pair-{i:06d}" for i in range(30)}
    for shard in (0, 1, 2):
        assert by_shard[shard]  # every shard had pairs, and its scores stayed in it
        assert {shard_of(s.pair_id, 3) for s in by_shard[shard]} == {shard}
    every = [s for scores in by_shard.values() for s in scores]
    once = Counter((s.pair_id, s.mirror) for s in every)
    assert len(once) == mirrors
    assert set(once.values()) == {1}
    # The readers merge the shards (paged: more pages than one shard's first).
    client = aioredis.Redis.from_url(redis_url)
    try:
        merged = await load_scores(client, campaign, page_size=7)
        assert len(merged) == mirrors
        assert await count_pairs(client, campaign) == 300
    finally:
        await client.aclose()
    report = (await report_campaign(config, campaign, "json")).report
    assert report.records == mirrors  # score records: a replica is one too
    gate = await gate_campaign(config, campaign, GatePolicy(min_pairs=300))
    assert next(c for c in gate.checks if c.name == "min_pairs").value == 300
    found = {c.name: c for c in await find_campaigns(config)}
    assert (found[campaign].pairs, found[campaign].scores) == (300, mirrors)


def test_the_lag_gauges_add_up_the_shards() -> None:
    registry = CollectorRegistry()
    board = LagBoard(WorkerMetrics(registry))
    board.report("a", pending=3, backlog=10)
    board.report("b", pending=1, backlog=5)
    board.report("a", backlog=2)  # a shard's newer reading replaces its older one
    assert registry.get_sample_value("darklaunch_worker_backlog_entries") == 7
    assert registry.get_sample_value("darklaunch_worker_pending_entries") == 4


async def test_a_running_worker_takes_up_shards_added_while_it_runs(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    config = worker_config(redis_url, campaign, block_ms=50)
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    engine = ScoringEngine(config)
    lag = LagBoard(metrics)
    client = aioredis.Redis.from_url(redis_url)
    stop = asyncio.Event()

    def make(shard: Shard) -> CompareWorker:
        return CompareWorker(client, campaign, engine, metrics, shard=shard, lag=lag,
                             consumer="w", block_ms=50)  # fmt: skip

    run = ShardedRun(client, campaign, make, refresh_s=0.1)
    running = asyncio.ensure_future(run.run(stop=stop))  # noqa: TID251 - awaited below
    try:
        first = await _record(redis_url, campaign, tmp_path, 0, 20, shards=1)
        await eventually(lambda: len(run.consumers) == 1, within=2.0)
        assert run.consumers[None].output_max_len == OUTPUT_MAX_LEN
        more = await _record(redis_url, campaign, tmp_path, 20, 80, shards=2)
        await eventually(lambda: set(run.consumers) == {None, 0, 1}, within=5.0)
        # The scores cap is the campaign's, shared by its shards, the old stream's too.
        caps = {shard: c.output_max_len for shard, c in run.consumers.items()}
        assert caps == dict.fromkeys((None, 0, 1), OUTPUT_MAX_LEN // 2)

        async def scored() -> int:
            by_shard = await _scores_by_shard(redis_url, campaign, 2)
            return sum(len(scores) for scores in by_shard.values())

        async with asyncio.timeout(20):
            while await scored() < first + more:  # noqa: ASYNC110 - written by the worker
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        stats = await asyncio.wait_for(running, 10)
        await client.aclose()
    assert stats.scored == 100
    assert await scored() == first + more  # and nothing twice


async def test_the_backlog_is_counted_in_redis_after_the_groups_last_delivery(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    await _record(redis_url, campaign, tmp_path, 0, 30, shards=1)
    registry = CollectorRegistry()
    config = worker_config(redis_url, campaign)
    client = aioredis.Redis.from_url(redis_url)
    try:
        worker = CompareWorker(client, campaign, ScoringEngine(config), WorkerMetrics(registry),
                               consumer="w", batch_size=10)  # fmt: skip
        await worker.ensure_group()
        await worker.update_lag(now=0.0)
        sample = registry.get_sample_value
        assert sample("darklaunch_worker_backlog_entries") == 30
        assert len(await worker._read(">")) == 10  # delivered, not yet acknowledged
        await worker.update_lag(now=0.5)  # refreshed at most once a second: unchanged
        assert sample("darklaunch_worker_backlog_entries") == 30
        await worker.update_lag(now=1.0)
        assert sample("darklaunch_worker_backlog_entries") == 20
        assert sample("darklaunch_worker_pending_entries") == 10
    finally:
        await client.aclose()


def test_the_scores_cap_is_divided_over_the_shards() -> None:
    assert output_max_len(1) == output_max_len(0) == OUTPUT_MAX_LEN
    assert output_max_len(3) == 333_334  # rounded up: three shards hold at least the cap
    assert output_max_len(3) * 3 >= OUTPUT_MAX_LEN > output_max_len(3) * 2


async def test_a_worker_trims_its_scores_stream_to_its_cap(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    mirrors = await _record(redis_url, campaign, tmp_path, 0, 300, shards=1)
    config = worker_config(redis_url, campaign, batch_size=50)
    client = aioredis.Redis.from_url(redis_url)
    try:
        worker = CompareWorker(client, campaign, ScoringEngine(config),
                               WorkerMetrics(CollectorRegistry()))  # fmt: skip
        worker.output_max_len = 10
        stats = await worker.run(once=True)
        kept = await client.xlen(scores_key(campaign))
    finally:
        await client.aclose()
    assert stats.scored == 300
    # MAXLEN ~ trims whole nodes of 100 entries, so about the cap, never all of them.
    assert 10 <= kept <= 10 + 100 < mirrors
