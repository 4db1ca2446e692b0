"""Cohen's kappa and its interval against hand-computed values, and the two agreements the
report and the gate read: between reviewers, and between the LLM judge and reviewers."""

from __future__ import annotations

import math

import pytest

from comparators.judge.record import Judgement
from comparators.review.agreement import (
    JUDGE_VERDICTS,
    MIN_ITEMS,
    cohen_kappa,
    judge_human_agreement,
    latest_per_pair,
    reviewer_agreement,
)
from comparators.review.label import Label
from proxy.recording.schema import Role

YES_NO = ("yes", "no")


def table(yy: int, yn: int, ny: int, nn: int) -> list[tuple[str, str]]:
    """Ratings from a 2x2 table: rows the first rater, columns the second."""
    return [("yes", "yes")] * yy + [("yes", "no")] * yn + [("no", "yes")] * ny + [("no", "no")] * nn


def label(
    pair: str, reviewer: str, verdict: str, *, mirror: str = "cand", time: float = 0.0
) -> Label:
    return Label.model_validate(
        {
            "campaign": "c",
            "pair_id": pair,
            "mirror": mirror,
            "reviewer": reviewer,
            "verdict": verdict,
            "time": time,
        }
    )


def judged(pair: str, verdict: str | None, *, mirror: str = "cand") -> Judgement:
    return Judgement(
        pair_id=pair,
        campaign="c",
        timestamp=0.0,
        route="/v1/chat/completions",
        mirror=mirror,
        role=Role.CANDIDATE,
        status="judged" if verdict is not None else "malformed",
        verdict=verdict,  # type: ignore[arg-type]
        judge_model="judge",
        prompt_version="v",
    )


def test_the_textbook_table_has_kappa_0_4() -> None:
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15.
    # p_o = 35/50 = 0.7; rows 0.5/0.5, columns 0.6/0.4; p_e = 0.5*0.6 + 0.5*0.4 = 0.5;
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4.
    found = cohen_kappa(table(20, 5, 10, 15), YES_NO)
    assert found.kappa.value == pytest.approx(0.4)
    assert found.percent == pytest.approx(0.7)
    assert found.n == 50
    # Fleiss–Cohen–Everitt, with 1 - kappa = 0.6:
    #   diagonal: 0.4*(1 - 1.1*0.6)^2 + 0.3*(1 - 0.9*0.6)^2 = 0.04624 + 0.06348 = 0.10972
    #   off:      0.36 * (0.1*(0.6 + 0.5)^2 + 0.2*(0.4 + 0.5)^2) = 0.36 * 0.283 = 0.10188
    #   minus:    (0.4 - 0.5*0.6)^2 = 0.01
    #   var = (0.10972 + 0.10188 - 0.01) / (50 * 0.5^2) = 0.2016 / 12.5 = 0.016128
    assert found.se == pytest.approx(math.sqrt(0.016128))
    z = 1.959963984540054
    assert found.kappa.lower == pytest.approx(0.4 - z * math.sqrt(0.016128))
    assert found.kappa.upper == pytest.approx(0.4 + z * math.sqrt(0.016128))
    assert found.confusion == {"yes": {"yes": 20, "no": 5}, "no": {"yes": 10, "no": 15}}


def test_a_three_category_kappa() -> None:
    ratings = (
        [("a", "a")] * 10 + [("a", "b")] * 2
        + [("b", "a")] + [("b", "b")] * 8 + [("b", "c")]
        + [("c", "b")] * 3 + [("c", "c")] * 5
    )  # fmt: skip
    # p_o = 23/30; rows 12, 10, 8; columns 11, 13, 6; p_e = (132 + 130 + 48) / 900 = 31/90;
    # kappa = (69/90 - 31/90) / (59/90) = 38/59.
    found = cohen_kappa(ratings, ("a", "b", "c"))
    assert found.kappa.value == pytest.approx(38 / 59)
    assert found.percent == pytest.approx(23 / 30)


def test_perfect_agreement_is_1_and_chance_is_0() -> None:
    perfect = cohen_kappa(table(12, 0, 0, 18), YES_NO)
    assert perfect.kappa.value == pytest.approx(1.0)
    assert (perfect.kappa.lower, perfect.kappa.upper) == pytest.approx((1.0, 1.0))
    # Two raters who each say yes half the time, independently: agreement is all chance.
    chance = cohen_kappa(table(25, 25, 25, 25), YES_NO)
    assert chance.kappa.value == pytest.approx(0.0, abs=1e-12)
    assert chance.percent == pytest.approx(0.5)
    assert chance.kappa.lower is not None
    assert chance.kappa.upper is not None
    assert chance.kappa.lower < 0.0 < chance.kappa.upper
    # Worse than chance is negative; the interval never leaves [-1, 1].
    opposite = cohen_kappa(table(0, 10, 10, 0), YES_NO)
    assert opposite.kappa.value == pytest.approx(-1.0)
    assert opposite.kappa.lower == pytest.approx(-1.0)


