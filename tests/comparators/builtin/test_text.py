from __future__ import annotations

from typing import Any

import pytest

from comparators.builtin.text import TextComparator, TextOptions, normalize, similarity
from tests.comparators.factories import context, mirror, pairing, side


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
        "exact_match": True,
        "normalized_match": True,
        "similarity": 1.0,
        "divergence": 0.0,
    }


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


def test_empty_texts_on_both_sides_are_identical() -> None:
    assert run("", "")["divergence"] == 0.0


def test_failed_side_leaves_nothing_to_compare() -> None:
    comparator = TextComparator(TextOptions(), context())
    [score] = comparator.compare(pairing(side(), mirror(error="timeout", status=None)))
    assert score.values == dict.fromkeys(
        ("exact_match", "normalized_match", "similarity", "divergence")
    )


def test_http_error_counts_as_failed() -> None:
    comparator = TextComparator(TextOptions(), context())
    [score] = comparator.compare(pairing(side(), mirror("oops", status=500)))
    assert score.values["divergence"] is None
