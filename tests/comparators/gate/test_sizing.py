"""Sizing a campaign: the gate's "decides at" for INCONCLUSIVE checks."""

from __future__ import annotations

import math
from typing import Literal

import pytest
from rich.console import Console

from comparators.gate import stats
from comparators.gate.estimate import normal_quantile, two_sided_level
from comparators.gate.policy import GatePolicy, Quality
from comparators.gate.render import decides_at, gate_markdown, render_gate, sizing_lines
from comparators.gate.result import Check, GateResult, Verdict
from comparators.gate.sizing import DECIDE_POWER, pairs_to_decide
from comparators.gate.verdict import evaluate
from comparators.judge.join import with_judgements
from comparators.judge.record import Judgement
from comparators.report.build import build_report
from comparators.report.html import render_html
from comparators.scores import ScoreRecord
from proxy.recording.schema import Role
from tests.comparators.score_factories import replica, score

LEVEL = two_sided_level(0.95)  # the shipped policy's PASS bounds


def errors_campaign(n: int, rate_per_mille: int) -> list[ScoreRecord]:
    """``n`` candidate pairs (and replicas), exactly ``rate_per_mille`` of each 1,000 erring:
    the measured error rate is the true one at every size, so a sized campaign must decide."""
    records: list[ScoreRecord] = []
    for i in range(n):
        erred = (i * rate_per_mille) // 1000 != ((i + 1) * rate_per_mille) // 1000
        records.append(score(f"p{i}", timestamp=1_700_000_000.0 + i, mirror_error=erred))
        records.append(replica(f"p{i}", timestamp=1_700_000_000.0 + i))
    return records


def only_errors() -> GatePolicy:
    """The error-rate limit alone, so the verdict is that check's."""
    return GatePolicy(
        min_pairs=1,
        max_error_rate=0.05,
        max_error_rate_increase=None,
        max_refusal_rate_increase=None,
        max_excess_divergence=None,
        max_p95_latency_ratio=None,
        max_p99_latency_ratio=None,
        max_median_latency_ratio=None,
        max_p95_ttft_ratio=None,
        min_segment_pairs=10**9,
    )


def error_check(result: GateResult) -> Check:
    return next(c for c in result.checks if c.name == "error_rate")


def test_the_formula_scales_the_half_width_as_one_over_root_n() -> None:
    """At the sized n, a bound as wide as the normal law says sits ``z_power`` of its own
    standard errors inside the limit: it clears the limit 90% of the time."""
    value, upper, limit, n = 0.03, 0.05, 0.04, 400
    sized = pairs_to_decide(value, upper, limit, n, LEVEL)
    assert sized is not None
    z_bound, z_power = normal_quantile(LEVEL), normal_quantile(2 * DECIDE_POWER - 1)
    se_then = (upper - value) / z_bound * math.sqrt(n / sized)
    assert value + (z_bound + z_power) * se_then == pytest.approx(limit, rel=1e-3)
    assert sized > n


def test_ratios_are_sized_on_the_log_scale() -> None:
    value, upper, limit = 1.1, 1.3, 1.2
    sized = pairs_to_decide(value, upper, limit, 300, LEVEL, ratio=True)
    plain = pairs_to_decide(math.log(value), math.log(upper), math.log(limit), 300, LEVEL)
    assert sized == plain is not None


@pytest.mark.parametrize(
    ("value", "bound", "limit"),
    [
        (None, 0.1, 0.05),  # no estimate
        (0.03, None, 0.05),  # no bound (too few pairs for one)
        (0.05, 0.08, 0.05),  # on the limit: no number of pairs decides it
        (0.03, 0.03, 0.05),  # a bound with no width
        (0.03, 0.01, 0.05),  # a bound on the wrong side of the value
    ],
)
def test_what_cannot_be_sized_is_none(
    value: float | None, bound: float | None, limit: float
) -> None:
    assert pairs_to_decide(value, bound, limit, 500, LEVEL) is None


def test_non_positive_ratios_and_empty_checks_are_none() -> None:
    assert pairs_to_decide(0.0, 1.2, 1.1, 100, LEVEL, ratio=True) is None
    assert pairs_to_decide(0.03, 0.06, 0.05, 0, LEVEL) is None


def test_the_sizing_matches_the_wilson_bound_it_came_from() -> None:
    """Sized from a Wilson bound at 600 pairs, the same rate at the sized count has a bound
    inside the limit, and at the "half the time" count (without the power term) about on it."""
    k, n, limit = 24, 600, 0.05  # 4%
    estimate = stats.proportion(k, n, LEVEL)
    assert estimate.upper is not None
    assert estimate.upper > limit
    sized = pairs_to_decide(estimate.value, estimate.upper, limit, n, LEVEL)
    assert sized is not None
    later = stats.proportion(round(0.04 * sized), sized, LEVEL)
    assert later.upper is not None
    assert later.upper < limit
    z_bound, z_power = normal_quantile(LEVEL), normal_quantile(2 * DECIDE_POWER - 1)
    half = round(sized * (z_bound / (z_bound + z_power)) ** 2)
    on_the_edge = stats.proportion(round(0.04 * half), half, LEVEL)
    assert on_the_edge.upper == pytest.approx(limit, abs=0.002)


@pytest.mark.parametrize(("rate_per_mille", "decides"), [(35, Verdict.PASS), (70, Verdict.FAIL)])
def test_an_inconclusive_campaign_grown_to_its_sized_length_decides(
    rate_per_mille: int, decides: Verdict
) -> None:
    """The whole gate: an error rate of 3.5% (or 7%) against a 5% limit is INCONCLUSIVE at
    250 pairs; the same rate at the size its check names decides the right way."""
    policy = only_errors()
    early = evaluate(errors_campaign(250, rate_per_mille), policy)
    check = error_check(early)
    assert check.status is Verdict.INCONCLUSIVE
    assert check.pairs_to_decide is not None
    assert check.pairs_to_decide > 250
    grown = evaluate(errors_campaign(check.pairs_to_decide, rate_per_mille), policy)
    assert grown.verdict is decides
    assert error_check(grown).pairs_to_decide is None  # decided: nothing left to size


