from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from comparators.pricing.prices import (
    ModelPrice,
    PriceTable,
    PriceTableError,
    TokenUsage,
    parse_usage,
)
from proxy.config.analysis import PricesConfig

REPO = Path(__file__).resolve().parents[3]


def test_shipped_table_prices_the_demo_models() -> None:
    table = PriceTable.from_file(REPO / "config" / "prices.json")
    assert table.lookup("big-model-v1") == ModelPrice(2.5e-6, 1e-5, 1.25e-6)
    assert table.lookup("small-model-v2") == ModelPrice(1.5e-7, 6e-7, 7.5e-8)
    assert "sample_spec" not in table
    o3 = table.lookup("o3-mini")
    assert o3 is not None
    assert o3.reasoning is not None


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("gpt-4o", True),
        ("openai/gpt-4o", True),
        ("openrouter/openai/gpt-4o", True),
        ("gpt-4o-2024-08-06", False),
        ("GPT-4O", False),
        (None, False),
    ],
)
def test_lookup_tries_exact_then_without_provider_prefix(name: str | None, found: bool) -> None:
    table = PriceTable({"gpt-4o": {"input_cost_per_token": 1, "output_cost_per_token": 2}})
    assert (table.lookup(name) is not None) is found


def test_exact_name_beats_the_stripped_one() -> None:
    table = PriceTable(
        {
            "gpt-4o": {"input_cost_per_token": 1, "output_cost_per_token": 1},
            "azure/gpt-4o": {"input_cost_per_token": 2, "output_cost_per_token": 2},
        }
    )
    price = table.lookup("azure/gpt-4o")
    assert price is not None
    assert price.input == 2


def test_entries_without_token_rates_are_unpriced_not_free() -> None:
    table = PriceTable(
        {
            "dall-e-3": {"input_cost_per_pixel": 1e-8, "mode": "image_generation"},
            "half": {"input_cost_per_token": 1e-6},
        }
    )
    assert table.lookup("dall-e-3") is None
    assert table.lookup("half") is None
    assert len(table) == 0


@pytest.mark.parametrize("bad", ["0.1", -1, True, [1]])
def test_a_bad_rate_names_model_key_and_value(bad: Any) -> None:
    with pytest.raises(
        PriceTableError, match=r"m\.input_cost_per_token: got .*; expected a number >= 0"
    ):
        PriceTable({"m": {"input_cost_per_token": bad, "output_cost_per_token": 1}})


def test_null_rates_count_as_absent() -> None:
    table = PriceTable(
        {
            "m": {
                "input_cost_per_token": 1,
                "output_cost_per_token": 1,
                "cache_read_input_token_cost": None,
            }
        }
    )
    price = table.lookup("m")
    assert price is not None
    assert price.cache_read is None


