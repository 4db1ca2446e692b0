"""The judge's verdicts as score values, so the gate and the report read them like any other.

A judged (pair, mirror) gets two flags in its score record: ``judge.mirror_better`` and
``judge.incumbent_better`` (both false on a tie), and ``judge.orders_agree``. A pair the judge
did not judge (outside its sample, unscored, over budget, malformed) gets none: it is not in
the judge's denominator, as an unreadable answer is not in the semantic check's.
"""

from __future__ import annotations

from collections.abc import Sequence

from comparators.judge.record import Judgement
from comparators.scores import ScoreRecord

__all__ = ["with_judgements"]


def with_judgements(
    scores: Sequence[ScoreRecord], judgements: Sequence[Judgement]
) -> list[ScoreRecord]:
    """``scores`` with the verdicts of ``judgements`` joined in by (pair, mirror); the last
    judgement of a (pair, mirror) wins, as the judge's stream may hold a re-judging."""
    verdicts = {(j.pair_id, j.mirror): j for j in judgements if j.status == "judged"}
    if not verdicts:
        return list(scores)
    joined = []
    for score in scores:
        found = verdicts.get((score.pair_id, score.mirror))
        if found is None:
            joined.append(score)
            continue
        values = {
            **score.values,
            "judge.mirror_better": found.verdict == "mirror",
            "judge.incumbent_better": found.verdict == "incumbent",
            "judge.orders_agree": bool(found.orders_agree),
        }
        joined.append(score.model_copy(update={"values": values}))
    return joined