def test_a_rate_with_no_event_yet_is_sized_by_the_rule_of_three() -> None:
    """No error in 40 pairs bounds the rate at 7.2% (Clopper–Pearson), above a 5% limit. With
    no error to come, 59 pairs bring that bound within the limit (ln 0.05 / ln 0.95 = 58.4):
    the sizing says about that, not the square-root law's 264."""
    early = error_check(evaluate(errors_campaign(40, 0), only_errors()))
    assert early.status is Verdict.INCONCLUSIVE
    assert early.pairs_to_decide is not None
    assert early.pairs_to_decide == 59
    grown = error_check(evaluate(errors_campaign(early.pairs_to_decide, 0), only_errors()))
    assert grown.status is Verdict.PASS


def test_decided_checks_carry_no_size_and_min_pairs_names_its_own() -> None:
    result = evaluate(errors_campaign(100, 0), GatePolicy(min_pairs=500))
    by_name = {c.name: c for c in result.checks}
    assert by_name["min_pairs"].status is Verdict.INCONCLUSIVE
    assert by_name["min_pairs"].pairs_to_decide == 500
    assert all(
        c.pairs_to_decide is None for c in result.checks if c.status is not Verdict.INCONCLUSIVE
    )


def test_a_check_that_cannot_fail_is_not_sized_towards_a_fail() -> None:
    """Without replicas the excess divergence cannot FAIL: a rate above its limit is left
    unsized, since no number of pairs would make it FAIL."""
    records = [
        score(f"p{i}", timestamp=1_700_000_000.0 + i, similarity=0.5 if i % 4 == 0 else 0.95)
        for i in range(600)
    ]
    result = evaluate(records, GatePolicy(max_excess_divergence=0.05))
    check = next(c for c in result.checks if c.name == "excess_divergence")
    assert check.status is Verdict.INCONCLUSIVE
    assert check.value is not None
    assert check.value > 0.05
    assert check.pairs_to_decide is None
    assert any(
        "more pairs alone may not decide excess_divergence" in line for line in sizing_lines(result)
    )


def test_every_rendering_sizes_an_inconclusive_candidate() -> None:
    result = evaluate(errors_campaign(250, 35), only_errors())
    check = error_check(result)
    assert check.pairs_to_decide is not None
    lines = sizing_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith("cand-a: about ")
    assert f"(error_rate: {decides_at(check)} against 250 now)" in lines[0]
    console = Console(width=250, record=True)
    console.print(render_gate(result))
    text = console.export_text()
    assert "decides at" in text
    assert "to decide: cand-a" in text
    assert "to decide: cand-a" in gate_markdown(result)
    assert f'"pairs_to_decide": {check.pairs_to_decide}' in result.model_dump_json(indent=1)


def test_the_html_report_sizes_an_inconclusive_gate() -> None:
    records = errors_campaign(250, 35)
    result = evaluate(records, only_errors())
    page = render_html(build_report(records, campaign="test"), gate=result)
    assert "<th>decides at</th>" in page
    assert f"<td>{decides_at(error_check(result))}</td>" in page
    assert "<p class=note>to decide: cand-a: about " in page


def test_a_decided_campaign_has_no_sizing_line() -> None:
    result = evaluate(errors_campaign(2000, 10), only_errors())
    assert result.verdict is Verdict.PASS
    assert sizing_lines(result) == []
    assert "to decide" not in gate_markdown(result)


def test_a_judge_that_samples_is_told_it_could_judge_more() -> None:
    """600 candidate pairs, 300 of them judged (a 3-point loss against the 2-point limit):
    the sizing line counts judged pairs and says a higher sample rate gets there sooner."""
    scores, judgements = judged_campaign(wins=30, losses=39, ties=231, unjudged=300)
    policy = GatePolicy(quality=Quality.JUDGE, min_pairs=100, segments=False)
    result = evaluate(with_judgements(scores, judgements), policy)
    quality = next(c for c in result.checks if c.name == "quality_regression")
    assert quality.status is Verdict.INCONCLUSIVE
    assert quality.n == 300
    (line,) = sizing_lines(result)
    assert "(quality_regression: ~" in line
    assert "300 of its 600 pairs are judged: a higher judge.sample_rate gets there sooner" in line


def judged_campaign(
    *, wins: int, losses: int, ties: int, unjudged: int
) -> tuple[list[ScoreRecord], list[Judgement]]:
    scores, judgements = [], []
    verdicts = [
        *times("mirror", wins), *times("incumbent", losses), *times("tie", ties),
        *times(None, unjudged),
    ]  # fmt: skip
    for index, verdict in enumerate(verdicts):
        pair_id = f"pair-{index:05d}"
        scores.append(score(pair_id, timestamp=1_700_000_000.0 + index))
        if verdict is not None:
            judgements.append(
                Judgement(
                    pair_id=pair_id, campaign="test", timestamp=0.0,
                    route="/v1/chat/completions", mirror="cand-a", role=Role.CANDIDATE,
                    status="judged", verdict=verdict, orders_agree=True, judge_model="judge",
                    prompt_version="v",
                )
            )  # fmt: skip
    return scores, judgements


JudgeVerdict = Literal["mirror", "incumbent", "tie"] | None


def times(verdict: JudgeVerdict, count: int) -> list[JudgeVerdict]:
    return [verdict] * count
