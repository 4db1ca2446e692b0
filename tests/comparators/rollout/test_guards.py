"""One step judged on its window: advance, hold or roll back, and the words and evidence each
decision leaves in the audit trail. Pure: hand-built score records, no Redis, no clock."""

from __future__ import annotations

import json

import pytest

from comparators.gate.policy import GatePolicy, GatePolicyError
from comparators.gate.result import Verdict
from comparators.rollout.guards import (
    StepDecision,
    format_duration,
    in_window,
    judge_step,
    step_policy,
)
from comparators.scores import ScoreRecord
from proxy.config.rollout import RolloutConfig
from proxy.rollout.state import Phase, RolloutState
from tests.comparators.rollout.support import CANDIDATE, LENIENT, rollout_section
from tests.comparators.score_factories import replica, score

SINCE = 1_700_000_000.0


def config(**overrides: object) -> RolloutConfig:
    return RolloutConfig.model_validate(rollout_section(**overrides))


def state(phase: Phase = Phase.RAMPING, step: int = 0) -> RolloutState:
    share = 0.0 if step < 0 else config().steps[step].share
    return RolloutState(
        campaign="c", candidate=CANDIDATE, phase=phase, step=step, share=share, version=1,
        since=SINCE,
    )  # fmt: skip


def pairs(
    n: int, *, at: float = SINCE + 1, mirror: str = CANDIDATE, errors: bool = False, tag: str = ""
) -> list[ScoreRecord]:
    found = []
    for i in range(n):
        found.append(score(f"{tag}{mirror}{i}", mirror=mirror, timestamp=at, mirror_error=errors))
        found.append(replica(f"{tag}{mirror}{i}", timestamp=at))
    return found


def test_pass_with_the_pairs_and_the_duration_met_advances() -> None:
    verdict = judge_step(pairs(40), state(), config(), LENIENT, now=SINCE + 10)
    assert verdict.decision is StepDecision.ADVANCE, verdict.reason
    assert verdict.pairs == 40
    assert verdict.result is not None
    assert verdict.result.verdict is Verdict.PASS
    assert verdict.reason == "every guard PASSes in step 1/5 on 40 pairs over 10s"


def test_pass_before_the_step_duration_holds_and_says_how_long() -> None:
    verdict = judge_step(
        pairs(40), state(), config(min_step_duration_s=3600), LENIENT, now=SINCE + 600
    )
    assert verdict.decision is StepDecision.HOLD
    assert verdict.reason == "waiting in step 1/5 for 50m more of the step's 1h minimum"


def test_too_few_pairs_holds_and_counts_the_missing_ones() -> None:
    verdict = judge_step(pairs(12), state(), config(), LENIENT, now=SINCE + 10)
    assert verdict.decision is StepDecision.HOLD
    assert "18 more pairs (12 of 30)" in verdict.reason
    # The error rate on 12 pairs cannot PASS a 10% limit: named with its bound.
    # 12 pairs came in over 10 s; with no error yet, 29 bring the bound within 10% (ln 0.05 /
    # ln 0.9 = 28.4): the reason says so, and when at this pace.
    assert (
        "inconclusive guards: error_rate 0 (upper bound 0.221 vs limit 0.1; decides at ~29 "
        "pairs, about 14s more at this step's pace)"
    ) in verdict.reason


def test_a_fail_rolls_back_at_once_naming_every_failed_check() -> None:
    verdict = judge_step(
        pairs(20, errors=True), state(), config(min_step_duration_s=3600), GatePolicy(),
        now=SINCE + 1,
    )  # fmt: skip
    assert verdict.decision is StepDecision.ROLLBACK
    assert verdict.reason.startswith("guard FAIL in step 1/5 on 20 pairs: error_rate 1 > 0.1 ")
    assert "(lower bound 0.7" in verdict.reason
    assert "error_rate_increase 1 > 0.01 (lower bound" in verdict.reason


def test_paused_never_advances_but_still_rolls_back() -> None:
    paused = state(Phase.PAUSED)
    held = judge_step(pairs(40), paused, config(), LENIENT, now=SINCE + 10)
    assert held.decision is StepDecision.HOLD
    assert held.reason.startswith("paused in step 1/5: the controller does not advance")
    failed = judge_step(pairs(40, errors=True), paused, config(), LENIENT, now=SINCE + 10)
    assert failed.decision is StepDecision.ROLLBACK