def test_inline_overrides_merge_over_file_entries(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"m": {"input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}}')
    config = PricesConfig(
        file=path,
        models={
            "m": {"output_cost_per_token": 3e-6},
            "mine": {"input_cost_per_token": 0, "output_cost_per_token": 0},
        },
    )
    table = PriceTable.from_config(config)
    assert table.lookup("m") == ModelPrice(1e-6, 3e-6)
    assert table.lookup("mine") == ModelPrice(0.0, 0.0)  # explicitly free is allowed


def test_inline_override_without_rates_is_an_error() -> None:
    with pytest.raises(
        PriceTableError, match=r"prices\.models: mine: got .*; expected input_cost_per_token"
    ):
        PriceTable.from_config(PricesConfig(models={"mine": {"input_cost_per_token": 1e-6}}))


@pytest.mark.parametrize(
    ("content", "match"),
    [("{not json", "invalid JSON"), ("[1, 2]", "got a JSON list; expected an object of models")],
)
def test_unusable_files(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(PriceTableError, match=match):
        PriceTable.from_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PriceTableError, match="cannot read"):
        PriceTable.from_file(tmp_path / "absent.json")


def test_cost_prices_cached_and_reasoning_tokens_at_their_rates() -> None:
    price = ModelPrice(input=1e-6, output=4e-6, cache_read=5e-7, reasoning=2e-6)
    usage = TokenUsage(prompt=1000, completion=800, cached=200, reasoning=500)
    # 800 uncached * 1e-6 + 200 cached * 5e-7 + 300 * 4e-6 + 500 reasoning * 2e-6
    assert price.cost(usage) == pytest.approx(0.0008 + 0.0001 + 0.0012 + 0.001)


def test_cost_without_cache_or_reasoning_rates_falls_back() -> None:
    price = ModelPrice(input=1e-6, output=4e-6)
    usage = TokenUsage(prompt=1000, completion=800, cached=200, reasoning=500)
    assert price.cost(usage) == pytest.approx(1000 * 1e-6 + 800 * 4e-6)


def test_tiered_rates_apply_above_the_threshold() -> None:
    table = PriceTable(
        {
            "g": {
                "input_cost_per_token": 1e-6,
                "output_cost_per_token": 2e-6,
                "input_cost_per_token_above_128k_tokens": 3e-6,
                "output_cost_per_token_above_128k_tokens": 4e-6,
            }
        }
    )
    price = table.lookup("g")
    assert price is not None
    assert price.cost(TokenUsage(128_000, 10)) == pytest.approx(128_000 * 1e-6 + 10 * 2e-6)
    assert price.cost(TokenUsage(128_001, 10)) == pytest.approx(128_001 * 3e-6 + 10 * 4e-6)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
            TokenUsage(10, 5, 4, 2),
        ),
        (
            {
                "input_tokens": 10,
                "output_tokens": 5,
                "input_tokens_details": {"cached_tokens": 4},
                "output_tokens_details": {"reasoning_tokens": 2},
            },
            TokenUsage(10, 5, 4, 2),
        ),
        ({"prompt_tokens": 7, "total_tokens": 7}, TokenUsage(7, 0)),  # embeddings
        ({"prompt_tokens": 7, "prompt_tokens_details": None}, TokenUsage(7, 0)),
        ({"total_tokens": 7}, None),
        ({}, None),
        (None, None),
        ({"prompt_tokens": "7", "completion_tokens": True}, None),
    ],
)
def test_parse_usage_reads_both_api_shapes(usage: Any, expected: TokenUsage | None) -> None:
    assert parse_usage(usage) == expected


def test_without_a_file_the_table_is_the_shipped_one() -> None:
    """No ``prices.file``: the package's prices.json, which ``config/prices.json`` links to,
    whatever the working directory (tests/proxy/shipped checks the link)."""
    table = PriceTable.from_config(
        PricesConfig(models={"mine": {"input_cost_per_token": 0, "output_cost_per_token": 1e-6}})
    )
    assert table.lookup("small-model-v2") == ModelPrice(1.5e-7, 6e-7, 7.5e-8)
    assert table.lookup("mine") == ModelPrice(0.0, 1e-6)
    assert len(table) == len(PriceTable.from_file(REPO / "config" / "prices.json")) + 1


def test_anthropic_usage_adds_its_cache_counts_to_the_prompt() -> None:
    usage = parse_usage(
        {
            "input_tokens": 50,
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
            "output_tokens": 80,
        }
    )
    assert usage == TokenUsage(prompt=1250, completion=80, cached=1000, cache_write=200)


def test_a_gateways_chat_usage_keeps_its_prompt_total() -> None:
    # LiteLLM's chat usage for a Claude model: prompt_tokens already holds the cache counts.
    usage = parse_usage(
        {
            "prompt_tokens": 1250,
            "completion_tokens": 80,
            "prompt_tokens_details": {"cached_tokens": 1000},
            "cache_read_input_tokens": 1000,
            "cache_creation_input_tokens": 200,
        }
    )
    assert usage == TokenUsage(prompt=1250, completion=80, cached=1000, cache_write=200)


def test_cache_writes_are_priced_at_the_cache_creation_rate() -> None:
    table = PriceTable.from_file(REPO / "config" / "prices.json")
    price = table.lookup("claude-sonnet-4-5")
    assert price is not None
    assert (price.cache_read, price.cache_write) == (3e-07, 3.75e-06)
    usage = TokenUsage(prompt=1250, completion=80, cached=1000, cache_write=200)
    expected = 50 * 3e-06 + 1000 * 3e-07 + 200 * 3.75e-06 + 80 * 1.5e-05
    assert price.cost(usage) == pytest.approx(expected)
    # Without a cache-creation rate, a write costs what any input token costs.
    plain = ModelPrice(input=3e-06, output=1.5e-05, cache_read=3e-07)
    assert plain.cost(usage) == pytest.approx(250 * 3e-06 + 1000 * 3e-07 + 80 * 1.5e-05)
