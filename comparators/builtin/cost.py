"""Cost: what each side's answer cost, and whether the mirror kept its per-query budget.

Each side is priced by its ``model`` (falling back to the model its response named) in the
:class:`~comparators.pricing.prices.PriceTable`, with the formula of :meth:`ModelPrice.cost`.
A model missing from the table makes that side *unpriced*: its cost is ``None`` and the model
is listed in ``details["unpriced"]``; it is never priced at zero.

A side that reported no usage is *estimated* from text: ``ceil(chars / chars_per_token)``
completion tokens over its choices' text, refusals and tool calls, and prompt tokens over the
text in the request's ``messages``/``prompt``/``input``/``instructions`` (the raw body's length
when it was truncated to a string). When either side is estimated both sides are, so that the
comparison never pits a reported count against an estimate; ``cost.estimated`` is then true.

A failed side (see :func:`comparators.base.side_failed`) is not costed: its cost and tokens are
``None``. ``cost_usd`` is breached when the mirror's cost is strictly above the budget resolved
for the request's route and requested model.
"""

from __future__ import annotations

import logging
import math
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from comparators.base import ComparatorContext, Pairing, make_score, side_failed
from comparators.pricing.prices import PriceTable, TokenUsage, parse_usage
from comparators.scores import Score, Value
from proxy.recording.schema import Output, Side

__all__ = ["CostComparator", "CostOptions", "completion_chars", "prompt_chars"]

logger = logging.getLogger(__name__)

# Keys whose string values are text a tokenizer would see; anything else (roles, ids, image
# URLs carrying base64) would inflate an estimate.
_TEXT_KEYS = frozenset(
    {"messages", "prompt", "input", "instructions", "system", "content", "text", "arguments"}
)
_PROMPT_KEYS = ("messages", "prompt", "input", "instructions", "system")


def _chars(node: Any) -> int:
    if isinstance(node, str):
        return len(node)
    if isinstance(node, list):
        return sum(_chars(item) for item in node)
    if isinstance(node, dict):
        return sum(_chars(value) for key, value in node.items() if key in _TEXT_KEYS)
    return 0


def prompt_chars(body: Any) -> int:
    """Characters of prompt text in a recorded request body."""
    if isinstance(body, str):
        return len(body)
    if not isinstance(body, dict):
        return 0
    return sum(_chars(body.get(key)) for key in _PROMPT_KEYS)


def completion_chars(output: Output) -> int:
    total = 0
    for choice in output.choices:
        total += len(choice.text) + len(choice.refusal or "")
        for call in choice.tool_calls:
            total += len(call.name) + len(call.arguments)
    return total


class CostOptions(BaseModel):
    """``comparators: {cost: {chars_per_token: 3.5}}`` tunes the estimate for unreported usage."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chars_per_token: float = Field(default=4.0, gt=0)


def _model(side: Side) -> str | None:
    return side.model or (side.output.response_model if side.output is not None else None)


class CostComparator:
    name: ClassVar[str] = "cost"
    Options: ClassVar[type[BaseModel]] = CostOptions

    def __init__(self, options: CostOptions, context: ComparatorContext) -> None:
        self.options = options
        self.prices: PriceTable = context.prices
        self.budgets = context.budgets

    def _estimate(self, chars: int) -> int:
        return math.ceil(chars / self.options.chars_per_token)

    def compare(self, pair: Pairing) -> list[Score]:
        sides = {"incumbent": pair.incumbent, "mirror": pair.mirror}
        outputs = {
            role: side.output
            for role, side in sides.items()
            if side.output is not None and not side_failed(side)
        }
        usages = {role: parse_usage(output.usage) for role, output in outputs.items()}
        details: dict[str, Any] = {}
        estimated = any(usage is None for usage in usages.values())
        if estimated:
            details["estimated_from_text"] = [r for r, u in usages.items() if u is None]
            prompt = self._estimate(prompt_chars(pair.record.request.body))
            usages = {
                role: TokenUsage(prompt, self._estimate(completion_chars(output)))
                for role, output in outputs.items()
            }
        costs: dict[str, float | None] = {}
        tokens: dict[str, int | None] = {}
        unpriced: list[str] = []
        for role, side in sides.items():
            usage = usages.get(role)
            if usage is None:
                costs[role] = tokens[role] = None
                details.setdefault("not_costed", []).append(role)
                continue
            tokens[role] = usage.total
            model = _model(side)
            price = self.prices.lookup(model)
            if price is None:
                costs[role] = None
                unpriced.append(model or f"<{role} model unknown>")
            else:
                costs[role] = price.cost(usage)
        if unpriced:
            details["unpriced"] = sorted(set(unpriced))
        inc_usd, mir_usd = costs["incumbent"], costs["mirror"]
        delta: float | None = None
        ratio: float | None = None
        if inc_usd is not None and mir_usd is not None:
            delta = mir_usd - inc_usd
            ratio = mir_usd / inc_usd if inc_usd else None
        values: dict[str, Value] = {
            "incumbent_usd": inc_usd,
            "mirror_usd": mir_usd,
            "delta_usd": delta,
            "ratio": ratio,
            "estimated": estimated,
            "incumbent_tokens": tokens["incumbent"],
            "mirror_tokens": tokens["mirror"],
        }
        breaches: list[str] = []
        budget = pair.budget(self.budgets).cost_usd
        if budget is not None and mir_usd is not None and mir_usd > budget:
            breaches.append("cost_usd")
            details["cost_budget_usd"] = budget
        return [make_score(self.name, values, details, breaches)]
