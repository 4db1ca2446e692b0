"""``quality: judge``: non-inferiority on the LLM judge's verdicts (issue 16).

The judge says which answer is better, not whether they differ: a candidate that answers in
its own words but as well PASSes, one that loses more often than the 2-point allowance FAILs,
and a judge that prefers one side of identical answers (replica pairs) is called out.
"""

from __future__ import annotations

import pytest
from rich.console import Console

from comparators.gate.policy import GatePolicy, Quality
from comparators.gate.result import Check, Verdict
from comparators.gate.verdict import evaluate
from comparators.judge.join import with_judgements
from comparators.judge.record import Judgement
from comparators.report.build import build_report
from comparators.report.html import render_html
from comparators.report.table import render_table
from comparators.scores import ScoreRecord
from proxy.recording.schema import Role
from tests.comparators.score_factories import replica, score

POLICY = GatePolicy(quality=Quality.JUDGE, min_pairs=100, segments=False)


def judgement(pair_id: str, mirror: str, verdict: str | None, role: Role) -> Judgement:
    return Judgement(
        pair_id=pair_id,
        campaign="test",
        timestamp=0.0,
        route="/v1/chat/completions",
        mirror=mirror,
        role=role,
        status="judged" if verdict is not None else "malformed",
        verdict=verdict,  # type: ignore[arg-type]
        orders_agree=True,
        judge_model="judge",
        prompt_version="v",
    )


def campaign(
    wins: int, losses: int, ties: int, *, reworded: bool = True
) -> tuple[list[ScoreRecord], list[Judgement]]:
    """Candidate pairs whose answers all differ in wording (similarity 0.5: every one a
    "changed" answer to the semantic reading), with the judge's verdicts on them."""
    scores, verdicts = [], []
    for index, verdict in enumerate(["mirror"] * wins + ["incumbent"] * losses + ["tie"] * ties):
        pair_id = f"pair-{index:05d}"
        scores.append(score(pair_id, similarity=0.5 if reworded else 1.0))
        verdicts.append(judgement(pair_id, "cand-a", verdict, Role.CANDIDATE))
    return scores, verdicts


def check(result_checks: list[Check]) -> Check:
    (found,) = [c for c in result_checks if c.name == "quality_regression"]
    return found


def test_an_equally_good_candidate_in_other_words_passes() -> None:
    scores, verdicts = campaign(wins=100, losses=100, ties=1800)
    result = evaluate(with_judgements(scores, verdicts), POLICY)
    found = check(result.checks)
    assert found.status is Verdict.PASS
    assert result.verdict is Verdict.PASS
    # The semantic reading calls every one of them changed: it cannot pass this candidate.
    semantic = evaluate(scores, GatePolicy(min_pairs=100, segments=False))
    (changed,) = [c for c in semantic.checks if c.name == "excess_divergence"]
    assert changed.value == 1.0
    assert semantic.verdict is not Verdict.PASS


def test_a_candidate_worse_on_5_points_more_prompts_fails() -> None:
    scores, verdicts = campaign(wins=100, losses=200, ties=1700)
    result = evaluate(with_judgements(scores, verdicts), POLICY)
    found = check(result.checks)
    assert found.status is Verdict.FAIL
    assert found.value == (200 - 100) / 2000
    assert "100 candidate better" in found.method


def test_without_judged_pairs_quality_is_inconclusive_and_says_why() -> None:
    scores = [score(f"pair-{i}") for i in range(600)]
    malformed = [judgement(s.pair_id, "cand-a", None, Role.CANDIDATE) for s in scores]
    result = evaluate(with_judgements(scores, malformed), POLICY)
    found = check(result.checks)
    assert found.status is Verdict.INCONCLUSIVE
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any("no pair was judged" in note for note in result.notes)


