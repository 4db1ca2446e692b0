"""The release gate: verdicts, conservative semantics and the policy file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console

from comparators.gate.policy import (
    GatePolicy,
    GatePolicyError,
    Quality,
    load_policy,
    parse_policy,
)
from comparators.gate.render import gate_json, render_gate
from comparators.gate.result import GateResult, Verdict
from comparators.gate.verdict import EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS, evaluate
from comparators.scores import ScoreRecord
from tests.comparators.score_factories import replica, score

ROOT = Path(__file__).resolve().parents[3]


def campaign(
    n: int,
    *,
    seed: int = 0,
    slow: float = 1.0,
    tail_share: float = 0.0,
    tail_factor: float = 1.0,
    error_every: int = 0,
    divergent_share: float = 0.0,
    noise_share: float = 0.0,
    replicas: bool = True,
    mirror: str = "cand-a",
    **kwargs: Any,
) -> list[ScoreRecord]:
    """``n`` candidate pairs (and as many replicas) with independent log-normal latencies."""
    rng = np.random.default_rng(seed)
    records: list[ScoreRecord] = []
    for i in range(n):
        incumbent_ms = float(rng.lognormal(7.0, 0.4))
        mirror_ms = float(rng.lognormal(7.0, 0.4)) * slow
        if rng.random() < tail_share:
            mirror_ms *= tail_factor
        similarity = 0.5 if rng.random() < divergent_share else 0.95
        ts = 1_700_000_000.0 + i
        records.append(
            score(
                f"p{i}",
                mirror=mirror,
                timestamp=ts,
                incumbent_ms=incumbent_ms,
                mirror_ms=mirror_ms,
                similarity=similarity,
                mirror_error=bool(error_every and i % error_every == 0),
                **kwargs,
            )
        )
        if replicas:
            noise = 0.5 if rng.random() < noise_share else 0.95
            records.append(replica(f"p{i}", timestamp=ts, similarity=noise, mirror_ms=incumbent_ms))
    return records


def statuses(result: GateResult) -> dict[str, Verdict]:
    return {check.name: check.status for check in result.checks}


def test_too_few_pairs_is_inconclusive() -> None:
    result = evaluate(campaign(50), GatePolicy())
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.exit_code == EXIT_INCONCLUSIVE == 3
    assert statuses(result)["min_pairs"] is Verdict.INCONCLUSIVE
    assert Verdict.FAIL not in statuses(result).values()


def test_equal_candidate_with_enough_pairs_passes() -> None:
    result = evaluate(campaign(2000, divergent_share=0.1, noise_share=0.1), GatePolicy())
    assert result.verdict is Verdict.PASS, statuses(result)
    assert result.exit_code == EXIT_PASS == 0
    assert result.candidates == {"cand-a": Verdict.PASS}


def test_clear_error_regression_fails() -> None:
    result = evaluate(campaign(1000, error_every=5), GatePolicy())
    assert result.verdict is Verdict.FAIL
    assert result.exit_code == EXIT_FAIL == 1
    assert statuses(result)["error_rate"] is Verdict.FAIL
    assert statuses(result)["error_rate_increase"] is Verdict.FAIL
    check = next(c for c in result.checks if c.name == "error_rate")
    assert check.value == pytest.approx(0.2)
    assert check.lower is not None
    assert check.lower > 0.05


def test_excess_divergence_over_the_noise_floor_fails() -> None:
    result = evaluate(campaign(2000, divergent_share=0.3, noise_share=0.1), GatePolicy())
    assert statuses(result)["excess_divergence"] is Verdict.FAIL


def test_noise_floor_cancels_the_incumbents_own_divergence() -> None:
    """20% raw divergence would breach a 5-point limit; it is all noise, so it passes."""
    result = evaluate(campaign(2000, divergent_share=0.2, noise_share=0.2), GatePolicy())
    assert statuses(result)["excess_divergence"] is Verdict.PASS


def test_without_replicas_divergence_can_pass_but_never_fail() -> None:
    high = evaluate(campaign(2000, divergent_share=0.3, replicas=False), GatePolicy())
    check = next(c for c in high.checks if c.name == "excess_divergence")
    assert check.status is Verdict.INCONCLUSIVE
    assert "no noise floor" in check.method
    low = evaluate(campaign(2000, replicas=False), GatePolicy())
    assert statuses(low)["excess_divergence"] is Verdict.PASS


def test_uniform_slowdown_fails_both_latency_checks() -> None:
    result = evaluate(campaign(2000, slow=1.5), GatePolicy())
    assert statuses(result)["p95_latency_ratio"] is Verdict.FAIL
    assert statuses(result)["median_latency_ratio"] is Verdict.FAIL


def test_p95_only_regression_fails_although_the_median_does_not_move() -> None:
    """Kayenta's blind spot: a rank test passes a fatter tail, the p95 check does not."""
    result = evaluate(campaign(3000, tail_share=0.08, tail_factor=3.0), GatePolicy())
    assert statuses(result)["median_latency_ratio"] is Verdict.PASS
    assert statuses(result)["p95_latency_ratio"] is Verdict.FAIL
    assert result.verdict is Verdict.FAIL


