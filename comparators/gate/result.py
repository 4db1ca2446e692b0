"""What the gate decided and why: the verdict, and every check with its measured value, its
one-sided bounds and its limit, so a CI log shows the evidence, not only the outcome.

``GateResult.model_dump_json()`` is the machine-readable form; add fields, never rename them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from comparators.gate.estimate import Decision

__all__ = ["Check", "GateResult", "Verdict"]

# One vocabulary for a check's status and the overall verdict.
Verdict = Decision


class Check(BaseModel):
    """One limit on one candidate. ``lower``/``upper`` are one-sided bounds at the gate's
    confidence; ``direction`` says whether the value must stay at most or at least the
    threshold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidate: str
    name: str
    status: Verdict
    value: float | None = None
    lower: float | None = None
    upper: float | None = None
    threshold: float
    direction: Literal["at_most", "at_least"] = "at_most"
    unit: str = ""
    n: int = 0
    method: str = ""


class GateResult(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    exit_code: int
    confidence: float
    candidates: dict[str, Verdict] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    policy: dict[str, Any] = Field(default_factory=dict)

    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status is Verdict.FAIL]
