"""How far raters agree: between reviewers, and between reviewers and the LLM judge.

Percent agreement flatters raters who use one category for almost everything, so the headline
is **Cohen's kappa**, agreement corrected for what two raters would reach by chance given how
often each uses each category: ``kappa = (p_o - p_e) / (1 - p_e)``. 1 is perfect agreement, 0
is chance, below 0 worse than chance.

Its standard error is the large-sample one of Fleiss, Cohen & Everitt (1969), valid whatever
the true kappa (not only under kappa = 0), and the interval is ``kappa ± z·SE``, clipped to
[-1, 1]. With fewer than :data:`MIN_ITEMS` shared items, or when the raters did not vary at
all (``p_e = 1``), kappa is ``None``: never a number from too little data.

With more than two reviewers, inter-reviewer agreement is the mean of the pairwise kappas
over the pairs of reviewers with at least :data:`MIN_ITEMS` items in common (Light's kappa).
Its interval is ``mean ± z·mean(SE)``: the standard deviation of a mean of estimates is at
most the mean of their standard deviations whatever their correlation, so this is
conservative.

The judge says ``mirror``, ``tie`` or ``incumbent``; a label is mapped to that vocabulary
(:data:`TO_JUDGE`). ``incumbent_wrong`` and ``both_wrong`` say nothing the judge can say, so
they are left out of judge–human agreement and counted in ``left_out``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations

from comparators.gate.estimate import Estimate, normal_quantile
from comparators.judge.record import Judgement
from comparators.review.label import VERDICTS, Label, latest_labels

__all__ = [
    "JUDGE_VERDICTS",
    "MIN_ITEMS",
    "TO_JUDGE",
    "Agreement",
    "cohen_kappa",
    "judge_human_agreement",
    "latest_per_pair",
    "reviewer_agreement",
]

MIN_ITEMS = 10
JUDGE_VERDICTS: tuple[str, ...] = ("incumbent", "tie", "mirror")
TO_JUDGE: dict[str, str] = {
    "candidate_better": "mirror",
    "same": "tie",
    "candidate_worse": "incumbent",
}
PairKey = tuple[str, str]  # (pair_id, mirror)


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement between two raters (or the mean over pairs of reviewers).

    ``kappa`` holds the value, its interval and ``n``, the items rated by both; ``se`` is its
    standard error; ``percent`` the share of items both put in the same category. ``confusion``
    counts items by (first rater's category, second rater's), every category present, for two
    raters only. ``reviewer_pairs`` is how many pairs of reviewers the mean is over (1 for two
    reviewers; 0 for the judge against reviewers, and when no pair qualified); ``left_out``
    counts the labels judge–human agreement could not use, by verdict."""

    kappa: Estimate
    se: float | None = None
    percent: float | None = None
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    reviewer_pairs: int = 0
    left_out: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.kappa.n


def _confusion(
    ratings: Sequence[tuple[str, str]], categories: Sequence[str]
) -> dict[str, dict[str, int]]:
    table = {row: dict.fromkeys(categories, 0) for row in categories}
    for first, second in ratings:
        if first not in table or second not in table:
            raise ValueError(
                f"category: got {(first, second)!r}; expected one of {', '.join(categories)}"
            )
        table[first][second] += 1
    return table


def cohen_kappa(
    ratings: Sequence[tuple[str, str]],
    categories: Sequence[str],
    *,
    confidence: float = 0.95,
    min_items: int = MIN_ITEMS,
) -> Agreement:
    """Cohen's kappa of two raters over ``ratings`` (one (first, second) pair per item), with
    the Fleiss–Cohen–Everitt standard error and a two-sided ``confidence`` interval.
    Below ``min_items`` items, or with no variation to correct for, kappa and the percent
    agreement are ``None``; the confusion table is always filled."""
    n = len(ratings)
    table = _confusion(ratings, categories)
    if n < max(min_items, 1):
        return Agreement(Estimate(None, None, None, n), confusion=table)
    p = {(a, b): table[a][b] / n for a in categories for b in categories}
    rows = {a: sum(p[a, b] for b in categories) for a in categories}
    cols = {b: sum(p[a, b] for a in categories) for b in categories}
    observed = sum(p[c, c] for c in categories)
    chance = sum(rows[c] * cols[c] for c in categories)
    if chance >= 1.0 - 1e-12:  # both raters always used the same one category
        return Agreement(Estimate(None, None, None, n), percent=observed, confusion=table)
    kappa = (observed - chance) / (1.0 - chance)
    rest = 1.0 - kappa
    diagonal = sum(p[c, c] * (1.0 - (rows[c] + cols[c]) * rest) ** 2 for c in categories)
    off = rest**2 * sum(
        p[a, b] * (cols[a] + rows[b]) ** 2 for a in categories for b in categories if a != b
    )
    variance = (diagonal + off - (kappa - chance * rest) ** 2) / (n * (1.0 - chance) ** 2)
    se = math.sqrt(max(variance, 0.0))
    z = normal_quantile(confidence)
    estimate = Estimate(kappa, max(-1.0, kappa - z * se), min(1.0, kappa + z * se), n)
    return Agreement(estimate, se=se, percent=observed, confusion=table)


