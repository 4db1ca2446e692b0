"""Read a campaign's scores, judgements and pairs back from Redis for the report, the gate and
export, and list the campaigns a Redis holds (``darklaunch campaigns``).

Streams are read with ``XRANGE`` in pages (``COUNT``, then an exclusive ``(last-id`` start),
so a stream of a million entries never arrives as one reply, and each page is parsed before
the next is fetched. An entry that does not parse is skipped and counted, never fatal: one
record written by a broken third-party comparator must not hide the rest of a campaign.

Exceptions::

    CampaignReadError  (RuntimeError)  Redis failed while reading; wraps the RedisError
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio as aioredis
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError

from comparators.judge.record import Judgement
from comparators.scores import ScoreRecord
from proxy.recording.keys import (
    PAIRS_KEY_PATTERN,
    RECORD_FIELD,
    RECORD_FIELD_BYTES,
    campaign_of_pairs_key,
    feedback_key,
    judgements_key,
    pairs_key,
    scores_key,
)
from proxy.recording.schema import Feedback, PairRecord

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "CampaignReadError",
    "CampaignSummary",
    "LoadStats",
    "count_pairs",
    "list_campaigns",
    "load_feedback",
    "load_judgements",
    "load_pairs",
    "load_records",
    "load_scores",
]

logger = logging.getLogger(__name__)

Record = TypeVar("Record", bound=BaseModel)

DEFAULT_PAGE_SIZE = 10_000
# The first "pair_id" in a pair record is the record's own (it is a top-level field written
# before the sides); ids are hex, so no escaping can hide in them.
_PAIR_ID = re.compile(rb'"pair_id"\s*:\s*"([^"\\]*)"')


class CampaignReadError(RuntimeError):
    """Reading a campaign stream failed; ``key`` names the stream."""

    def __init__(self, key: str, cause: Exception) -> None:
        self.key = key
        super().__init__(f"reading {key} from Redis failed: {cause}")


@dataclass
class LoadStats:
    """What a load saw; pass one in to learn how many entries were unreadable."""

    entries: int = 0
    loaded: int = 0
    skipped: int = 0


async def _pages(
    client: aioredis.Redis, key: str, page_size: int
) -> AsyncIterator[list[tuple[Any, dict[Any, Any]]]]:
    if page_size < 1:
        raise ValueError(f"page_size: got {page_size!r}; expected a positive number of entries")
    start = "-"
    while True:
        try:
            page: Any = await client.xrange(key, min=start, max="+", count=page_size)
        except RedisError as exc:
            raise CampaignReadError(key, exc) from exc
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        last = page[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else str(last))


def _payload(fields: dict[Any, Any]) -> bytes | str | None:
    value = fields.get(RECORD_FIELD_BYTES, fields.get(RECORD_FIELD))
    return value if isinstance(value, bytes | str) else None


async def _load(
    client: aioredis.Redis, key: str, model: type[Record], page_size: int, stats: LoadStats
) -> list[Record]:
    """Every entry of the stream ``key`` that parses as ``model``, in stream order."""
    records: list[Record] = []
    async for page in _pages(client, key, page_size):
        for entry_id, fields in page:
            stats.entries += 1
            payload = _payload(fields)
            try:
                if payload is None:
                    raise ValueError(f"no {RECORD_FIELD!r} field")
                records.append(model.model_validate_json(payload))
            except (ValidationError, ValueError) as exc:
                stats.skipped += 1
                logger.debug("skipping unreadable entry %r of %s: %s", entry_id, key, exc)
    stats.loaded = len(records)
    if stats.skipped:
        logger.warning("%s: skipped %d unreadable entries", key, stats.skipped)
    return records


async def load_records(
    client: aioredis.Redis, key: str, model: type[Record], *, page_size: int = DEFAULT_PAGE_SIZE
) -> list[Record]:
    """Every entry of the stream ``key`` that parses as ``model``, in stream order: the
    reader every stream of records shares (labels, feedback, ...)."""
    return await _load(client, key, model, page_size, LoadStats())


async def load_feedback(
    client: aioredis.Redis, campaign: str, *, page_size: int = DEFAULT_PAGE_SIZE
) -> list[Feedback]:
    """Every parseable feedback entry of ``campaign``, in stream order."""
    return await load_records(client, feedback_key(campaign), Feedback, page_size=page_size)


async def load_scores(
    client: aioredis.Redis,
    campaign: str,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    stats: LoadStats | None = None,
) -> list[ScoreRecord]:
    """Every parseable score record of ``campaign``, in stream order."""
    stats = stats if stats is not None else LoadStats()
    return await _load(client, scores_key(campaign), ScoreRecord, page_size, stats)


async def load_judgements(
    client: aioredis.Redis, campaign: str, *, page_size: int = DEFAULT_PAGE_SIZE
) -> list[Judgement]:
    """Every parseable record of the LLM judge's stream of ``campaign``, in stream order."""
    return await _load(client, judgements_key(campaign), Judgement, page_size, LoadStats())


