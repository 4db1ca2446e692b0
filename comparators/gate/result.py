"""What the gate decided and why: the verdict, and every check with its measured value, its
one-sided bounds and its limit, so a CI log shows the evidence, not only the outcome.

``GateResult.model_dump_json()`` is the machine-readable form; add fields, never rename them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from comparators.gate.estimate import Decision

__all__ = ["Check", "GateResult", "SegmentVerdict", "Verdict"]

# One vocabulary for a check's status and the overall verdict.
Verdict = Decision


class Check(BaseModel):
    """One limit on one candidate, over all its pairs (``segment`` ``None``) or one segment
    (``"kind=tool_call"``). For an ``at_most`` check ``upper`` is the one-sided bound at the
    gate's confidence that a PASS needs within the limit, and ``lower`` the one-sided bound at
    the family-adjusted confidence that a FAIL needs beyond it (see
    :mod:`comparators.gate.verdict`); for an ``at_least`` check (``min_reference_accuracy``)
    the roles swap: ``lower`` is the PASS bound, ``upper`` the FAIL bound.
    ``detectable`` is the check's power in the limit's units: about the smallest true value
    that these pairs would FAIL half the time. ``pairs_to_decide`` sizes an INCONCLUSIVE
    check: about the pairs (in the units of ``n``) at which it would decide nine times in ten
    if the measured value held (:mod:`comparators.gate.sizing`); ``None`` for a decided check
    and for one no number of pairs decides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: str
    name: str
    segment: str | None = None
    status: Verdict
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    threshold: float
    direction: Literal["at_most", "at_least"] = "at_most"
    unit: str = ""
    n: int = 0
    method: str = ""
    detectable: float | None = None
    pairs_to_decide: int | None = None


class SegmentVerdict(BaseModel):
    """One segment of one candidate: its pairs, and its verdict when it was judged (``None``
    when it had fewer than ``min_segment_pairs``: shown, not judged)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: str
    segment: str
    n: int
    status: Verdict | None = None


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    exit_code: int
    confidence: float
    candidates: dict[str, Verdict] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    segments: list[SegmentVerdict] = Field(default_factory=list)
    # The family-wise error control: each FAIL bound's one-sided confidence, per family.
    fail_confidence: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    # (pair, mirror) records no comparator could score (``ScoreRecord.unscored``): left out of
    # every check, and named per route in ``notes``.
    unscored: int = 0
    policy: dict[str, Any] = Field(default_factory=dict)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status is Verdict.FAIL]