def test_absolute_p95_and_cost_budgets() -> None:
    policy = GatePolicy(max_p95_latency_ms=500.0, max_mean_cost_usd=0.0005)
    result = evaluate(campaign(1000, mirror_usd=0.002), policy)
    assert statuses(result)["p95_latency_ms"] is Verdict.FAIL
    assert statuses(result)["mean_cost_usd"] is Verdict.FAIL
    relaxed = GatePolicy(max_p95_latency_ms=60_000.0, max_mean_cost_usd=0.01)
    assert statuses(evaluate(campaign(1000), relaxed))["p95_latency_ms"] is Verdict.PASS


def test_checks_switched_off_are_not_listed() -> None:
    policy = GatePolicy(max_excess_divergence=None, max_median_latency_ratio=None)
    names = set(statuses(evaluate(campaign(100), policy)))
    assert "excess_divergence" not in names
    assert "median_latency_ratio" not in names


def test_any_failing_candidate_fails_the_campaign() -> None:
    records = campaign(1000) + campaign(1000, mirror="cand-b", error_every=4, replicas=False)
    result = evaluate(records, GatePolicy())
    assert result.candidates["cand-b"] is Verdict.FAIL
    assert result.verdict is Verdict.FAIL
    only_a = evaluate(records, GatePolicy(), candidate="cand-a")
    assert set(only_a.candidates) == {"cand-a"}
    with pytest.raises(
        ValueError, match="candidate: got 'cand-z'; expected one of: cand-a, cand-b"
    ):
        evaluate(records, GatePolicy(), candidate="cand-z")


def test_no_candidates_is_inconclusive() -> None:
    result = evaluate([replica("p1")], GatePolicy())
    assert result.verdict is Verdict.INCONCLUSIVE
    assert result.notes


def test_verdicts_are_reproducible() -> None:
    records = campaign(800, slow=1.1)
    assert evaluate(records, GatePolicy()) == evaluate(records, GatePolicy())


def test_renderings_list_every_check() -> None:
    result = evaluate(campaign(600), GatePolicy())
    console = Console(record=True, width=220)
    console.print(render_gate(result))
    text = console.export_text()
    for check in result.checks:
        assert check.name in text
    assert f"verdict: {result.verdict.value}" in text
    data = json.loads(gate_json(result))
    assert data["verdict"] == result.verdict.value
    assert {"name", "value", "lower", "upper", "threshold", "status"} <= set(data["checks"][0])


def test_shipped_policy_file_holds_the_documented_defaults() -> None:
    assert load_policy(ROOT / "config" / "gate.yaml") == GatePolicy()


