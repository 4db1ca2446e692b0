"""The reviewers' part of the report: what they labeled, how far they agree with each other,
how far the LLM judge agrees with them, and how many labeled pairs carry a corrected answer
(:class:`~comparators.report.model.HumanSummary`).

Built from the labels stream, as :mod:`comparators.report.judged` is from the judgements
stream: the score records carry neither. Each reviewer's latest label per (pair, mirror) is
counted; a label's route and request kind come from the score record of its (pair, mirror),
so a label whose pair was never scored counts for its candidate but in no segment.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from comparators.columns.frame import dedupe
from comparators.gate import stats
from comparators.judge.record import Judgement
from comparators.report.model import HumanAgreement, HumanSummary, LabelCounts
from comparators.review.agreement import (
    Agreement,
    judge_human_agreement,
    latest_per_pair,
    reviewer_agreement,
)
from comparators.review.label import VERDICTS, Label, latest_labels
from comparators.scores import ScoreRecord

__all__ = ["human_summary"]

SEGMENT_SCOPES = ("route", "kind")


def _agreement(found: Agreement, *, judge: bool) -> HumanAgreement:
    return HumanAgreement(
        kappa=found.kappa,
        percent_agreement=found.percent,
        reviewer_pairs=found.reviewer_pairs,
        confusion=found.confusion if judge else {},
        left_out=found.left_out,
    )


def _counts(scope: str, key: str, labels: Sequence[Label]) -> LabelCounts:
    tally = Counter(label.verdict for label in labels)
    return LabelCounts(
        scope=scope,
        key=key,
        labels=len(labels),
        verdicts={verdict: tally[verdict] for verdict in VERDICTS if tally[verdict]},
    )


def _slices(labels: Sequence[Label], scores: Sequence[ScoreRecord]) -> list[LabelCounts]:
    """Per candidate (the label's mirror), then per route and per kind of the scored pairs."""
    by_key = {(s.pair_id, s.mirror): s for s in dedupe(scores)}
    groups: dict[tuple[str, str], list[Label]] = {}
    for label in labels:
        groups.setdefault(("candidate", label.mirror), []).append(label)
        record = by_key.get((label.pair_id, label.mirror))
        if record is None:
            continue
        groups.setdefault(("route", record.route), []).append(label)
        if record.kind is not None:
            groups.setdefault(("kind", record.kind), []).append(label)
    order = {scope: index for index, scope in enumerate(("candidate", *SEGMENT_SCOPES))}
    ranked = sorted(groups.items(), key=lambda item: (order[item[0][0]], item[0][1]))
    return [_counts(scope, key, found) for (scope, key), found in ranked]


def human_summary(
    labels: Sequence[Label],
    scores: Sequence[ScoreRecord] = (),
    judgements: Sequence[Judgement] = (),
    *,
    confidence: float = 0.95,
) -> HumanSummary | None:
    """``None`` when nobody labeled anything. Judge–human agreement only when a judge ran."""
    latest = latest_labels(labels)
    if not latest:
        return None
    per_pair = latest_per_pair(latest)
    # The latest label's answer, as ``export --labeled`` takes it: what would enter the set.
    with_expected = sum(1 for label in per_pair.values() if label.expected)
    tally = Counter(label.verdict for label in latest)
    judge = None
    if judgements:
        found = judge_human_agreement(latest, judgements, confidence=confidence)
        judge = _agreement(found, judge=True)
    return HumanSummary(
        labels=len(latest),
        labeled_pairs=len(per_pair),
        verdicts={verdict: tally[verdict] for verdict in VERDICTS if tally[verdict]},
        reviewers=dict(sorted(Counter(label.reviewer for label in latest).items())),
        slices=_slices(latest, scores),
        inter_reviewer=_agreement(reviewer_agreement(latest, confidence=confidence), judge=False),
        judge_human=judge,
        with_expected=stats.proportion(with_expected, len(per_pair), confidence),
    )
