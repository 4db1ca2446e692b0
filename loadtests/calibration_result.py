"""What the calibration study measures: a setting, the outcome of each seed, and a setting's
result against its target. The study (:mod:`loadtests.calibration`) fills them in and the
report (:mod:`loadtests.calibration_doc`) writes them out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from comparators.gate.result import Verdict
from comparators.gate.stats import wilson_interval
from loadtests.synthetic import Behaviour

__all__ = ["MAX_FAIL_RATE", "MIN_FAIL_RATE", "SeedOutcome", "Setting", "SettingResult"]

MAX_FAIL_RATE = 0.05
MIN_FAIL_RATE = 0.95


@dataclass(frozen=True)
class Setting:
    key: str
    title: str
    candidate: Behaviour
    pairs: int
    expect_fail: bool


@dataclass(frozen=True)
class SeedOutcome:
    seed: int
    verdict: Verdict
    failed: tuple[str, ...]
    inconclusive: tuple[str, ...]
    excess_divergence: float | None
    p95_ratio: float | None
    median_ratio: float | None
    seconds: float


@dataclass
class SettingResult:
    setting: Setting
    outcomes: list[SeedOutcome] = field(default_factory=list)
    wall_seconds: float = 0.0

    def count(self, verdict: Verdict) -> int:
        return sum(1 for o in self.outcomes if o.verdict is verdict)

    @property
    def fail_rate(self) -> float:
        return self.count(Verdict.FAIL) / len(self.outcomes) if self.outcomes else 0.0

    @property
    def fail_interval(self) -> tuple[float, float]:
        return wilson_interval(self.count(Verdict.FAIL), len(self.outcomes))

    @property
    def met(self) -> bool:
        if self.setting.expect_fail:
            return self.fail_rate >= MIN_FAIL_RATE
        return self.fail_rate <= MAX_FAIL_RATE

    def mean(self, name: str) -> float | None:
        values = [getattr(o, name) for o in self.outcomes if getattr(o, name) is not None]
        return float(np.mean(values)) if values else None

    def failed_checks(self) -> Counter[str]:
        return Counter(name for o in self.outcomes for name in o.failed)

    def inconclusive_checks(self) -> Counter[str]:
        return Counter(name for o in self.outcomes for name in o.inconclusive)