async def load_pairs(
    client: aioredis.Redis,
    campaign: str,
    pair_ids: set[str],
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    stats: LoadStats | None = None,
) -> dict[str, PairRecord]:
    """The pair records whose ids are in ``pair_ids``; ids no longer in the stream (trimmed by
    ``max_len`` or retention) are simply absent from the result.

    Only entries whose ``pair_id`` (found in the raw JSON by a regular expression) is wanted
    are parsed, since pair records are large and usually only a few dozen are wanted; the scan
    stops once all are found.
    """
    stats = stats if stats is not None else LoadStats()
    key = pairs_key(campaign)
    found: dict[str, PairRecord] = {}
    if not pair_ids:
        return found
    async for page in _pages(client, key, page_size):
        for entry_id, fields in page:
            stats.entries += 1
            payload = _payload(fields)
            raw = payload.encode() if isinstance(payload, str) else payload
            if raw is None:
                stats.skipped += 1
                continue
            match = _PAIR_ID.search(raw)
            if match is not None and match.group(1).decode(errors="replace") not in pair_ids:
                continue
            try:
                record = PairRecord.model_validate_json(raw)
            except ValidationError as exc:
                stats.skipped += 1
                logger.debug("skipping unreadable pair entry %r: %s", entry_id, exc)
                continue
            if record.pair_id in pair_ids:
                found[record.pair_id] = record
        if len(found) == len(pair_ids):
            break
    stats.loaded = len(found)
    return found


@dataclass(frozen=True)
class CampaignSummary:
    """One campaign found in Redis: its name and how many records its streams hold now."""

    name: str
    pairs: int
    scores: int


async def list_campaigns(client: aioredis.Redis) -> list[CampaignSummary]:
    """Every campaign with a pairs stream in this Redis, by name, with its stream lengths.

    A campaign is known by its pairs stream, the one the proxy writes: scores without pairs
    are a campaign whose pairs were trimmed away, and not listed. ``SCAN`` walks the keyspace
    in small steps, so a large Redis is not blocked while it is listed.
    """
    names: set[str] = set()
    try:
        async for key in client.scan_iter(match=PAIRS_KEY_PATTERN, count=1000):
            name = campaign_of_pairs_key(key)
            if name is not None:
                names.add(name)
        ordered = sorted(names)
        # Typed as Any, like the worker's: redis-py types a pipeline's queued commands as
        # awaitables although they only queue.
        pipe: Any = client.pipeline(transaction=False)
        for name in ordered:
            pipe.xlen(pairs_key(name))
            pipe.xlen(scores_key(name))
        lengths: list[Any] = await pipe.execute()
    except RedisError as exc:
        raise CampaignReadError(PAIRS_KEY_PATTERN, exc) from exc
    return [
        CampaignSummary(name, int(lengths[2 * i]), int(lengths[2 * i + 1]))
        for i, name in enumerate(ordered)
    ]


async def count_pairs(client: aioredis.Redis, campaign: str) -> int:
    """How many pair records ``campaign``'s stream holds (0 when it does not exist)."""
    key = pairs_key(campaign)
    try:
        return int(await client.xlen(key))
    except RedisError as exc:
        raise CampaignReadError(key, exc) from exc