def test_a_judge_that_leans_on_replica_pairs_is_called_out() -> None:
    scores, verdicts = campaign(wins=100, losses=100, ties=1800)
    floor = [replica(f"pair-{i:05d}") for i in range(200)]
    leaning = [
        judgement(f"pair-{i:05d}", "replica", "mirror" if i < 40 else "tie", Role.REPLICA)
        for i in range(200)
    ]
    result = evaluate(with_judgements(scores + floor, verdicts + leaning), POLICY)
    assert any("not fair on replica pairs" in note for note in result.notes)
    fair = [
        judgement(
            f"pair-{i:05d}",
            "replica",
            ["mirror", "incumbent"][i % 2] if i < 40 else "tie",
            Role.REPLICA,
        )
        for i in range(200)
    ]
    result = evaluate(with_judgements(scores + floor, verdicts + fair), POLICY)
    assert not any("not fair" in note for note in result.notes)


def test_the_report_shows_the_judges_shares_and_the_regression() -> None:
    scores, verdicts = campaign(wins=100, losses=300, ties=600)
    floor = [replica(f"pair-{i:05d}") for i in range(100)]
    even = ["mirror", "incumbent"] * 10 + ["tie"] * 80
    fair = [judgement(f"pair-{i:05d}", "replica", v, Role.REPLICA) for i, v in enumerate(even)]
    report = build_report(with_judgements(scores + floor, verdicts + fair), campaign="test")
    row = report.candidates[0].overall
    assert (row.judge_better.value, row.judge_worse.value) == (0.1, 0.3)
    assert row.judge_regression.value == 0.2
    assert row.judge_regression.lower is not None
    assert row.judge_regression.lower > 0.15
    assert (row.noise_judge_better.value, row.noise_judge_worse.value) == (0.1, 0.1)
    console = Console(width=200, record=True)
    console.print(render_table(report))
    assert "judge: better / worse" in console.export_text()


def test_the_report_says_what_the_judge_read_cost_and_why_the_candidate_lost() -> None:
    scores, verdicts = campaign(wins=2, losses=3, ties=5)
    priced = [
        j.model_copy(
            update={"reason": f"reason {i}", "calls": 2, "cost_usd": 0.001, "input_tokens": 100}
        )
        for i, j in enumerate(verdicts)
    ]
    malformed = judgement("pair-99999", "cand-a", None, Role.CANDIDATE)
    report = build_report(scores, campaign="test", judgements=[*priced, malformed])
    judge = report.judge
    assert judge is not None
    assert judge.statuses == {"judged": 10, "malformed": 1}
    assert judge.calls == 20
    assert judge.cost_usd == pytest.approx(0.010)
    assert judge.input_tokens == 1000
    assert judge.orders_agree == 1.0
    assert judge.losses == 3
    assert [loss.reason for loss in judge.worst_losses] == ["reason 2", "reason 3", "reason 4"]
    console = Console(width=200, record=True)
    console.print(render_table(report))
    text = console.export_text()
    assert "evaluation cost" in text
    assert "│ evaluation cost    │ $0.01 " in text
    assert "reason 3" in text
    assert build_report(scores, campaign="test").judge is None


def test_the_html_report_shows_the_judge_and_renders_its_reasons_inert() -> None:
    scores, verdicts = campaign(wins=1, losses=2, ties=1)
    hostile = '<script>alert("judge")</script> [x](javascript:alert(1))'
    reasoned = [
        j.model_copy(update={"reason": hostile, "calls": 2, "cost_usd": 0.002}) for j in verdicts
    ]
    page = render_html(build_report(scores, campaign="test", judgements=reasoned))
    assert "<h2>LLM judge (judge)</h2>" in page
    assert "both orders agreed" in page
    assert "<td>evaluation cost</td><td>$0.008</td>" in page
    assert "The candidate's losses by the judge (2; the first 2)" in page
    assert "<script>alert" not in page
    assert page.count("&lt;script&gt;alert(&quot;judge&quot;)&lt;/script&gt;") == 2
    assert 'href="javascript' not in page
    assert "LLM judge" not in render_html(build_report(scores, campaign="test"))
