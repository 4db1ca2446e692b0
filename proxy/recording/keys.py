"""Every Redis name darklaunch uses, built in this one module.

The writer in the proxy, the comparator worker, the report, the gate and export all meet on
these names, so they are a contract (``docs/records.md``): a campaign ``C`` owns

* ``darklaunch:{C}:pairs``, the stream of pair records the proxy writes;
* ``darklaunch:{C}:scores``, the stream of score records the worker writes;
* ``darklaunch:{C}:dead``, entries of the pairs stream that did not parse, set aside;
* ``darklaunch:{C}:judgements``, the stream of the LLM judge's verdicts (consumer group
  :data:`JUDGE_GROUP` on the pairs stream), ``darklaunch:{C}:judge:cache``, a hash of its
  answers so a pair is never paid for twice, and ``darklaunch:{C}:judge:spend:<hour>``, what
  its calls cost in one clock hour (the budget shared by every worker);
* ``darklaunch:{C}:batch:<id>``, short-lived markers that make a spooled batch's replay
  idempotent;
* ``darklaunch:{C}:labels``, the stream of human review labels (one entry per label given; a
  later label of the same reviewer on the same (pair, mirror) replaces an earlier one);
* ``darklaunch:{C}:feedback``, the stream of end users' feedback the proxy received
  (``POST /darklaunch/feedback``);
* ``darklaunch:review:tokens``, a hash of reviewer name -> SHA-256 of their token (not a
  campaign's: a reviewer reviews every campaign);
* ``darklaunch:{C}:replayed``, the set of golden items (``<version>:<item id>``) whose pairs
  ``darklaunch replay`` wrote, written in one transaction with them, so a replay that stopped
  continues where it stopped and never asks an item twice;
* ``darklaunch:{C}:rollout``, a hash holding the staged rollout's state (field ``state``, its
  JSON) and ``version`` (an integer every change increments: writers compare and set on it);
  ``darklaunch:{C}:rollout:audit``, the stream of every transition with its cause and evidence;
  ``darklaunch:{C}:rollout:changed``, the pub/sub channel a new state is published on; and
  ``darklaunch:{C}:rollout:lock``, the controller's lock (``SET NX PX``; one controller acts).

Every stream entry carries its JSON payload in the field :data:`RECORD_FIELD`, and the
comparator workers share the pairs stream as the consumer group :data:`CONSUMER_GROUP`.
``darklaunch campaigns`` finds the campaigns of a Redis by scanning for
:data:`PAIRS_KEY_PATTERN` and reading each name back with :func:`campaign_of_pairs_key`.

The braces are a Redis Cluster hash tag: all of a campaign's keys hash to one slot, so the
writer's script and the worker's pipelines, which touch several of them at once, stay legal
on a cluster.

**Shards.** One slot lives on one master, so one campaign could never use more than one node.
With ``recording.shards: N`` (N > 1) the pairs are spread over N *shard streams* whose hash
tags differ, so they fall in different slots: shard ``k`` of campaign ``C`` owns
``darklaunch:{C:k}:pairs`` with its own ``:scores``, ``:dead``, ``:judgements`` and
``:batch:<id>`` (everything one pair's write, scoring and acknowledgement touch together).
The unsharded names above are shard ``None``: a campaign recorded with one shard keeps them,
and readers always read them too, so raising ``shards`` never hides what was recorded before.
``darklaunch:{C}:shards`` holds the largest shard count the campaign was ever written with
(absent: 1), which tells readers and workers which streams exist. Campaign names cannot hold
``:``, so ``{C:k}`` never collides with another campaign's tag.
"""

from __future__ import annotations

__all__ = [
    "CONSUMER_GROUP",
    "JUDGE_GROUP",
    "KEY_PREFIX",
    "PAIRS_KEY_PATTERN",
    "RECORD_FIELD",
    "RECORD_FIELD_BYTES",
    "REVIEW_TOKENS_KEY",
    "Shard",
    "batch_marker_key",
    "campaign_of_pairs_key",
    "campaign_tag",
    "dead_key",
    "feedback_key",
    "judge_cache_key",
    "judge_cache_pattern",
    "judge_spend_key",
    "judgements_key",
    "labels_key",
    "pairs_key",
    "replayed_key",
    "rollout_audit_key",
    "rollout_channel",
    "rollout_key",
    "rollout_lock_key",
    "scores_key",
    "shards_key",
    "stream_tag",
]

