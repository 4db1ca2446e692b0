"""Outcome: did both sides answer, finish the same way, and agree to answer at all?

* A side is an *error* when it reported an error, answered with status >= 400, or never got a
  status (:func:`comparators.base.side_failed`). ``<side>_status_class`` is ``"2xx"`` ...
  ``"5xx"``, or ``"none"`` when no response arrived.
* ``finish_reason_match`` compares the first choices' ``finish_reason``; ``None`` when either
  side failed, since an error has no finish reason worth comparing.
* A *refusal* is the API's own refusal channel (a ``refusal`` field on the first choice), else
  what :class:`~comparators.semantic.refusal.RefusalDetector` reads in the opening of the
  text: a phrase list first, then (``refusals: meaning``, the default) the meaning of the
  opening against refusal exemplars, so "That isn't something I can share" counts as the
  phrase "I can't help with" does. ``refusals: phrases`` keeps to the phrase list, for a
  worker without the embedding model. A failed side's refusal is ``None``.
* ``length_ratio = len(mirror text) / len(incumbent text)`` in characters; ``None`` when the
  incumbent text is empty or either side failed.
* ``mirror_win`` is true when the mirror answered where the incumbent failed (a context-length
  400 the candidate handles), ``mirror_loss`` the reverse. A pair with a failed side is judged
  here and only here: content comparators and the headline divergence leave it out, so an
  incumbent failure is never a "divergence" charged to the candidate.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from comparators.base import ComparatorContext, Pairing, make_score, side_failed
from comparators.scores import Score, Value
from comparators.semantic.embedder import load_embedder
from comparators.semantic.phrases import REFUSAL_PHRASES, REFUSAL_WINDOW, phrase_evidence
from comparators.semantic.refusal import RefusalDetector
from proxy.recording.schema import Output, Side

__all__ = ["REFUSAL_PHRASES", "REFUSAL_WINDOW", "OutcomeComparator", "OutcomeOptions"]

logger = logging.getLogger(__name__)


def refusal_evidence(output: Output, detector: RefusalDetector | None = None) -> str | None:
    """Why this output counts as a refusal (``"refusal field"``, ``"phrase: ..."`` or
    ``"meaning: ..."``), or ``None``; ``detector`` ``None`` reads the phrase list only."""
    if not output.choices:
        return None
    choice = output.choices[0]
    if choice.refusal:
        return "refusal field"
    if detector is None:
        phrase = phrase_evidence(choice.text)
        return None if phrase is None else f"phrase: {phrase}"
    return detector.detect(choice.text)


def status_class(side: Side) -> str:
    return f"{side.status // 100}xx" if side.status is not None else "none"


class OutcomeOptions(BaseModel):
    """``comparators: {outcome: {refusals: phrases}}`` reads refusals by the phrase list only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    refusals: Literal["meaning", "phrases"] = "meaning"


class OutcomeComparator:
    name: ClassVar[str] = "outcome"
    Options: ClassVar[type[BaseModel]] = OutcomeOptions

    def __init__(self, options: OutcomeOptions, context: ComparatorContext) -> None:
        self.options = options
        self.detector = RefusalDetector(load_embedder()) if options.refusals == "meaning" else None
        # The last incumbent answer read, with its evidence: a pair's replica and candidates
        # share it, so it is read once per pair rather than once per mirror. One (answer,
        # evidence) tuple, swapped whole, holding the answer so its identity is not reused.
        self._last_incumbent: tuple[Output, str | None] | None = None

    def _incumbent_refusal(self, output: Output) -> str | None:
        last = self._last_incumbent
        if last is not None and last[0] is output:
            return last[1]
        found = refusal_evidence(output, self.detector)
        self._last_incumbent = (output, found)
        return found

    def compare(self, pair: Pairing) -> list[Score]:
        inc, mir = pair.incumbent, pair.mirror
        inc_failed, mir_failed = side_failed(inc), side_failed(mir)
        inc_out = None if inc_failed else inc.output
        mir_out = None if mir_failed else mir.output
        inc_refusal = self._incumbent_refusal(inc_out) if inc_out is not None else None
        mir_refusal = refusal_evidence(mir_out, self.detector) if mir_out is not None else None
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
            "mirror_win": inc_failed and not mir_failed,
            "mirror_loss": mir_failed and not inc_failed,
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
