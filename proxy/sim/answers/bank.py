"""The content bank: every question the simulated traffic asks, with its correct answer.

Five kinds, as in real chat traffic: ``prose`` (explanations with several facts), ``short_fact``
(one fact), ``json`` (extraction in JSON mode), ``tool_call`` (function calling) and
``refusable`` (requests the incumbent declines). JSON and tool items are template instances
drawn from fixed seeds, :data:`VARIANTS` per template, so the same question recurs across a
campaign the way popular prompts do, and a generator picks items rather than inventing them.

Items are built once per process (``functools.cache``) and are immutable.
"""

from __future__ import annotations

import functools
import random

from proxy.sim.answers.facts_data import REFUSABLE, SHORT_FACTS
from proxy.sim.answers.json_templates import TEMPLATES
from proxy.sim.answers.model import Item, JsonDoc, Kind, Prose, Refusal, ToolUse, parse_sentence
from proxy.sim.answers.prose_data import PROSE
from proxy.sim.answers.tools import TOOLS, Tool

__all__ = ["VARIANTS", "items", "siblings", "tool", "tool_call"]

VARIANTS = 8
JSON_MODE = {"type": "json_object"}
_TOOLS = {t.name: t for t in TOOLS}


def _text_items(block: str, kind: Kind) -> tuple[Item, ...]:
    """Items from the ``@domain question`` / one-sentence-per-line format of the data modules."""
    heads: list[tuple[str, str]] = []
    bodies: list[list[str]] = []
    for raw in block.strip().splitlines():
        line = raw.strip()
        if line.startswith("@"):
            domain, question = line[1:].split(" ", 1)
            heads.append((domain, question))
            bodies.append([])
        elif line:
            bodies[-1].append(line)
    return tuple(
        Item(
            key=f"{kind}:{domain}:{n:02d}",
            kind=kind,
            domain=domain,
            question=question,
            answer=Prose(tuple(parse_sentence(s) for s in body)),
        )
        for n, ((domain, question), body) in enumerate(zip(heads, bodies, strict=True))
    )


def _json_items() -> tuple[Item, ...]:
    built = []
    for name, template in TEMPLATES.items():
        for n in range(VARIANTS):
            text, document = template(random.Random(f"json:{name}:{n}"))
            question = (
                f"Extract the {name.replace('_', ' ')} details from the text below as a JSON "
                f"object with the keys {', '.join(document)}.\n\n{text}"
            )
            built.append(
                Item(
                    key=f"json:{name}:{n}",
                    kind="json",
                    domain=name,
                    question=question,
                    answer=JsonDoc(document),
                    response_format=JSON_MODE,
                )
            )
    return tuple(built)


def _tool_items() -> tuple[Item, ...]:
    built = []
    for chosen in TOOLS:
        for n in range(VARIANTS):
            rng = random.Random(f"tool:{chosen.name}:{n}")
            question, arguments = chosen.ask(rng)
            others = rng.sample([t for t in TOOLS if t is not chosen], rng.randrange(1, 4))
            offered = [chosen, *others]
            rng.shuffle(offered)
            built.append(
                Item(
                    key=f"tool_call:{chosen.name}:{n}",
                    kind="tool_call",
                    domain=chosen.name,
                    question=question,
                    answer=ToolUse(chosen.name, arguments),
                    tools=tuple(t.spec() for t in offered),
                )
            )
    return tuple(built)


@functools.cache
def items(kind: Kind) -> tuple[Item, ...]:
    """Every item of ``kind``, in a fixed order (a generator indexes into it)."""
    if kind == "prose":
        return _text_items(PROSE, "prose")
    if kind == "short_fact":
        return _text_items(SHORT_FACTS, "short_fact")
    if kind == "json":
        return _json_items()
    if kind == "tool_call":
        return _tool_items()
    return tuple(
        Item(key=f"refusable:{n:02d}", kind="refusable", domain="unsafe", question=q,
             answer=Refusal())
        for n, q in enumerate(REFUSABLE)
    )  # fmt: skip


@functools.cache
def _by_domain(kind: Kind) -> dict[str, tuple[Item, ...]]:
    grouped: dict[str, list[Item]] = {}
    for item in items(kind):
        grouped.setdefault(item.domain, []).append(item)
    return {domain: tuple(group) for domain, group in grouped.items()}


def siblings(item: Item) -> tuple[Item, ...]:
    """The other items of the same kind and domain: the nearest wrong answers."""
    return tuple(i for i in _by_domain(item.kind).get(item.domain, ()) if i.key != item.key)


def tool(name: str) -> Tool:
    return _TOOLS[name]


def tool_call(name: str, rng: random.Random) -> ToolUse:
    """A plausible call of ``name`` with freshly drawn arguments (for a wrong-tool answer)."""
    return ToolUse(name, _TOOLS[name].ask(rng)[1])
