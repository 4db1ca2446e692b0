"""Reading a campaign back from a real Redis, page by page."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from comparators.campaign import (
    CampaignSummary,
    LoadStats,
    count_pairs,
    list_campaigns,
    load_pairs,
    load_scores,
)
from proxy.recording.keys import pairs_key, scores_key
from proxy.recording.schema import PairRecord, RequestInfo, Role, Side
from tests.comparators.score_factories import score


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    connection = aioredis.Redis.from_url(redis_url)
    try:
        yield connection
    finally:
        await connection.aclose()


async def test_scores_are_read_in_pages_and_bad_entries_counted(
    client: aioredis.Redis, campaign: str
) -> None:
    key = scores_key(campaign)
    for i in range(25):
        await client.xadd(key, {"record": score(f"p{i}").model_dump_json()})
        if i == 7:
            await client.xadd(key, {"record": b"{not json"})
        if i == 15:
            await client.xadd(key, {"other": b"field"})
    stats = LoadStats()
    records = await load_scores(client, campaign, page_size=10, stats=stats)
    assert [r.pair_id for r in records] == [f"p{i}" for i in range(25)]
    assert (stats.entries, stats.loaded, stats.skipped) == (27, 25, 2)


async def test_an_empty_campaign_has_no_scores(client: aioredis.Redis, campaign: str) -> None:
    assert await load_scores(client, campaign) == []
    with pytest.raises(ValueError, match="page_size: got 0"):
        await load_scores(client, campaign, page_size=0)


async def test_only_wanted_pairs_are_parsed_and_returned(
    client: aioredis.Redis, campaign: str
) -> None:
    key = pairs_key(campaign)
    for i in range(30):
        record = PairRecord(
            pair_id=f"{i:032x}",
            campaign=campaign,
            timestamp=1.0,
            route="/v1/chat/completions",
            method="POST",
            # A body mentioning another pair's id must not confuse the lookup.
            request=RequestInfo(body={"pair_id": f"{(i + 1) % 30:032x}"}),
            incumbent=Side(role=Role.INCUMBENT, name="incumbent", status=200),
        )
        await client.xadd(key, {"record": record.model_dump_json()})
    wanted = {f"{3:032x}", f"{17:032x}", "gone"}
    stats = LoadStats()
    found = await load_pairs(client, campaign, wanted, page_size=7, stats=stats)
    assert set(found) == {f"{3:032x}", f"{17:032x}"}
    assert found[f"{17:032x}"].pair_id == f"{17:032x}"
    assert stats.entries == 30  # "gone" is never found, so the whole stream is scanned
    assert await load_pairs(client, campaign, set()) == {}


async def test_campaigns_are_listed_with_their_stream_lengths(
    client: aioredis.Redis, campaign: str
) -> None:
    for i in range(3):
        await client.xadd(pairs_key(campaign), {"record": b"{}"})
        if i < 2:
            await client.xadd(scores_key(campaign), {"record": score(f"p{i}").model_dump_json()})
    await client.set(f"{pairs_key(campaign)}-not-a-stream", b"x")  # matches no campaign
    found = await list_campaigns(client)
    assert CampaignSummary(campaign, pairs=3, scores=2) in found
    assert [c.name for c in found] == sorted(c.name for c in found)
    assert await count_pairs(client, campaign) == 3
    assert await count_pairs(client, f"{campaign}-none") == 0
