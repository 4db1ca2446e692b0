"""What human labels change: the report's "human review" section in every format (escaped
where labels are hostile), and the gate's trust in the LLM judge
(``min_judge_human_agreement``)."""

from __future__ import annotations

import json
import re

import pytest
from rich.console import Console

from comparators.gate.policy import GatePolicy, Quality, parse_policy
from comparators.gate.result import Check, Verdict
from comparators.gate.verdict import evaluate
from comparators.judge.join import with_judgements
from comparators.judge.record import Judgement
from comparators.report.build import build_report, render_json
from comparators.report.html import render_html
from comparators.report.table import render_markdown, render_table
from comparators.review.label import Label
from proxy.recording.schema import Role
from tests.comparators.gate.test_judge_quality import campaign, judgement
from tests.comparators.score_factories import score

POLICY = GatePolicy(
    quality=Quality.JUDGE, min_pairs=100, segments=False, min_judge_human_agreement=0.6
)
HOSTILE = "<script>alert(1)</script>"
TO_HUMAN = {"mirror": "candidate_better", "tie": "same", "incumbent": "candidate_worse"}


def label(pair: str, verdict: str, reviewer: str = "ann", **extra: object) -> Label:
    return Label.model_validate(
        {
            "campaign": "test",
            "pair_id": pair,
            "mirror": "cand-a",
            "reviewer": reviewer,
            "verdict": verdict,
            "time": 1.0,
            **extra,
        }
    )


def agreeing(judgements: list[Judgement], per_verdict: int, *, wrong: int = 0) -> list[Label]:
    """Labels on ``per_verdict`` judged pairs of each verdict, the same as the judge's but for
    the first ``wrong`` of each verdict, which a reviewer calls a tie (or, on a tie, better)."""
    labels = []
    for verdict in ("mirror", "tie", "incumbent"):
        mine = [j for j in judgements if j.verdict == verdict][:per_verdict]
        for index, found in enumerate(mine):
            human = TO_HUMAN[verdict]
            if index < wrong:
                human = "candidate_better" if verdict == "tie" else "same"
            labels.append(label(found.pair_id, human))
    return labels


def quality(checks: list[Check]) -> Check:
    (found,) = [c for c in checks if c.name == "quality_regression"]
    return found


# --- the report ---------------------------------------------------------------------------


def reviewed() -> tuple[list, list[Judgement], list[Label]]:  # type: ignore[type-arg]
    scores = [
        score(f"p{i}", route="/v1/chat/completions" if i < 15 else "/v1/responses")
        for i in range(20)
    ]
    scores += [score("p0", mirror="replica", role=Role.REPLICA)]
    verdicts = ["mirror"] * 8 + ["tie"] * 6 + ["incumbent"] * 6
    judgements = [judgement(f"p{i}", "cand-a", v, Role.CANDIDATE) for i, v in enumerate(verdicts)]
    labels = [label(f"p{i}", TO_HUMAN[v]) for i, v in enumerate(verdicts)]
    # bob agrees with ann on 12 pairs, differs on 2, and writes an expected answer on one.
    labels += [label(f"p{i}", TO_HUMAN[verdicts[i]], "bob") for i in range(12)]
    labels += [label("p12", "candidate_better", "bob"), label("p13", "both_wrong", "bob")]
    labels.append(label("p3", "incumbent_wrong", HOSTILE, expected="Paris", note=HOSTILE))
    return with_judgements(scores, judgements), judgements, labels


def test_no_labels_no_human_section() -> None:
    scores, judgements, _ = reviewed()
    report = build_report(scores, judgements=judgements)
    assert report.human is None
    assert json.loads(render_json(report))["human"] is None


def test_the_human_summary_counts_and_agreements() -> None:
    scores, judgements, labels = reviewed()
    human = build_report(scores, judgements=judgements, labels=labels).human
    assert human is not None
    assert (human.labels, human.labeled_pairs) == (35, 20)
    assert human.reviewers == {HOSTILE: 1, "ann": 20, "bob": 14}
    assert human.verdicts == {
        "candidate_better": 17,
        "same": 10,
        "candidate_worse": 6,
        "incumbent_wrong": 1,
        "both_wrong": 1,
    }
    slices = {(s.scope, s.key): s for s in human.slices}
    assert slices["candidate", "cand-a"].labels == 35
    assert slices["route", "/v1/responses"].labels == 5
    assert slices["route", "/v1/chat/completions"].labels == 30
    assert slices["kind", "chat"].labels == 35
    # ann and bob share 14 pairs (the third reviewer shares one, too few): Cohen's kappa.
    assert human.inter_reviewer.kappa.n == 14
    assert human.inter_reviewer.kappa.value is not None
    assert 0.0 < human.inter_reviewer.kappa.value < 1.0
    assert human.inter_reviewer.reviewer_pairs == 1
    # The judge against the last label of each pair: p3's is the third reviewer's
    # incumbent_wrong (left out), p12 and p13 are bob's (one disagreement, one left out).
    judge = human.judge_human
    assert judge is not None
    assert judge.kappa.n == 18
    assert judge.left_out == {"both_wrong": 1, "incumbent_wrong": 1}
    assert judge.confusion["tie"]["mirror"] == 1
    assert sum(sum(row.values()) for row in judge.confusion.values()) == 18
    assert human.with_expected.value == pytest.approx(1 / 20)
    assert human.with_expected.n == 20


def test_without_a_judge_there_is_no_judge_agreement() -> None:
    scores, _, labels = reviewed()
    human = build_report(scores, labels=labels).human
    assert human is not None
    assert human.judge_human is None


