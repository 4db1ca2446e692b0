from __future__ import annotations

import random
from typing import Any

import pytest

from comparators.builtin.text import (
    _NOT_WORD_OR_SPACE,
    TextComparator,
    TextOptions,
    normalize,
    similarity,
)
from proxy.recording.schema import Output
from tests.comparators.factories import call, context, mirror, output, pairing, side


def run(a: str, b: str, **options: object) -> dict[str, Any]:
    comparator = TextComparator(TextOptions.model_validate(options), context())
    [score] = comparator.compare(pairing(side(a), mirror(b)))
    assert score.comparator == "text"
    return dict(score.values)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello,  World!", "hello world"),
        ("  tabs\tand\nnewlines  ", "tabs and newlines"),
        ("Straße", "strasse"),  # casefold, not lower
        ("U.S.A. — yes.", "usa yes"),
        ("snake_case stays", "snake_case stays"),
        ("", ""),
    ],
)
def test_normalize_folds_case_punctuation_and_space(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_identical_texts() -> None:
    assert run("Same answer.", "Same answer.") == {
        "applicable": True,
        "exact_match": True,
        "normalized_match": True,
        "similarity": 1.0,
        "divergence": 0.0,
    }


def test_the_ascii_fast_path_folds_exactly_as_the_unicode_path() -> None:
    """``normalize`` takes a bytes path for ASCII text; it must agree with the general one on
    every ASCII character, alone and in random mixtures (the separators \\x1c-\\x1f split
    words in ``str.split`` but not in ``bytes.split``)."""

    def general(text: str) -> str:
        return " ".join(_NOT_WORD_OR_SPACE.sub("", text.casefold()).split())

    chars = [chr(c) for c in range(128)]
    for c in chars:
        text = f"a{c}B {c}c"
        assert normalize(text) == general(text), repr(c)
    rng = random.Random(7)
    for _ in range(2000):
        text = "".join(rng.choice(chars) for _ in range(rng.randrange(0, 40)))
        assert normalize(text) == general(text), repr(text)


def test_normalized_match_without_exact_match() -> None:
    values = run("Hello, World!", "hello   world")
    assert values["exact_match"] is False
    assert values["normalized_match"] is True
    assert values["similarity"] == 1.0
    assert values["divergence"] == 0.0


def test_word_order_is_forgiven_but_missing_words_are_not() -> None:
    assert run("the cat sat", "sat the cat")["similarity"] == 1.0
    # token_sort_ratio: "cat sat the" vs "cat mat on sat the the" -> 66.67, not set ratio's 100.
    values = run("the cat sat", "the cat sat on the mat")
    assert values["similarity"] == pytest.approx(2 / 3)
    assert values["divergence"] == pytest.approx(1 / 3)


def test_normalize_false_scores_the_raw_texts() -> None:
    assert run("Hello!", "hello", normalize=False)["similarity"] < 1.0
    assert run("Hello!", "hello", normalize=True)["similarity"] == 1.0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [("", "", 1.0), ("", "something", 0.0), ("something", "", 0.0), ("abc", "abc", 1.0)],
)
def test_similarity_edges(a: str, b: str, expected: float) -> None:
    assert similarity(a, b) == expected


@pytest.mark.parametrize(("a", "b"), [("", ""), ("", " \n"), ("\t", "")])
def test_no_text_on_either_side_is_not_applicable_rather_than_identical(a: str, b: str) -> None:
    assert run(a, b) == {
        "applicable": False,
        "exact_match": None,
        "normalized_match": None,
        "similarity": None,
        "divergence": None,
    }


def test_text_on_one_side_only_is_scored_as_different() -> None:
    values = run("", "Paris.")
    assert (values["applicable"], values["exact_match"], values["similarity"]) == (True, False, 0.0)


def test_punctuation_only_answers_are_scored_on_their_raw_text() -> None:
    # Normalising deletes all of both texts; "!!!" and "???" are still different answers.
    values = run("!!!", "???")
    assert values["normalized_match"] is True
    assert values["similarity"] == 0.0


def test_embedding_and_tool_call_answers_have_no_text_to_score() -> None:
    comparator = TextComparator(TextOptions(), context())
    vectors = Output(body={"data": [{"index": 0, "embedding": [0.1, 0.2]}]})
    embedding = pairing(side(out=vectors), mirror(out=vectors), route="/v1/embeddings")
    tools = pairing(side("", tool_calls=[call("f")]), mirror("", tool_calls=[call("g")]))
    for pair in (embedding, tools):
        [score] = comparator.compare(pair)
        assert score.values["applicable"] is False
        assert score.values["similarity"] is None


def test_failed_side_leaves_nothing_to_compare() -> None:
    comparator = TextComparator(TextOptions(), context())
    [score] = comparator.compare(pairing(side(), mirror(error="timeout", status=None)))
    assert score.values == dict.fromkeys(
        ("applicable", "exact_match", "normalized_match", "similarity", "divergence")
    )


def test_http_error_counts_as_failed() -> None:
    comparator = TextComparator(TextOptions(), context())
    [score] = comparator.compare(pairing(side(), mirror("oops", status=500)))
    assert score.values["divergence"] is None


def test_reasoning_is_compared_only_when_asked() -> None:
    thinking = output("Paris.")
    thinking.choices[0].reasoning = "The user asks for a capital; France's is Paris."
    plain = output("Paris.")
    pair = pairing(side(out=thinking), mirror(out=plain))
    default = TextComparator(TextOptions(), context()).compare(pair)[0].values
    asked = TextComparator(TextOptions(reasoning=True), context()).compare(pair)[0].values
    assert default["exact_match"] is True
    assert asked["exact_match"] is False
    assert isinstance(asked["similarity"], float)
    assert asked["similarity"] < 1.0
