"""Latency per side: log-normal, correlated across the sides of one request, with the
candidate's latency knobs applied.

Real upstream latencies are right-skewed and, for one request, correlated: a long prompt or a
long answer is slow on every side. So each duration is ``median * exp(sigma * z)`` with
``z = (z_request + z_side) / sqrt(2)``: a standard normal whose half variance is shared by
every side of the request (correlation 0.5), which is what makes paired latency tests more
sensitive than unpaired ones, as they are on real traffic.

A non-streamed answer's TTFT is its total (the body arrives at once); a streamed one's is the
time to the first token, and its total adds a generation time with its own draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadtests.realistic.scenario import CandidateBehaviour, Scenario

__all__ = ["P99_Z", "Timing", "side_z", "timing"]

P99_Z = 2.3263
_HALF = math.sqrt(0.5)
_FADE_FROM = 0.5


@dataclass(frozen=True)
class Timing:
    latency_ms: float
    ttft_ms: float
    stalled: bool = False


def side_z(request_z: float, own_z: float) -> float:
    """A standard normal score that shares half its variance with the request's."""
    return (request_z + own_z) * _HALF


def _fade(z: float, median_factor: float) -> float:
    """``median_factor`` up to the 69th percentile (z = 0.5), fading linearly in z to 1 at the
    99th, so the median moves by the whole factor and the p99 by none of it."""
    share = min(max((z - _FADE_FROM) / (P99_Z - _FADE_FROM), 0.0), 1.0)
    return median_factor + (1.0 - median_factor) * share


def timing(
    scenario: Scenario,
    stream: bool,
    z_total: float,
    z_ttft: float,
    candidate: CandidateBehaviour | None = None,
    u_tail: float = 1.0,
) -> Timing:
    """One side's timing from its scores; ``candidate`` applies that behaviour's knobs, and
    ``u_tail`` (uniform) below its ``tail_share`` stalls the request."""
    sigma = scenario.latency_sigma
    factor, median, ttft_factor = 1.0, 1.0, 1.0
    if candidate is not None:
        factor, median, ttft_factor = (
            candidate.latency_factor,
            candidate.median_factor,
            candidate.ttft_factor,
        )
    if stream:
        first = scenario.ttft_median_ms * math.exp(sigma * z_ttft)
        first *= factor * ttft_factor * _fade(z_ttft, median)
        generation = scenario.generation_median_ms * math.exp(sigma * z_total)
        total = first + generation * factor * _fade(z_total, median)
        nominal = scenario.ttft_median_ms * ttft_factor + scenario.generation_median_ms
    else:
        total = scenario.latency_median_ms * math.exp(sigma * z_total)
        total *= factor * _fade(z_total, median)
        nominal = scenario.latency_median_ms
    stalled = candidate is not None and u_tail < candidate.tail_share
    if candidate is not None and stalled:
        p99 = nominal * factor * math.exp(P99_Z * sigma)
        total = candidate.tail_factor * max(total, p99)
    return Timing(total, first if stream else total, stalled)
