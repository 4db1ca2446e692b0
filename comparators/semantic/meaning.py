"""Meaning similarity of two answers that may differ in length, order and layout.

One vector per answer (the average of its token vectors, for the packaged model) is a fair
summary of a sentence but a poor one of a paragraph: a more verbose answer adds sentences whose
tokens pull its average away, and a faithful but chattier candidate scored 0.43 against a
terse incumbent. So answers are compared sentence by sentence:

* each answer is cut into sentences (on ``.``, ``!``, ``?`` and line breaks, with markdown
  bullets, numbering and emphasis removed), fragments of fewer than three words joined to
  their neighbour;
* ``coverage(a, b)`` is the mean over ``a``'s sentences (weighted by length) of the best
  cosine with any sentence of ``b``: how much of ``a`` is said somewhere in ``b``;
* the similarity is the larger of the whole-answer cosine and the two coverages: when one
  answer is contained in the other (a terser or a more verbose wording of the same answer),
  they agree. An answer about something else covers nothing and scores low either way.
  When the whole-answer cosine is already :data:`AGREE` or more, the sentence pass is
  skipped: it could only raise a similarity that already says "the same", and it is most of
  the cost.

Whether a terse answer left out something that mattered is a judgement of completeness, not of
meaning: the LLM judge's to make (``quality: judge``), not this measure's.
"""

from __future__ import annotations

import re

import numpy as np

from comparators.semantic.embedder import Embedder, Vectors

__all__ = ["AGREE", "MAX_SENTENCES", "meaning_similarity", "sentences"]

AGREE = 0.9

MAX_SENTENCES = 24  # a long answer's first 24 sentences: bounded work per pair
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_MARKUP = re.compile(r"^\s*(?:[-*+>]|\d{1,3}[.)]|#{1,6})\s+|\*\*|__|`")
_MIN_WORDS = 3


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, markup removed, short fragments joined to the previous."""
    found: list[str] = []
    for piece in _SPLIT.split(text):
        cleaned = _MARKUP.sub("", piece).strip()
        if not cleaned:
            continue
        if (found and len(cleaned.split()) < _MIN_WORDS) or (
            found and len(found[-1].split()) < _MIN_WORDS
        ):
            found[-1] = f"{found[-1]} {cleaned}"
        else:
            found.append(cleaned)
        if len(found) > MAX_SENTENCES:
            return found[:MAX_SENTENCES]
    return found


def _coverage(similarities: Vectors, weights: Vectors) -> float:
    best = similarities.max(axis=1)
    return float(np.dot(best, weights) / weights.sum())


def meaning_similarity(embedder: Embedder, a: str, b: str) -> float:
    """The similarity described in the module docstring, in [-1, 1]."""
    wholes = embedder.embed([a, b])
    whole = float(np.dot(wholes[0], wholes[1]))
    if whole >= AGREE:
        return whole
    parts_a, parts_b = sentences(a) or [a], sentences(b) or [b]
    if len(parts_a) == 1 and len(parts_b) == 1:
        return whole
    vectors = embedder.embed([*parts_a, *parts_b])
    va, vb = vectors[: len(parts_a)], vectors[len(parts_a) :]
    matrix = va @ vb.T
    weights_a = np.array([len(p) for p in parts_a], dtype=np.float32)
    weights_b = np.array([len(p) for p in parts_b], dtype=np.float32)
    return max(whole, _coverage(matrix, weights_a), _coverage(matrix.T, weights_b))
