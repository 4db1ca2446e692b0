"""The LLM judge's part of the report: what it read, how consistent it was, what it cost,
and its reasons for the candidate's losses (:class:`~comparators.report.model.JudgeSummary`).

The verdict shares per slice are in the slices themselves (``judge_better``, ...); this is the
campaign-wide rest, built from the judgements stream, which the score records do not carry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from comparators.judge.record import Judgement
from comparators.report.model import JudgeLoss, JudgeSummary
from proxy.recording.schema import Role

__all__ = ["MAX_LOSSES", "judge_summary"]

MAX_LOSSES = 10


def judge_summary(judgements: Sequence[Judgement]) -> JudgeSummary | None:
    """``None`` when no judge ran. Losses are the candidate pairs both orders gave to the
    incumbent, first recorded first, with the reason the judge gave."""
    if not judgements:
        return None
    judged = [j for j in judgements if j.status == "judged"]
    costs = [j.cost_usd for j in judgements if j.cost_usd is not None]
    losses = [
        JudgeLoss(pair_id=j.pair_id, mirror=j.mirror, reason=j.reason)
        for j in judged
        if j.role is Role.CANDIDATE and j.verdict == "incumbent"
    ]
    return JudgeSummary(
        models=sorted({j.judge_model for j in judgements}),
        statuses=dict(Counter(j.status for j in judgements)),
        orders_agree=(sum(bool(j.orders_agree) for j in judged) / len(judged)) if judged else None,
        calls=sum(j.calls for j in judgements),
        cached=sum(j.cached for j in judgements),
        input_tokens=sum(j.input_tokens for j in judgements),
        output_tokens=sum(j.output_tokens for j in judgements),
        cost_usd=sum(costs) if costs else None,
        losses=len(losses),
        worst_losses=losses[:MAX_LOSSES],
    )
