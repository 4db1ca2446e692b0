"""Latency: how much slower (or faster) the mirror answered, and whether it kept its budget.

``delta_ms = mirror - incumbent`` and ``ratio = mirror / incumbent`` for total time and for
time to first token, ``None`` when either side has no measurement (or, for a ratio, when the
incumbent's is 0). Times are reported for failed sides too, since a timeout is a real wait;
``both_ok`` lets the report keep only pairs where both sides answered.

Budgets are the mirror's alone: the incumbent is what clients already live with. ``latency_ms``
and ``ttft_ms`` are breached when the mirror's time is strictly above the budget resolved for
the request's route and requested model (see :mod:`comparators.pricing.budgets`).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from comparators.base import ComparatorContext, Pairing, make_score
from comparators.pricing.budgets import Budgets
from comparators.scores import Score, Value

__all__ = ["LatencyComparator", "LatencyOptions"]

logger = logging.getLogger(__name__)


def _delta(mirror: float | None, incumbent: float | None) -> float | None:
    return mirror - incumbent if mirror is not None and incumbent is not None else None


def _ratio(mirror: float | None, incumbent: float | None) -> float | None:
    return mirror / incumbent if mirror is not None and incumbent else None


class LatencyOptions(BaseModel):
    """No options: budgets live under the config's ``budgets:`` section."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyComparator:
    name: ClassVar[str] = "latency"
    Options: ClassVar[type[BaseModel]] = LatencyOptions

    def __init__(self, options: LatencyOptions, context: ComparatorContext) -> None:
        self.options = options
        self.budgets: Budgets = context.budgets

    def compare(self, pair: Pairing) -> list[Score]:
        inc, mir = pair.incumbent, pair.mirror
        values: dict[str, Value] = {
            "incumbent_ms": inc.latency_ms,
            "mirror_ms": mir.latency_ms,
            "delta_ms": _delta(mir.latency_ms, inc.latency_ms),
            "ratio": _ratio(mir.latency_ms, inc.latency_ms),
            "incumbent_ttft_ms": inc.ttft_ms,
            "mirror_ttft_ms": mir.ttft_ms,
            "ttft_delta_ms": _delta(mir.ttft_ms, inc.ttft_ms),
            "ttft_ratio": _ratio(mir.ttft_ms, inc.ttft_ms),
            "both_ok": pair.both_ok,
        }
        budget = pair.budget(self.budgets)
        breaches: list[str] = []
        details: dict[str, Any] = {}
        if budget.latency_ms is not None and (mir.latency_ms or 0.0) > budget.latency_ms:
            breaches.append("latency_ms")
            details["latency_budget_ms"] = budget.latency_ms
        if budget.ttft_ms is not None and (mir.ttft_ms or 0.0) > budget.ttft_ms:
            breaches.append("ttft_ms")
            details["ttft_budget_ms"] = budget.ttft_ms
        return [make_score(self.name, values, details, breaches)]
