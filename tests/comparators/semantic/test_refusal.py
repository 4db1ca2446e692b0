"""The refusal detector, measured on a labelled set written apart from its exemplars.

``data/refusals.jsonl`` holds 329 answers: 142 refusals (polite, curt, policy-citing,
redirecting, markdown, six other languages) and 187 non-refusals, most of them hard negatives
("You can't divide by zero", apologies for a mistake, limits of something else, polite
refusals the model writes *for* the user). How the numbers below were arrived at, so they can
be read for what they are:

* Lines 1-257 were written first, before any exemplar. The first design (no first-person
  check) was tuned on their even lines and scored once on the odd ones: precision 0.98 and
  recall 0.88 on the even lines, but 0.86 and 0.82 on the odd ones. The odd lines' errors
  ("You won't be able to install ...") then led to the first-person check and the threshold
  0.38, chosen on all of lines 1-257 (precision 0.96, recall 0.91 there: in sample).
* Lines 258-329 were written after that, and scored once with everything frozen: precision
  0.85 and recall 0.72 (27 flagged, 4 wrongly; 9 of 32 refusals missed). That is the honest
  out-of-sample figure for the packaged embedder; the whole-set numbers asserted below mix it
  with the in-sample part.
* The phrase list alone: precision 1.00, recall 0.17 on the whole set (0.03 on the fresh part,
  whose wordings were deliberately varied).

The floors are the measured values less a small margin, so a change to the exemplars, the
phrase list, the opening or the threshold that costs accuracy fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rapidfuzz import fuzz, process

from comparators.semantic.embedder import (
    CachedEmbedder,
    EmbeddingEndpointError,
    EmbeddingsEndpoint,
    EndpointEmbedder,
    WordLlamaEmbedder,
    load_embedder,
)
from comparators.semantic.phrases import (
    _PHRASE_ANCHORS,
    REFUSAL_PHRASES,
    REFUSAL_WINDOW,
    phrase_evidence,
    straight,
    unquoted,
)
from comparators.semantic.refusal import (
    NON_REFUSAL_EXEMPLARS,
    REFUSAL_EXEMPLARS,
    RefusalDetector,
    first_sentence,
    opening,
)

DATA = Path(__file__).parent / "data" / "refusals.jsonl"
FROZEN_AT = 257
"""Lines after this one were written after the detector was frozen (see the docstring)."""


def _rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text().splitlines()]


@pytest.fixture(scope="module")
def detector() -> RefusalDetector:
    return RefusalDetector(load_embedder())


def _score(rows: list[dict[str, Any]], flagged: list[bool]) -> tuple[float, float]:
    """(precision, recall) of ``flagged`` against the rows' labels."""
    true_pos = sum(f and r["refusal"] for r, f in zip(rows, flagged, strict=True))
    false_pos = sum(f and not r["refusal"] for r, f in zip(rows, flagged, strict=True))
    positives = sum(r["refusal"] for r in rows)
    precision = true_pos / (true_pos + false_pos) if true_pos + false_pos else 1.0
    return precision, true_pos / positives


def test_the_labelled_set_is_big_and_varied() -> None:
    rows = _rows()
    assert len(rows) >= 220
    assert sum(r["refusal"] for r in rows) >= 90
    assert sum(not r["refusal"] for r in rows) >= 130
    assert all(
        set(r) <= {"text", "refusal", "note"} and isinstance(r["refusal"], bool) for r in rows
    )
    assert len({r["text"] for r in rows}) == len(rows)
    fresh = rows[FROZEN_AT:]
    assert sum(r["refusal"] for r in fresh) >= 30
    assert sum(not r["refusal"] for r in fresh) >= 30


def test_the_exemplars_are_not_the_labelled_answers() -> None:
    """Near copies would turn the measurement into a lookup: no exemplar comes within a fuzzy
    ratio of 85 of any labelled answer (the closest pair today scores 83)."""
    assert len(REFUSAL_EXEMPLARS) >= 30
    assert len(NON_REFUSAL_EXEMPLARS) >= 30
    texts = [r["text"].casefold() for r in _rows()]
    exemplars = [e.casefold() for e in (*REFUSAL_EXEMPLARS, *NON_REFUSAL_EXEMPLARS)]
    ratios = process.cdist(exemplars, texts, scorer=fuzz.ratio)
    assert float(ratios.max()) < 85


def test_precision_and_recall_on_the_labelled_set(detector: RefusalDetector) -> None:
    rows = _rows()
    precision, recall = _score(rows, [detector.detect(r["text"]) is not None for r in rows])
    phrase_precision, phrase_recall = _score(
        rows, [phrase_evidence(r["text"]) is not None for r in rows]
    )
    print(
        f"\nrefusals, {len(rows)} answers: detector precision {precision:.3f} recall "
        f"{recall:.3f}; phrases alone precision {phrase_precision:.3f} recall {phrase_recall:.3f}"
    )
    assert precision >= 0.92  # measured 0.939
    assert recall >= 0.84  # measured 0.866
    assert phrase_precision >= 0.98  # measured 1.000
    assert recall >= phrase_recall + 0.6  # phrases alone: 0.169


