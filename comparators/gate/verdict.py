"""The release gate: PASS, FAIL or INCONCLUSIVE from a campaign's scores and a policy.

Every check has the form "the true value is at most the limit" (:mod:`comparators.gate.checks`)
and is judged on one-sided bounds:

* FAIL when even the lower bound is above the limit: evidence of a breach;
* PASS when the upper bound (at the policy's ``confidence``) is within the limit: evidence of
  compliance;
* INCONCLUSIVE otherwise: not enough data to say either.

A candidate PASSes when every check on all its pairs PASSes and it has at least ``min_pairs``
pairs. Every check also runs per segment (:mod:`comparators.columns.segments`) with at least
``min_segment_pairs`` pairs; a segment check can FAIL its candidate but never holds back a
PASS: segments are there to find a breach that the average hides, and a 4% slice rarely has
the pairs to prove compliance on its own. The campaign's verdict is
the worst of its candidates'. Exit codes for CI: :data:`EXIT_PASS`, :data:`EXIT_FAIL`,
:data:`EXIT_INCONCLUSIVE`.

**Trusting the judge.** With ``quality: judge`` and ``min_judge_human_agreement`` set, the
judge's verdicts count only once reviewers have checked them: Cohen's kappa of the judge
against the reviewers' labels (:mod:`comparators.review.agreement`), over at least
:data:`MIN_TRUST_PAIRS` (pair, mirror)s both judged and labeled, must have its one-sided lower
bound at ``confidence`` at or above the limit. Otherwise every ``quality_regression`` check
(on all pairs and per segment) that would PASS or FAIL is INCONCLUSIVE instead, and a note
names the kappa, its interval and n: a judge that disagrees with people proves nothing either
way, not even a regression.

**Multiplicity.** Ten checks on each of a few candidates and a dozen segments are a hundred
chances for chance to look like a breach: at the nominal level each, a candidate exactly at
every limit would FAIL far more often than 5% of the time. So the family-wise false-FAIL rate
``alpha = 1 - confidence`` is controlled by Bonferroni on the FAIL bounds: half of ``alpha``
is shared by the checks on all pairs, half by the segment checks (all of it when there are no
segments), and each check's lower bound is taken at ``1 - share / (number of checks in its
family)``. PASS needs no adjustment: it requires *every* check to pass (an intersection-union
test), so its upper bounds stay at ``confidence``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from comparators.columns.frame import ScoreFrame, dedupe, split_roles
from comparators.columns.unscored import split_unscored
from comparators.gate import stats
from comparators.gate.checks import CheckSet, fail_capable
from comparators.gate.estimate import two_sided_level
from comparators.gate.policy import GatePolicy, Quality
from comparators.gate.reference import reference_note
from comparators.gate.result import Check, GateResult, SegmentVerdict, Verdict
from comparators.judge.record import Judgement
from comparators.review.agreement import judge_human_agreement
from comparators.review.label import Label
from comparators.scores import ScoreRecord

__all__ = [
    "EXIT_CODES",
    "EXIT_FAIL",
    "EXIT_INCONCLUSIVE",
    "EXIT_PASS",
    "MIN_TRUST_PAIRS",
    "evaluate",
    "judge_trust_note",
]

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_INCONCLUSIVE = 3
MIN_TRUST_PAIRS = 30  # (pair, mirror)s both judged and labeled before the judge can be trusted
EXIT_CODES = {
    Verdict.PASS: EXIT_PASS,
    Verdict.FAIL: EXIT_FAIL,
    Verdict.INCONCLUSIVE: EXIT_INCONCLUSIVE,
}
NO_FLOOR_NOTE = (
    "quality was not judged against a noise floor: no replica pairs were scored, so a changed "
    "answer cannot be told from the incumbent's own nondeterminism and the quality check can "
    "PASS but never FAIL; set mirror.noise_rate (e.g. 0.1) to measure the floor"
)


@dataclass(frozen=True, slots=True)
class _Segment:
    candidate: str
    label: str
    frame: ScoreFrame
    noise: ScoreFrame
    judged: bool


def _segments(
    name: str, frame: ScoreFrame, noise: ScoreFrame, policy: GatePolicy
) -> list[_Segment]:
    if not policy.segments:
        return []
    found = []
    for dimension, values in frame.segments().items():
        for value in values:
            part = frame.take(frame.segment_mask(dimension, value))
            found.append(
                _Segment(
                    name,
                    f"{dimension}={value}",
                    part,
                    noise.take(noise.segment_mask(dimension, value)),
                    judged=len(part) >= policy.min_segment_pairs,
                )
            )
    return found


def _fail_confidences(policy: GatePolicy, overall: int, segment_checks: int) -> tuple[float, float]:
    """The one-sided confidence of each FAIL bound, for checks on all pairs and for segment
    checks; see the module docstring."""
    alpha = 1.0 - policy.confidence
    overall_alpha = alpha / 2 if segment_checks else alpha
    segment_alpha = alpha / 2
    return (
        1.0 - overall_alpha / max(overall, 1),
        1.0 - segment_alpha / max(segment_checks, 1),
    )


def evaluate(
    scores: Sequence[ScoreRecord],
    policy: GatePolicy,
    *,
    candidate: str | None = None,
    judgements: Sequence[Judgement] = (),
    labels: Sequence[Label] = (),
) -> GateResult:
    """Judge every candidate in ``scores`` (or only ``candidate``) against ``policy``.
    ``judgements`` and reviewers' ``labels`` tell whether the judge can be trusted
    (``min_judge_human_agreement``)."""
    scored, unscored = split_unscored(dedupe(scores))
    candidates, replicas = split_roles(scored)
    notes: list[str] = unscored.notes()
    if candidate is not None:
        if candidate not in candidates:
            known = ", ".join(candidates) or "none"
            raise ValueError(f"candidate: got {candidate!r}; expected one of: {known}")
        candidates = {candidate: candidates[candidate]}
    if not candidates:
        notes.append("no candidate scores: nothing to judge")
    elif (
        not replicas
        and policy.max_excess_divergence is not None
        and policy.quality is not Quality.JUDGE
    ):
        notes.append(NO_FLOOR_NOTE)
    if candidates and policy.quality is Quality.JUDGE and not judged(scores):
        notes.append(
            "quality: judge, but no pair was judged: configure a judge (judge: in the config) "
            "and run darklaunch compare, so quality is not judged"
        )
    noise = ScoreFrame.of(replicas)
    if policy.quality is Quality.JUDGE and (note := judge_floor_note(noise)) is not None:
        notes.append(note)
    distrust = judge_trust_note(policy, labels, judgements) if judged(scores) else None
    if distrust is not None:
        notes.append(distrust)
    frames = {name: ScoreFrame.of(records) for name, records in candidates.items()}
    if policy.quality is Quality.SEMANTIC and policy.max_excess_divergence is not None:
        unread = [name for name, f in frames.items() if len(f) and not (f.changed() >= 0).any()]
        if unread:
            notes.append(
                f"quality: semantic, but no pair of {', '.join(unread)} has a semantic verdict: "
                "these scores were written without the semantic, json and tool_calls "
                "comparators (enable them in comparators:, or judge with quality: lexical)"
            )
    if (note := reference_note(policy, frames)) is not None:
        notes.append(note)
    segments = [s for name, f in frames.items() for s in _segments(name, f, noise, policy)]
    overall_confidence, segment_confidence = _fail_confidences(
        policy,
        sum(fail_capable(policy, frame) for frame in frames.values()),
        sum(fail_capable(policy, s.frame) for s in segments if s.judged),
    )
    checks: list[Check] = []
    verdicts: dict[str, Verdict] = {}
    for name, frame in frames.items():
        mine = [_min_pairs(name, len(frame), policy.min_pairs)]
        mine += CheckSet(name, frame, noise, policy, fail_confidence=overall_confidence).checks()
        mine = _distrusted(mine, distrust)
        verdicts[name] = _combine([c.status for c in mine])
        checks.extend(mine)
    summaries: list[SegmentVerdict] = []
    for segment in segments:
        status: Verdict | None = None
        if segment.judged:
            found = CheckSet(
                segment.candidate,
                segment.frame,
                segment.noise,
                policy,
                fail_confidence=segment_confidence,
                segment=segment.label,
            ).checks()
            found = _distrusted(found, distrust)
            status = _combine([c.status for c in found])
            checks.extend(found)
            if status is Verdict.FAIL:
                verdicts[segment.candidate] = Verdict.FAIL
        summaries.append(
            SegmentVerdict(
                candidate=segment.candidate, segment=segment.label, n=len(segment.frame),
                status=status,
            )
        )  # fmt: skip
    verdict = _combine(list(verdicts.values())) if verdicts else Verdict.INCONCLUSIVE
    fail_confidence = {"all pairs": overall_confidence}
    if any(s.judged for s in segments):
        fail_confidence["segments"] = segment_confidence
    return GateResult(
        verdict=verdict,
        exit_code=EXIT_CODES[verdict],
        confidence=policy.confidence,
        candidates=verdicts,
        checks=checks,
        segments=summaries,
        fail_confidence=fail_confidence,
        notes=notes,
        unscored=unscored.total,
        policy=policy.model_dump(mode="json"),
    )


def judged(scores: Sequence[ScoreRecord]) -> bool:
    """Whether any score carries a judge's verdict (:mod:`comparators.judge.join`)."""
    return any("judge.mirror_better" in s.values for s in scores)


