"""Reading a step's window from the real scores stream: from the step's stream id on, then by
the pair's time, with the judge's verdicts joined in."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from comparators.gate.policy import GatePolicy, Quality
from comparators.judge.record import Judgement
from comparators.review.label import Label, add_label
from comparators.rollout.window import (
    CLOCK_SKEW_S,
    needs_judge_history,
    read_window,
    stream_id,
)
from proxy.recording.keys import RECORD_FIELD, judgements_key, scores_key
from proxy.recording.schema import Role
from tests.comparators.rollout.support import CANDIDATE, write_scores
from tests.comparators.score_factories import score


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def judgement(pair_id: str, campaign: str, verdict: str = "incumbent") -> Judgement:
    return Judgement.model_validate(
        {
            "pair_id": pair_id, "campaign": campaign, "timestamp": time.time(), "route": "/v1",
            "mirror": CANDIDATE, "role": Role.CANDIDATE, "status": "judged", "verdict": verdict,
            "orders_agree": True, "judge_model": "j", "prompt_version": "1",
        }
    )  # fmt: skip


async def test_the_window_holds_the_pairs_made_since_the_step_began(
    client: aioredis.Redis, campaign: str
) -> None:
    since = time.time()
    await write_scores(client, campaign, 3, timestamp=since - 30)  # made before: scored late
    await write_scores(client, campaign, 4, timestamp=since + 1)
    window = await read_window(client, campaign, since, page_size=2)  # several pages
    assert len(window.scores) == 8  # 4 candidate records and their 4 replicas
    assert all(s.timestamp >= since for s in window.scores)
    assert window.skipped == 0


async def test_entries_written_before_the_step_are_not_read(
    client: aioredis.Redis, campaign: str
) -> None:
    """The read starts at the step's stream id: an entry added long before is never fetched,
    even one whose pair time would be in the window (which no real entry has)."""
    since = time.time()
    early = score("early", campaign=campaign, timestamp=since + 5)
    await client.xadd(scores_key(campaign), {RECORD_FIELD: early.model_dump_json()}, id="1000-0")
    await client.xadd(scores_key(campaign), {RECORD_FIELD: b"not json"})
    await write_scores(client, campaign, 2, timestamp=since + 1, replicas=False)
    window = await read_window(client, campaign, since)
    assert "early" not in {s.pair_id for s in window.scores}
    assert len(window.scores) == 2
    assert window.skipped == 1  # the unreadable entry is counted, not fatal


def test_the_stream_id_starts_a_clock_skew_early() -> None:
    assert stream_id(1_700_000_000.5) == str(int((1_700_000_000.5 - CLOCK_SKEW_S) * 1000))
    assert stream_id(0.0) == "0"
    with pytest.raises(ValueError, match=r"since: got -1\.0; expected epoch seconds"):
        stream_id(-1.0)


async def test_the_judges_verdicts_are_joined_in(client: aioredis.Redis, campaign: str) -> None:
    since = time.time()
    record = score("p-judged", campaign=campaign, timestamp=since + 1)
    await client.xadd(scores_key(campaign), {RECORD_FIELD: record.model_dump_json()})
    entry = judgement("p-judged", campaign)
    await client.xadd(judgements_key(campaign), {RECORD_FIELD: entry.model_dump_json()})
    window = await read_window(client, campaign, since)
    assert window.scores[0].value("judge.incumbent_better") is True
    assert window.labels == []  # not read unless the judge's trust is measured


async def test_judge_trust_reads_every_judgement_and_label(
    client: aioredis.Redis, campaign: str
) -> None:
    policy = GatePolicy(quality=Quality.JUDGE, min_judge_human_agreement=0.6)
    assert needs_judge_history(policy)
    assert not needs_judge_history(GatePolicy(quality=Quality.JUDGE))
    old = judgement("p-old", campaign)
    await client.xadd(judgements_key(campaign), {RECORD_FIELD: old.model_dump_json()}, id="1000-0")
    await add_label(
        client,
        Label(
            campaign=campaign, pair_id="p-old", mirror=CANDIDATE, reviewer="ann",
            verdict="candidate_worse", time=1.0,
        ),
    )  # fmt: skip
    since = time.time()
    step_only = await read_window(client, campaign, since)
    assert step_only.judgements == []
    whole = await read_window(client, campaign, since, judge_history=True)
    assert [j.pair_id for j in whole.judgements] == ["p-old"]
    assert [label.reviewer for label in whole.labels] == ["ann"]
