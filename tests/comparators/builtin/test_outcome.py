from __future__ import annotations

import pytest

from comparators.builtin.outcome import (
    REFUSAL_PHRASES,
    REFUSAL_WINDOW,
    OutcomeComparator,
    OutcomeOptions,
    refusal_evidence,
)
from comparators.scores import Score
from proxy.recording.schema import Side
from tests.comparators.factories import context, mirror, output, pairing, side


def run(incumbent: Side, mirror_side: Side) -> Score:
    [score] = OutcomeComparator(OutcomeOptions(), context()).compare(
        pairing(incumbent, mirror_side)
    )
    return score


def test_healthy_pair() -> None:
    score = run(side("abcd"), mirror("abcdef"))
    assert score.values == {
        "incumbent_error": False,
        "mirror_error": False,
        "one_side_error": False,
        "mirror_win": False,
        "mirror_loss": False,
        "incumbent_status_class": "2xx",
        "mirror_status_class": "2xx",
        "status_class_match": True,
        "incumbent_refusal": False,
        "mirror_refusal": False,
        "one_side_refusal": False,
        "finish_reason_match": True,
        "length_ratio": 1.5,
    }
    assert score.details == {}


@pytest.mark.parametrize(
    ("status", "error", "status_class"),
    [
        (500, None, "5xx"),
        (429, "http_status", "4xx"),
        (None, "connect", "none"),
        (200, "reset", "2xx"),
    ],
)
def test_error_on_the_mirror_only(status: int | None, error: str | None, status_class: str) -> None:
    score = run(side(), mirror(status=status, error=error))
    assert score.values["mirror_error"] is True
    assert (score.values["mirror_loss"], score.values["mirror_win"]) == (True, False)
    assert score.values["incumbent_error"] is False
    assert score.values["one_side_error"] is True
    assert score.values["mirror_status_class"] == status_class
    assert score.values["finish_reason_match"] is None
    assert score.values["length_ratio"] is None
    assert score.values["mirror_refusal"] is None
    if error is not None:
        assert score.details["mirror_error"] == error


def test_errors_on_both_sides_are_not_one_sided() -> None:
    score = run(side(status=503), mirror(status=503))
    assert score.values["one_side_error"] is False
    assert score.values["status_class_match"] is True


def test_finish_reason_mismatch_is_shown() -> None:
    score = run(side(finish_reason="stop"), mirror(finish_reason="length"))
    assert score.values["finish_reason_match"] is False
    assert score.details["finish_reason"] == {"incumbent": "stop", "mirror": "length"}


def test_refusal_on_the_mirror_only() -> None:
    score = run(side("Paris."), mirror("I’m sorry, but I can’t help with that request."))
    assert score.values["incumbent_refusal"] is False
    assert score.values["mirror_refusal"] is True
    assert score.values["one_side_refusal"] is True
    assert score.details["refusal"] == {
        "incumbent": None,
        "mirror": "phrase: i'm sorry, but i can't",
    }


def test_a_refusal_without_any_listed_phrase_is_read_by_meaning() -> None:
    score = run(side("Paris."), mirror("That is not something I am able to share with you."))
    assert score.values["mirror_refusal"] is True
    assert str(score.details["refusal"]["mirror"]).startswith("meaning: ")
    phrases = OutcomeComparator(OutcomeOptions(refusals="phrases"), context())
    [plain] = phrases.compare(
        pairing(side("Paris."), mirror("That is not something I am able to share with you."))
    )
    assert plain.values["mirror_refusal"] is False


def test_refusal_channel_counts_without_a_phrase() -> None:
    assert refusal_evidence(output("", refusal="Not allowed.")) == "refusal field"


@pytest.mark.parametrize(
    ("text", "evidence"),
    [
        ("I cannot help with making weapons.", "i cannot help with"),
        ("Unfortunately, I CAN'T ASSIST with that.", "i can't assist"),
        ("Here is the recipe you asked for.", None),
        ("x" * REFUSAL_WINDOW + " I cannot assist with that part.", None),  # too late to count
        ("", None),
    ],
)
def test_refusal_heuristic(text: str, evidence: str | None) -> None:
    assert refusal_evidence(output(text)) == (None if evidence is None else f"phrase: {evidence}")


def test_refusal_phrases_are_stored_folded() -> None:
    assert all(p == p.casefold() and "\u2019" not in p for p in REFUSAL_PHRASES)


def test_length_ratio_is_none_for_an_empty_incumbent() -> None:
    assert run(side(""), mirror("text")).values["length_ratio"] is None
    assert run(side("text"), mirror("")).values["length_ratio"] == 0.0


def test_a_mirror_that_answers_where_the_incumbent_failed_wins() -> None:
    score = run(side(status=400, error="http_status"), mirror("fine"))
    assert (score.values["mirror_win"], score.values["mirror_loss"]) == (True, False)
