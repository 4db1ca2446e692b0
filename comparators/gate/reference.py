"""The gate's checks on reference accuracy: pairs replayed from a golden set whose items carry
an expected answer, each side's answer read against it by the ``reference`` comparator
(``reference.incumbent_match`` / ``reference.mirror_match``).

Two questions, both off unless the policy sets them:

* ``reference_accuracy`` (``min_reference_accuracy``): is the candidate right often enough?
  The one check whose limit is a floor (``direction`` ``at_least``): it PASSes when the lower
  bound of its accuracy, at the policy's confidence, reaches the limit, and FAILs when the
  upper bound, at the family-adjusted confidence, is below it. Exact (Clopper–Pearson)
  bounds, as for the gate's other absolute rate: golden sets are small.
* ``reference_regression`` (``max_reference_regression``): is it at most this much less often
  right than the incumbent on the same items? Incumbent-right-only minus candidate-right-only,
  a paired difference of two accuracies with Bonett–Price bounds, as the error, refusal and
  judge checks. The incumbent's accuracy is the baseline, so a hard golden set (or a strict
  reference comparator, which misreads both sides alike) does not fail an equal candidate.

Both count only pairs with a reference whose two answers were both read (a match of ``None``,
or ``reference.unscored``, leaves the pair out, and ``method`` says how many). A policy that
sets them on pairs without a reference (live traffic) gets an INCONCLUSIVE check with n=0 that
says so, never a PASS. They live apart from :mod:`comparators.gate.checks` only to keep each
module small; :class:`~comparators.gate.checks.CheckSet` runs them with its own judging, so
they join the Bonferroni family and run per segment like every other check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, Protocol

from comparators.columns.frame import ReferenceTally, ScoreFrame
from comparators.gate import stats
from comparators.gate.estimate import Decision, Estimate
from comparators.gate.policy import GatePolicy
from comparators.gate.result import Check

__all__ = [
    "NO_REFERENCE",
    "Direction",
    "Estimator",
    "Judge",
    "decide_at_least",
    "reference_checks",
    "reference_fail_capable",
    "reference_note",
]

Estimator = Callable[[float], Estimate]
Direction = Literal["at_most", "at_least"]
_REPLAY = (
    "replay a golden set with expected answers (darklaunch replay) to judge reference accuracy"
)
NO_REFERENCE = f"set, but no pair carries a reference answer: {_REPLAY}"


class Judge(Protocol):
    """``CheckSet._check``: runs an estimator at the PASS and FAIL levels and decides."""

    def __call__(
        self,
        name: str,
        estimator: Estimator,
        limit: float,
        unit: str,
        method: str,
        *,
        direction: Direction = "at_most",
    ) -> Check: ...


def decide_at_least(estimate: Estimate, limit: float) -> Decision:
    """The mirror of :func:`~comparators.gate.estimate.decide_at_most` for "the true value
    must be at least ``limit``": FAIL only when even the upper (FAIL) bound is below it, PASS
    only when the lower (PASS) bound reaches it, otherwise INCONCLUSIVE."""
    if estimate.upper is not None and estimate.upper < limit:
        return Decision.FAIL
    if estimate.lower is not None and estimate.lower >= limit:
        return Decision.PASS
    return Decision.INCONCLUSIVE


def reference_fail_capable(policy: GatePolicy, frame: ScoreFrame) -> int:
    """The reference checks on ``frame`` that could FAIL: those the policy sets, where some
    pair carries a reference. Without one they cannot FAIL, so, as the TTFT check without
    streamed pairs, they take no share of the family's false-FAIL rate."""
    if not bool(frame.with_reference.any()):
        return 0
    limits = (policy.min_reference_accuracy, policy.max_reference_regression)
    return sum(limit is not None for limit in limits)


def reference_note(policy: GatePolicy, frames: Mapping[str, ScoreFrame]) -> str | None:
    """The gate result's note when the policy sets a reference check that some candidate has
    no reference answers for: its check is INCONCLUSIVE, and without the note a user who
    gates live traffic on reference accuracy would not learn why it never PASSes."""
    keys = [
        key
        for key, limit in (
            ("min_reference_accuracy", policy.min_reference_accuracy),
            ("max_reference_regression", policy.max_reference_regression),
        )
        if limit is not None
    ]
    missing = [name for name, frame in frames.items() if not bool(frame.with_reference.any())]
    if not keys or not missing:
        return None
    whose = "" if len(missing) == len(frames) else f" of {', '.join(missing)}"
    return (
        f"{' and '.join(keys)} set, but no pair{whose} carries a reference answer: {_REPLAY}; "
        "until then the reference checks are INCONCLUSIVE"
    )


def _no_data(_: float) -> Estimate:
    return Estimate(None, None, None, 0)


def _unjudged(key: str, tally: ReferenceTally) -> str:
    """Why a reference check has nothing to count."""
    if tally.pairs:
        return (
            f"{key} set, but no pair with a reference answer was read on both sides "
            f"({tally.unscored} unscored pairs left out)"
        )
    return f"{key} {NO_REFERENCE}"


def _left_out(tally: ReferenceTally) -> str:
    return f"; {tally.unscored} unscored pairs left out" if tally.unscored else ""


def reference_checks(frame: ScoreFrame, policy: GatePolicy, judge: Judge) -> list[Check]:
    """The reference checks the policy sets, judged on ``frame`` by ``judge``."""
    found: list[Check] = []
    tally = frame.reference_tally()
    accuracy = policy.min_reference_accuracy
    if accuracy is not None:
        found.append(_accuracy(tally, accuracy, judge))
    regression = policy.max_reference_regression
    if regression is not None:
        found.append(_regression(tally, regression, judge))
    return found


def _accuracy(tally: ReferenceTally, limit: float, judge: Judge) -> Check:
    """The candidate's share of right answers, by the golden set's expected answers."""
    name, key = "reference_accuracy", "min_reference_accuracy"
    if tally.n == 0:
        return judge(name, _no_data, limit, "rate", _unjudged(key, tally), direction="at_least")
    right, n = tally.candidate_right, tally.n
    return judge(
        name,
        lambda level: stats.proportion(right, n, level, exact=True),
        limit,
        "rate",
        f"the candidate's answers that match the reference ({right} of {n}; the incumbent's "
        f"{tally.incumbent_right}), Clopper–Pearson exact bounds{_left_out(tally)}",
        direction="at_least",
    )


def _regression(tally: ReferenceTally, limit: float, judge: Judge) -> Check:
    """Incumbent minus candidate accuracy on the same items: the paired difference, read from
    the items only one side got right."""
    name, key = "reference_regression", "max_reference_regression"
    if tally.n == 0:
        return judge(name, _no_data, limit, "rate", _unjudged(key, tally))
    only_incumbent, only_candidate, n = tally.only_incumbent, tally.only_candidate, tally.n
    method = (
        f"incumbent minus candidate accuracy on the same {n} items with a reference "
        f"({only_incumbent} only the incumbent right, {only_candidate} only the candidate), "
        "Bonett–Price paired bounds"
    )
    p_value = stats.mcnemar_greater_p(only_incumbent, only_candidate)
    if p_value is not None:
        method += f"; exact McNemar one-sided p={p_value:.3g}"
    return judge(
        name,
        lambda level: stats.paired_difference(only_incumbent, only_candidate, n, level),
        limit,
        "rate",
        method + _left_out(tally),
    )