@pytest.mark.parametrize("phase", [Phase.DARK, Phase.COMPLETE, Phase.ROLLED_BACK])
def test_other_phases_hold_as_not_ramping(phase: Phase) -> None:
    verdict = judge_step(pairs(40, errors=True), state(phase, 0), config(), LENIENT, now=SINCE)
    assert (verdict.decision, verdict.reason, verdict.result) == (
        StepDecision.HOLD,
        "not ramping",
        None,
    )


def test_a_step_the_config_no_longer_has_holds_and_says_so() -> None:
    beyond = state().model_copy(update={"step": 7})
    verdict = judge_step(pairs(40, errors=True), beyond, config(), LENIENT, now=SINCE)
    assert verdict.decision is StepDecision.HOLD
    assert verdict.reason.startswith("the stored step 8 is not one of rollout.steps (1 to 5)")


def test_no_candidate_scores_in_the_window_holds_without_a_gate_result() -> None:
    before = pairs(40, at=SINCE - 5, errors=True)
    verdict = judge_step(before, state(), config(), LENIENT, now=SINCE + 90)
    assert verdict.decision is StepDecision.HOLD
    assert verdict.result is None
    assert verdict.reason == (
        "waiting for scored pairs of cand-a in step 1/5: none since the step began 1m 30s ago "
        "(30 needed)"
    )


def test_only_this_step_and_this_candidate_count() -> None:
    """Errors before the step began, and another candidate's errors in it, are not this
    step's evidence: the step's own healthy pairs advance it."""
    scores = [
        *pairs(40, at=SINCE - 1, errors=True, tag="old"),
        *pairs(40, mirror="cand-b", errors=True),
        *pairs(40),
    ]
    window = in_window(scores, SINCE, CANDIDATE)
    assert {s.mirror for s in window} == {CANDIDATE, "replica"}
    assert all(s.timestamp >= SINCE for s in window)
    verdict = judge_step(scores, state(), config(), LENIENT, now=SINCE + 1)
    assert verdict.decision is StepDecision.ADVANCE, verdict.reason
    assert verdict.pairs == 40


def test_the_step_policy_lays_the_guards_over_the_policy_with_the_steps_pairs() -> None:
    rollout = config(
        steps=[{"share": 0.1, "min_pairs": 7}, 1.0],
        guards={"max_error_rate": 0.02, "max_p95_latency_ms": 2500},
    )
    base = GatePolicy(max_error_rate=0.5, max_p95_latency_ratio=1.5)
    first = step_policy(base, rollout, 0)
    assert (first.min_pairs, first.max_error_rate, first.max_p95_latency_ms) == (7, 0.02, 2500)
    assert first.max_p95_latency_ratio == 1.5  # the policy's own, not a guard
    assert step_policy(base, rollout, 1).min_pairs == 30  # the rollout's default
    assert base.min_pairs == 500  # the policy itself is untouched


def test_a_guard_the_policy_cannot_hold_is_named() -> None:
    rollout = config(guards={"max_quality_regression": 0.5})
    # Valid for the guards; an invalid combination is made by hand to show the message.
    broken = rollout.guards.model_copy(update={"max_error_rate": 2.0})
    with pytest.raises(GatePolicyError, match=r"max_error_rate: got 2\.0"):
        step_policy(GatePolicy(), rollout.model_copy(update={"guards": broken}), 0)


def test_evidence_is_small_json_with_each_check() -> None:
    verdict = judge_step(pairs(40, errors=True), state(), config(), LENIENT, now=SINCE + 2)
    evidence = json.loads(json.dumps(verdict.evidence()))
    assert evidence["verdict"] == "FAIL"
    assert (evidence["since"], evidence["step"], evidence["pairs"]) == (SINCE, 0, 40)
    checks = {c["name"]: c for c in evidence["checks"]}
    assert checks["error_rate"] == {
        "name": "error_rate",
        "status": "FAIL",
        "value": 1.0,
        "limit": 0.1,
    }
    assert set(checks) == {
        "min_pairs", "error_rate", "median_latency_ratio",
    }  # fmt: skip
    assert len(json.dumps(evidence)) < 1000


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.4, "0s"), (45, "45s"), (60, "1m"), (725, "12m 5s"), (3600, "1h"), (7380, "2h 3m")],
)
def test_durations_read_as_people_say_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
