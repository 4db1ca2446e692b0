"""Read a campaign's scores, judgements and pairs back from Redis for the report, the gate and
export, and list the campaigns a Redis holds (``darklaunch campaigns``).

A campaign written with shards (``recording.shards``) has its pairs, scores and judgements in
several streams (``proxy.recording.shards``); every reader here reads each of them and merges
them in entry-id order, which is time order, so callers see one stream whatever the layout.

Streams are read with ``XRANGE`` in pages (``COUNT``, then an exclusive ``(last-id`` start),
so a stream of a million entries never arrives as one reply, and each page is parsed before
the next is fetched. An entry that does not parse is skipped and counted, never fatal: one
record written by a broken third-party comparator must not hide the rest of a campaign.

Exceptions::

    CampaignReadError  (RuntimeError)  Redis failed while reading; wraps the client's error
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from comparators.judge.record import Judgement
from comparators.scores import ScoreRecord
from proxy.recording.keys import (
    PAIRS_KEY_PATTERN,
    RECORD_FIELD,
    RECORD_FIELD_BYTES,
    Shard,
    campaign_of_pairs_key,
    feedback_key,
    judgements_key,
    pairs_key,
    scores_key,
    shards_key,
)
from proxy.recording.schema import Feedback, PairRecord
from proxy.recording.setup import REDIS_ERRORS, RedisClient
from proxy.recording.shards import ShardLayoutError, pair_id_of, read_stream_sets

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
    "stream_sets",
]

logger = logging.getLogger(__name__)

Record = TypeVar("Record", bound=BaseModel)

DEFAULT_PAGE_SIZE = 10_000


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
    client: RedisClient, key: str, page_size: int
) -> AsyncIterator[list[tuple[Any, dict[Any, Any]]]]:
    if page_size < 1:
        raise ValueError(f"page_size: got {page_size!r}; expected a positive number of entries")
    start = "-"
    while True:
        try:
            page: Any = await client.xrange(key, min=start, max="+", count=page_size)
        except REDIS_ERRORS as exc:
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


def _entry_order(entry_id: Any) -> tuple[int, int]:
    """A stream entry id (``<ms>-<seq>``) as a sort key: time order across streams."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def stream_sets(client: RedisClient, campaign: str) -> list[Shard]:
    """The stream sets of ``campaign`` to read; a bad stored layout is a read error."""
    try:
        return await read_stream_sets(client, campaign)
    except REDIS_ERRORS as exc:
        raise CampaignReadError(shards_key(campaign), exc) from exc
    except ShardLayoutError as exc:
        raise CampaignReadError(exc.key, exc) from exc


async def _load_stream(
    client: RedisClient, key: str, model: type[Record], page_size: int, stats: LoadStats
) -> list[tuple[tuple[int, int], Record]]:
    """Every entry of the stream ``key`` that parses as ``model``, with its order key."""
    records: list[tuple[tuple[int, int], Record]] = []
    skipped = stats.skipped
    async for page in _pages(client, key, page_size):
        for entry_id, fields in page:
            stats.entries += 1
            payload = _payload(fields)
            try:
                if payload is None:
                    raise ValueError(f"no {RECORD_FIELD!r} field")
                records.append((_entry_order(entry_id), model.model_validate_json(payload)))
            except (ValidationError, ValueError) as exc:
                stats.skipped += 1
                logger.debug("skipping unreadable entry %r of %s: %s", entry_id, key, exc)
    if stats.skipped > skipped:
        logger.warning("%s: skipped %d unreadable entries", key, stats.skipped - skipped)
    return records


async def _load(
    client: RedisClient, keys: list[str], model: type[Record], page_size: int, stats: LoadStats
) -> list[Record]:
    """Every entry of the streams ``keys`` that parses as ``model``, merged in entry-id order
    (stream order for one stream)."""
    loaded = [await _load_stream(client, key, model, page_size, stats) for key in keys]
    if len(loaded) == 1:
        records = [record for _, record in loaded[0]]
    else:
        records = [record for _, record in heapq.merge(*loaded, key=itemgetter(0))]
    stats.loaded = len(records)
    return records


async def load_records(
    client: RedisClient, key: str, model: type[Record], *, page_size: int = DEFAULT_PAGE_SIZE
) -> list[Record]:
    """Every entry of the stream ``key`` that parses as ``model``, in stream order: the
    reader every stream of records shares (labels, feedback, ...)."""
    return await _load(client, [key], model, page_size, LoadStats())


async def load_feedback(
    client: RedisClient, campaign: str, *, page_size: int = DEFAULT_PAGE_SIZE
) -> list[Feedback]:
    """Every parseable feedback entry of ``campaign``, in stream order."""
    return await load_records(client, feedback_key(campaign), Feedback, page_size=page_size)


async def load_scores(
    client: RedisClient,
    campaign: str,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    stats: LoadStats | None = None,
) -> list[ScoreRecord]:
    """Every parseable score record of ``campaign``, in stream order."""
    stats = stats if stats is not None else LoadStats()
    keys = [scores_key(campaign, shard) for shard in await stream_sets(client, campaign)]
    return await _load(client, keys, ScoreRecord, page_size, stats)


async def load_judgements(
    client: RedisClient, campaign: str, *, page_size: int = DEFAULT_PAGE_SIZE
) -> list[Judgement]:
    """Every parseable record of the LLM judge's stream of ``campaign``, in stream order."""
    keys = [judgements_key(campaign, shard) for shard in await stream_sets(client, campaign)]
    return await _load(client, keys, Judgement, page_size, LoadStats())


async def load_pairs(
    client: RedisClient,
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
    found: dict[str, PairRecord] = {}
    if not pair_ids:
        return found
    for shard in await stream_sets(client, campaign):
        async for page in _pages(client, pairs_key(campaign, shard), page_size):
            for entry_id, fields in page:
                stats.entries += 1
                payload = _payload(fields)
                raw = payload.encode() if isinstance(payload, str) else payload
                if raw is None:
                    stats.skipped += 1
                    continue
                pair_id = pair_id_of(raw)
                if pair_id is not None and pair_id not in pair_ids:
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


async def list_campaigns(client: RedisClient) -> list[CampaignSummary]:
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
    except REDIS_ERRORS as exc:
        raise CampaignReadError(PAIRS_KEY_PATTERN, exc) from exc
    summaries = []
    for name in sorted(names):
        pairs, scores = 0, 0
        for shard in await stream_sets(client, name):
            pairs += await _length(client, pairs_key(name, shard))
            scores += await _length(client, scores_key(name, shard))
        summaries.append(CampaignSummary(name, pairs, scores))
    return summaries


async def _length(client: RedisClient, key: str) -> int:
    try:
        return int(await client.xlen(key))
    except REDIS_ERRORS as exc:
        raise CampaignReadError(key, exc) from exc


async def count_pairs(client: RedisClient, campaign: str) -> int:
    """How many pair records ``campaign``'s streams hold (0 when none exists)."""
    total = 0
    for shard in await stream_sets(client, campaign):
        total += await _length(client, pairs_key(campaign, shard))
    return total