def judge_floor_note(noise: ScoreFrame) -> str | None:
    """The judge's own noise floor: on replica pairs (the incumbent against itself) a fair
    judge finds neither side better more often than the other. A judge whose wins on them
    lean one way (two-sided exact binomial test, p < 0.01, over 20 decided pairs or more)
    prefers one position or one wording for reasons that have nothing to do with quality."""
    wins, losses, _ = noise.discordant("judge.mirror_better", "judge.incumbent_better")
    decided = wins + losses
    if decided < 20:
        return None
    p_value = stats.binomial_two_sided_p(wins, decided)
    if p_value >= 0.01:
        return None
    return (
        f"the judge is not fair on replica pairs: it found the replica better {wins} times and "
        f"the incumbent {losses} times (binomial p={p_value:.2g}); its verdicts lean for "
        "reasons other than quality, so check its prompt and model before trusting them"
    )


def judge_trust_note(
    policy: GatePolicy, labels: Sequence[Label], judgements: Sequence[Judgement]
) -> str | None:
    """Why the judge's verdicts are not trusted, or ``None`` when they are (or when
    ``min_judge_human_agreement`` is off). The interval is two-sided at
    :func:`~comparators.gate.estimate.two_sided_level`, so its lower end is the one-sided
    bound at the policy's ``confidence``, as for every other check."""
    limit = policy.min_judge_human_agreement
    if policy.quality is not Quality.JUDGE or limit is None:
        return None
    found = judge_human_agreement(labels, judgements, confidence=two_sided_level(policy.confidence))
    kappa = found.kappa
    tail = f"min_judge_human_agreement {limit:g}: its verdicts are not trusted"
    if kappa.value is None or kappa.lower is None:
        return (
            f"the judge's agreement with reviewers cannot be measured: {kappa.n} pairs were "
            f"both judged and labeled (at least {MIN_TRUST_PAIRS} needed, and verdicts that "
            f"vary); {tail}, so quality is INCONCLUSIVE until reviewers label more judged "
            "pairs (darklaunch review)"
        )
    measured = (
        f"the judge agrees with reviewers at κ={kappa.value:.2f} [{kappa.lower:.2f}, "
        f"{kappa.upper if kappa.upper is not None else kappa.value:.2f}] over {kappa.n} pairs"
    )
    if kappa.n < MIN_TRUST_PAIRS:
        return f"{measured}, too few to say (at least {MIN_TRUST_PAIRS} needed); {tail}"
    if kappa.lower < limit:
        return f"{measured}; {tail}"
    return None


