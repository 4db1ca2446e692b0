"""Text divergence: did the mirror say the same thing as the incumbent?

Three views, from strict to forgiving:

* ``exact_match``: the first choice's texts are identical, byte for byte.
* ``normalized_match``: identical after :func:`normalize`: casefold, delete every character
  that is neither a word character nor white space (Unicode punctuation and symbols), then
  collapse runs of white space to one space and trim. ``"Hello,  World!"`` and
  ``"hello world"`` match.
* ``similarity``: ``rapidfuzz.fuzz.token_sort_ratio / 100`` on the normalised texts (raw texts
  with ``normalize: false``); ``divergence = 1 - similarity``. When normalising leaves
  nothing of either text (answers of punctuation only), the raw texts are scored instead.

``applicable`` says there was text to compare, on at least one side.

Why ``token_sort_ratio`` and not ``token_set_ratio``: the set ratio scores 100 whenever one
text's words are a subset of the other's, so a truncated or padded answer would look identical.
The sort ratio forgives word order but still charges for missing and extra words.

When either side failed every value is ``None``, as with every content comparator. When both
answered but neither has any text (an embeddings answer, a tool call without content, a body
that could not be read as an answer), ``applicable`` is false and every other value is
``None``. Either way there is nothing to compare: two empty texts are *not* scored as
identical, because that would count every pair the text view cannot see as a perfect match
(embedding pairs showed "exact match 100%"); a failure is scored by the outcome comparator and
the headline divergence, tool calls and vectors by their own comparators.
"""

from __future__ import annotations

import logging
import re
from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from rapidfuzz.fuzz import token_sort_ratio

from comparators.base import ComparatorContext, Pairing, make_score
from comparators.scores import Score, Value
from proxy.recording.schema import Output

__all__ = ["TextComparator", "TextOptions", "normalize"]

logger = logging.getLogger(__name__)

_NOT_WORD_OR_SPACE = re.compile(r"[^\w\s]+")


# For ASCII text the same folding on bytes: what _NOT_WORD_OR_SPACE deletes, and str.split()'s
# white space (bytes.split() does not split on the separators \x1c-\x1f; mapped to spaces).
_ASCII_DELETE = bytes(c for c in range(128) if _NOT_WORD_OR_SPACE.match(chr(c)))
_ASCII_SEPARATORS = bytes.maketrans(b"\x1c\x1d\x1e\x1f", b"    ")


def normalize(text: str) -> str:
    """Fold the differences a reader would not call a different answer: case, punctuation
    and white space."""
    if text.isascii():
        folded = text.encode().lower().translate(_ASCII_SEPARATORS, _ASCII_DELETE)
        return b" ".join(folded.split()).decode()
    return " ".join(_NOT_WORD_OR_SPACE.sub("", text.casefold()).split())


def similarity(a: str, b: str) -> float:
    """Token-sorted similarity in [0, 1]; two empty texts are identical, not dissimilar."""
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    return float(token_sort_ratio(a, b)) / 100.0


class TextOptions(BaseModel):
    """``comparators: {text: {normalize: false}}`` scores similarity on the raw texts;
    ``{text: {reasoning: true}}`` compares a model's visible reasoning (Anthropic thinking,
    ``Choice.reasoning``) too, before its answer. Off by default: two models that reason
    differently to the same answer have given the same answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    normalize: bool = True
    reasoning: bool = False


# A failed side: nothing is known, as with every content comparator.
_FAILED: dict[str, Value] = dict.fromkeys(
    ("applicable", "exact_match", "normalized_match", "similarity", "divergence")
)
_NO_TEXT: dict[str, Value] = {**_FAILED, "applicable": False}


def _with_reasoning(output: Output, text: str) -> str:
    reasoning = output.choices[0].reasoning if output.choices else None
    return f"{reasoning}\n{text}" if reasoning else text


class TextComparator:
    name: ClassVar[str] = "text"
    Options: ClassVar[type[BaseModel]] = TextOptions

    def __init__(self, options: TextOptions, context: ComparatorContext) -> None:
        self.options = options
        # The last incumbent answer normalised: a pair's replica and candidates share it.
        self._last_incumbent: tuple[Output, str] | None = None

    def _normalized_incumbent(self, output: Output, text: str) -> str:
        """``normalize(text)`` for the incumbent's ``output``, once per pair (``text`` is
        read from ``output`` under fixed options, so the answer identifies it)."""
        last = self._last_incumbent
        if last is not None and last[0] is output:
            return last[1]
        folded = normalize(text)
        self._last_incumbent = (output, folded)
        return folded

    def compare(self, pair: Pairing) -> list[Score]:
        incumbent, mirror = pair.incumbent.output, pair.mirror.output
        if incumbent is None or mirror is None or not pair.both_ok:
            return [make_score(self.name, dict(_FAILED))]
        a, b = incumbent.text, mirror.text
        if self.options.reasoning:
            a, b = _with_reasoning(incumbent, a), _with_reasoning(mirror, b)
        if not a.strip() and not b.strip():  # nothing to read is not "identical"
            return [make_score(self.name, dict(_NO_TEXT))]
        if a == b:
            return [
                make_score(
                    self.name,
                    {
                        "applicable": True,
                        "exact_match": True,
                        "normalized_match": True,
                        "similarity": 1.0,
                        "divergence": 0.0,
                    },
                )
            ]
        norm_a, norm_b = self._normalized_incumbent(incumbent, a), normalize(b)
        if self.options.normalize and (norm_a or norm_b):
            score = similarity(norm_a, norm_b)
        else:
            score = similarity(a, b)
        return [
            make_score(
                self.name,
                {
                    "applicable": True,
                    "exact_match": False,
                    "normalized_match": norm_a == norm_b,
                    "similarity": score,
                    "divergence": 1.0 - score,
                },
            )
        ]