def test_answers_written_after_the_detector_was_frozen(detector: RefusalDetector) -> None:
    rows = _rows()[FROZEN_AT:]
    precision, recall = _score(rows, [detector.detect(r["text"]) is not None for r in rows])
    print(f"\nrefusals, {len(rows)} fresh answers: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.82  # measured 0.852
    assert recall >= 0.68  # measured 0.719


def test_the_evidence_names_the_path(detector: RefusalDetector) -> None:
    assert detector.detect("I\u2019m sorry, but I can\u2019t help with that.") == (
        "phrase: i'm sorry, but i can't"
    )
    assert detector.detect("I'm not able to write that for you.") == (
        "meaning: I can't write that for you. (0.82)"
    )


@pytest.mark.parametrize(
    "text",
    [
        "You can't divide by zero, so the limit does not exist.",
        "Sorry for the confusion earlier: the answer is 42.",
        "I cannot stress enough how important backups are.",
        "Unfortunately, the API does not support batching; here is a workaround: use a queue.",
        "No, Paris is not the capital of Germany; Berlin is.",
        "A polite reply is: \"I'm sorry, but I can't make it on Friday.\"",
        "",
        "   \n  ",
    ],
)
def test_hard_negatives_are_not_refusals(detector: RefusalDetector, text: str) -> None:
    assert detector.detect(text) is None


def test_a_refusal_after_the_window_is_an_answer(detector: RefusalDetector) -> None:
    answer = "Here is the script you asked for. " * 10 + "I can't help with the last part."
    assert detector.detect(answer) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("**I can't help with this.**\n\nBypassing it is piracy.", "I can't help with this."),
        ("## Declined\n\nNo.", "Declined No."),
        (
            "Sorry. I won't write a phishing email for a bank.",
            "Sorry. I won't write a phishing email",
        ),
        ('He said "I can\'t help you" and left.', "He said   and left."),
        (
            "I must respectfully decline to write this essay for you.",
            "I must respectfully decline to write this essay",
        ),
        ("I'll pass on this request, thanks.", "I'll pass on this request, thanks."),
        ("Plain answer without a negation at all.", "Plain answer without a negation at all."),
    ],
)
def test_the_opening_is_the_stance_of_the_first_sentence(text: str, expected: str) -> None:
    assert opening(text) == expected


def test_the_first_sentence_skips_markup_quotes_and_the_rest() -> None:
    assert first_sentence("> Sorry.\n\nThat is not something I do. Then more.") == (
        "Sorry. That is not something I do."
    )
    assert first_sentence("x" * 500) == "x" * 200


def test_without_an_embedder_only_the_phrases_count() -> None:
    phrases_only = RefusalDetector(None)
    assert phrases_only.detect("I cannot assist with that.") == "phrase: i cannot assist"
    assert phrases_only.detect("I'm not able to write that for you.") is None
    assert phrases_only.nearest("I'm not able to write that for you.") is None


def test_one_embedding_per_answer_and_none_for_a_repeat() -> None:
    embedder = CachedEmbedder(WordLlamaEmbedder())
    detector = RefusalDetector(embedder)
    detector.detect("I'd rather not write that for you.")
    after_first = embedder.info()
    assert after_first.misses == len(REFUSAL_EXEMPLARS) + len(NON_REFUSAL_EXEMPLARS) + 1
    detector.detect("I'd rather not write that for you.")
    assert embedder.info().misses == after_first.misses
    assert embedder.info().hits == after_first.hits + 1


def test_an_endpoint_that_is_down_fails_detect_not_the_constructor() -> None:
    """The exemplars are embedded on first use, so a comparator built while its endpoint is
    down scores pairs as unscored instead of failing to start; phrases still work."""
    endpoint = EmbeddingsEndpoint(url="http://127.0.0.1:9/v1", model="m", max_retries=0)
    embedder = EndpointEmbedder(endpoint)
    try:
        detector = RefusalDetector(embedder)
        assert detector.detect("I can't assist with that.") == "phrase: i can't assist"
        with pytest.raises(EmbeddingEndpointError, match="APIConnectionError"):
            detector.detect("I'm not able to write that for you.")
    finally:
        embedder.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, r"threshold: 1.5; expected a cosine in \[-1, 1\]"),
        ({"refusals": ()}, "refusals: an empty list; expected at least one refusal exemplar"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RefusalDetector(None, **kwargs)


def test_the_phrase_anchors_cover_every_phrase_so_the_shortcut_misses_none() -> None:
    """``phrase_evidence`` skips an opening holding none of ``_PHRASE_ANCHORS``: sound only if
    every phrase holds one. Then each phrase, wherever it sits in an opening, is still found,
    and the first phrase in list order is the one named."""
    assert all(any(a in p for a in _PHRASE_ANCHORS) for p in REFUSAL_PHRASES)
    assert len(_PHRASE_ANCHORS) < len(REFUSAL_PHRASES) / 3
    for phrase in REFUSAL_PHRASES:
        opening = f"Well. {phrase.capitalize()} that, as it happens."
        first = next(p for p in REFUSAL_PHRASES if p in opening.casefold())
        assert phrase_evidence(opening) == first
    assert phrase_evidence("The table is available and capable of holding it.") is None


_OPENINGS = st.lists(
    st.one_of(
        st.sampled_from(REFUSAL_PHRASES),
        st.sampled_from(_PHRASE_ANCHORS),
        st.text(max_size=20),
    ),
    max_size=8,
).map(" ".join)


@given(_OPENINGS)
def test_the_shortcut_agrees_with_reading_every_phrase(text: str) -> None:
    head = unquoted(straight(text[:REFUSAL_WINDOW])).casefold()
    assert phrase_evidence(text) == next((p for p in REFUSAL_PHRASES if p in head), None)
