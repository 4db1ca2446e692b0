"""What the calibration study measures: a setting (a realistic scenario, the policy it is
judged by and its target), the outcome of each seed, and a setting's result against its
target. The study (:mod:`loadtests.calibration`) fills them in and the report
(:mod:`loadtests.calibration_doc`) writes them out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from comparators.gate.result import Verdict
from comparators.gate.stats import wilson_interval
from loadtests.realistic import Scenario

__all__ = ["Goal", "SeedOutcome", "Setting", "SettingResult"]


class Goal(StrEnum):
    """What a setting must show, over its seeds."""

    FAIL_AT_MOST = "FAIL at most"  # a candidate that is fine must rarely FAIL
    FAIL_AT_LEAST = "FAIL at least"  # a regression must FAIL
    PASS_AT_LEAST = "PASS at least"  # an equally good candidate must PASS


@dataclass(frozen=True)
class Setting:
    key: str
    title: str
    scenario: Scenario
    goal: Goal
    rate: float
    # Policy keys that differ from the shipped gate.yaml for this setting (e.g. a TTFT limit).
    policy: tuple[tuple[str, Any], ...] = ()

    @property
    def target(self) -> str:
        sign = "≤" if self.goal is Goal.FAIL_AT_MOST else "≥"
        verdict = "PASS" if self.goal is Goal.PASS_AT_LEAST else "FAIL"
        return f"{verdict} {sign} {self.rate:.0%}"


@dataclass(frozen=True)
class SeedOutcome:
    seed: int
    verdict: Verdict
    failed: tuple[str, ...]
    inconclusive: tuple[str, ...]
    excess_change: float | None
    p95_ratio: float | None
    p99_ratio: float | None
    median_ratio: float | None
    ttft_ratio: float | None
    wrong_share: float
    seconds: float


@dataclass
class SettingResult:
    setting: Setting
    outcomes: list[SeedOutcome] = field(default_factory=list)
    wall_seconds: float = 0.0

    def count(self, verdict: Verdict) -> int:
        return sum(1 for o in self.outcomes if o.verdict is verdict)

    def _counted(self) -> int:
        return self.count(Verdict.PASS if self.setting.goal is Goal.PASS_AT_LEAST else Verdict.FAIL)

    @property
    def rate(self) -> float:
        """The share of seeds with the verdict the goal counts (PASS or FAIL)."""
        return self._counted() / len(self.outcomes) if self.outcomes else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self._counted(), len(self.outcomes))

    @property
    def met(self) -> bool:
        if self.setting.goal is Goal.FAIL_AT_MOST:
            return self.rate <= self.setting.rate
        return self.rate >= self.setting.rate

    def mean(self, name: str) -> float | None:
        values = [getattr(o, name) for o in self.outcomes if getattr(o, name) is not None]
        return float(np.mean(values)) if values else None

    def failed_checks(self) -> Counter[str]:
        return Counter(name for o in self.outcomes for name in o.failed)

    def inconclusive_checks(self) -> Counter[str]:
        return Counter(name for o in self.outcomes for name in o.inconclusive)
