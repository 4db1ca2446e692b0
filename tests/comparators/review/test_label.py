"""Labels on a real Redis: appended as given, read back as each reviewer's latest."""

from __future__ import annotations

import pydantic
import pytest
import redis.asyncio as aioredis

from comparators.review.label import Label, add_label, load_labels
from proxy.recording.keys import labels_key


def label(pair: str, reviewer: str, verdict: str, time: float, **extra: str) -> Label:
    return Label.model_validate(
        {
            "campaign": "c",
            "pair_id": pair,
            "mirror": "cand",
            "reviewer": reviewer,
            "verdict": verdict,
            "time": time,
            **extra,
        }
    )


async def test_a_later_label_replaces_the_reviewers_earlier_one(
    redis_url: str, campaign: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        given = [
            label("p1", "ann", "same", 1.0),
            label("p1", "bob", "candidate_worse", 2.0),
            label("p1", "ann", "candidate_better", 3.0, expected="Paris"),
            label("p2", "ann", "both_wrong", 4.0),
        ]
        for one in given:
            await add_label(client, one.model_copy(update={"campaign": campaign}))
        await client.xadd(labels_key(campaign), {"record": b"not json"})
        found = await load_labels(client, campaign)
        assert await client.xlen(labels_key(campaign)) == 5  # history kept
    finally:
        await client.aclose()
    assert [(x.pair_id, x.reviewer, x.verdict, x.expected) for x in found] == [
        ("p1", "bob", "candidate_worse", None),
        ("p1", "ann", "candidate_better", "Paris"),
        ("p2", "ann", "both_wrong", None),
    ]


def test_a_verdict_outside_the_vocabulary_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="verdict"):
        label("p1", "ann", "meh", 1.0)
