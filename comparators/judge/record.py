"""One judged (pair, mirror): the record of the judgements stream (``docs/records.md``).

Every (pair, mirror) the judge *read* gets one, whether it was judged or not, so nothing is
left out silently: ``status`` says what happened.

- ``judged``: both orders answered; ``verdict`` is set.
- ``malformed``: the judge's reply was not the JSON asked for, twice; not guessed.
- ``failed``: the judge could not be reached or timed out, twice.
- ``budget``: the hour's ``max_usd_per_hour`` was spent; not asked.
- ``unscored``: a side failed or has no answer (an outcome, judged by the error checks).

Pairs outside the sample get no record; the judge's metrics count them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from proxy.recording.schema import Role

__all__ = ["JUDGEMENT_STATUSES", "Judgement", "JudgementStatus"]

JudgementStatus = Literal["judged", "malformed", "failed", "budget", "unscored"]
JUDGEMENT_STATUSES: tuple[JudgementStatus, ...] = (
    "judged",
    "malformed",
    "failed",
    "budget",
    "unscored",
)


class Judgement(BaseModel):
    model_config = ConfigDict(extra="ignore")

    pair_id: str
    campaign: str
    timestamp: float
    route: str
    model: str | None = None
    mirror: str
    role: Role
    mirror_model: str | None = None
    # The segment labels a score record carries, so the gate judges segments from here alone.
    kind: str | None = None
    stream: bool = False
    tags: dict[str, str] = Field(default_factory=dict)
    status: JudgementStatus
    verdict: Literal["mirror", "incumbent", "tie"] | None = None
    orders_agree: bool | None = None
    first: Literal["mirror", "incumbent", "tie"] | None = None
    second: Literal["mirror", "incumbent", "tie"] | None = None
    mirror_refused: bool | None = None
    reason: str = ""
    reference: bool = False
    judge_model: str
    prompt_version: str
    calls: int = 0  # judge calls paid for (cached answers are free)
    cached: int = 0  # orders answered from the cache
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None  # None: the judge model has no price
