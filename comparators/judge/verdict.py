"""What the judge answers, and the one verdict two orders make.

The judge is asked for JSON (``response_format`` with :data:`RESPONSE_SCHEMA`):
``{"winner": "A" | "B" | "tie", "reason": "...", "a_refused": bool, "b_refused": bool}``.
An answer that does not parse as that is *malformed*: never guessed, retried once, then
counted and the pair left unjudged.

Position bias is cancelled by asking both orders: first the incumbent as A and the mirror as
B, then the reverse. :func:`combine` maps each answer back to the sides; when the two orders
disagree the verdict is a tie (a judge that prefers whatever comes first has said nothing
about the answers), and whether they agreed is kept: the judge's self-consistency.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = [
    "RESPONSE_SCHEMA",
    "Combined",
    "JudgeAnswer",
    "MalformedAnswer",
    "Order",
    "Side",
    "combine",
    "parse_answer",
]

Order = Literal["incumbent_first", "mirror_first"]
Side = Literal["mirror", "incumbent", "tie"]

RESPONSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "winner": {"type": "string", "enum": ["A", "B", "tie"]},
        "reason": {"type": "string"},
        "a_refused": {"type": "boolean"},
        "b_refused": {"type": "boolean"},
    },
    "required": ["winner", "reason", "a_refused", "b_refused"],
    "additionalProperties": False,
}


class MalformedAnswer(ValueError):
    """The judge's reply is not the JSON asked for; ``str()`` says what was wrong with it."""


class JudgeAnswer(BaseModel):
    """One reply of the judge, for one order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    winner: Literal["A", "B", "tie"]
    reason: str = ""
    a_refused: bool = False
    b_refused: bool = False


def parse_answer(content: str | None) -> JudgeAnswer:
    """The reply's JSON, tolerating a markdown fence around it (some servers add one even in
    JSON mode) but nothing else; raises :class:`MalformedAnswer`."""
    if not content:
        raise MalformedAnswer("the judge answered nothing")
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MalformedAnswer(f"not JSON: {content[:80]!r}") from exc
    if isinstance(data, dict) and isinstance(data.get("winner"), str):
        data = {**data, "winner": _winner(data["winner"])}
    try:
        return JudgeAnswer.model_validate(data)
    except ValidationError as exc:
        raise MalformedAnswer(f"not the judge's schema: {content[:80]!r}") from exc


def _winner(text: str) -> str:
    lowered = text.strip().lower()
    return {"a": "A", "b": "B", "tie": "tie"}.get(lowered, text)


def _side(answer: JudgeAnswer, order: Order) -> Side:
    if answer.winner == "tie":
        return "tie"
    mirror_is = "B" if order == "incumbent_first" else "A"
    return "mirror" if answer.winner == mirror_is else "incumbent"


def _mirror_refused(answer: JudgeAnswer, order: Order) -> bool:
    return answer.b_refused if order == "incumbent_first" else answer.a_refused


@dataclass(frozen=True, slots=True)
class Combined:
    """The verdict of both orders: which side is better (``tie`` on a split), whether the
    orders agreed, and what each order said."""

    verdict: Side
    orders_agree: bool
    first: Side
    second: Side
    mirror_refused: bool
    reason: str


def combine(first: JudgeAnswer, second: JudgeAnswer) -> Combined:
    """``first`` asked with the incumbent as A, ``second`` with the mirror as A."""
    one, two = _side(first, "incumbent_first"), _side(second, "mirror_first")
    agree = one == two
    verdict: Side = one if agree else "tie"
    # The reason worth showing is the one of an order that named the verdict.
    reason = first.reason if one == verdict else second.reason
    refused = _mirror_refused(first, "incumbent_first") and _mirror_refused(second, "mirror_first")
    return Combined(verdict, agree, one, two, refused, reason)
