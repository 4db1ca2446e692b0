"""The worst pairs of a campaign, side by side: the examples a person reads to understand a
number. Highest divergence, largest latency regression and highest candidate cost, each
joined back to its pair record for the question and both answers.

Selection needs only the scores; the pair records (large) are then fetched for just the
chosen ids with :func:`comparators.campaign.load_pairs`::

    ids = worst_pair_ids(scores)
    worst = build_worst_pairs(scores, await load_pairs(client, campaign, ids))
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from comparators.columns.frame import dedupe
from comparators.pair_view import last_user_message, side_text
from comparators.scores import ScoreRecord
from proxy.recording.schema import PairRecord, Role

__all__ = [
    "CATEGORIES",
    "DEFAULT_WORST",
    "WorstPair",
    "WorstPairs",
    "build_worst_pairs",
    "select_worst",
    "worst_pair_ids",
]

DEFAULT_WORST = 10


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _answered_divergence(record: ScoreRecord) -> float | None:
    """Divergence where both sides answered: a failed side scores 1.0 by definition and would
    crowd out the answers that actually disagree (errors have their own rates)."""
    if (
        record.value("outcome.incumbent_error") is True
        or record.value("outcome.mirror_error") is True
    ):
        return None
    return record.divergence


# Category -> (title, how a score ranks in it; None leaves it out)
CATEGORIES: dict[str, tuple[str, Callable[[ScoreRecord], float | None]]] = {
    "divergence": ("Highest divergence (both sides answered)", _answered_divergence),
    "latency": ("Largest latency regression", lambda r: _number(r.value("latency.delta_ms"))),
    "cost": ("Highest candidate cost", lambda r: _number(r.value("cost.mirror_usd"))),
}


class WorstPair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str
    rank: int
    pair_id: str
    mirror: str
    route: str
    model: str | None = None
    divergence: float | None = None
    incumbent_ms: float | None = None
    mirror_ms: float | None = None
    incumbent_usd: float | None = None
    mirror_usd: float | None = None
    # False when the pair record is gone from the stream (trimmed): only scores are shown.
    found: bool = False
    prompt: str = ""
    incumbent_text: str = ""
    candidate_text: str = ""


class WorstPairs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = DEFAULT_WORST
    categories: dict[str, list[WorstPair]] = Field(default_factory=dict)

    def ids(self) -> set[str]:
        return {p.pair_id for pairs in self.categories.values() for p in pairs}


def select_worst(
    scores: Sequence[ScoreRecord], n: int = DEFAULT_WORST
) -> dict[str, list[ScoreRecord]]:
    """The ``n`` candidate scores ranking highest in each category (replicas are the noise
    floor, not a candidate's fault). Ties go to the earlier pair, so the choice is stable."""
    if n < 0:
        raise ValueError(f"n: got {n!r}; expected a number of pairs >= 0")
    candidates = [r for r in dedupe(scores) if r.role is Role.CANDIDATE]
    chosen: dict[str, list[ScoreRecord]] = {}
    for category, (_, rank) in CATEGORIES.items():
        ranked = [(value, r) for r in candidates if (value := rank(r)) is not None]
        top = heapq.nlargest(n, ranked, key=lambda item: (item[0], -item[1].timestamp))
        chosen[category] = [r for _, r in top]
    return chosen


def worst_pair_ids(scores: Sequence[ScoreRecord], n: int = DEFAULT_WORST) -> set[str]:
    return {r.pair_id for records in select_worst(scores, n).values() for r in records}


def _entry(category: str, rank: int, score: ScoreRecord, pair: PairRecord | None) -> WorstPair:
    fields = {
        "category": category,
        "rank": rank,
        "pair_id": score.pair_id,
        "mirror": score.mirror,
        "route": score.route,
        "model": score.model,
        "divergence": score.divergence,
        "incumbent_ms": _number(score.value("latency.incumbent_ms")),
        "mirror_ms": _number(score.value("latency.mirror_ms")),
        "incumbent_usd": _number(score.value("cost.incumbent_usd")),
        "mirror_usd": _number(score.value("cost.mirror_usd")),
    }
    if pair is None:
        return WorstPair.model_validate(fields)
    mirror = next((m for m in pair.mirrors if m.name == score.mirror), None)
    return WorstPair.model_validate(
        {
            **fields,
            "found": True,
            "prompt": last_user_message(pair.request.body),
            "incumbent_text": side_text(pair.incumbent),
            "candidate_text": side_text(mirror) if mirror is not None else "",
        }
    )


def build_worst_pairs(
    scores: Sequence[ScoreRecord],
    pairs: Mapping[str, PairRecord],
    n: int = DEFAULT_WORST,
) -> WorstPairs:
    selected = select_worst(scores, n)
    return WorstPairs(
        n=n,
        categories={
            category: [
                _entry(category, i + 1, score, pairs.get(score.pair_id))
                for i, score in enumerate(records)
            ]
            for category, records in selected.items()
        },
    )
