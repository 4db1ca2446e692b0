from __future__ import annotations

from typing import Any

import pytest

from comparators.base import ComparatorContext
from comparators.builtin.cost import CostComparator, CostOptions, completion_chars, prompt_chars
from comparators.pricing.budgets import Budgets
from comparators.pricing.prices import PriceTable
from comparators.scores import Score
from proxy.config.analysis import BudgetsConfig
from proxy.recording.schema import Side
from tests.comparators.factories import call, mirror, output, pairing, side, usage

PRICES = PriceTable(
    {
        "big-model-v1": {
            "input_cost_per_token": 2.5e-6,
            "output_cost_per_token": 1e-5,
            "cache_read_input_token_cost": 1.25e-6,
        },
        "small-model-v2": {
            "input_cost_per_token": 1.5e-7,
            "output_cost_per_token": 6e-7,
            "cache_read_input_token_cost": 7.5e-8,
        },
        "reasoner": {
            "input_cost_per_token": 1e-6,
            "output_cost_per_token": 4e-6,
            "cache_read_input_token_cost": 5e-7,
            "output_cost_per_reasoning_token": 2e-6,
        },
    }
)


def run(
    incumbent: Side, mirror_side: Side, *, cost_usd: float | None = None, **record: Any
) -> Score:
    context = ComparatorContext(prices=PRICES, budgets=Budgets(BudgetsConfig(cost_usd=cost_usd)))
    [score] = CostComparator(CostOptions(), context).compare(
        pairing(incumbent, mirror_side, **record)
    )
    return score


def test_cached_and_reasoning_tokens_by_hand() -> None:
    score = run(
        side(usage=usage(1000, 500, cached=400)),
        mirror(model="reasoner", usage=usage(1000, 800, cached=200, reasoning=500)),
    )
    # incumbent: 600 * 2.5e-6 + 400 * 1.25e-6 + 500 * 1e-5 = 0.0015 + 0.0005 + 0.005
    # mirror: 800 * 1e-6 + 200 * 5e-7 + 300 * 4e-6 + 500 * 2e-6
    #       = 0.0008 + 0.0001 + 0.0012 + 0.001
    assert score.values["incumbent_usd"] == pytest.approx(0.007)
    assert score.values["mirror_usd"] == pytest.approx(0.0031)
    assert score.values["delta_usd"] == pytest.approx(0.0031 - 0.007)
    assert score.values["ratio"] == pytest.approx(0.0031 / 0.007)
    assert score.values["estimated"] is False
    assert score.values["incumbent_tokens"] == 1500
    assert score.values["mirror_tokens"] == 1800
    assert score.details == {}


def test_responses_api_usage_is_priced_the_same() -> None:
    responses_usage = {
        "input_tokens": 1000,
        "output_tokens": 800,
        "input_tokens_details": {"cached_tokens": 200},
        "output_tokens_details": {"reasoning_tokens": 500},
    }
    score = run(side(usage=usage(1, 1)), mirror(model="reasoner", usage=responses_usage))
    assert score.values["mirror_usd"] == pytest.approx(0.0031)


def test_unpriced_model_is_none_never_zero() -> None:
    score = run(side(usage=usage(10, 10)), mirror(model="mystery-model", usage=usage(10, 10)))
    assert score.values["mirror_usd"] is None
    assert score.values["delta_usd"] is None
    assert score.values["incumbent_usd"] == pytest.approx(10 * 2.5e-6 + 10 * 1e-5)
    assert score.values["mirror_tokens"] == 20
    assert score.details["unpriced"] == ["mystery-model"]


def test_response_model_prices_a_side_without_a_model() -> None:
    score = run(
        side(usage=usage(10, 0)),
        mirror(model=None, response_model="openai/small-model-v2", usage=usage(10, 0)),
    )
    assert score.values["mirror_usd"] == pytest.approx(10 * 1.5e-7)


def test_no_model_at_all_is_unpriced() -> None:
    score = run(side(usage=usage(1, 1)), mirror(model=None, usage=usage(1, 1)))
    assert score.details["unpriced"] == ["<mirror model unknown>"]


def test_missing_usage_on_one_side_estimates_both() -> None:
    # prompt "Capital of France?" = 18 chars -> 5 tokens for both sides;
    # incumbent text 31 chars -> 8 tokens, mirror "Paris." 6 chars -> 2 tokens.
    score = run(side(usage=usage(1000, 1000)), mirror("Paris.", usage=None))
    assert score.values["estimated"] is True
    assert score.details["estimated_from_text"] == ["mirror"]
    assert score.values["incumbent_tokens"] == 13
    assert score.values["mirror_tokens"] == 7
    assert score.values["incumbent_usd"] == pytest.approx(5 * 2.5e-6 + 8 * 1e-5)
    assert score.values["mirror_usd"] == pytest.approx(5 * 1.5e-7 + 2 * 6e-7)


def test_budget_breach_is_the_mirrors() -> None:
    expensive = mirror(model="reasoner", usage=usage(1000, 800, cached=200, reasoning=500))
    score = run(side(usage=usage(100_000, 100_000)), expensive, cost_usd=0.003)
    assert score.breaches == ["cost_usd"]
    assert score.details["cost_budget_usd"] == 0.003
    assert run(side(usage=usage(1, 1)), expensive, cost_usd=0.004).breaches == []


def test_failed_mirror_is_not_costed() -> None:
    score = run(side(usage=usage(10, 10)), mirror(error="timeout", status=None))
    assert score.values["mirror_usd"] is None
    assert score.values["mirror_tokens"] is None
    assert score.values["estimated"] is False
    assert score.details["not_costed"] == ["mirror"]


@pytest.mark.parametrize(
    ("body", "chars"),
    [
        (
            {"messages": [{"role": "system", "content": "abc"}, {"role": "user", "content": "de"}]},
            5,
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "abcd"},
                            {"type": "image_url", "image_url": {"url": "data:" + "A" * 999}},
                        ],
                    }
                ]
            },
            4,
        ),
        ({"prompt": ["ab", "cd"]}, 4),
        ({"input": "abc", "instructions": "de"}, 5),
        ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "xyz"}]}]}, 3),
        ('{"messages": [trunc', 19),
        (None, 0),
    ],
)
def test_prompt_chars(body: Any, chars: int) -> None:
    assert prompt_chars(body) == chars


def test_completion_chars_count_tool_calls_and_refusals() -> None:
    out = output("ab", tool_calls=[call("f", '{"x":1}')], refusal="no")
    assert completion_chars(out) == 2 + 1 + 7 + 2


def test_chars_per_token_option() -> None:
    comparator = CostComparator(CostOptions(chars_per_token=1.0), ComparatorContext(prices=PRICES))
    [score] = comparator.compare(pairing(side("abc", usage=None), mirror("abcd", usage=None)))
    assert score.values["incumbent_tokens"] == 18 + 3
    assert score.values["mirror_tokens"] == 18 + 4