KEY_PREFIX = "darklaunch"
RECORD_FIELD = "record"
# Replies of a client without decode_responses carry field names as bytes.
RECORD_FIELD_BYTES = RECORD_FIELD.encode()
CONSUMER_GROUP = "comparators"
JUDGE_GROUP = "judge"


def campaign_tag(campaign: str) -> str:
    """``darklaunch:{<campaign>}``: the part every key of a campaign starts with."""
    return f"{KEY_PREFIX}:{{{campaign}}}"


Shard = int | None
"""A campaign's stream set: ``None`` for the unsharded names, ``k`` for shard ``k``."""


def stream_tag(campaign: str, shard: Shard = None) -> str:
    """``darklaunch:{<campaign>}`` for shard ``None``, ``darklaunch:{<campaign>:<k>}`` for
    shard ``k``: the part every key of one stream set starts with."""
    if shard is None:
        return campaign_tag(campaign)
    if shard < 0:
        raise ValueError(f"shard: got {shard!r}; expected a shard number from 0")
    return f"{KEY_PREFIX}:{{{campaign}:{shard}}}"


def pairs_key(campaign: str, shard: Shard = None) -> str:
    return f"{stream_tag(campaign, shard)}:pairs"


# A ``SCAN MATCH`` glob for every campaign's pairs stream: Redis globs treat braces literally.
PAIRS_KEY_PATTERN = pairs_key("*")
# What surrounds the campaign in a pairs key, taken from pairs_key() itself (NUL never occurs
# in a key we build), so the parser cannot drift from the builder.
_PAIRS_HEAD, _PAIRS_TAIL = pairs_key("\0").split("\0")


def campaign_of_pairs_key(key: str | bytes) -> str | None:
    """The campaign whose pairs stream (unsharded or a shard) ``key`` is, or ``None`` for any
    other key."""
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    if not (text.startswith(_PAIRS_HEAD) and text.endswith(_PAIRS_TAIL)):
        return None
    campaign = text[len(_PAIRS_HEAD) : len(text) - len(_PAIRS_TAIL)]
    name, colon, shard = campaign.partition(":")
    if colon and not shard.isdigit():
        return None
    return name or None


def scores_key(campaign: str, shard: Shard = None) -> str:
    return f"{stream_tag(campaign, shard)}:scores"


def dead_key(campaign: str, shard: Shard = None) -> str:
    return f"{stream_tag(campaign, shard)}:dead"


def judgements_key(campaign: str, shard: Shard = None) -> str:
    return f"{stream_tag(campaign, shard)}:judgements"


def judge_cache_key(campaign: str, day: int) -> str:
    """The judge's cached replies about pairs made on ``day`` (days since the epoch, UTC): a
    hash per day, so that each expires on its own and the cache stays bounded."""
    return f"{campaign_tag(campaign)}:judge:cache:{day}"


def judge_cache_pattern(campaign: str) -> str:
    """A ``SCAN MATCH`` pattern for every day of :func:`judge_cache_key`."""
    return f"{campaign_tag(campaign)}:judge:cache:*"


def judge_spend_key(campaign: str, hour: int) -> str:
    """What the judge's calls cost in clock hour ``hour`` (hours since the epoch, UTC)."""
    return f"{campaign_tag(campaign)}:judge:spend:{hour}"


REVIEW_TOKENS_KEY = f"{KEY_PREFIX}:review:tokens"


def labels_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:labels"


def feedback_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:feedback"


def replayed_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:replayed"


def batch_marker_key(campaign: str, batch_id: str, shard: Shard = None) -> str:
    return f"{stream_tag(campaign, shard)}:batch:{batch_id}"


def shards_key(campaign: str) -> str:
    """The largest shard count ``campaign`` was written with (a decimal string)."""
    return f"{campaign_tag(campaign)}:shards"


def rollout_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:rollout"


def rollout_audit_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:rollout:audit"


def rollout_channel(campaign: str) -> str:
    """The pub/sub channel a rollout's new state is published on (its JSON)."""
    return f"{campaign_tag(campaign)}:rollout:changed"


def rollout_lock_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:rollout:lock"
