"""What an answer *says*, kept apart from how it is worded.

The release gate judges a candidate by meaning: an equally good model words things its own way,
a worse one gets facts wrong. A generator that must produce both needs answers it can reword
without touching the facts and change one fact without touching the wording. So content is
stored as sentences whose fact tokens (names, years, dates, numbers, money amounts and
negations) are typed :class:`Slot` objects, written inline in the bank as ``{kind:value}``::

    "The tower was completed in {y:1889} in {n:Paris|Lyon} and is roughly {q:330} metres tall."

``value|alt|alt`` lists plausible *wrong* values: a wrong name needs a name of the same sort
(a capital for a capital), and a negation flip needs its exact grammatical opposite
(``{x:does not require|requires}``). Everything outside the slots is ordinary wording that a
writer may reword freely, and the bank's own tests check it carries no fact token at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "KINDS",
    "SLOT_KINDS",
    "STYLES",
    "Content",
    "Item",
    "JsonDoc",
    "Kind",
    "Prose",
    "Refusal",
    "Sentence",
    "Slot",
    "SlotKind",
    "Style",
    "ToolUse",
    "parse_sentence",
]

Kind = Literal["prose", "short_fact", "json", "tool_call", "refusable"]
KINDS: tuple[Kind, ...] = ("prose", "short_fact", "json", "tool_call", "refusable")
# ``same`` is how the incumbent words things; the others are how an equally good model might.
Style = Literal["same", "verbose", "terse", "own", "markdown"]
STYLES: tuple[Style, ...] = ("same", "verbose", "terse", "own", "markdown")
SlotKind = Literal["name", "year", "date", "number", "money", "negation"]
SLOT_KINDS: dict[str, SlotKind] = {
    "n": "name",
    "y": "year",
    "d": "date",
    "q": "number",
    "m": "money",
    "x": "negation",
}
_SLOT = re.compile(r"\{([a-z]):([^{}]*)\}")


@dataclass(frozen=True)
class Slot:
    """One fact token: its canonical ``value`` and, for names and negations, plausible wrong
    ``alternatives``."""

    kind: SlotKind
    value: str
    alternatives: tuple[str, ...] = ()

    def replaced(self, value: str) -> Slot:
        return Slot(self.kind, value, self.alternatives)


@dataclass(frozen=True)
class Sentence:
    """Literal wording and slots in reading order; the first part is always literal wording,
    so a sentence never starts with a name (a writer lowercases it after a connective)."""

    parts: tuple[str | Slot, ...]

    @property
    def slots(self) -> tuple[Slot, ...]:
        return tuple(p for p in self.parts if isinstance(p, Slot))

    @property
    def plain(self) -> str:
        """The sentence with every slot at its canonical value."""
        return "".join(p if isinstance(p, str) else p.value for p in self.parts)


@dataclass(frozen=True)
class Prose:
    """A prose answer: ``sentences[0]`` is the key sentence, the rest support it. Sentences
    without slots are context: a terse writer may drop them without losing a fact."""

    sentences: tuple[Sentence, ...]

    @property
    def slots(self) -> tuple[Slot, ...]:
        return tuple(s for sentence in self.sentences for s in sentence.slots)

    def facts(self) -> frozenset[str]:
        """The canonical fact values, for truth checks: two contents with the same facts say
        the same thing however they are worded."""
        return frozenset(s.value for s in self.slots)


@dataclass(frozen=True)
class JsonDoc:
    """A JSON-mode answer: the document whose leaves are compared exactly."""

    document: dict[str, Any]


@dataclass(frozen=True)
class ToolUse:
    """A function call: the tool's name and its arguments (serialised by the writer)."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """A refusal; an empty ``text`` lets the writer pick a wording, as a model would."""

    text: str = ""


Content = Prose | JsonDoc | ToolUse | Refusal


@dataclass(frozen=True)
class Item:
    """One question of the bank and its correct answer.

    ``domain`` groups related items (a topic for prose, a template for JSON, a tool for tool
    calls): a gross error answers a sibling, which is how real wrong answers look: on topic,
    confidently, about the wrong thing. ``tools`` and ``response_format`` go into the request.
    """

    key: str
    kind: Kind
    domain: str
    question: str
    answer: Content
    tools: tuple[dict[str, Any], ...] = ()
    response_format: dict[str, Any] | None = field(default=None)


def parse_sentence(markup: str) -> Sentence:
    """``"Built in {y:1889}."`` -> literal and :class:`Slot` parts; unknown kinds are errors."""
    parts: list[str | Slot] = []
    position = 0
    for match in _SLOT.finditer(markup):
        kind = SLOT_KINDS.get(match.group(1))
        if kind is None:
            raise ValueError(f"unknown slot kind {match.group(1)!r} in {markup!r}")
        if match.start() > position:
            parts.append(markup[position : match.start()])
        value, *alternatives = match.group(2).split("|")
        parts.append(Slot(kind, value, tuple(alternatives)))
        position = match.end()
    if position < len(markup):
        parts.append(markup[position:])
    return Sentence(tuple(parts))
