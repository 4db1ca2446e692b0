"""Semantic: did the mirror *mean* the same as the incumbent, whatever its wording?

Word overlap charges an equally good answer for every synonym, reordered sentence and extra
line of explanation, so a candidate that words things its own way looks 50 points worse than
it is. This comparator judges prose the way a reviewer would, in two parts:

* **meaning**: the similarity of the two answers' sentence embeddings, sentence by sentence so
  that a terser or more verbose wording of the same answer agrees
  (:mod:`comparators.semantic.meaning`), by default with the ``wordllama`` model packaged with
  darklaunch's ``[analysis]`` extra, loaded offline, or any OpenAI-compatible
  ``/v1/embeddings`` endpoint under ``embeddings:``. Below ``threshold`` the answers are
  about different things;
* **facts**: the numbers, money, names and negations of each answer, compared exactly
  (:mod:`comparators.semantic.facts`). Embeddings average tokens, so "$1,250" and "$1,520",
  "with" and "without consent", Canberra and Sydney look alike to them; a fact conflict is a
  content change however close the vectors are.

Refusals are read by meaning too (:mod:`comparators.semantic.refusal`): two refusals worded
differently mean the same (their vectors are far apart: 0.26), and an answer next to a refusal
is a change whatever the similarity. When one side plainly refused, the other counts as a
refusal too if its opening merely leans that way (nearest exemplar a refusal, at
:data:`LEAN_THRESHOLD`), so a refusal worded past the detector is not a change.

Values: ``applicable`` (both sides answered, at least one with text; an empty answer next to
a real one is ``changed``), ``similarity`` ([-1, 1]),
``divergence`` (``1 - similarity`` clipped to [0, 1]), ``fact_conflicts`` (kinds of fact that
conflict), ``facts_match``, ``incumbent_refusal`` / ``mirror_refusal`` and ``changed``: the
per-pair verdict the gate's ``quality: semantic`` mode counts. When the embedding endpoint
fails the pair is *unscored* (``applicable`` true, ``changed`` and ``similarity`` ``None``,
``unscored`` true): never guessed as identical.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from comparators.base import ComparatorContext, Pairing, make_score
from comparators.scores import Score, Value
from comparators.semantic.embedder import EmbeddingError, EmbeddingsEndpoint, load_embedder
from comparators.semantic.facts import conflicts, extract
from comparators.semantic.meaning import meaning_similarity
from comparators.semantic.refusal import RefusalDetector

__all__ = ["LEAN_THRESHOLD", "SemanticComparator", "SemanticOptions"]

LEAN_THRESHOLD = 0.25
"""How near a refusal exemplar an answer's opening must be to count as a refusal when the other
side plainly refused: two refusals in different words are the same answer."""

logger = logging.getLogger(__name__)

_KEYS = (
    "applicable",
    "unscored",
    "similarity",
    "divergence",
    "fact_conflicts",
    "facts_match",
    "incumbent_refusal",
    "mirror_refusal",
    "changed",
)


class SemanticOptions(BaseModel):
    """``comparators: {semantic: {threshold: 0.45, embeddings: {url: ..., model: ...}}}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Below this cosine similarity the two answers are about different things. Calibrated on
    # paraphrases and wrong answers: see docs/calibration.md.
    threshold: float = Field(default=0.5, ge=-1.0, le=1.0)
    # Compare numbers, money, names and negations exactly.
    facts: bool = True
    # Detect refusals by meaning (else only the API's refusal field and the phrase list).
    refusals_by_meaning: bool = True
    # An OpenAI-compatible embeddings endpoint instead of the packaged model.
    embeddings: EmbeddingsEndpoint | None = None


class SemanticComparator:
    name: ClassVar[str] = "semantic"
    Options: ClassVar[type[BaseModel]] = SemanticOptions

    def __init__(self, options: SemanticOptions, context: ComparatorContext) -> None:
        self.options = options
        self.embedder = load_embedder(options.embeddings)
        self.refusals = RefusalDetector(self.embedder if options.refusals_by_meaning else None)

    def _leans_refusal(self, text: str) -> bool:
        """Whether the exemplar nearest to the answer's opening is a refusal at
        :data:`LEAN_THRESHOLD`, below the detector's own threshold."""
        found = self.refusals.nearest(text)
        return found is not None and found[1] and found[2] >= LEAN_THRESHOLD

    def compare(self, pair: Pairing) -> list[Score]:
        incumbent, mirror = pair.incumbent.output, pair.mirror.output
        if incumbent is None or mirror is None or not pair.both_ok:
            return [make_score(self.name, dict.fromkeys(_KEYS))]
        a, b = incumbent.text.strip(), mirror.text.strip()
        if not a and not b:  # nothing to read is not "identical"
            values: dict[str, Value] = dict.fromkeys(_KEYS)
            values["applicable"] = False
            return [make_score(self.name, values)]
        if not a or not b:  # an empty answer next to a real one says something else
            values = dict.fromkeys(_KEYS)
            values.update(
                applicable=True, unscored=False, similarity=0.0, divergence=1.0, changed=True
            )
            return [make_score(self.name, values, {"empty": "incumbent" if not a else "mirror"})]
        details: dict[str, Any] = {}
        try:
            refusal_a, refusal_b = self.refusals.detect(a), self.refusals.detect(b)
            similarity = 1.0 if a == b else meaning_similarity(self.embedder, a, b)
            lean: str | None = None
            if (refusal_a is None) != (refusal_b is None):
                # A refusal worded past the detector's threshold still leans its way: when
                # the other side plainly refused, a lean is enough to call both refusals.
                lean = "mirror" if refusal_b is None else "incumbent"
                if not self._leans_refusal(b if refusal_b is None else a):
                    lean = None
        except EmbeddingError as exc:
            logger.warning("pair %s left unscored: %s", pair.record.pair_id, exc)
            values = dict.fromkeys(_KEYS)
            values.update(applicable=True, unscored=True)
            return [make_score(self.name, values, {"unscored": str(exc)[:200]})]
        found = conflicts(extract(a), extract(b)) if self.options.facts else []
        if found:
            details["conflicts"] = [
                {"kind": c.kind, "incumbent": list(c.incumbent), "mirror": list(c.mirror)}
                for c in found
            ]
        if refusal_a is not None or refusal_b is not None:
            details["refusal"] = {"incumbent": refusal_a, "mirror": refusal_b}
        if lean is not None:
            details["refusal_lean"] = lean
            refusal_a = refusal_a or "leans refusal"
            refusal_b = refusal_b or "leans refusal"
        if refusal_a is not None and refusal_b is not None:
            changed = False  # two refusals mean the same, however worded
        elif (refusal_a is None) != (refusal_b is None):
            changed = True
        else:
            changed = similarity < self.options.threshold or bool(found)
        values = {
            "applicable": True,
            "unscored": False,
            "similarity": similarity,
            "divergence": min(1.0, max(0.0, 1.0 - similarity)),
            "fact_conflicts": len(found),
            "facts_match": not found,
            "incumbent_refusal": refusal_a is not None,
            "mirror_refusal": refusal_b is not None,
            "changed": changed,
        }
        return [make_score(self.name, values, details)]
