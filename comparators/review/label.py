"""A reviewer's label on one (pair, mirror), and the ``darklaunch:{<campaign>}:labels`` stream.

Labels are data: every label given is appended, and readers keep each reviewer's latest label
per (pair, mirror), so a reviewer who changes their mind replaces their earlier label without
erasing the history. The verdicts are a closed vocabulary so they can be counted and compared
with the LLM judge's (``comparators.judge``):

- ``candidate_better``, ``same``, ``candidate_worse``: the candidate against the incumbent;
- ``incumbent_wrong``: the incumbent's answer is wrong (whatever the candidate did);
- ``both_wrong``: neither answer is right.

``expected`` is the corrected answer a reviewer may write; with it the pair can enter a golden
set (``darklaunch export --labeled``) and be scored against it on replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from comparators.campaign import load_records
from proxy.recording.keys import RECORD_FIELD, labels_key
from proxy.recording.setup import RedisClient

__all__ = ["VERDICTS", "Label", "LabelVerdict", "add_label", "latest_labels", "load_labels"]

LabelVerdict = Literal[
    "candidate_better", "same", "candidate_worse", "incumbent_wrong", "both_wrong"
]
VERDICTS: tuple[LabelVerdict, ...] = get_args(LabelVerdict)
MAX_TEXT = 20_000  # characters of an expected answer or a note


class Label(BaseModel):
    """One label as given; ``time`` is when (Unix seconds)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    campaign: str
    pair_id: str = Field(min_length=1)
    mirror: str = Field(min_length=1)
    reviewer: str = Field(min_length=1)
    verdict: LabelVerdict
    expected: str | None = Field(default=None, max_length=MAX_TEXT)
    note: str | None = Field(default=None, max_length=MAX_TEXT)
    time: float


async def add_label(client: RedisClient, label: Label) -> None:
    await client.xadd(labels_key(label.campaign), {RECORD_FIELD: label.model_dump_json()})


def latest_labels(labels: Iterable[Label]) -> list[Label]:
    """Each reviewer's last label per (pair, mirror), in the order they were last given."""
    latest: dict[tuple[str, str, str], Label] = {}
    for label in labels:
        key = (label.pair_id, label.mirror, label.reviewer)
        latest.pop(key, None)
        latest[key] = label
    return list(latest.values())


async def load_labels(client: RedisClient, campaign: str) -> list[Label]:
    """The campaign's labels, latest per (pair, mirror, reviewer); unreadable entries skipped."""
    return latest_labels(await load_records(client, labels_key(campaign), Label))
