"""The demo's traffic: questions from the content bank (:mod:`proxy.sim.answers`).

The simulated models answer a bank question with that item's facts (see
:func:`proxy.sim.text.bank_answer`), so drawing the demo's prompts from the bank is what gives
the release gate's semantic check real facts to compare: a candidate that words them its own
way keeps them, one that gets them wrong changes them. The mix is a chat product's: mostly
prose and short facts, some JSON extraction and tool calls, and a few requests the incumbent
refuses. It is drawn from a seeded RNG, so every run sends the same requests in the same order,
and questions recur the way popular prompts do, so a candidate's per-question error and
refusal rates show up as rates, not as one or two unlucky prompts.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from proxy.sim.answers import Item, Kind, items

__all__ = ["MIX", "STREAM_SHARE", "SYSTEM", "DemoRequest", "traffic"]

MIX: tuple[tuple[Kind, float], ...] = (
    ("prose", 0.45),
    ("short_fact", 0.2),
    ("json", 0.15),
    ("tool_call", 0.15),
    ("refusable", 0.05),
)
STREAM_SHARE = 0.4
SYSTEM = "You are a helpful assistant. Use the tools when they help."


@dataclass(frozen=True)
class DemoRequest:
    """One request of the demo: a bank question, streamed or not."""

    item: Item
    stream: bool

    @property
    def label(self) -> str:
        """How the traffic table counts it: the item's kind, and whether it was streamed."""
        return f"{self.item.kind} (streamed)" if self.stream else self.item.kind

    def arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``chat.completions.create`` besides model, stream and user:
        the messages, and the bank's tools or response format when the item has them."""
        kwargs: dict[str, Any] = {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": self.item.question},
            ]
        }
        if self.item.tools:
            kwargs["tools"] = [dict(tool) for tool in self.item.tools]
        if self.item.response_format is not None:
            kwargs["response_format"] = dict(self.item.response_format)
        return kwargs


def traffic(seed: int = 0) -> Iterator[DemoRequest]:
    """An endless, reproducible stream of requests in the proportions of :data:`MIX`, with
    :data:`STREAM_SHARE` of them streamed."""
    rng = random.Random(seed)
    kinds = [kind for kind, _ in MIX]
    weights = [weight for _, weight in MIX]
    while True:
        pool = items(rng.choices(kinds, weights)[0])
        yield DemoRequest(pool[rng.randrange(len(pool))], rng.random() < STREAM_SHARE)
