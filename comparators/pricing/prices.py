"""The price table: per-token prices in the layout of LiteLLM's
``model_prices_and_context_window.json``, so users can drop in that file or their own.

Only the per-token fields are read; everything else in an entry (context windows, image
prices, capability flags) is ignored, and the ``sample_spec`` entry is skipped. A model needs
both ``input_cost_per_token`` and ``output_cost_per_token`` to be priced: an entry without them
(an image model, say) counts as unpriced rather than free, because a zero cost would silently
flatter whichever side used it.

Exceptions::

    PriceTableError  (ValueError)  unreadable file, bad JSON, or a rate that is not a number >= 0
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from proxy.config.analysis import PricesConfig
from proxy.shipped.files import shipped_path

__all__ = [
    "ModelPrice",
    "PriceTable",
    "PriceTableError",
    "TokenUsage",
    "parse_usage",
]

logger = logging.getLogger(__name__)

RATE_FIELDS = (
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
)
_TIER_FIELD = re.compile(r"^(input|output)_cost_per_token_above_(\d+)k_tokens$")
_CACHE_LIMIT = 4096


class PriceTableError(ValueError):
    """A price table that cannot be used; the message names the source, key and value."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"price table {source}: {problem}")


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts in one shape whichever API reported them.

    ``cached`` (read from a prompt cache) and ``cache_write`` (written to one) are part of
    ``prompt``, and ``reasoning`` part of ``completion``, as in the Chat Completions and the
    Responses APIs. Anthropic reports its cache counts *beside* ``input_tokens``;
    :func:`parse_usage` adds them in, so a Claude call and a GPT call are priced alike.
    """

    prompt: int
    completion: int
    cached: int = 0
    reasoning: int = 0
    cache_write: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Per-token rates in USD; ``tiers`` are (threshold tokens, input rate, output rate) for
    LiteLLM's ``*_cost_per_token_above_<N>k_tokens`` fields, highest threshold first."""

    input: float
    output: float
    cache_read: float | None = None
    reasoning: float | None = None
    cache_write: float | None = None
    tiers: tuple[tuple[int, float | None, float | None], ...] = ()

    def cost(self, usage: TokenUsage) -> float:
        """Uncached prompt at the input rate, cached prompt at the cache-read rate (else the
        input rate), prompt written to the cache at the cache-creation rate (else the input
        rate), reasoning at the reasoning rate (else the output rate) and the rest of the
        completion at the output rate. A tier applies to the whole request once the prompt is
        above its threshold, as LiteLLM does."""
        input_rate, output_rate = self.input, self.output
        for threshold, tier_input, tier_output in self.tiers:
            if usage.prompt > threshold:
                input_rate = tier_input if tier_input is not None else input_rate
                output_rate = tier_output if tier_output is not None else output_rate
                break
        cached = min(usage.cached, usage.prompt)
        written = min(usage.cache_write, usage.prompt - cached)
        reasoning = min(usage.reasoning, usage.completion)
        cache_rate = self.cache_read if self.cache_read is not None else input_rate
        write_rate = self.cache_write if self.cache_write is not None else input_rate
        reasoning_rate = self.reasoning if self.reasoning is not None else output_rate
        return (
            (usage.prompt - cached - written) * input_rate
            + cached * cache_rate
            + written * write_rate
            + (usage.completion - reasoning) * output_rate
            + reasoning * reasoning_rate
        )


