"""How often ``quality: judge`` gives the right verdict, with a judge that errs (issue 16).

    python -m loadtests.judge_calibration [--seeds 100] [--pairs 2000] [--sizing]

Each setting draws ``pairs`` requests with a ground truth (which sides answered correctly:
the incumbent only, the candidate only, both, neither) and judges every pair in both orders
with the simulated judge of :mod:`proxy.sim.judge` (right with probability ``accuracy``, else
one of the two other verdicts; answer A whatever the answers with probability ``bias``). The
orders are combined as the worker combines them, the verdicts joined to score records that
are healthy in every other respect (no errors, equal latency and cost), and the shipped gate
policy with ``quality: judge`` judges them, segments included. Over ``seeds`` campaigns the
share of PASS, FAIL and INCONCLUSIVE is what a user would see.

The scale: "worse on 5 pts more prompts than it is better" means the candidate alone is
wrong on 5 points more of the requests than the incumbent alone is. The judge sees that
difference shrunk by its own errors (at 85% accuracy and both orders asked, to about two
thirds), which is what the detection table shows.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from comparators.gate.policy import GatePolicy, Quality, load_policy
from comparators.gate.result import Check, GateResult, Verdict
from comparators.gate.verdict import evaluate
from comparators.judge.join import with_judgements
from comparators.judge.record import Judgement
from comparators.judge.verdict import JudgeAnswer, combine
from comparators.scores import ScoreRecord, Value
from proxy.recording.schema import Role
from proxy.shipped.files import shipped_path
from proxy.sim.judge import Truth, decide

__all__ = ["SETTINGS", "JudgeSetting", "main", "run_setting"]

KINDS = ("chat", "chat", "chat", "tool_call", "json")


@dataclass(frozen=True)
class JudgeSetting:
    name: str
    incumbent_only_wrong: float  # share of requests only the incumbent gets wrong
    candidate_only_wrong: float  # share only the candidate gets wrong
    both_wrong: float
    accuracy: float = 0.85
    bias: float = 0.10
    expected: Verdict | None = None  # the right verdict, when the setting has one
    target: float | None = None  # the share of seeds that must give it


SETTINGS = (
    JudgeSetting("aa", 0.0, 0.0, 0.08, expected=Verdict.FAIL, target=0.02),
    JudgeSetting("equal", 0.05, 0.05, 0.03, expected=Verdict.PASS, target=0.90),
    JudgeSetting("worse_5pts", 0.05, 0.10, 0.03, expected=Verdict.FAIL, target=0.90),
    JudgeSetting("worse_10pts", 0.05, 0.15, 0.03, expected=Verdict.FAIL, target=0.99),
)
POWER = tuple(
    JudgeSetting(f"worse_{points}pts_at_{round(acc * 100)}", 0.05, 0.05 + points / 100, 0.03, acc)
    for acc in (0.70, 0.85, 0.95)
    for points in (5, 10)
)

# The settings an INCONCLUSIVE verdict is common in at 2,000 pairs, each with its right verdict.
SIZING = (
    SETTINGS[1],
    SETTINGS[2],
    *(
        JudgeSetting(s.name, s.incumbent_only_wrong, s.candidate_only_wrong, s.both_wrong,
                     s.accuracy, expected=Verdict.FAIL)
        for s in POWER
        if s.name in ("worse_5pts_at_70", "worse_10pts_at_70", "worse_5pts_at_95")
    ),
)  # fmt: skip


def _truths(setting: JudgeSetting, rng: random.Random) -> tuple[Truth, Truth]:
    u = rng.random()
    if u < setting.incumbent_only_wrong:
        return "wrong", "right"
    u -= setting.incumbent_only_wrong
    if u < setting.candidate_only_wrong:
        return "right", "wrong"
    u -= setting.candidate_only_wrong
    return ("wrong", "wrong") if u < setting.both_wrong else ("right", "right")


def _score(index: int, rng: random.Random) -> ScoreRecord:
    latency = rng.lognormvariate(6.5, 0.4)
    values: dict[str, Value] = {
        "outcome.incumbent_error": False,
        "outcome.mirror_error": False,
        "outcome.incumbent_refusal": False,
        "outcome.mirror_refusal": False,
        "latency.incumbent_ms": latency,
        "latency.mirror_ms": latency,
        "latency.both_ok": True,
        "cost.incumbent_usd": 0.001,
        "cost.mirror_usd": 0.001,
    }
    return ScoreRecord.model_construct(
        pair_id=f"pair-{index:06d}",
        campaign="calibration",
        timestamp=0.0,
        sample_rate=None,
        route="/v1/chat/completions",
        model="big-model-v1",
        mirror="cand",
        role=Role.CANDIDATE,
        mirror_model="small-model-v2",
        kind=rng.choice(KINDS),
        stream=rng.random() < 0.5,
        tags={},
        divergence=None,
        values=values,
        details={},
        breaches=[],
        comparator_errors=[],
    )


def _judgement(score: ScoreRecord, incumbent: Truth, candidate: Truth, s: JudgeSetting,
               rng: random.Random) -> Judgement:  # fmt: skip
    first = decide(incumbent, candidate, s.accuracy, s.bias, rng)  # the incumbent as A
    second = decide(candidate, incumbent, s.accuracy, s.bias, rng)  # the candidate as A
    combined = combine(JudgeAnswer(winner=first), JudgeAnswer(winner=second))
    return Judgement(
        pair_id=score.pair_id,
        campaign=score.campaign,
        timestamp=0.0,
        route=score.route,
        mirror=score.mirror,
        role=Role.CANDIDATE,
        status="judged",
        verdict=combined.verdict,
        orders_agree=combined.orders_agree,
        judge_model="sim-judge",
        prompt_version="calibration",
    )


def campaign(setting: JudgeSetting, seed: int, pairs: int, policy: GatePolicy) -> GateResult:
    """One campaign of ``pairs`` judged pairs, as the gate sees it."""
    rng = random.Random(f"{setting.name}:{seed}")
    scores, judgements = [], []
    for index in range(pairs):
        incumbent, candidate = _truths(setting, rng)
        score = _score(index, rng)
        scores.append(score)
        judgements.append(_judgement(score, incumbent, candidate, setting, rng))
    return evaluate(with_judgements(scores, judgements), policy)


def run_setting(setting: JudgeSetting, seed: int, pairs: int, policy: GatePolicy) -> Verdict:
    return campaign(setting, seed, pairs, policy).verdict


def _quality(result: GateResult) -> Check:
    return next(c for c in result.checks if c.name == "quality_regression" and c.segment is None)


def sizing_table(settings: Sequence[JudgeSetting], seeds: int, pairs: int) -> str:
    """Whether the gate's "decides at" (:mod:`comparators.gate.sizing`) sizes a campaign: per
    setting, the median ``pairs_to_decide`` of ``quality_regression`` over the campaigns of
    ``pairs`` that were INCONCLUSIVE, then ``seeds`` fresh campaigns of that size (other seeds)
    and how often they reach the right verdict; the figure aims at 90%."""
    policy = shipped_judge_policy()
    rows = [
        "| setting | judge accuracy | INCONCLUSIVE at "
        f"{pairs:,} | median decides at | campaigns of that size: right verdict | "
        "INCONCLUSIVE | wrong verdict |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for setting in settings:
        sized = [
            _quality(result).pairs_to_decide
            for result in (campaign(setting, seed, pairs, policy) for seed in range(seeds))
            if result.verdict is Verdict.INCONCLUSIVE
        ]
        known = sorted(n for n in sized if n is not None)
        if not known:
            rows.append(f"| {setting.name} | {setting.accuracy:.0%} | 0 | — | — | — | — |")
            continue
        size = round(median(known))
        verdicts = Counter(
            campaign(setting, seeds + seed, size, policy).verdict for seed in range(seeds)
        )
        right = verdicts[setting.expected] if setting.expected is not None else 0
        undecided = verdicts[Verdict.INCONCLUSIVE]
        rows.append(
            f"| {setting.name} | {setting.accuracy:.0%} | {len(sized)} of {seeds} | "
            f"{size:,} | {right / seeds:.0%} | {undecided / seeds:.0%} | "
            f"{(seeds - right - undecided) / seeds:.0%} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def shipped_judge_policy() -> GatePolicy:
    return load_policy(shipped_path("gate.yaml")).model_copy(update={"quality": Quality.JUDGE})


def _row(setting: JudgeSetting, counts: Counter[Verdict], seeds: int) -> str:
    shares = {v: counts[v] / seeds for v in Verdict}
    met = ""
    if setting.expected is not None and setting.target is not None:
        share = shares[setting.expected]
        ok = share <= setting.target if setting.name == "aa" else share >= setting.target
        sign = "≤" if setting.name == "aa" else "≥"
        met = f"{setting.expected.value} {sign} {setting.target:.0%}: {'met' if ok else 'MISSED'}"
    return (
        f"| {setting.name} | {setting.accuracy:.0%} | {setting.bias:.0%} | "
        f"{shares[Verdict.PASS]:.0%} | {shares[Verdict.FAIL]:.0%} | "
        f"{shares[Verdict.INCONCLUSIVE]:.0%} | {met} |"
    )


def table(settings: Sequence[JudgeSetting], seeds: int, pairs: int) -> str:
    policy = shipped_judge_policy()
    rows = [
        "| setting | judge accuracy | position bias | PASS | FAIL | INCONCLUSIVE | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for setting in settings:
        counts = Counter(run_setting(setting, seed, pairs, policy) for seed in range(seeds))
        rows.append(_row(setting, counts, seeds))
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument(
        "--sizing",
        action="store_true",
        help="check the gate's 'decides at' figure instead (sizing_table)",
    )
    args = parser.parse_args(argv)
    if args.sizing:
        print(sizing_table(SIZING, args.seeds, args.pairs))
        return 0
    print(table((*SETTINGS, *POWER), args.seeds, args.pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
