"""Outcome: did both sides answer, finish the same way, and agree to answer at all?

* A side is an *error* when it reported an error, answered with status >= 400, or never got a
  status (:func:`comparators.base.side_failed`). ``<side>_status_class`` is ``"2xx"`` ...
  ``"5xx"``, or ``"none"`` when no response arrived.
* ``finish_reason_match`` compares the first choices' ``finish_reason``; ``None`` when either
  side failed, since an error has no finish reason worth comparing.
* A *refusal* is detected by a deliberately simple, documented heuristic: the first choice has
  a ``refusal`` (the API's own refusal channel), or the first :data:`REFUSAL_WINDOW`
  characters of its text, casefolded and with typographic apostrophes made straight, contain
  one of :data:`REFUSAL_PHRASES`. Only the opening is read because a refusal comes first; an
  answer that later says "I can't assist with X, but" is usually an answer. A failed side's
  refusal is ``None``.
* ``length_ratio = len(mirror text) / len(incumbent text)`` in characters; ``None`` when the
  incumbent text is empty or either side failed.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from comparators.base import ComparatorContext, Pairing, make_score, side_failed
from comparators.scores import Score, Value
from proxy.recording.schema import Output, Side

__all__ = ["REFUSAL_PHRASES", "REFUSAL_WINDOW", "OutcomeComparator", "OutcomeOptions"]

logger = logging.getLogger(__name__)

REFUSAL_WINDOW = 200
REFUSAL_PHRASES = (
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm sorry, i can't",
    "i'm sorry, i cannot",
    "i apologize, but i can't",
    "i apologize, but i cannot",
    "i can't help with",
    "i cannot help with",
    "i can't assist",
    "i cannot assist",
    "i'm unable to help",
    "i am unable to help",
    "i'm unable to assist",
    "i'm not able to help",
    "i can't comply",
    "i cannot comply",
    "i won't be able to help",
    "i must decline",
)


def refusal_evidence(output: Output) -> str | None:
    """Why this output counts as a refusal (``"refusal field"`` or the phrase), or ``None``."""
    if not output.choices:
        return None
    choice = output.choices[0]
    if choice.refusal:
        return "refusal field"
    head = choice.text[:REFUSAL_WINDOW].casefold().replace("\u2019", "'")
    for phrase in REFUSAL_PHRASES:
        if phrase in head:
            return phrase
    return None


def status_class(side: Side) -> str:
    return f"{side.status // 100}xx" if side.status is not None else "none"


class OutcomeOptions(BaseModel):
    """No options yet; ``comparators: {outcome: {}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class OutcomeComparator:
    name: ClassVar[str] = "outcome"
    Options: ClassVar[type[BaseModel]] = OutcomeOptions

    def __init__(self, options: OutcomeOptions, context: ComparatorContext) -> None:
        self.options = options

    def compare(self, pair: Pairing) -> list[Score]:
        inc, mir = pair.incumbent, pair.mirror
        inc_failed, mir_failed = side_failed(inc), side_failed(mir)
        inc_out = None if inc_failed else inc.output
        mir_out = None if mir_failed else mir.output
        inc_refusal = refusal_evidence(inc_out) if inc_out is not None else None
        mir_refusal = refusal_evidence(mir_out) if mir_out is not None else None
        details: dict[str, Any] = {}
        finish_match: bool | None = None
        length_ratio: float | None = None
        if inc_out is not None and mir_out is not None:
            inc_finish, mir_finish = inc_out.finish_reason, mir_out.finish_reason
            finish_match = inc_finish == mir_finish
            if not finish_match:
                details["finish_reason"] = {"incumbent": inc_finish, "mirror": mir_finish}
            inc_len = len(inc_out.text)
            length_ratio = len(mir_out.text) / inc_len if inc_len else None
        for role, side in (("incumbent", inc), ("mirror", mir)):
            if side.error is not None:
                details[f"{role}_error"] = side.error.kind
        if inc_refusal is not None or mir_refusal is not None:
            details["refusal"] = {"incumbent": inc_refusal, "mirror": mir_refusal}
        inc_class, mir_class = status_class(inc), status_class(mir)
        values: dict[str, Value] = {
            "incumbent_error": inc_failed,
            "mirror_error": mir_failed,
            "one_side_error": inc_failed != mir_failed,
            "incumbent_status_class": inc_class,
            "mirror_status_class": mir_class,
            "status_class_match": inc_class == mir_class,
            "incumbent_refusal": None if inc_out is None else inc_refusal is not None,
            "mirror_refusal": None if mir_out is None else mir_refusal is not None,
            "one_side_refusal": (
                None
                if inc_out is None or mir_out is None
                else (inc_refusal is None) != (mir_refusal is None)
            ),
            "finish_reason_match": finish_match,
            "length_ratio": length_ratio,
        }
        return [make_score(self.name, values, details)]
