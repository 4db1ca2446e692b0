"""The full request rate a monthly cost projection scales by, from the sample rate the proxy
recorded with each pair.

Every pair carries the mirror's live sample rate at the moment its request was sampled
(``PairRecord.sample_rate``, copied to ``ScoreRecord.sample_rate``). A pair drawn at rate ``r``
stands for ``1/r`` requests, so the campaign's full traffic is the sum of ``1/r`` over its
pairs (the Horvitz–Thompson estimator) and the full request rate is that sum over the
campaign's time span. Weighting each pair by its own rate is unbiased whatever the rate did
during the campaign, a change through ``/admin/mirror`` half-way included, which neither
alternative is: a mean of the rates over pairs over-weights the heavily sampled periods (they
contribute more pairs), and a mean per time window needs a window that a step change never
lines up with.

The config passed to ``report`` plays no part when every pair has its rate, so a config without
a ``mirror:`` section projects the same. Pairs recorded without one (by an older proxy) are
weighted by that config's ``mirror.sample_rate``, and a note says how many were.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from comparators.gate.estimate import FloatArray
from comparators.scores import ScoreRecord

__all__ = ["Projection", "pair_weights", "project"]


@dataclass(frozen=True, slots=True)
class Projection:
    """The full request rate (``None`` when it cannot be measured), a sentence saying where it
    came from, the notes the report should carry, and the rate each pair is weighted by when
    it has none of its own (``None``: counted as one request)."""

    rps: float | None
    basis: str
    fallback_rate: float | None = None
    notes: list[str] = field(default_factory=list)


def _recorded(rate: float | None) -> bool:
    return rate is not None and math.isfinite(rate) and 0.0 < rate <= 1.0


def pair_weights(rates: FloatArray, fallback_rate: float | None) -> FloatArray:
    """Requests each pair stands for: ``1/rate`` with its recorded rate, else ``1/fallback``,
    else 1. A slice's share of the traffic is its share of these weights."""
    fallback = 1.0 / fallback_rate if fallback_rate else 1.0
    valid = np.isfinite(rates) & (rates > 0.0) & (rates <= 1.0)
    safe = np.where(valid, rates, 1.0)
    weights: FloatArray = np.where(valid, 1.0 / safe, fallback)
    return weights


def project(
    records: Sequence[ScoreRecord], traffic_rps: float | None, sample_rate: float | None
) -> Projection:
    """The projection rate for ``records``; ``sample_rate`` is the config's
    ``mirror.sample_rate``, used only for pairs recorded without their own."""
    if traffic_rps is not None:
        return Projection(traffic_rps, f"traffic_rps={traffic_rps:g} as given", sample_rate)
    rates: dict[str, float | None] = {}
    for record in records:
        rates.setdefault(record.pair_id, record.sample_rate)
    span = max(r.timestamp for r in records) - min(r.timestamp for r in records) if records else 0
    if span <= 0:
        return Projection(
            None,
            "no time span to measure a rate over",
            sample_rate,
            ["monthly cost not projected: the campaign spans no measurable time"],
        )
    recorded = [rate for rate in rates.values() if rate is not None and _recorded(rate)]
    missing = len(rates) - len(recorded)
    weight = sum(1.0 / rate for rate in recorded)
    notes: list[str] = []
    if missing and sample_rate is not None:
        weight += missing / sample_rate
        notes.append(
            f"{missing} of {len(rates)} pairs were recorded without their sample rate (by an "
            f"older proxy): the monthly cost projection weights them by the config's "
            f"mirror.sample_rate {sample_rate:g}, which is right only if they were sampled at it"
        )
    elif missing:
        weight += missing
        notes.append(
            f"{missing} of {len(rates)} pairs were recorded without their sample rate and no "
            "sample_rate was given: the monthly cost projection counts each of them as one "
            "request, which understates full traffic; pass sample_rate or traffic_rps"
        )
    rps = weight / span
    basis = f"{len(rates)} pairs over {span:.4g} s"
    if recorded:
        low, high = min(recorded), max(recorded)
        shown = f"{low:g}" if low == high else f"{low:g} to {high:g}"
        basis += f" at recorded sample rate {shown}, each standing for 1/rate requests"
    if missing:
        fallback = f"at the config's {sample_rate:g}" if sample_rate else "one request each"
        basis += f"; {missing} without a recorded rate, {fallback}"
    return Projection(rps, f"{basis}: {rps:.4g} requests/s", sample_rate, notes)
