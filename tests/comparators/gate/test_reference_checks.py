"""The reference checks: accuracy against a golden set's expected answers.

``min_reference_accuracy`` is a floor on the candidate's share of right answers and
``max_reference_regression`` a non-inferiority limit on the incumbent's accuracy minus the
candidate's on the same items. Both read the ``reference.*`` values of the reference
comparator, count only pairs whose two answers it read, and say so when there is nothing to
read instead of passing.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from rich.console import Console

from comparators.gate.estimate import Decision, Estimate
from comparators.gate.policy import GatePolicy, GatePolicyError, load_policy, parse_policy
from comparators.gate.reference import decide_at_least
from comparators.gate.render import render_gate
from comparators.gate.result import Check, GateResult, Verdict
from comparators.gate.verdict import evaluate
from comparators.report.build import build_report, render_json
from comparators.report.html import render_html
from comparators.report.table import render_markdown, render_table
from comparators.scores import ScoreRecord
from proxy.shipped.files import read_shipped, shipped_path
from tests.comparators.score_factories import score

BASE = GatePolicy(min_pairs=100, segments=False)
ACCURACY = BASE.model_copy(update={"min_reference_accuracy": 0.85})
REGRESSION = BASE.model_copy(update={"max_reference_regression": 0.02})
BOTH = BASE.model_copy(update={"min_reference_accuracy": 0.85, "max_reference_regression": 0.02})


def answered(
    pair_id: str, incumbent: bool | None, candidate: bool | None, **kwargs: Any
) -> ScoreRecord:
    """A replayed golden item: each side's answer right (True), wrong (False) or unread
    (None) by the reference comparator; healthy in every other respect."""
    return score(
        pair_id,
        reference__applicable=True,
        reference__kind="text",
        reference__incumbent_match=incumbent,
        reference__mirror_match=candidate,
        reference__incumbent_score=None if incumbent is None else float(incumbent),
        reference__mirror_score=None if candidate is None else float(candidate),
        reference__unscored=incumbent is None or candidate is None,
        **kwargs,
    )


def golden(
    both: int,
    only_incumbent: int,
    only_candidate: int,
    neither: int,
    prefix: str = "item",
    **kwargs: Any,
) -> list[ScoreRecord]:
    """A replay with these counts of (incumbent right, candidate right) items."""
    sides = (
        [(True, True)] * both
        + [(True, False)] * only_incumbent
        + [(False, True)] * only_candidate
        + [(False, False)] * neither
    )
    return [
        answered(f"{prefix}-{i:05d}", incumbent, candidate, **kwargs)
        for i, (incumbent, candidate) in enumerate(sides)
    ]


def only(result: GateResult, name: str, segment: str | None = None) -> Check:
    (found,) = [c for c in result.checks if c.name == name and c.segment == segment]
    return found


# --- min_reference_accuracy -------------------------------------------------------------


def test_an_accurate_candidate_passes_the_floor_on_its_lower_bound() -> None:
    result = evaluate(golden(880, 10, 20, 90), ACCURACY)  # candidate right on 900 of 1,000
    check = only(result, "reference_accuracy")
    assert check.status is Verdict.PASS
    assert check.direction == "at_least"
    assert check.value == pytest.approx(0.9)
    assert check.lower is not None
    assert 0.85 <= check.lower < 0.9
    assert check.n == 1000
    assert "900 of 1000; the incumbent's 890" in check.method
    assert "Clopper–Pearson" in check.method
    assert result.verdict is Verdict.PASS


def test_an_inaccurate_candidate_fails_on_its_upper_bound() -> None:
    result = evaluate(golden(690, 200, 10, 100), ACCURACY)  # 700 of 1,000
    check = only(result, "reference_accuracy")
    assert check.status is Verdict.FAIL
    assert check.upper is not None
    assert check.upper < 0.85
    assert check.detectable is not None
    assert check.detectable < 0.85
    assert result.verdict is Verdict.FAIL


def test_a_candidate_at_the_floor_on_a_small_set_is_inconclusive() -> None:
    result = evaluate(golden(165, 10, 5, 20), ACCURACY)  # 170 of 200: 85% exactly
    check = only(result, "reference_accuracy")
    assert check.status is Verdict.INCONCLUSIVE
    assert check.lower is not None
    assert check.lower < 0.85
    assert check.upper is not None
    assert check.upper > 0.85
    assert result.verdict is Verdict.INCONCLUSIVE


def test_the_floor_passes_at_its_limit_and_fails_only_below_it() -> None:
    assert decide_at_least(Estimate(0.9, 0.85, 0.95, 10), 0.85) is Decision.PASS
    assert decide_at_least(Estimate(0.8, 0.7, 0.849, 10), 0.85) is Decision.FAIL
    assert decide_at_least(Estimate(0.8, 0.7, 0.85, 10), 0.85) is Decision.INCONCLUSIVE
    assert decide_at_least(Estimate(None, None, None, 0), 0.85) is Decision.INCONCLUSIVE


# --- max_reference_regression -----------------------------------------------------------


def test_a_candidate_as_accurate_as_the_incumbent_passes_non_inferiority() -> None:
    result = evaluate(golden(830, 20, 20, 130), REGRESSION)
    check = only(result, "reference_regression")
    assert check.status is Verdict.PASS
    assert check.value == 0.0
    assert check.upper is not None
    assert check.upper <= 0.02
    assert result.verdict is Verdict.PASS


def test_a_candidate_right_less_often_than_the_incumbent_fails() -> None:
    result = evaluate(golden(730, 120, 20, 130), REGRESSION)
    check = only(result, "reference_regression")
    assert check.status is Verdict.FAIL
    assert check.value == pytest.approx(0.1)
    assert check.lower is not None
    assert check.lower > 0.02
    assert "on the same 1000 items with a reference" in check.method
    assert "(120 only the incumbent right, 20 only the candidate)" in check.method
    assert "Bonett–Price paired bounds; exact McNemar one-sided p=" in check.method
    assert result.verdict is Verdict.FAIL


def test_a_small_regression_on_a_small_set_is_inconclusive() -> None:
    result = evaluate(golden(160, 10, 6, 24), REGRESSION)
    check = only(result, "reference_regression")
    assert check.status is Verdict.INCONCLUSIVE
    assert check.value == pytest.approx(0.02)
    assert result.verdict is Verdict.INCONCLUSIVE


def test_a_hard_golden_set_does_not_fail_an_equal_candidate() -> None:
    """Both sides right on only 60% of the items: the floor FAILs, the paired check does
    not, because the incumbent is the baseline."""
    result = evaluate(golden(580, 20, 20, 380), BOTH)
    assert only(result, "reference_accuracy").status is Verdict.FAIL
    assert only(result, "reference_regression").status is Verdict.PASS


# --- no reference, unscored ----------------------------------------------------------------


def test_without_reference_answers_both_checks_are_inconclusive_and_a_note_says_why() -> None:
    plain = [score(f"pair-{i}") for i in range(600)]
    assert evaluate(plain, BASE).verdict is Verdict.PASS
    result = evaluate(plain, BOTH)
    assert result.verdict is Verdict.INCONCLUSIVE
    for name, key in (
        ("reference_accuracy", "min_reference_accuracy"),
        ("reference_regression", "max_reference_regression"),
    ):
        check = only(result, name)
        assert check.status is Verdict.INCONCLUSIVE
        assert check.n == 0
        assert check.value is None
        assert check.method.startswith(f"{key} set, but no pair carries a reference answer")
    (note,) = [n for n in result.notes if "reference" in n]
    assert note.startswith(
        "min_reference_accuracy and max_reference_regression set, but no pair carries a "
        "reference answer: replay a golden set with expected answers"
    )
    assert not any("reference" in n for n in evaluate(plain, BASE).notes)


def test_the_note_names_the_candidate_without_references() -> None:
    records = golden(830, 20, 20, 130) + [score(f"pair-{i}", mirror="cand-b") for i in range(1000)]
    (note,) = [n for n in evaluate(records, REGRESSION).notes if "reference" in n]
    assert "no pair of cand-b carries a reference answer" in note


def test_unscored_matches_are_left_out_and_counted_in_the_method() -> None:
    scored = golden(730, 120, 20, 130)
    unread = [answered(f"unread-{i}", True, None) for i in range(40)]
    unread += [answered(f"unread-inc-{i}", None, False) for i in range(10)]
    # The comparator said unscored though it wrote matches: left out as well.
    flagged = [
        score(
            f"flagged-{i}",
            reference__applicable=True,
            reference__incumbent_match=True,
            reference__mirror_match=False,
            reference__unscored=True,
        )
        for i in range(30)
    ]
    # Not applicable (no reference on the item): never counted, not as unscored either.
    stray = [
        score(
            f"stray-{i}",
            reference__applicable=False,
            reference__incumbent_match=True,
            reference__mirror_match=False,
        )
        for i in range(25)
    ]
    result = evaluate(scored + unread + flagged + stray, BOTH)
    regression = only(result, "reference_regression")
    accuracy = only(result, "reference_accuracy")
    assert regression.n == accuracy.n == 1000
    assert regression.value == pytest.approx(0.1)
    assert accuracy.value == pytest.approx(0.75)
    assert regression.method.endswith("; 80 unscored pairs left out")
    assert accuracy.method.endswith("; 80 unscored pairs left out")


def test_all_unscored_is_inconclusive_and_says_so() -> None:
    records = [answered(f"item-{i}", True, None) for i in range(600)]
    result = evaluate(records, REGRESSION)
    check = only(result, "reference_regression")
    assert check.status is Verdict.INCONCLUSIVE
    assert check.n == 0
    assert "(600 unscored pairs left out)" in check.method
    assert result.verdict is Verdict.INCONCLUSIVE


# --- the family, segments -----------------------------------------------------------------


def test_the_reference_checks_join_the_bonferroni_family() -> None:
    records = golden(830, 20, 20, 130)
    base = evaluate(records, BASE).fail_confidence["all pairs"]
    with_one = evaluate(records, REGRESSION).fail_confidence["all pairs"]
    with_both = evaluate(records, BOTH).fail_confidence["all pairs"]
    assert base == pytest.approx(1 - 0.05 / 7)  # the seven default checks
    assert with_one == pytest.approx(1 - 0.05 / 8)
    assert with_both == pytest.approx(1 - 0.05 / 9)
    # Set on pairs without a reference they cannot FAIL, so they take no share.
    plain = [score(f"pair-{i}") for i in range(600)]
    assert evaluate(plain, BOTH).fail_confidence["all pairs"] == pytest.approx(1 - 0.05 / 7)


def test_the_fail_bound_is_taken_at_the_family_level() -> None:
    records = golden(730, 120, 20, 130)
    alone = only(evaluate(records, REGRESSION), "reference_regression")
    crowded = only(evaluate(records, BOTH), "reference_regression")
    assert alone.upper == crowded.upper  # PASS bound: the policy's confidence, unadjusted
    assert alone.lower is not None
    assert crowded.lower is not None
    assert crowded.lower < alone.lower  # FAIL bound: one more check, a stricter bound


def test_a_regression_confined_to_one_segment_fails_there() -> None:
    records = golden(830, 20, 20, 130, kind="chat", prefix="chat")
    records += golden(100, 30, 0, 20, kind="tool_call", prefix="tool")
    records += [score(f"json-{i}", kind="json") for i in range(150)]  # no reference
    policy = REGRESSION.model_copy(update={"segments": True})
    result = evaluate(records, policy)
    overall = only(result, "reference_regression")
    assert overall.status is not Verdict.FAIL
    tools = only(result, "reference_regression", "kind=tool_call")
    assert tools.status is Verdict.FAIL
    assert tools.n == 150
    assert tools.value == pytest.approx(0.2)
    chat = only(result, "reference_regression", "kind=chat")
    assert chat.status is Verdict.PASS
    unread = only(result, "reference_regression", "kind=json")
    assert unread.status is Verdict.INCONCLUSIVE
    assert unread.n == 0
    assert {s.segment: s.status for s in result.segments}["kind=tool_call"] is Verdict.FAIL
    assert result.verdict is Verdict.FAIL
    # Segments family: the default checks per judged segment, plus one reference check in
    # each segment that has a reference (chat, tool_call; json has none).
    assert result.fail_confidence["segments"] == pytest.approx(1 - 0.025 / (3 * 7 + 2))


def test_the_gate_table_shows_the_floor_as_at_least() -> None:
    result = evaluate(golden(880, 10, 20, 90), ACCURACY)
    console = Console(width=250, record=True)
    console.print(render_gate(result))
    text = console.export_text()
    assert "reference_accuracy" in text
    assert "≥ 85.00%" in text
    data = json.loads(result.model_dump_json())
    (found,) = [c for c in data["checks"] if c["name"] == "reference_accuracy"]
    assert found["direction"] == "at_least"
    assert found["lower"] <= found["value"] <= found["upper"]


# --- policy -------------------------------------------------------------------------------


def test_the_reference_checks_are_off_by_default_and_in_the_shipped_file_as_comments() -> None:
    assert GatePolicy().min_reference_accuracy is None
    assert GatePolicy().max_reference_regression is None
    assert load_policy(shipped_path("gate.yaml")) == GatePolicy()
    shipped = read_shipped("gate.yaml").decode()
    assert "\n# min_reference_accuracy: 0.90" in shipped
    assert "\n# max_reference_regression: 0.02" in shipped
    names = [c.name for c in evaluate(golden(830, 20, 20, 130), BASE).checks]
    assert not any(name.startswith("reference") for name in names)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"min_reference_accuracy": 1.5}, r"min_reference_accuracy: got 1\.5; expected less "),
        ({"min_reference_accuracy": 0}, r"min_reference_accuracy: got 0; expected greater "),
        ({"max_reference_regression": -0.1}, r"max_reference_regression: got -0\.1; expected "),
        ({"max_reference_regression": "lots"}, r"max_reference_regression: got 'lots'; expected"),
        ({"min_reference_acuracy": 0.9}, r"min_reference_acuracy: unknown key"),
    ],
)
def test_policy_errors_name_the_key_and_value(data: dict[str, Any], message: str) -> None:
    with pytest.raises(GatePolicyError, match=message):
        parse_policy(data)


def test_a_policy_file_sets_them() -> None:
    policy = parse_policy({"min_reference_accuracy": 0.9, "max_reference_regression": 0.02})
    assert (policy.min_reference_accuracy, policy.max_reference_regression) == (0.9, 0.02)


# --- report -------------------------------------------------------------------------------


def test_the_report_shows_both_accuracies_and_the_paired_difference() -> None:
    records = golden(730, 120, 20, 130) + [answered(f"unread-{i}", True, None) for i in range(7)]
    report = build_report(records, campaign="test")
    row = report.candidates[0].overall
    assert (row.reference_pairs, row.reference_unscored) == (1007, 7)
    assert row.reference_accuracy.value == pytest.approx(0.75)
    assert row.incumbent_reference_accuracy.value == pytest.approx(0.85)
    assert row.reference_accuracy.n == row.incumbent_reference_accuracy.n == 1000
    assert row.reference_regression.value == pytest.approx(0.1)
    lower, upper = row.reference_regression.lower, row.reference_regression.upper
    assert lower is not None
    assert upper is not None
    assert lower < 0.1 < upper
    console = Console(width=250, record=True)
    console.print(render_table(report))
    text = console.export_text()
    line = next(line for line in text.splitlines() if "reference accuracy" in line)
    assert "75.0% [" in line
    assert "85.0% [" in line
    assert "regression +10.0 pts [" in line
    assert "(n=1000, 7 unscored)" in line
    assert "| reference accuracy | 75.0% [" in render_markdown(report)
    page = render_html(report)
    assert "<td>reference accuracy</td><td>75.0% [" in page
    data = json.loads(render_json(report))["candidates"][0]["rows"][0]
    assert data["reference_regression"]["value"] == pytest.approx(0.1)
    assert data["incumbent_reference_accuracy"]["n"] == 1000
    assert data["reference_unscored"] == 7


def test_the_report_has_no_reference_row_without_references() -> None:
    report = build_report([score(f"pair-{i}") for i in range(10)], campaign="test")
    row = report.candidates[0].overall
    assert row.reference_pairs == 0
    assert row.reference_accuracy.value is None
    console = Console(width=250, record=True)
    console.print(render_table(report))
    assert "reference accuracy" not in console.export_text()
    assert "reference accuracy" not in render_html(report)