def test_too_few_items_or_no_variation_give_no_number() -> None:
    few = cohen_kappa(table(5, 0, 0, MIN_ITEMS - 6), YES_NO)
    assert few.n == MIN_ITEMS - 1
    assert (few.kappa.value, few.kappa.lower, few.kappa.upper, few.se) == (None,) * 4
    assert few.percent is None
    assert few.confusion["yes"]["yes"] == 5  # the counts are still shown
    assert cohen_kappa([], YES_NO).kappa.value is None
    # Both raters said yes every time: p_e = 1, kappa is undefined, not 1.
    flat = cohen_kappa(table(30, 0, 0, 0), YES_NO)
    assert flat.kappa.value is None
    assert flat.percent == 1.0
    # A wider window needs more items.
    assert cohen_kappa(table(20, 5, 10, 15), YES_NO, min_items=51).kappa.value is None


def test_a_category_outside_the_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="maybe"):
        cohen_kappa([("yes", "maybe")], YES_NO)


def _reviewers(first: str, second: str, rows: list[tuple[str, str]], prefix: str) -> list[Label]:
    labels = []
    for index, (a, b) in enumerate(rows):
        labels.append(label(f"{prefix}{index}", first, a))
        labels.append(label(f"{prefix}{index}", second, b))
    return labels


AGREE = (
    [("same", "same")] * 6
    + [("candidate_better", "candidate_better")] * 4
    + [("candidate_worse", "candidate_worse")] * 4
    + [("same", "candidate_better")] * 2
)


def test_two_reviewers_are_compared_on_their_shared_items() -> None:
    labels = _reviewers("ann", "bob", AGREE, "p")
    labels.append(label("only-ann", "ann", "both_wrong"))
    found = reviewer_agreement(labels)
    direct = cohen_kappa(AGREE, ("candidate_better", "same", "candidate_worse"))
    assert found.n == 16
    assert found.kappa.value == pytest.approx(direct.kappa.value)
    assert found.reviewer_pairs == 1
    # A reviewer's later label replaces their earlier one before anything is compared.
    changed = [*labels, label("p0", "bob", "candidate_worse", time=9.0)]
    assert reviewer_agreement(changed).kappa.value != found.kappa.value


def test_more_reviewers_average_the_pairs_with_enough_items_in_common() -> None:
    labels = _reviewers("ann", "bob", AGREE, "p")
    perfect = [(a, a) for a, _ in AGREE]
    labels += _reviewers("cat", "dan", perfect, "q")
    labels += _reviewers("ann", "eve", perfect[: MIN_ITEMS - 1], "r")  # too few in common
    found = reviewer_agreement(labels)
    first = cohen_kappa(AGREE, ("candidate_better", "same", "candidate_worse"))
    assert first.kappa.value is not None
    assert first.se is not None
    assert found.reviewer_pairs == 2
    assert found.kappa.value == pytest.approx((first.kappa.value + 1.0) / 2)
    assert found.se == pytest.approx(first.se / 2)
    assert found.n == 32
    assert found.confusion == {}


def test_no_pair_of_reviewers_with_enough_items_gives_no_number() -> None:
    labels = _reviewers("ann", "bob", AGREE[: MIN_ITEMS - 1], "p")
    found = reviewer_agreement(labels)
    assert (found.kappa.value, found.n, found.reviewer_pairs) == (None, 0, 0)
    assert reviewer_agreement([label("p", "ann", "same")]).kappa.value is None


def test_labels_map_to_the_judges_words_and_the_rest_is_counted() -> None:
    verdicts = ["mirror"] * 5 + ["tie"] * 5 + ["incumbent"] * 5
    human = ["candidate_better"] * 5 + ["same"] * 4 + ["candidate_worse"] * 6
    judgements = [judged(f"p{i}", v) for i, v in enumerate(verdicts)]
    labels = [label(f"p{i}", "ann", h) for i, h in enumerate(human)]
    labels += [label("p15", "ann", "incumbent_wrong"), label("p16", "ann", "both_wrong")]
    judgements += [judged("p15", "tie"), judged("p16", "mirror"), judged("p17", None)]
    labels.append(label("p17", "ann", "same"))  # the judge failed on it: not compared
    labels.append(label("unjudged", "ann", "same"))
    found = judge_human_agreement(labels, judgements)
    assert found.n == 15
    assert found.left_out == {"both_wrong": 1, "incumbent_wrong": 1}
    assert list(found.confusion) == list(JUDGE_VERDICTS)
    assert found.confusion["mirror"] == {"incumbent": 0, "tie": 0, "mirror": 5}
    assert found.confusion["tie"] == {"incumbent": 1, "tie": 4, "mirror": 0}
    assert found.confusion["incumbent"] == {"incumbent": 5, "tie": 0, "mirror": 0}
    # p_o = 14/15, p_e = 3 * (5/15)*(...): judge 5/5/5, human 6/4/5 -> (30 + 20 + 25)/225.
    p_e = (5 * 6 + 5 * 4 + 5 * 5) / 225
    assert found.kappa.value == pytest.approx((14 / 15 - p_e) / (1 - p_e))


def test_the_last_label_on_a_pair_is_the_one_compared_with_the_judge() -> None:
    labels = [label("p1", "ann", "same"), label("p1", "bob", "candidate_worse")]
    assert latest_per_pair(labels)[("p1", "cand")].reviewer == "bob"
    labels.append(label("p1", "ann", "candidate_better"))
    assert latest_per_pair(labels)[("p1", "cand")].verdict == "candidate_better"
    found = judge_human_agreement(labels, [judged("p1", "mirror")], min_items=1)
    assert found.confusion["mirror"]["mirror"] == 1
    assert found.n == 1