def test_policy_errors_name_the_key_and_value(tmp_path: Path) -> None:
    with pytest.raises(
        GatePolicyError, match="max_p95_latency_ratoi: unknown key; expected one of"
    ):
        parse_policy({"max_p95_latency_ratoi": 1.2})
    with pytest.raises(GatePolicyError, match=r"confidence: got 1\.5; expected less than 1"):
        parse_policy({"confidence": 1.5})
    bad = tmp_path / "gate.yaml"
    bad.write_text("min_pairs: [", encoding="utf-8")
    with pytest.raises(GatePolicyError, match="not valid YAML"):
        load_policy(bad)
    with pytest.raises(GatePolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    assert parse_policy(None) == GatePolicy()


def test_scores_without_a_semantic_verdict_say_so_instead_of_judging_quality() -> None:
    records = [
        score(f"p{i}", semantic__applicable=None, semantic__changed=None) for i in range(600)
    ]
    result = evaluate(records, GatePolicy())
    quality = next(c for c in result.checks if c.name == "excess_divergence")
    assert quality.status is Verdict.INCONCLUSIVE
    assert any("no pair of cand-a has a semantic verdict" in note for note in result.notes)
    lexical = evaluate(records, GatePolicy(quality=Quality.LEXICAL))
    assert not any("semantic verdict" in note for note in lexical.notes)


def test_reworded_answers_fail_a_lexical_gate_and_pass_a_semantic_one() -> None:
    # Every answer is worded differently (similarity 0.6, divergence 0.4 > 0.2) yet says the
    # same thing (semantic.changed false), on the candidate and on the replicas alike except
    # that the incumbent repeats itself word for word more often than the candidate does.
    records = campaign(2000, divergent_share=0.0, noise_share=0.0)
    reworded = [
        r.model_copy(
            update={
                "divergence": 0.4,
                "values": {**r.values, "semantic.changed": False, "text.similarity": 0.6},
            }
        )
        if r.role.value == "candidate"
        else r
        for r in records
    ]
    semantic = evaluate(reworded, GatePolicy())
    lexical = evaluate(reworded, GatePolicy(quality=Quality.LEXICAL))
    assert statuses(semantic)["excess_divergence"] is Verdict.PASS
    assert statuses(lexical)["excess_divergence"] is Verdict.FAIL


def test_a_broken_slice_fails_in_its_segment_though_the_average_passes() -> None:
    records = []
    for i in range(3000):
        broken = i % 25 == 0  # 4% of traffic: tool calls, all changed
        kind = "tool_call" if broken else "chat"
        records.append(score(f"p{i}", kind=kind, similarity=0.5 if broken else 0.95))
        records.append(replica(f"p{i}", kind=kind, similarity=0.95))
    result = evaluate(records, GatePolicy())
    overall = next(c for c in result.checks if c.name == "excess_divergence" and not c.segment)
    assert overall.status is not Verdict.FAIL  # 4 points: within the 5-point limit
    assert result.verdict is Verdict.FAIL
    failed = {(c.name, c.segment) for c in result.failed()}
    assert ("excess_divergence", "kind=tool_call") in failed
    segment = next(s for s in result.segments if s.segment == "kind=tool_call")
    assert (segment.n, segment.status) == (120, Verdict.FAIL)


def test_small_segments_are_shown_not_judged() -> None:
    records = [score(f"p{i}", tags={"tenant": "tiny" if i < 50 else "big"}) for i in range(1000)]
    result = evaluate(records, GatePolicy())
    tiny = next(s for s in result.segments if s.segment == "tag:tenant=tiny")
    assert (tiny.n, tiny.status) == (50, None)
    assert not any(c.segment == "tag:tenant=tiny" for c in result.checks)


def test_fail_bounds_are_bonferroni_adjusted_per_family() -> None:
    records = [score(f"p{i}", kind="chat" if i % 2 else "json", stream=False) for i in range(1000)]
    result = evaluate(records, GatePolicy())
    checks = 7  # the shipped limits that can FAIL (no streamed pairs: no TTFT check)
    assert result.fail_confidence["all pairs"] == pytest.approx(1 - 0.025 / checks)
    assert result.fail_confidence["segments"] == pytest.approx(1 - 0.025 / (2 * checks))
    alone = evaluate(records, GatePolicy(segments=False))
    assert alone.fail_confidence == {"all pairs": pytest.approx(1 - 0.05 / checks)}
    assert alone.segments == []


def test_ttft_is_judged_on_streamed_pairs_only() -> None:
    records = [
        score(
            f"p{i}",
            stream=i % 2 == 0,
            incumbent_ttft_ms=200.0 + i % 7,
            # plain answers' "first byte" is their last: slow, but not a streaming regression
            mirror_ttft_ms=(200.0 + i % 7) if i % 2 == 0 else 900.0,
        )
        for i in range(1000)
    ]
    result = evaluate(records, GatePolicy(max_p95_ttft_ratio=1.2))
    ttft = next(c for c in result.checks if c.name == "p95_ttft_ratio" and not c.segment)
    assert ttft.n == 500
    assert ttft.status is Verdict.PASS
    assert "streamed pairs only" in ttft.method


def test_a_doubled_p99_fails_although_median_and_p95_hold() -> None:
    records = campaign(5000, tail_share=0.03, tail_factor=4.0)  # p99 x1.9, p95 x1.15
    result = evaluate(records, GatePolicy())
    found = statuses(result)
    assert found["p99_latency_ratio"] is Verdict.FAIL
    assert found["p95_latency_ratio"] is Verdict.PASS
    assert found["median_latency_ratio"] is Verdict.PASS
    p99 = next(c for c in result.checks if c.name == "p99_latency_ratio" and not c.segment)
    assert p99.detectable is not None
    assert 1.3 < p99.detectable < 1.9  # its power: a ratio this large FAILs half the time


def test_a_tail_check_on_a_handful_of_pairs_is_inconclusive_even_when_the_minimums_allow_it() -> (
    None
):
    """A user who lowers ``min_pairs`` to 3 must not get a PASS from three latencies: the p99
    of three values has no upper bound the data can support, so the tail checks say
    INCONCLUSIVE (the median's distribution-free interval needs fewer pairs and may judge)."""
    policy = GatePolicy(min_pairs=3, min_segment_pairs=1)
    result = evaluate(campaign(3), policy)
    found = statuses(result)
    assert found["p95_latency_ratio"] is Verdict.INCONCLUSIVE
    assert found["p99_latency_ratio"] is Verdict.INCONCLUSIVE
    assert result.verdict is not Verdict.PASS
    p99 = next(c for c in result.checks if c.name == "p99_latency_ratio" and not c.segment)
    assert p99.upper is None
    assert p99.value is not None
    # With enough pairs the same check judges.
    assert statuses(evaluate(campaign(600), policy))["p95_latency_ratio"] is Verdict.PASS