def test_every_format_shows_the_human_review_and_escapes_labels() -> None:
    scores, judgements, labels = reviewed()
    report = build_report(scores, judgements=judgements, labels=labels)
    console = Console(width=200, record=True)
    console.print(render_table(report))
    text = console.export_text()
    assert "human review" in text
    assert "agreement of the judge with reviewers" in text
    assert "κ=" in text
    assert "n=18" in text
    assert "judge: tie" in text
    assert HOSTILE in text  # printed as text, not read as markup
    markdown = render_markdown(report)
    assert "**human review**" in markdown
    assert "labels by candidate and segment" in markdown
    page = render_html(report)
    assert "<h2>Human review</h2>" in page
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    data = json.loads(render_json(report))["human"]
    assert data["judge_human"]["confusion"]["mirror"]["mirror"] == 7  # p3's label left out
    assert data["inter_reviewer"]["kappa"]["n"] == 14
    assert data["with_expected"]["n"] == 20


# --- the gate -----------------------------------------------------------------------------


def test_the_key_is_off_by_default_and_validated() -> None:
    assert GatePolicy().min_judge_human_agreement is None
    assert parse_policy({"min_judge_human_agreement": 0.6}).min_judge_human_agreement == 0.6
    with pytest.raises(ValueError, match="min_judge_human_agreement"):
        parse_policy({"min_judge_human_agreement": 1.5})


def test_a_judge_reviewers_agree_with_keeps_its_verdict() -> None:
    scores, judgements = campaign(wins=100, losses=100, ties=1800)
    labels = agreeing(judgements, 15)
    result = evaluate(
        with_judgements(scores, judgements), POLICY, judgements=judgements, labels=labels
    )
    assert quality(result.checks).status is Verdict.PASS
    assert result.verdict is Verdict.PASS
    assert not any("reviewers" in note for note in result.notes)


def test_a_judge_reviewers_disagree_with_cannot_pass() -> None:
    scores, judgements = campaign(wins=100, losses=100, ties=1800)
    labels = agreeing(judgements, 19, wrong=6)  # 57 pairs, 18 of them disagreeing
    result = evaluate(
        with_judgements(scores, judgements), POLICY, judgements=judgements, labels=labels
    )
    found = quality(result.checks)
    assert found.status is Verdict.INCONCLUSIVE
    assert found.upper is not None
    assert found.upper < 0.02
    assert "not trusted" in found.method
    assert result.verdict is Verdict.INCONCLUSIVE
    (note,) = [n for n in result.notes if "min_judge_human_agreement" in n]
    assert re.fullmatch(
        r"the judge agrees with reviewers at κ=0\.\d\d \[0\.\d\d, 0\.\d\d\] over 57 pairs; "
        r"min_judge_human_agreement 0\.6: its verdicts are not trusted",
        note,
    ), note
    # Without the key, the same campaign passes on the judge's word.
    plain = POLICY.model_copy(update={"min_judge_human_agreement": None})
    again = evaluate(
        with_judgements(scores, judgements), plain, judgements=judgements, labels=labels
    )
    assert again.verdict is Verdict.PASS


def test_a_judge_reviewers_disagree_with_cannot_fail_either() -> None:
    scores, judgements = campaign(wins=100, losses=200, ties=1700)
    labels = agreeing(judgements, 19, wrong=6)
    result = evaluate(
        with_judgements(scores, judgements), POLICY, judgements=judgements, labels=labels
    )
    assert quality(result.checks).status is Verdict.INCONCLUSIVE
    assert result.verdict is Verdict.INCONCLUSIVE
    untrusted = evaluate(
        with_judgements(scores, judgements),
        POLICY.model_copy(update={"min_judge_human_agreement": None}),
    )
    assert untrusted.verdict is Verdict.FAIL


def test_too_few_labeled_judged_pairs_are_inconclusive() -> None:
    scores, judgements = campaign(wins=100, losses=100, ties=1800)
    few = agreeing(judgements, 9)  # 27 pairs in perfect agreement: still too few
    result = evaluate(
        with_judgements(scores, judgements), POLICY, judgements=judgements, labels=few
    )
    assert quality(result.checks).status is Verdict.INCONCLUSIVE
    (note,) = [n for n in result.notes if "min_judge_human_agreement" in n]
    assert "κ=1.00 [1.00, 1.00] over 27 pairs, too few to say (at least 30 needed)" in note
    none = evaluate(with_judgements(scores, judgements), POLICY, judgements=judgements)
    assert quality(none.checks).status is Verdict.INCONCLUSIVE
    (note,) = [n for n in none.notes if "min_judge_human_agreement" in n]
    assert note.startswith("the judge's agreement with reviewers cannot be measured: 0 pairs")


def test_segment_quality_checks_are_distrusted_too() -> None:
    scores, judgements = campaign(wins=100, losses=200, ties=1700)
    other = "/v1/responses"
    scores = [s.model_copy(update={"route": other}) if i % 2 else s for i, s in enumerate(scores)]
    labels = agreeing(judgements, 19, wrong=6)
    policy = POLICY.model_copy(update={"segments": True})
    result = evaluate(
        with_judgements(scores, judgements), policy, judgements=judgements, labels=labels
    )
    found = [c for c in result.checks if c.name == "quality_regression"]
    assert len(found) > 1  # all pairs and the segments
    assert all(c.status is Verdict.INCONCLUSIVE for c in found)
    assert result.verdict is Verdict.INCONCLUSIVE