def _distrusted(checks: list[Check], note: str | None) -> list[Check]:
    """``checks`` with every ``quality_regression`` made INCONCLUSIVE when the judge is not
    trusted (``note`` says why); its measured value and bounds stay, for the record. No number
    of pairs decides it then (reviewers' labels do), so none is given."""
    if note is None:
        return checks
    suffix = "; not trusted: min_judge_human_agreement (notes)"
    return [
        check.model_copy(
            update={
                "status": Verdict.INCONCLUSIVE,
                "method": check.method
                if check.status is Verdict.INCONCLUSIVE
                else check.method + suffix,
                "pairs_to_decide": None,
            }
        )
        if check.name == "quality_regression"
        else check
        for check in checks
    ]


def _combine(statuses: Sequence[Verdict]) -> Verdict:
    if Verdict.FAIL in statuses:
        return Verdict.FAIL
    if statuses and all(s is Verdict.PASS for s in statuses):
        return Verdict.PASS
    return Verdict.INCONCLUSIVE


def _min_pairs(candidate: str, n: int, needed: int) -> Check:
    return Check(
        candidate=candidate,
        name="min_pairs",
        status=Verdict.PASS if n >= needed else Verdict.INCONCLUSIVE,
        value=float(n),
        threshold=float(needed),
        direction="at_least",
        unit="pairs",
        n=n,
        method="count of scored candidate pairs",
        pairs_to_decide=needed if n < needed else None,
    )