def _by_pair(labels: Iterable[Label]) -> dict[PairKey, dict[str, Label]]:
    """Each reviewer's latest label, per (pair, mirror)."""
    found: dict[PairKey, dict[str, Label]] = {}
    for label in latest_labels(labels):
        found.setdefault((label.pair_id, label.mirror), {})[label.reviewer] = label
    return found


def latest_per_pair(labels: Iterable[Label]) -> dict[PairKey, Label]:
    """The last label given on each (pair, mirror), whoever gave it: what a (pair, mirror)
    "is labeled" for the judge comparison and the golden-set export. Stream order decides,
    not ``time``: the stream is appended in the order labels arrive, reviewers' clocks vary."""
    latest: dict[PairKey, Label] = {}
    for label in labels:
        key = (label.pair_id, label.mirror)
        latest.pop(key, None)
        latest[key] = label
    return latest


def reviewer_agreement(
    labels: Iterable[Label], *, confidence: float = 0.95, min_items: int = MIN_ITEMS
) -> Agreement:
    """Inter-reviewer agreement on the label verdicts: Cohen's kappa for two reviewers, the
    mean pairwise kappa for more, over pairs of reviewers with ``min_items`` items in common
    (a pair with fewer, or whose kappa is undefined, is left out). ``kappa.n`` counts the
    (pair, mirror)s labeled by both reviewers of at least one pair counted."""
    by_pair = _by_pair(labels)
    reviewers = sorted({r for given in by_pair.values() for r in given})
    found: list[tuple[Agreement, set[PairKey]]] = []
    for first, second in combinations(reviewers, 2):
        shared = {k for k, given in by_pair.items() if first in given and second in given}
        if len(shared) < min_items:
            continue
        ratings = [(by_pair[k][first].verdict, by_pair[k][second].verdict) for k in sorted(shared)]
        result = cohen_kappa(ratings, VERDICTS, confidence=confidence, min_items=min_items)
        if result.kappa.value is not None:
            found.append((result, shared))
    if not found:
        return Agreement(Estimate(None, None, None, 0))
    if len(found) == 1:
        return replace(found[0][0], reviewer_pairs=1)
    items = set().union(*(shared for _, shared in found))
    count = len(found)
    mean = sum(a.kappa.value or 0.0 for a, _ in found) / count
    se = sum(a.se or 0.0 for a, _ in found) / count
    z = normal_quantile(confidence)
    return Agreement(
        Estimate(mean, max(-1.0, mean - z * se), min(1.0, mean + z * se), len(items)),
        se=se,
        percent=sum(a.percent or 0.0 for a, _ in found) / count,
        reviewer_pairs=count,
    )


def judge_human_agreement(
    labels: Iterable[Label],
    judgements: Iterable[Judgement],
    *,
    confidence: float = 0.95,
    min_items: int = MIN_ITEMS,
) -> Agreement:
    """Cohen's kappa of the LLM judge against reviewers over the (pair, mirror)s both judged,
    the judge's last ``judged`` verdict (rows of the confusion table) against the latest
    label's verdict mapped by :data:`TO_JUDGE` (columns). Labels the judge cannot say
    (``incumbent_wrong``, ``both_wrong``) on judged pairs are counted in ``left_out``."""
    verdicts = {
        (j.pair_id, j.mirror): j.verdict
        for j in judgements
        if j.status == "judged" and j.verdict is not None
    }
    ratings: list[tuple[str, str]] = []
    left_out: Counter[str] = Counter()
    for key, label in latest_per_pair(latest_labels(labels)).items():
        judged = verdicts.get(key)
        if judged is None:
            continue
        human = TO_JUDGE.get(label.verdict)
        if human is None:
            left_out[label.verdict] += 1
            continue
        ratings.append((judged, human))
    result = cohen_kappa(ratings, JUDGE_VERDICTS, confidence=confidence, min_items=min_items)
    return Agreement(
        result.kappa,
        se=result.se,
        percent=result.percent,
        confusion=result.confusion,
        left_out=dict(sorted(left_out.items())),
    )
