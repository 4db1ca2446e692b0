"""Which of a campaign's streams a pair goes to, and which streams a reader must read.

A campaign's keys share one Redis Cluster slot, so one campaign lives on one master. With
``recording.shards: N`` the writer spreads pairs over N shard streams instead
(:func:`~proxy.recording.keys.pairs_key` with a shard number), each in its own slot, picked
per pair by a hash of its id: :func:`shard_of`. One pair's record, its scores, its dead letter
and its batch marker stay in one shard, so every script and transaction still touches one slot.

Readers do not need the proxy's config to find the shards: the writer records the largest
shard count it ever used in :func:`~proxy.recording.keys.shards_key` (:func:`record_shards`),
and :func:`read_stream_sets` turns it into the list of stream sets to read. The unsharded
names are always in that list, so a campaign whose ``shards`` was raised part way through
reads whole: its older pairs in the unsharded stream, the newer ones in the shards. A shard
count never goes down in Redis (lowering ``shards`` only stops writing to the higher shards,
which readers keep reading).

Exceptions::

    ShardLayoutError  (ValueError)  the stored shard count is not a positive integer
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from proxy.recording.connect import RedisClient
from proxy.recording.keys import Shard, shards_key

__all__ = [
    "MAX_SHARDS",
    "ShardLayoutError",
    "pair_id_of",
    "per_shard",
    "read_shards",
    "read_stream_sets",
    "record_shards",
    "shard_of",
    "stream_sets",
]

MAX_SHARDS = 1024

# The first "pair_id" in a pair record is the record's own: the encoder writes it as a
# top-level field before the sides, and ids are hex, so no escaping can hide in them.
_PAIR_ID = re.compile(rb'"pair_id"\s*:\s*"([^"\\]*)"')

# Raise the stored count to ARGV[1] if it is lower (or absent); return the count stored.
_RAISE = """
local stored = tonumber(redis.call('GET', KEYS[1]) or '1')
local wanted = tonumber(ARGV[1])
if stored == nil or wanted > stored then
  redis.call('SET', KEYS[1], ARGV[1])
  return wanted
end
return stored
"""


class ShardLayoutError(ValueError):
    """The shard count stored for a campaign is not one darklaunch wrote."""

    def __init__(self, key: str, value: object) -> None:
        self.key = key
        super().__init__(
            f"{key}: got {value!r}; expected a shard count from 1 to {MAX_SHARDS} "
            "(the key is written by the proxy's recorder; delete it if something else did)"
        )


def shard_of(pair_id: str, shards: int) -> Shard:
    """The stream set a pair goes to: ``None`` (the unsharded names) for one shard, else a
    shard number from a CRC-32 of the pair id, stable across processes and restarts (a
    spooled batch replays to the shards it was first meant for)."""
    if shards <= 1:
        return None
    return zlib.crc32(pair_id.encode()) % shards


def pair_id_of(payload: bytes) -> str | None:
    """The pair id of an encoded pair record, found without parsing the whole record."""
    match = _PAIR_ID.search(payload)
    return match.group(1).decode(errors="replace") if match else None


def per_shard(total: int, shards: int) -> int:
    """Each of ``shards`` streams' share of a campaign's cap of ``total`` entries, rounded up,
    so that together they keep at least ``total`` and a campaign's Redis memory does not grow
    with its shard count."""
    return max(1, -(-total // max(1, shards)))


def stream_sets(shards: int) -> list[Shard]:
    """Every stream set of a campaign written with at most ``shards`` shards: the unsharded
    names first, then each shard."""
    return [None] if shards <= 1 else [None, *range(shards)]


async def read_shards(client: RedisClient, campaign: str) -> int:
    """The largest shard count ``campaign`` was written with; 1 when none was recorded."""
    key = shards_key(campaign)
    raw: Any = await client.get(key)
    if raw is None:
        return 1
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    if not text.isdigit() or not 1 <= int(text) <= MAX_SHARDS:
        raise ShardLayoutError(key, text)
    return int(text)


async def read_stream_sets(client: RedisClient, campaign: str) -> list[Shard]:
    """The stream sets a reader of ``campaign`` must read (see :func:`stream_sets`)."""
    return stream_sets(await read_shards(client, campaign))


async def record_shards(client: RedisClient, campaign: str, shards: int) -> int:
    """Raise ``campaign``'s recorded shard count to ``shards`` (it never goes down); returns
    the count now stored."""
    stored: Any = await client.eval(_RAISE, 1, shards_key(campaign), shards)
    return int(stored)