def _count(node: Any, key: str) -> int | None:
    value = node.get(key) if isinstance(node, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse_usage(usage: Mapping[str, Any] | None) -> TokenUsage | None:
    """Read Chat Completions (``prompt_tokens``...), Responses (``input_tokens``...) or
    Anthropic Messages usage; ``None`` when it has no token counts at all, so the caller
    estimates instead. Anthropic's ``input_tokens`` leave out what was read from or written to
    the prompt cache (``cache_read_input_tokens``, ``cache_creation_input_tokens``); both are
    added to the prompt here, as OpenAI counts its cached tokens inside it. The Responses API
    has neither field, so adding them changes nothing there."""
    if not usage:
        return None
    prompt = _count(usage, "prompt_tokens")
    anthropic = prompt is None  # input_tokens: Responses or Anthropic, told apart below
    if prompt is None:
        prompt = _count(usage, "input_tokens")
    completion = _count(usage, "completion_tokens")
    if completion is None:
        completion = _count(usage, "output_tokens")
    if prompt is None and completion is None:
        return None
    cached = _count(usage.get("prompt_tokens_details"), "cached_tokens")
    if cached is None:
        cached = _count(usage.get("input_tokens_details"), "cached_tokens")
    reasoning = _count(usage.get("completion_tokens_details"), "reasoning_tokens")
    if reasoning is None:
        reasoning = _count(usage.get("output_tokens_details"), "reasoning_tokens")
    written = _count(usage, "cache_creation_input_tokens") or 0
    read = _count(usage, "cache_read_input_tokens") or 0
    prompt = prompt or 0
    if anthropic:
        # Anthropic's own layout; a gateway's chat usage (LiteLLM's) repeats these counts
        # beside a prompt_tokens that already holds them, and cached_tokens for the reads.
        prompt += read + written
        cached = (cached or 0) + read
    return TokenUsage(prompt, completion or 0, cached or 0, reasoning or 0, cache_write=written)


def _rate(source: str, model: str, key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise PriceTableError(
            source, f"{model}.{key}: got {value!r}; expected a number >= 0 (USD per token)"
        )
    return float(value)


def _price(source: str, model: str, entry: Mapping[str, Any]) -> ModelPrice | None:
    rates = {key: _rate(source, model, key, entry.get(key)) for key in RATE_FIELDS}
    input_rate, output_rate = rates["input_cost_per_token"], rates["output_cost_per_token"]
    if input_rate is None or output_rate is None:
        return None
    tiers: dict[int, list[float | None]] = {}
    for key, value in entry.items():
        if (match := _TIER_FIELD.match(key)) is not None:
            slot = tiers.setdefault(int(match.group(2)) * 1000, [None, None])
            slot[0 if match.group(1) == "input" else 1] = _rate(source, model, key, value)
    return ModelPrice(
        input=input_rate,
        output=output_rate,
        cache_read=rates["cache_read_input_token_cost"],
        reasoning=rates["output_cost_per_reasoning_token"],
        cache_write=rates["cache_creation_input_token_cost"],
        tiers=tuple((t, i, o) for t, (i, o) in sorted(tiers.items(), reverse=True)),
    )


class PriceTable:
    """Model name -> :class:`ModelPrice`, with a memoised lookup that also tries the name
    without its provider prefix (``openai/gpt-4o`` -> ``gpt-4o``)."""

    def __init__(
        self,
        models: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        source: str = "<inline>",
    ) -> None:
        """``overrides`` are merged field by field over ``models``, so an inline entry can
        change one rate of a file entry. An override must end up priceable: unlike the
        downloaded table, it was written for this deployment, so a gap is a mistake."""
        self._prices: dict[str, ModelPrice] = {}
        for name, entry in (models or {}).items():
            if name == "sample_spec" or not isinstance(entry, Mapping):
                continue
            if (price := _price(source, name, entry)) is not None:
                self._prices[name] = price
        base = models or {}
        for name, entry in (overrides or {}).items():
            file_entry = base.get(name)
            merged = {**(file_entry if isinstance(file_entry, Mapping) else {}), **entry}
            price = _price("prices.models", name, merged)
            if price is None:
                raise PriceTableError(
                    "prices.models",
                    f"{name}: got {dict(entry)!r}; expected input_cost_per_token and "
                    "output_cost_per_token (here or in the file entry of the same name)",
                )
            self._prices[name] = price
        self._cache: dict[str, ModelPrice | None] = {}

    @classmethod
    def from_file(
        cls, path: str | Path, overrides: Mapping[str, Mapping[str, Any]] | None = None
    ) -> PriceTable:
        source = str(path)
        try:
            data = orjson.loads(Path(path).read_bytes())
        except OSError as exc:
            raise PriceTableError(source, f"cannot read ({exc}); expected a readable file") from exc
        except orjson.JSONDecodeError as exc:
            raise PriceTableError(source, f"invalid JSON ({exc}); expected a JSON object") from exc
        if not isinstance(data, dict):
            raise PriceTableError(
                source, f"got a JSON {type(data).__name__}; expected an object of models"
            )
        return cls(data, overrides=overrides, source=source)

    @classmethod
    def from_config(cls, config: PricesConfig) -> PriceTable:
        """The configured table, else the one shipped with darklaunch (``prices.json`` in
        :mod:`proxy.shipped.files`; ``config/prices.json`` in a checkout links to it), with
        inline ``prices.models`` entries on top."""
        return cls.from_file(config.file or shipped_path("prices.json"), config.models)

    def __len__(self) -> int:
        return len(self._prices)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.lookup(model) is not None

    def lookup(self, model: str | None) -> ModelPrice | None:
        if model is None:
            return None
        try:
            return self._cache[model]
        except KeyError:
            pass
        price = self._prices.get(model)
        name = model
        while price is None and "/" in name:
            name = name.split("/", 1)[1]
            price = self._prices.get(name)
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[model] = price
        return price
