from __future__ import annotations

from typing import Any

import pytest

from comparators.pricing.budgets import Budgets, ResolvedBudget
from proxy.config.analysis import BudgetsConfig

CHAT, EMBED = "/v1/chat/completions", "/v1/embeddings"


def budgets(**config: Any) -> Budgets:
    return Budgets(BudgetsConfig.model_validate(config))


def test_no_config_means_no_budgets() -> None:
    assert Budgets().resolve(CHAT, "gpt-4o") == ResolvedBudget(None, None, None)


def test_defaults_apply_everywhere() -> None:
    resolved = budgets(latency_ms=2000, ttft_ms=500, cost_usd=0.01).resolve(EMBED, None)
    assert resolved == ResolvedBudget(latency_ms=2000, ttft_ms=500, cost_usd=0.01)


OVERRIDES = {
    "latency_ms": 1000,
    "cost_usd": 0.01,
    "overrides": [
        {"route": EMBED, "latency_ms": 300},
        {"model": "gpt-4o", "latency_ms": 3000, "cost_usd": 0.05},
        {"route": EMBED, "model": "gpt-4o", "latency_ms": 400},
        {"model": "gpt-4o", "latency_ms": 9999},  # same specificity, later: loses
    ],
}


@pytest.mark.parametrize(
    ("route", "model", "expected"),
    [
        (CHAT, "other", ResolvedBudget(1000, None, 0.01)),  # default
        (EMBED, "other", ResolvedBudget(300, None, 0.01)),  # route
        (CHAT, "gpt-4o", ResolvedBudget(3000, None, 0.05)),  # model beats default
        (EMBED, "gpt-4o", ResolvedBudget(400, None, 0.05)),  # route+model, cost from model
        (EMBED, None, ResolvedBudget(300, None, 0.01)),
    ],
)
def test_most_specific_rule_wins_per_budget(
    route: str, model: str | None, expected: ResolvedBudget
) -> None:
    assert budgets(**OVERRIDES).resolve(route, model) == expected


def test_catch_all_rule_beats_the_default() -> None:
    resolved = budgets(ttft_ms=500, overrides=[{"ttft_ms": 800}]).resolve(CHAT, None)
    assert resolved.ttft_ms == 800


def test_results_are_memoised() -> None:
    resolver = budgets(**OVERRIDES)
    assert resolver.resolve(CHAT, "gpt-4o") is resolver.resolve(CHAT, "gpt-4o")
