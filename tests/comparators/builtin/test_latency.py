from __future__ import annotations

from typing import Any

import pytest

from comparators.base import ComparatorContext
from comparators.builtin.latency import LatencyComparator, LatencyOptions
from comparators.pricing.budgets import Budgets
from comparators.scores import Score
from proxy.config.analysis import BudgetsConfig
from proxy.recording.schema import Side
from tests.comparators.factories import mirror, pairing, side


def run(
    incumbent: Side, mirror_side: Side, route: str = "/v1/chat/completions", **budgets: Any
) -> Score:
    context = ComparatorContext(budgets=Budgets(BudgetsConfig.model_validate(budgets)))
    [score] = LatencyComparator(LatencyOptions(), context).compare(
        pairing(incumbent, mirror_side, route=route)
    )
    return score


def test_deltas_and_ratios() -> None:
    score = run(side(latency_ms=200.0, ttft_ms=50.0), mirror(latency_ms=300.0, ttft_ms=40.0))
    assert score.values == {
        "incumbent_ms": 200.0,
        "mirror_ms": 300.0,
        "delta_ms": 100.0,
        "ratio": 1.5,
        "incumbent_ttft_ms": 50.0,
        "mirror_ttft_ms": 40.0,
        "ttft_delta_ms": -10.0,
        "ttft_ratio": 0.8,
        "both_ok": True,
    }
    assert score.breaches == []


@pytest.mark.parametrize(
    ("incumbent_ms", "mirror_ms"), [(None, 100.0), (100.0, None), (0.0, 100.0)]
)
def test_missing_or_zero_measurements_give_no_ratio(
    incumbent_ms: float | None, mirror_ms: float | None
) -> None:
    score = run(side(latency_ms=incumbent_ms), mirror(latency_ms=mirror_ms))
    assert score.values["ratio"] is None


def test_failed_side_still_reports_its_wait() -> None:
    score = run(side(), mirror(error="timeout", status=None, latency_ms=120_000.0, ttft_ms=None))
    assert score.values["mirror_ms"] == 120_000.0
    assert score.values["both_ok"] is False
    assert score.values["ttft_delta_ms"] is None


def test_breaches_are_the_mirrors_alone() -> None:
    score = run(
        side(latency_ms=5000.0, ttft_ms=5000.0),
        mirror(latency_ms=2500.0, ttft_ms=400.0),
        latency_ms=2000,
        ttft_ms=500,
    )
    assert score.breaches == ["latency_ms"]
    assert score.details == {"latency_budget_ms": 2000}


def test_budget_equal_to_the_time_is_kept() -> None:
    score = run(side(), mirror(latency_ms=2000.0, ttft_ms=500.0), latency_ms=2000, ttft_ms=500)
    assert score.breaches == []


def test_route_override_applies() -> None:
    overrides = [{"route": "/v1/embeddings", "latency_ms": 300, "ttft_ms": 100}]
    score = run(
        side(),
        mirror(latency_ms=400.0, ttft_ms=150.0),
        route="/v1/embeddings",
        latency_ms=2000,
        overrides=overrides,
    )
    assert score.breaches == ["latency_ms", "ttft_ms"]
