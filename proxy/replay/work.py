"""An item to replay, and the names that make a replay resumable.

A golden item becomes one pair record whose id is derived from (campaign, version, item,
round), so the same replay always writes the same ids (``round`` is 0 today; it leaves room
for asking an item again in later rounds). An item is the unit of work: its pairs and its
membership in the campaign's :func:`~proxy.recording.keys.replayed_key` set are written in
one transaction, so a replay
that stopped at any point resumes with exactly the items that have no pairs yet.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from proxy.recording.encode import ExpectedData

__all__ = ["ReplayItem", "done_member", "replay_pair_id"]


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One golden item as replay needs it: the request to send and, for ``--incumbent
    recorded``, what production's incumbent answered (a
    :func:`comparators.pair_view.side_output` view)."""

    id: str
    route: str
    request: dict[str, Any]
    recorded_incumbent: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # The reference answer, as the record carries it (``PairRecord.expected``).
    expected: ExpectedData | None = None


def replay_pair_id(campaign: str, version: str, item: str, round_: int) -> str:
    """32 hex characters, like a live pair id, the same on every run of the same replay."""
    key = "\0".join((campaign, version, item, str(round_))).encode()
    return hashlib.sha256(key).hexdigest()[:32]


def done_member(version: str, item: str) -> str:
    """An item's name in the campaign's replayed set: versions may share item ids."""
    return f"{version}:{item}"
