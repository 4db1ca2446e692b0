"""When a replayed call is asked again: after a 429, a 5xx or a connection that failed before
any answer, up to ``retries`` times, waiting what the upstream's ``Retry-After`` says (seconds
or an HTTP date) or else an exponential backoff with jitter.

A live mirror never retries (a candidate's failure is evidence); a replay does, because a
golden set is a fixed sample and a rate limit met on the way says nothing about the model.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from proxy.recording.exchange import UpstreamResult

__all__ = ["RETRY_STATUSES", "RetryPolicy", "parse_retry_after"]

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
"""Statuses a well-behaved client retries (OpenAI's and Anthropic's SDKs retry these too)."""
_RETRY_ERRORS = frozenset({"connect", "reset", "first_byte_timeout"})


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value, or ``None`` when it says nothing usable
    (RFC 9110 §10.2.3: delay-seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        seconds = float(text)  # some servers send fractions ("0.5"), outside the RFC
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long a replayed call is retried."""

    retries: int = 4
    base_s: float = 0.5
    cap_s: float = 30.0
    max_wait_s: float = 120.0

    def retryable(self, result: UpstreamResult) -> bool:
        """A rate limit, an overloaded or failing server, or a call that got no answer."""
        if result.error is not None:
            return result.error.kind in _RETRY_ERRORS
        return result.status in RETRY_STATUSES

    def delay(self, attempt: int, retry_after: str | None, rng: random.Random) -> float:
        """Seconds before attempt ``attempt + 1`` (``attempt`` counts from 0): the server's
        word when it gave one, capped at ``max_wait_s``; else full-jitter backoff."""
        told = parse_retry_after(retry_after)
        if told is not None:
            return min(told, self.max_wait_s)
        return rng.uniform(0.0, min(self.cap_s, self.base_s * 2.0**attempt))
