"""One step of the ramp judged on its own pairs: advance, hold or roll back.

The gate decides, on the step's window only (pairs at or after ``state.since``): a step that
ran at 1% for an hour must not carry that hour's evidence into 25%, where a regression of the
wider cohort would be diluted by it. The policy is the gate's with the rollout's guards laid
over it (``rollout.guards``) and the step's ``min_pairs``, so "enough evidence" means the
step's own number, defined before the ramp started.

The decision is asymmetric, as the gate is: a FAIL rolls back at once, whatever the step's
age, because a breach proven on few pairs is still a breach; an advance needs PASS *and* the
step's minimum duration *and* its minimum pairs, because a PASS early in a step has not seen
the step's traffic yet (a daily peak, a slow tail). Everything else holds, and says what it
waits for. A paused rollout still rolls back: a pause stops the ramp, not the guards.

:func:`judge_step` is pure (no Redis, no clock): the controller and ``darklaunch rollout
status`` call the same function on the same window, so status shows what the controller
would do now.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from comparators.columns.frame import dedupe
from comparators.gate.policy import GatePolicy, parse_policy
from comparators.gate.render import decides_at
from comparators.gate.result import Check, GateResult, Verdict
from comparators.gate.verdict import evaluate
from comparators.judge.record import Judgement
from comparators.review.label import Label
from comparators.scores import ScoreRecord
from proxy.config.rollout import RolloutConfig
from proxy.recording.schema import Role
from proxy.rollout.state import Phase, RolloutState

__all__ = [
    "JUDGED_PHASES",
    "StepDecision",
    "StepVerdict",
    "describe_failed",
    "describe_inconclusive",
    "format_duration",
    "in_window",
    "judge_step",
    "step_policy",
]

JUDGED_PHASES = frozenset({Phase.RAMPING, Phase.PAUSED})
"""The phases whose step the guards judge; in the others the candidate serves nobody (dark,
rolled back) or everybody (complete), and there is no step to move."""


class StepDecision(StrEnum):
    ADVANCE = "advance"
    ROLLBACK = "rollback"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class StepVerdict:
    """What the guards say about the current step, and why, with the gate's evidence."""

    decision: StepDecision
    reason: str
    # Scored candidate pairs in the window (the gate's ``min_pairs`` count).
    pairs: int
    elapsed_s: float
    result: GateResult | None
    # The window's start (``state.since``) and the step judged (-1: none).
    since: float = 0.0
    step: int = -1

    def evidence(self) -> dict[str, Any]:
        """A small JSON document for the audit trail: the verdict, the window, and each check
        on all pairs (segment checks only when they FAIL: they are many, and only a FAIL of
        theirs moves anything)."""
        checks = [] if self.result is None else self.result.checks
        return {
            "verdict": None if self.result is None else self.result.verdict.value,
            "since": self.since,
            "step": self.step,
            "pairs": self.pairs,
            "elapsed_s": round(self.elapsed_s, 1),
            "checks": [
                _check_evidence(check)
                for check in checks
                if check.segment is None or check.status is Verdict.FAIL
            ],
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")


def _check_evidence(check: Check) -> dict[str, Any]:
    found: dict[str, Any] = {
        "name": check.name,
        "status": check.status.value,
        "value": _rounded(check.value),
        "limit": _rounded(check.threshold),
    }
    if check.segment is not None:
        found["segment"] = check.segment
    return found


def step_policy(policy: GatePolicy, config: RolloutConfig, step: int) -> GatePolicy:
    """``policy`` with the rollout's guards laid over it and the step's ``min_pairs``.
    Validated again (a frozen model's copy is not), so a guard the policy cannot hold is named
    with its value."""
    data = {
        **policy.model_dump(),
        **config.guards.overrides(),
        "min_pairs": config.step_pairs(max(step, 0)),
    }
    return parse_policy(data, source="rollout.guards laid over the gate policy")


def in_window(scores: Sequence[ScoreRecord], since: float, candidate: str) -> list[ScoreRecord]:
    """The records of pairs made at or after ``since``: the rolled-out candidate's, and the
    replicas' (the gate's noise floor). Other candidates' are not this rollout's business."""
    return [
        s
        for s in scores
        if s.timestamp >= since
        and (s.role is Role.REPLICA or (s.role is Role.CANDIDATE and s.mirror == candidate))
    ]


def judge_step(
    scores: Sequence[ScoreRecord],
    state: RolloutState,
    config: RolloutConfig,
    policy: GatePolicy,
    *,
    judgements: Sequence[Judgement] = (),
    labels: Sequence[Label] = (),
    now: float,
) -> StepVerdict:
    """What the controller should do with ``state``'s step, given the campaign's ``scores``
    (those before ``state.since`` and of other candidates are left out here)."""
    elapsed = max(0.0, now - state.since)
    if state.phase not in JUDGED_PHASES:
        return StepVerdict(StepDecision.HOLD, "not ramping", 0, elapsed, None, state.since)
    step, steps = state.step, len(config.steps)
    where = f"step {step + 1}/{steps}"
    if not 0 <= step < steps:
        # The config's steps changed under a running rollout: nothing to judge against.
        return StepVerdict(
            StepDecision.HOLD,
            f"the stored step {step + 1} is not one of rollout.steps (1 to {steps}): "
            "roll back, or restore the steps the rollout started with",
            0,
            elapsed,
            None,
            state.since,
            step,
        )
    window = in_window(scores, state.since, config.candidate)
    pairs = sum(1 for s in dedupe(window) if s.role is Role.CANDIDATE and s.unscored is None)
    needed, duration = config.step_pairs(step), config.step_duration_s(step)
    if pairs == 0:
        # The gate has nothing to judge (and says so with a ValueError).
        return StepVerdict(
            StepDecision.HOLD,
            f"waiting for scored pairs of {config.candidate} in {where}: none since the step "
            f"began {format_duration(elapsed)} ago ({needed} needed)",
            0,
            elapsed,
            None,
            state.since,
            step,
        )
    result = evaluate(
        window,
        step_policy(policy, config, step),
        candidate=config.candidate,
        judgements=judgements,
        labels=labels,
    )

    def verdict(decision: StepDecision, reason: str) -> StepVerdict:
        return StepVerdict(decision, reason, pairs, elapsed, result, state.since, step)

    if result.verdict is Verdict.FAIL:
        failed = "; ".join(describe_failed(check) for check in result.failed())
        return verdict(StepDecision.ROLLBACK, f"guard FAIL in {where} on {pairs} pairs: {failed}")
    if state.phase is Phase.PAUSED:
        return verdict(
            StepDecision.HOLD,
            f"paused in {where}: the controller does not advance; guards {result.verdict} "
            f"on {pairs} pairs (a FAIL still rolls back)",
        )
    waiting = []
    if elapsed < duration:
        waiting.append(
            f"{format_duration(math.ceil(duration - elapsed))} more of the step's "
            f"{format_duration(duration)} minimum"
        )
    if pairs < needed:
        waiting.append(f"{needed - pairs} more pairs ({pairs} of {needed})")
    if result.verdict is not Verdict.PASS:
        unsure = [
            describe_inconclusive(c, elapsed)
            for c in result.checks
            if c.status is Verdict.INCONCLUSIVE and c.segment is None and c.name != "min_pairs"
        ]
        waiting.append(
            f"inconclusive guards: {', '.join(unsure)}" if unsure else f"guards {result.verdict}"
        )
    if waiting:
        return verdict(StepDecision.HOLD, f"waiting in {where} for {'; '.join(waiting)}")
    return verdict(
        StepDecision.ADVANCE,
        f"every guard PASSes in {where} on {pairs} pairs over {format_duration(elapsed)}",
    )


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def _name(check: Check) -> str:
    return check.name if check.segment is None else f"{check.name} [{check.segment}]"


def describe_failed(check: Check) -> str:
    """``error_rate 0.31 > 0.05 (lower bound 0.22)``: the value, the limit, and the bound
    that proved the breach."""
    if check.direction == "at_least":
        return f"{_name(check)} {_num(check.value)} < {_num(check.threshold)} " + (
            f"(upper bound {_num(check.upper)})"
        )
    return f"{_name(check)} {_num(check.value)} > {_num(check.threshold)} " + (
        f"(lower bound {_num(check.lower)})"
    )


def describe_inconclusive(check: Check, elapsed_s: float | None = None) -> str:
    """``error_rate 0.01 (upper bound 0.07 vs limit 0.05; decides at ~2,400 pairs, about
    35m more at this step's pace)``: the bound a PASS still needs within the limit, and the
    gate's sizing of it (:mod:`comparators.gate.sizing`), timed at the pace the step's pairs
    came in over ``elapsed_s`` when that is known."""
    if check.value is None:
        return f"{_name(check)} (no data)"
    if check.direction == "at_least":
        bound = f"lower bound {_num(check.lower)} vs limit {_num(check.threshold)}"
    else:
        bound = f"upper bound {_num(check.upper)} vs limit {_num(check.threshold)}"
    if check.pairs_to_decide is not None and check.n > 0:
        bound += f"; decides at {decides_at(check)} pairs"
        if elapsed_s is not None and elapsed_s > 0:
            more = elapsed_s * (check.pairs_to_decide / check.n - 1.0)
            bound += f", about {format_duration(more)} more at this step's pace"
    return f"{_name(check)} {_num(check.value)} ({bound})"


def format_duration(seconds: float) -> str:
    """``45s``, ``12m 5s``, ``2h 3m``: a step's age or what is left of it, for people."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m" if minutes else f"{hours}h"
