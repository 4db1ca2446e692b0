"""How many pairs would decide an INCONCLUSIVE check: sizing a campaign from its own bounds.

An INCONCLUSIVE check says "not enough data"; the question a team asks next is "how much
more?". A check's bound sits ``h`` from its estimate at ``n`` pairs, and ``h`` shrinks as
``1/sqrt(n)``. If the measured value were the truth, the bound on the side the value leans to
(the PASS bound below the limit of an ``at_most`` check, the FAIL bound above it) would clear
the limit :data:`DECIDE_POWER` of the time at

    n' = n * ((z_bound + z_power) * h / (z_bound * gap))^2

where ``gap`` is the distance from the estimate to the limit, ``z_bound`` the bound's
one-sided normal quantile and ``z_power`` that of :data:`DECIDE_POWER`. Ratios (latency
p95/p99/median, whose bounds are multiplicative) are sized on the log scale.

A rate with no event seen yet (no error in 40 pairs) is the exception: its bound shrinks as
``1/n`` (the rule of three: about ``3/n`` at 95%), not ``1/sqrt(n)``, and if the truth is
zero no event will ever move the estimate. Clopper–Pearson's bound at zero events is
``1 - alpha^(1/n)``, so ``n' = n * ln(1 - h) / ln(1 - gap)``: exact for it, about
``n * h / gap`` for the other bounds at zero. The square-root law would ask five to nine
times too many pairs of an early rollout step that has seen no error (no error in 40 pairs
against a 5% limit: 264 pairs, where 59 decide).

It is a planning figure, not a promise: it takes the measured value as the truth, so a check
measured near its limit asks for many pairs and a lucky early estimate for too few; and the
``1/sqrt(n)`` law is the normal approximation of bounds that are sometimes exact or
bootstrapped. ``loadtests/judge_calibration.py --sizing`` measures how often campaigns of the
sized length decide. Kayenta and Flagger say "not enough data" and stop there.
"""

from __future__ import annotations

import math
from typing import Literal

from comparators.gate.estimate import normal_quantile

__all__ = ["DECIDE_POWER", "pairs_to_decide"]

DECIDE_POWER = 0.9
"""The share of campaigns of the sized length that decide, when the measured value holds."""

_Z_POWER = normal_quantile(2.0 * DECIDE_POWER - 1.0)
_MOST_PAIRS = 10**12  # beyond this a figure says nothing a person could act on


def pairs_to_decide(
    value: float | None,
    bound: float | None,
    limit: float,
    n: int,
    bound_level: float,
    *,
    ratio: bool = False,
    none_seen: bool = False,
) -> int | None:
    """About the pairs (in the units of ``n``) at which ``bound`` (the estimate's PASS or FAIL
    bound on the side of the limit ``value`` leans to, computed at the two-sided
    ``bound_level``) would clear ``limit`` :data:`DECIDE_POWER` of the time; see the module
    docstring. ``None`` when nothing can be said: no estimate or bound, no pairs, a value on
    the limit (no number of pairs decides it), a bound on the wrong side of the value, or a
    ratio that is not positive. ``none_seen``: a rate whose counts are all zero so far."""
    if value is None or bound is None or n <= 0:
        return None
    if ratio:
        if value <= 0 or bound <= 0 or limit <= 0:
            return None
        value, bound, limit = math.log(value), math.log(bound), math.log(limit)
    half_width = abs(bound - value)
    gap = abs(limit - value)
    toward: Literal[-1, 1] = 1 if limit > value else -1
    if gap == 0 or half_width == 0 or (bound - value) * toward < 0:
        return None
    if none_seen and half_width < 1 and gap < 1:
        needed = n * math.log1p(-half_width) / math.log1p(-gap)
    else:
        z_bound = normal_quantile(bound_level)
        needed = n * ((z_bound + _Z_POWER) * half_width / (z_bound * gap)) ** 2
    return math.ceil(needed) if needed <= _MOST_PAIRS else None
