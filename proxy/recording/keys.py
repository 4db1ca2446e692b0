"""Every Redis name darklaunch uses, built in this one module.

The writer in the proxy, the comparator worker, the report, the gate and export all meet on
these names, so they are a contract (``docs/records.md``): a campaign ``C`` owns

* ``darklaunch:{C}:pairs``, the stream of pair records the proxy writes;
* ``darklaunch:{C}:scores``, the stream of score records the worker writes;
* ``darklaunch:{C}:dead``, entries of the pairs stream that did not parse, set aside;
* ``darklaunch:{C}:batch:<id>``, short-lived markers that make a spooled batch's replay
  idempotent.

Every stream entry carries its JSON payload in the field :data:`RECORD_FIELD`, and the
comparator workers share the pairs stream as the consumer group :data:`CONSUMER_GROUP`.

The braces are a Redis Cluster hash tag: all of a campaign's keys hash to one slot, so the
writer's script and the worker's pipelines, which touch several of them at once, stay legal
on a cluster.
"""

from __future__ import annotations

__all__ = [
    "CONSUMER_GROUP",
    "KEY_PREFIX",
    "RECORD_FIELD",
    "RECORD_FIELD_BYTES",
    "batch_marker_key",
    "campaign_tag",
    "dead_key",
    "pairs_key",
    "scores_key",
]

KEY_PREFIX = "darklaunch"
RECORD_FIELD = "record"
# Replies of a client without decode_responses carry field names as bytes.
RECORD_FIELD_BYTES = RECORD_FIELD.encode()
CONSUMER_GROUP = "comparators"


def campaign_tag(campaign: str) -> str:
    """``darklaunch:{<campaign>}``: the part every key of a campaign starts with."""
    return f"{KEY_PREFIX}:{{{campaign}}}"


def pairs_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:pairs"


def scores_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:scores"


def dead_key(campaign: str) -> str:
    return f"{campaign_tag(campaign)}:dead"


def batch_marker_key(campaign: str, batch_id: str) -> str:
    return f"{campaign_tag(campaign)}:batch:{batch_id}"
