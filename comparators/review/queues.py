"""Which (pair, mirror)s a reviewer is shown, and in what order: the review queues.

- ``worst``: where the candidate most likely got it wrong, so the few labels people have time
  for land where they decide the release: the judge's losses first (when a judge ran), then the
  largest change of meaning (semantic divergence), then the largest text divergence (the
  report's own worst-pairs selection), then budget breaches.
- ``audit``: a random sample stratified by segment (route, kind), so the labels estimate the
  campaign as a whole rather than its tail. Each item's place comes from a hash of the campaign
  and its ids, not from a random generator: the order is stable per campaign, and a pair scored
  later slots in without reshuffling what reviewers already saw.
- ``reported``: pairs end users flagged through ``POST /darklaunch/feedback``, newest first.

Queues are built from the scores (and judgements, and feedback) streams; a pair not yet
scored is in no queue except ``reported``.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from comparators.campaign import load_feedback, load_judgements, load_pairs, load_scores
from comparators.columns.frame import dedupe
from comparators.judge.record import Judgement
from comparators.report.worst import select_worst
from comparators.scores import ScoreRecord
from proxy.recording.schema import Feedback, Role
from proxy.recording.setup import RedisClient

__all__ = [
    "QUEUES",
    "CampaignData",
    "QueueItem",
    "build_queues",
    "load_campaign_data",
    "neighbours",
    "pair_url",
]

QUEUES: dict[str, str] = {
    "worst": "Worst first: judge losses, changed meaning, text divergence, budget breaches",
    "audit": "Audit: a stable random sample, stratified by route and kind",
    "reported": "Reported: pairs end users gave feedback on",
}
MAX_QUEUE = 200  # a day of one reviewer's work, and a page that stays light
AUDIT_SIZE = 60


@dataclass(frozen=True)
class QueueItem:
    """One (pair, mirror) in a queue, with why it is there."""

    pair_id: str
    mirror: str
    route: str
    kind: str | None
    why: str


@dataclass
class CampaignData:
    """What the queues and the pair page read: the candidate scores and judgements by
    (pair, mirror), and the feedback entries naming a pair (newest first)."""

    scores: dict[tuple[str, str], ScoreRecord]
    judgements: dict[tuple[str, str], Judgement]
    feedback: list[Feedback]


async def _load_feedback(client: RedisClient, campaign: str) -> list[Feedback]:
    """The newest 10,000 feedback entries, newest first."""
    return (await load_feedback(client, campaign))[::-1][:10_000]


async def load_campaign_data(client: RedisClient, campaign: str) -> CampaignData:
    scores = [r for r in dedupe(await load_scores(client, campaign)) if r.role is Role.CANDIDATE]
    judgements = {
        (j.pair_id, j.mirror): j
        for j in await load_judgements(client, campaign)
        if j.role is Role.CANDIDATE
    }
    return CampaignData(
        scores={(r.pair_id, r.mirror): r for r in scores},
        judgements=judgements,
        feedback=await _load_feedback(client, campaign),
    )


def _item(record: ScoreRecord, why: str) -> QueueItem:
    return QueueItem(record.pair_id, record.mirror, record.route, record.kind, why)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _worst(data: CampaignData) -> list[QueueItem]:
    records = list(data.scores.values())
    tiers: list[list[QueueItem]] = []
    losses = [
        (j, data.scores.get(key))
        for key, j in data.judgements.items()
        if j.status == "judged" and j.verdict == "incumbent"
    ]
    losses.sort(key=lambda item: item[0].timestamp)
    tiers.append(
        [
            QueueItem(j.pair_id, j.mirror, j.route, j.kind, "judge preferred the incumbent")
            for j, _ in losses
        ]
    )
    semantic = [
        (1.0 - sim, r)
        for r in records
        if r.value("semantic.applicable") is True
        and (sim := _number(r.value("semantic.similarity"))) is not None
        and sim < 1.0
    ]
    semantic.sort(key=lambda item: (-item[0], item[1].timestamp))
    tiers.append([_item(r, f"meaning changed (semantic divergence {d:.2f})") for d, r in semantic])
    divergent = select_worst(records, MAX_QUEUE)["divergence"]
    tiers.append(
        [_item(r, f"text divergence {r.divergence or 0.0:.2f}") for r in divergent if r.divergence]
    )
    breached = sorted((r for r in records if r.breaches), key=lambda r: r.timestamp)
    tiers.append([_item(r, "budget breached: " + ", ".join(r.breaches)) for r in breached])
    return _unique(item for tier in tiers for item in tier)


def _rank(campaign: str, item: QueueItem) -> str:
    return hashlib.sha256(f"{campaign}\0{item.pair_id}\0{item.mirror}".encode()).hexdigest()


def _audit(data: CampaignData, campaign: str, size: int = AUDIT_SIZE) -> list[QueueItem]:
    """Round-robin over the segments, each in its hash order: small segments are not drowned
    out by a busy route, and the sample is the same on every load."""
    strata: dict[tuple[str, str], list[QueueItem]] = defaultdict(list)
    for record in data.scores.values():
        segment = f"{record.route} / {record.kind or 'any'}"
        strata[(record.route, record.kind or "")].append(_item(record, f"sample of {segment}"))
    ordered = [
        sorted(items, key=lambda i: _rank(campaign, i)) for _, items in sorted(strata.items())
    ]
    sample: list[QueueItem] = []
    depth = 0
    while len(sample) < size and any(depth < len(items) for items in ordered):
        sample.extend(items[depth] for items in ordered if depth < len(items))
        depth += 1
    return sample[:size]


async def _reported(client: RedisClient, campaign: str, data: CampaignData) -> list[QueueItem]:
    named = [f for f in data.feedback if f.pair_id]
    by_pair: dict[str, list[ScoreRecord]] = defaultdict(list)
    for record in data.scores.values():
        by_pair[record.pair_id].append(record)
    missing = {f.pair_id for f in named if f.pair_id and f.pair_id not in by_pair}
    pairs = await load_pairs(client, campaign, missing) if missing else {}
    items: list[QueueItem] = []
    for feedback in named:
        assert feedback.pair_id is not None
        why = f"user said {feedback.rating}" + (
            f": {feedback.comment[:120]}" if feedback.comment else ""
        )
        if feedback.pair_id in by_pair:
            items.extend(
                QueueItem(r.pair_id, r.mirror, r.route, r.kind, why)
                for r in by_pair[feedback.pair_id]
            )
        elif (pair := pairs.get(feedback.pair_id)) is not None:
            items.extend(
                QueueItem(pair.pair_id, m.name, pair.route, None, why)
                for m in pair.mirrors
                if m.role is Role.CANDIDATE
            )
    return _unique(items)


def _unique(items: Iterable[QueueItem]) -> list[QueueItem]:
    seen: set[tuple[str, str]] = set()
    kept: list[QueueItem] = []
    for item in items:
        if (item.pair_id, item.mirror) not in seen:
            seen.add((item.pair_id, item.mirror))
            kept.append(item)
        if len(kept) >= MAX_QUEUE:
            break
    return kept


async def build_queues(
    client: RedisClient, campaign: str, data: CampaignData
) -> dict[str, Sequence[QueueItem]]:
    return {
        "worst": _worst(data),
        "audit": _audit(data, campaign),
        "reported": await _reported(client, campaign, data),
    }


def pair_url(item: QueueItem | tuple[str, str], queue: str) -> str:
    pair_id, mirror = (item.pair_id, item.mirror) if isinstance(item, QueueItem) else item
    return f"/pair/{quote(pair_id, safe='')}/{quote(mirror, safe='')}?q={quote(queue)}"


def neighbours(
    queues: dict[str, Sequence[QueueItem]], queue: str, key: tuple[str, str]
) -> tuple[int | None, int, str | None, str | None]:
    """Position in the queue (or None), its length, and the previous and next pair's URLs."""
    items = list(queues.get(queue, ()))
    keys = [(i.pair_id, i.mirror) for i in items]
    if key not in keys:
        return None, len(items), None, None
    at = keys.index(key)
    prev = pair_url(items[at - 1], queue) if at > 0 else None
    nxt = pair_url(items[at + 1], queue) if at + 1 < len(items) else None
    return at, len(items), prev, nxt
