"""Sharded campaign streams: which shard a pair goes to, the layout readers find in Redis, and
the proxy's writer spreading a campaign over its shards, once each, spool replay included."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from proxy.metrics import RecorderMetrics
from proxy.recording.encode import PairData, encode_record
from proxy.recording.keys import judgements_key, pairs_key, scores_key, shards_key
from proxy.recording.schema import PairRecord, RequestInfo, Role, Side
from proxy.recording.shards import (
    ShardLayoutError,
    pair_id_of,
    read_shards,
    read_stream_sets,
    record_shards,
    shard_of,
    stream_sets,
)
from proxy.recording.writer import RedisRecorder
from tests.conftest import stream_entries
from tests.proxy.http.raw_upstream import eventually


def _record(i: int, campaign: str = "c") -> PairData:
    side = Side(role=Role.INCUMBENT, name="incumbent", status=200)
    return cast("PairData", PairRecord(
        pair_id=f"{i:032x}", campaign=campaign, timestamp=0.0, route="/r", method="POST",
        request=RequestInfo(body={"i": i, "pair_id": "not-this-one"}), incumbent=side,
    ).model_dump())  # fmt: skip


def test_one_shard_keeps_the_unsharded_names_and_more_spread_evenly() -> None:
    assert shard_of("abc", 1) is None
    assert stream_sets(1) == [None]
    assert stream_sets(3) == [None, 0, 1, 2]
    counts = Counter(shard_of(f"{i:032x}", 4) for i in range(4000))
    assert set(counts) == {0, 1, 2, 3}
    assert min(counts.values()) > 850  # 1,000 each if even
    # Stable: the same id goes to the same shard in every process and version (a spooled
    # batch too).
    assert shard_of("5f3a", 7) == 6  # CRC-32 of the id, mod 7: pinned, a contract


def test_the_pair_id_is_read_from_the_top_of_the_record_not_from_its_body() -> None:
    payload = encode_record(_record(42))
    assert pair_id_of(payload) == f"{42:032x}"
    assert pair_id_of(b'{"no": "id"}') is None


async def test_the_layout_only_grows_and_a_foreign_value_is_named(
    redis_url: str, campaign: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await read_shards(client, campaign) == 1  # nothing recorded: one shard
        assert await record_shards(client, campaign, 4) == 4
        assert await record_shards(client, campaign, 2) == 4  # lowering never hides shards
        assert await read_stream_sets(client, campaign) == [None, 0, 1, 2, 3]
        await client.set(shards_key(campaign), "many")
        with pytest.raises(ShardLayoutError, match=r"shards: got 'many'; expected a shard count"):
            await read_shards(client, campaign)
    finally:
        await client.aclose()


async def test_the_writer_spreads_pairs_over_its_shards_once_each(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    registry = CollectorRegistry()
    recorder = RedisRecorder(
        redis_url, campaign, RecorderMetrics(registry), spool_dir=tmp_path, shards=3, max_len=900
    )
    assert recorder.max_len == 300  # the cap is split over the shards
    await recorder.start()
    for i in range(300):
        recorder.submit(_record(i, campaign))
    await recorder.stop()
    assert registry.get_sample_value("darklaunch_records_written_total") == 300
    ids: list[str] = []
    for shard in range(3):
        entries = await stream_entries(redis_url, pairs_key(campaign, shard))
        shard_ids = [PairRecord.model_validate_json(f[b"record"]).pair_id for _, f in entries]
        assert {shard_of(pair_id, 3) for pair_id in shard_ids} == {shard}
        assert 70 < len(shard_ids) < 130
        ids += shard_ids
    assert sorted(ids) == [f"{i:032x}" for i in range(300)]
    assert await stream_entries(redis_url, pairs_key(campaign)) == []
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await read_shards(client, campaign) == 3
    finally:
        await client.aclose()


async def test_a_spooled_sharded_batch_replays_each_shard_once(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    """A batch that reached some shards before Redis failed is spooled whole; its replay
    writes only the shards it had not reached (their batch markers say which did)."""
    registry = CollectorRegistry()
    recorder = RedisRecorder(
        redis_url, campaign, RecorderMetrics(registry), spool_dir=tmp_path, shards=2
    )
    batch = [encode_record(_record(i, campaign)) for i in range(20)]
    parts = recorder._split(batch)
    assert set(parts) == {0, 1}
    # Shard 0's part lands, then the write of shard 1's part is lost with the connection.
    assert await recorder._write_part(0, "b1", parts[0]) == len(parts[0])
    assert recorder.spool.append("b1", batch)
    await recorder.start()
    await eventually(lambda: not recorder.spool, within=5.0)
    await recorder.stop()
    assert registry.get_sample_value("darklaunch_records_replayed_total") == 20
    assert registry.get_sample_value("darklaunch_records_deduplicated_total") == len(parts[0])
    assert registry.get_sample_value("darklaunch_records_written_total") == len(parts[1])
    found = [
        PairRecord.model_validate_json(fields[b"record"]).pair_id
        for shard in (0, 1)
        for _, fields in await stream_entries(redis_url, pairs_key(campaign, shard))
    ]
    assert sorted(found) == [f"{i:032x}" for i in range(20)]  # each once


async def test_confirmed_batches_leave_no_marker_behind(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    """A marker matters only while a batch's fate is unknown: the next write deletes the
    confirmed one, so Redis keeps one per stream, not one per batch for a week."""
    for shards in (1, 3):
        recorder = RedisRecorder(
            redis_url, campaign, RecorderMetrics(CollectorRegistry()), spool_dir=tmp_path,
            shards=shards, batch_size=4,
        )  # fmt: skip
        await recorder.start()
        for i in range(200):
            recorder.submit(_record(i, campaign))
            if i % 4 == 3:
                await asyncio.sleep(0.01)  # let the writer take small batches
        await recorder.stop()
        client = aioredis.Redis.from_url(redis_url)
        try:
            markers = [
                key
                for pattern in (
                    f"darklaunch:{{{campaign}}}:batch:*",
                    f"darklaunch:{{{campaign}:*}}:batch:*",
                )
                async for key in client.scan_iter(match=pattern)
            ]
            assert 1 <= len(markers) <= shards  # the last confirmed batch's, per stream
            await client.delete(*markers)
        finally:
            await client.aclose()


async def test_retention_trims_the_pairs_and_their_scores_and_judgements_by_age(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    """``retention_h`` bounds every stream of a campaign's records, not only the pairs: 300
    entries written an hour and more ago in each, then one batch from a writer keeping half an
    hour. ``MINID ~`` trims whole nodes of 100 entries, so at most one node of old ones
    stays; the fresh entries all do."""
    old = 300
    client = aioredis.Redis.from_url(redis_url)
    streams = [key(campaign, shard) for shard in (None, 0, 1) for key in
               (pairs_key, scores_key, judgements_key)]  # fmt: skip
    try:
        pipe: Any = client.pipeline(transaction=False)
        for stream in streams:
            for i in range(old):
                pipe.xadd(stream, {"record": b"{}"}, id=f"{1_000_000 + i}-0")  # 1970
        await pipe.execute()
        recorder = RedisRecorder(redis_url, campaign, RecorderMetrics(CollectorRegistry()),
                                 spool_dir=tmp_path, shards=2, retention_h=0.5)  # fmt: skip
        await recorder.start()
        for i in range(20):
            recorder.submit(_record(i, campaign))
        await recorder.stop()
        fresh = 0
        for stream in streams:
            kept = await stream_entries(redis_url, stream)
            stale = [entry_id for entry_id, _ in kept if int(entry_id.split(b"-")[0]) < 10**7]
            assert len(stale) <= 100, (stream, len(stale))
            fresh += len(kept) - len(stale)
        assert fresh == 20  # the batch's pairs, none trimmed
    finally:
        await client.aclose()
