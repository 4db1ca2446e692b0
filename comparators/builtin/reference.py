"""Reference: is each side's answer *right*, against the answer a golden set says is right?

Every other comparator compares the mirror with the incumbent: it can tell a change from no
change, never which side was right, so a candidate that fixes the incumbent's mistakes looks
as "changed" as one that makes new ones. A replayed golden item can carry a reference answer
(``PairRecord.expected``); this comparator scores *each* side against it, independently, so
the gate can read the candidate's accuracy and whether it is no worse than the incumbent's on
the same items.

Which part of the reference decides (``kind``): its tool calls when given, else its JSON
``value``, else its text.

* **tool_calls**: the same tool names in the same order, each call's arguments parsed as JSON
  equal to the reference's (key order and number spelling aside, with the JSON comparator's
  structural diff); arguments that do not parse compare as stripped raw strings. ``[]``
  expects no call at all.
* **json**: the answer's text parsed as JSON (one Markdown code fence unwrapped, as the JSON
  comparator does, or the first fenced block of a longer answer) deep-equals ``value``.
* **text**: a *short* reference (at most ``short_words`` words after
  :func:`~comparators.builtin.text.normalize`) is right when its words appear in the answer
  as a contiguous word sequence ("Paris" in "The capital is Paris.", but not in "Parisian");
  a longer one when the meaning similarity reaches ``threshold``. Either way the answer's
  facts must not conflict with the reference's (:mod:`comparators.semantic.facts`): "3.5"
  normalises to "35" and "Not Paris but Lyon" contains "Paris", and the facts see both. A
  refusal is right only when the reference is a refusal too.

A failed or unreadable side is wrong, not unknown: a failed answer is not a right one (the
error checks count failures apart). When the embedder fails, a verdict that needed it is
``None`` and ``unscored`` true (the gate leaves the pair out): an outage must never pass for a
measured accuracy. A verdict the words alone decided is kept, with a ``None`` score, because
dropping it would drop only the misses of short references and raise the accuracy.

Most pairs are live traffic without a reference: they return at the first line, and the
embedding model is loaded only on the first text reference (:attr:`embedder_loaded`), from
:func:`~comparators.semantic.embedder.load_embedder`, the process-wide instance the semantic
comparator shares.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from comparators.base import ComparatorContext, Pairing, make_score, side_failed
from comparators.builtin.json_diff import diff, parse_document
from comparators.builtin.semantic import LEAN_THRESHOLD
from comparators.builtin.text import normalize
from comparators.builtin.tool_calls import parse_arguments
from comparators.scores import Score, Value
from comparators.semantic.embedder import (
    Embedder,
    EmbeddingError,
    EmbeddingsEndpoint,
    load_embedder,
)
from comparators.semantic.facts import conflicts, extract
from comparators.semantic.meaning import meaning_similarity
from comparators.semantic.refusal import RefusalDetector
from proxy.recording.schema import Expected, Output, Side, ToolCall

__all__ = ["ReferenceComparator", "ReferenceOptions", "Verdict", "reference_kind"]

logger = logging.getLogger(__name__)

_KEYS = (
    "applicable",
    "kind",
    "incumbent_match",
    "mirror_match",
    "incumbent_score",
    "mirror_score",
    "unscored",
)
_FENCED = re.compile(r"```[\w+-]*[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)
_MAX_LISTED = 20


class ReferenceOptions(BaseModel):
    """``comparators: {reference: {threshold: 0.55, short_words: 8}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Least meaning similarity for a longer reference, as the semantic comparator's.
    threshold: float = Field(default=0.5, ge=-1.0, le=1.0)
    # Compare numbers, money, names and negations exactly.
    facts: bool = True
    # A reference of at most this many words must appear in the answer word for word.
    short_words: int = Field(default=12, ge=1, le=1000)
    # An OpenAI-compatible embeddings endpoint instead of the packaged model.
    embeddings: EmbeddingsEndpoint | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """One side against the reference: right or not (``None``: could not tell), how close in
    [0, 1] (``None`` likewise), and the evidence for ``details``."""

    match: bool | None
    score: float | None
    evidence: dict[str, Any] = field(default_factory=dict)


def reference_kind(expected: Expected | None) -> str | None:
    """Which part of the reference decides, or ``None`` when there is nothing to score
    against (no reference, or only a blank text)."""
    if expected is None:
        return None
    if expected.tool_calls is not None:
        return "tool_calls"
    if expected.value is not None:
        return "json"
    if expected.text is not None and expected.text.strip():
        return "text"
    return None


def _is_json(value: Any) -> bool:
    """Whether :func:`parse_arguments` parsed (its marker for "not JSON" is a bare object)."""
    return value is None or isinstance(value, dict | list | str | int | float)


def _same_call(expected: ToolCall, answer: ToolCall) -> bool:
    if expected.name != answer.name:
        return False
    want, got = parse_arguments(expected.arguments), parse_arguments(answer.arguments)
    if _is_json(want) and _is_json(got):
        return diff(want, got, limit=0).changed == 0
    return expected.arguments.strip() == answer.arguments.strip()


def tool_calls_verdict(expected: list[ToolCall], calls: list[ToolCall]) -> Verdict:
    """Position by position, as the application would run them; the score is the share of
    positions right over the longer list, so a missing call and an extra call both cost."""
    n = max(len(expected), len(calls))
    if n == 0:
        return Verdict(True, 1.0)
    wrong = [
        {
            "index": i,
            "expected": expected[i].name if i < len(expected) else None,
            "answer": calls[i].name if i < len(calls) else None,
        }
        for i in range(n)
        if i >= len(expected) or i >= len(calls) or not _same_call(expected[i], calls[i])
    ]
    evidence = {"wrong_calls": wrong[:_MAX_LISTED]} if wrong else {}
    return Verdict(not wrong, (n - len(wrong)) / n, evidence)


def parse_answer_json(text: str) -> tuple[bool, Any]:
    """``(True, value)`` when the answer is JSON: a document (one fence unwrapped, as the JSON
    comparator reads it), a scalar, or the first fenced block of an answer with prose around
    it; ``(False, None)`` otherwise."""
    document, error = parse_document(text)
    if error is None:
        return True, document
    fenced = _FENCED.search(text)
    for candidate in (fenced.group(1) if fenced else None, text.strip()):
        if candidate:
            try:
                return True, orjson.loads(candidate)
            except orjson.JSONDecodeError:
                continue
    return False, None


def json_verdict(value: Any, text: str) -> Verdict:
    """Deep equality, ints and floats equal when numerically equal. The score is the share
    of leaves equal, ``1 - divergence`` of the JSON comparator's structural diff: counted over
    both documents, so an extra field costs as a missing one does and 1.0 means equal."""
    ok, answer = parse_answer_json(text)
    if not ok:
        return Verdict(False, 0.0, {"invalid_json": True})
    result = diff(value, answer, limit=_MAX_LISTED)
    evidence = {"diff": result.entries} if result.changed else {}
    return Verdict(result.changed == 0, 1.0 - result.divergence, evidence)


def contains_words(reference: str, answer: str) -> bool:
    """Whether the normalised reference is a contiguous word sequence of the normalised
    answer. :func:`normalize` leaves single spaces between words, so padding both with a space
    turns a substring test into a whole-word one ("paris" is not in "parisian")."""
    words = normalize(reference)
    return bool(words) and f" {words} " in f" {normalize(answer)} "


class ReferenceComparator:
    name: ClassVar[str] = "reference"
    Options: ClassVar[type[BaseModel]] = ReferenceOptions

    def __init__(self, options: ReferenceOptions, context: ComparatorContext) -> None:
        self.options = options
        self._embedder: Embedder | None = None
        self._refusals: RefusalDetector | None = None

    @property
    def embedder(self) -> Embedder | None:
        """The embedding model, ``None`` until a text reference first needs it."""
        return self._embedder

    @property
    def embedder_loaded(self) -> bool:
        """Whether a text reference has needed the embedding model yet: live pairs never do."""
        return self._embedder is not None

    def _model(self) -> tuple[Embedder, RefusalDetector]:
        """The shared embedder and a refusal detector on it, built on first need. Two threads
        racing here both get the one process-wide model from :func:`load_embedder`."""
        if self._embedder is None or self._refusals is None:
            embedder = load_embedder(self.options.embeddings)
            self._refusals = RefusalDetector(embedder)
            self._embedder = embedder
        return self._embedder, self._refusals

    def compare(self, pair: Pairing) -> list[Score]:
        expected = pair.record.expected
        kind = reference_kind(expected)
        if expected is None or kind is None:  # live traffic: nothing loaded, nothing computed
            values: dict[str, Value] = dict.fromkeys(_KEYS)
            values["applicable"] = False
            return [make_score(self.name, values)]
        incumbent = self._verdict(kind, expected, pair.incumbent)
        mirror = self._verdict(kind, expected, pair.mirror)
        # Unscored means a verdict is unknown (the gate leaves such pairs out); a verdict the
        # words decided with only its score unknown still counts.
        unscored = incumbent.match is None or mirror.match is None
        if unscored:
            logger.warning("pair %s: reference left unscored on a side", pair.record.pair_id)
        values = {
            "applicable": True,
            "kind": kind,
            "incumbent_match": incumbent.match,
            "mirror_match": mirror.match,
            "incumbent_score": incumbent.score,
            "mirror_score": mirror.score,
            "unscored": unscored,
        }
        details = {
            role: verdict.evidence
            for role, verdict in (("incumbent", incumbent), ("mirror", mirror))
            if verdict.evidence
        }
        return [make_score(self.name, values, details)]

    def _verdict(self, kind: str, expected: Expected, side: Side) -> Verdict:
        if side_failed(side):
            return Verdict(False, 0.0, {"failed": True})
        output = side.output
        if output is None or output.unscored is not None:
            return Verdict(False, 0.0, {"unreadable": True})
        if kind == "tool_calls":
            return tool_calls_verdict(expected.tool_calls or [], output.tool_calls)
        if kind == "json":
            return json_verdict(expected.value, output.text)
        try:
            return self._text_verdict(expected.text or "", output)
        except EmbeddingError as exc:
            return Verdict(None, None, {"unscored": str(exc)[:200]})

    def _refusal(self, refusals: RefusalDetector, text: str, lean: bool) -> str | None:
        """The detector's evidence; with ``lean`` (the reference is a refusal) an answer whose
        opening merely leans that way counts too, as in the semantic comparator."""
        found = refusals.detect(text)
        if found is None and lean:
            nearest = refusals.nearest(text)
            if nearest is not None and nearest[1] and nearest[2] >= LEAN_THRESHOLD:
                return "leans refusal"
        return found

    def _text_verdict(self, reference: str, output: Output) -> Verdict:
        answer = output.text.strip()
        api_refusal = output.choices[0].refusal if output.choices else None
        if not answer and not api_refusal:
            return Verdict(False, 0.0, {"empty": True})
        embedder, refusals = self._model()
        reference_refused = refusals.detect(reference)
        refused = (
            "refusal field"
            if api_refusal
            else self._refusal(refusals, answer, reference_refused is not None)
        )
        if reference_refused is not None or refused is not None:
            both = reference_refused is not None and refused is not None
            refusal = {"reference": reference_refused, "answer": refused}
            return Verdict(both, 1.0 if both else 0.0, {"refusal": refusal})
        found = conflicts(extract(reference), extract(answer)) if self.options.facts else []
        evidence: dict[str, Any] = {}
        if found:
            evidence["conflicts"] = [
                {"kind": c.kind, "reference": list(c.incumbent), "answer": list(c.mirror)}
                for c in found
            ]
        short = 0 < len(normalize(reference).split()) <= self.options.short_words
        if short and contains_words(reference, answer):
            evidence["contained"] = True
            if not found:
                return Verdict(True, 1.0, evidence)
        try:
            similarity = meaning_similarity(embedder, reference, answer)
        except EmbeddingError as exc:
            if not short:
                raise
            # The words already decided: keep the verdict, so an outage drops no more misses
            # than hits from the accuracy; only the score is unknown.
            return Verdict(False, None, {**evidence, "unscored": str(exc)[:200]})
        evidence["similarity"] = round(similarity, 4)
        match = not short and similarity >= self.options.threshold and not found
        return Verdict(match, min(1.0, max(0.0, similarity)), evidence)
