"""The small vocabulary every statistic here speaks: an estimate with its interval, the
gate's three-way decision, and the input hygiene they share.

Kept apart from :mod:`comparators.gate.stats` so the report model and the gate can name these
types without pulling in scipy, and so ``stats`` stays one concept: the computations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_MAX_PAIRS",
    "DEFAULT_RESAMPLES",
    "Decision",
    "Estimate",
    "FloatArray",
    "as_array",
    "check_confidence",
    "decide_at_most",
    "normal_quantile",
    "two_sided_level",
]

FloatArray = npt.NDArray[np.float64]
DEFAULT_RESAMPLES = 2000
DEFAULT_MAX_PAIRS = 1_000_000


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with its interval; ``None`` where the data cannot support a number
    (no observations, or too few for an interval), so a caller can never mistake "unknown"
    for zero."""

    value: float | None
    lower: float | None
    upper: float | None
    n: int = 0

    def map(self, transform: Callable[[float], float]) -> Estimate:
        """The estimate on another scale (log to ratio, per query to per month); only valid for
        increasing transforms, which keep the lower bound below the upper one."""
        lower = None if self.lower is None else transform(self.lower)
        upper = None if self.upper is None else transform(self.upper)
        value = None if self.value is None else transform(self.value)
        return Estimate(value, lower, upper, self.n)


class Decision(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


def check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: got {confidence!r}; expected a number in (0, 1)")


def two_sided_level(one_sided_confidence: float) -> float:
    """The two-sided level whose interval ends are one-sided bounds at ``confidence``: a
    90% two-sided interval's upper end is a 95% one-sided upper bound. The gate asks
    one-sided questions ("is the excess at most 5 points?"), so using the two-sided 95%
    interval there would be needlessly strict."""
    check_confidence(one_sided_confidence)
    if one_sided_confidence <= 0.5:
        raise ValueError(
            f"confidence: got {one_sided_confidence!r}; expected more than 0.5 for a bound"
        )
    return 2.0 * one_sided_confidence - 1.0


def as_array(values: Sequence[float] | FloatArray) -> FloatArray:
    """A finite float64 array: NaN and infinities are dropped, because one NaN makes every
    quantile NaN and a missing measurement is not a measurement."""
    array = np.asarray(values, dtype=np.float64)
    return array[np.isfinite(array)]


def normal_quantile(confidence: float) -> float:
    """The z with ``confidence`` between -z and z."""
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def decide_at_most(estimate: Estimate, limit: float) -> Decision:
    """The gate's rule for "the true value must be at most ``limit``", given an estimate whose
    ``lower``/``upper`` are one-sided bounds at the gate's confidence: FAIL only when even the
    lower bound is above the limit (evidence of a breach), PASS only when the upper bound is
    within it (evidence of compliance), otherwise INCONCLUSIVE."""
    if estimate.lower is not None and estimate.lower > limit:
        return Decision.FAIL
    if estimate.upper is not None and estimate.upper <= limit:
        return Decision.PASS
    return Decision.INCONCLUSIVE
