"""Read one step's window of a campaign: the score records of pairs made since the step began,
with the judge's verdicts joined in, without reading the campaign from its beginning.

A score entry is written after its pair was made (the worker scores pairs it has read), so its
stream id, the millisecond Redis added it, is never earlier than the pair's ``timestamp``:
``XRANGE`` from the id ``int(since * 1000)`` skips everything older and misses nothing of the
window. Pairs made before ``since`` but scored after it are then dropped on ``timestamp``. The
controller reads a window every few seconds, and a campaign's scores stream holds millions of
entries; the window of one step is what it needs.

Stream ids are the Redis server's clock, while ``since`` is the clock of whoever moved the step
and ``timestamp`` the proxy's: the read starts :data:`CLOCK_SKEW_S` early, so a server clock a
little behind theirs loses nothing of the window (the ``timestamp`` filter drops the extra).

The judge's stream is read the same way, except when the policy only trusts the judge once
reviewers have checked it (``min_judge_human_agreement``): that agreement is measured on the
pairs both judged and labeled over the whole campaign, a property of the judge rather than of
the step, so then every judgement and label is read.

Exceptions::

    CampaignReadError  (RuntimeError)  Redis failed while reading; wraps the client's error
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from comparators.campaign import DEFAULT_PAGE_SIZE, CampaignReadError, stream_sets
from comparators.gate.policy import GatePolicy, Quality
from comparators.judge.join import with_judgements
from comparators.judge.record import Judgement
from comparators.review.label import Label, load_labels
from comparators.scores import ScoreRecord
from proxy.recording.keys import RECORD_FIELD, RECORD_FIELD_BYTES, judgements_key, scores_key
from proxy.recording.setup import REDIS_ERRORS, RedisClient

__all__ = ["CLOCK_SKEW_S", "Window", "needs_judge_history", "read_window", "stream_id"]

logger = logging.getLogger(__name__)

Record = TypeVar("Record", bound=BaseModel)

CLOCK_SKEW_S = 60.0
"""How far behind the other hosts' clocks the Redis server's may be without a window losing
entries: a minute of extra entries read, at most, per read."""


@dataclass
class Window:
    """A step's scores (judge's verdicts joined in), and what the gate needs to decide
    whether to trust the judge."""

    since: float
    scores: list[ScoreRecord] = field(default_factory=list)
    judgements: list[Judgement] = field(default_factory=list)
    labels: list[Label] = field(default_factory=list)
    # Entries of the window's streams that did not parse, skipped.
    skipped: int = 0


def stream_id(since: float) -> str:
    """The first stream id that can hold an entry written at or after ``since`` (by a Redis
    whose clock is at most :data:`CLOCK_SKEW_S` behind)."""
    if since < 0:
        raise ValueError(f"since: got {since!r}; expected epoch seconds, at least 0")
    return str(max(0, int((since - CLOCK_SKEW_S) * 1000)))


def needs_judge_history(policy: GatePolicy) -> bool:
    """Whether the gate measures the judge's agreement with reviewers under ``policy``."""
    return policy.quality is Quality.JUDGE and policy.min_judge_human_agreement is not None


async def _read_from(
    client: RedisClient,
    key: str,
    model: type[Record],
    start: str,
    page_size: int,
    window: Window,
) -> list[Record]:
    """Every entry of ``key`` from id ``start`` on that parses as ``model``, in stream order,
    read in pages (``COUNT``, then an exclusive ``(last-id``)."""
    found: list[Record] = []
    while True:
        try:
            page: Any = await client.xrange(key, min=start, max="+", count=page_size)
        except REDIS_ERRORS as exc:
            raise CampaignReadError(key, exc) from exc
        for entry_id, fields in page:
            payload = fields.get(RECORD_FIELD_BYTES, fields.get(RECORD_FIELD))
            try:
                if not isinstance(payload, bytes | str):
                    raise ValueError(f"no {RECORD_FIELD!r} field")
                found.append(model.model_validate_json(payload))
            except (ValidationError, ValueError) as exc:
                window.skipped += 1
                logger.debug("skipping unreadable entry %r of %s: %s", entry_id, key, exc)
        if len(page) < page_size:
            return found
        last = page[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else str(last))


async def read_window(
    client: RedisClient,
    campaign: str,
    since: float,
    *,
    judge_history: bool = False,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> Window:
    """The scores of ``campaign``'s pairs made at or after ``since``, with the judge's verdicts
    joined in; with ``judge_history`` (:func:`needs_judge_history`) every judgement and label
    of the campaign too."""
    if page_size < 1:
        raise ValueError(f"page_size: got {page_size!r}; expected a positive number of entries")
    start = stream_id(since)
    window = Window(since)
    scores: list[ScoreRecord] = []
    for shard in await stream_sets(client, campaign):  # every shard of a sharded campaign
        key = scores_key(campaign, shard)
        scores += await _read_from(client, key, ScoreRecord, start, page_size, window)
        key = judgements_key(campaign, shard)
        judged_from = "-" if judge_history else start
        window.judgements += await _read_from(
            client, key, Judgement, judged_from, page_size, window
        )
    scores = [s for s in scores if s.timestamp >= since]
    if judge_history:
        window.labels = await load_labels(client, campaign)
    window.scores = with_judgements(scores, window.judgements)
    return window
