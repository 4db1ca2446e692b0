"""When a replayed call is asked again, and how long replay waits first."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from proxy.recording.exchange import UpstreamResult
from proxy.recording.schema import ErrorInfo
from proxy.replay.retry import RetryPolicy, parse_retry_after
from proxy.replay.throttle import Pacer

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        (" 120 ", 120.0),
        ("0.5", 0.5),
        (format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True), 30.0),
        (format_datetime(datetime.fromtimestamp(NOW - 30, UTC), usegmt=True), 0.0),
        ("-1", None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00", None),  # a date without a zone says nothing usable
        (None, None),
    ],
)
def test_retry_after_as_seconds_or_a_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    ("result", "retried"),
    [
        (UpstreamResult(status=429), True),
        (UpstreamResult(status=503), True),
        (UpstreamResult(status=529), True),
        (UpstreamResult(status=400), False),
        (UpstreamResult(status=200), False),
        (UpstreamResult(error=ErrorInfo(kind="connect", message="refused")), True),
        (UpstreamResult(error=ErrorInfo(kind="first_byte_timeout", message="slow")), True),
        # A call that timed out mid-answer may have been served and paid: not asked again.
        (UpstreamResult(error=ErrorInfo(kind="timeout", message="slow")), False),
    ],
)
def test_what_is_retried(result: UpstreamResult, retried: bool) -> None:
    assert RetryPolicy().retryable(result) is retried


def test_the_server_s_word_wins_and_is_capped_else_jittered_backoff() -> None:
    policy = RetryPolicy(base_s=0.5, cap_s=4.0, max_wait_s=60.0)
    rng = random.Random(1)
    assert policy.delay(0, "7", rng) == 7.0
    assert policy.delay(0, "3600", rng) == 60.0
    waits = [policy.delay(attempt, None, rng) for attempt in range(8) for _ in range(50)]
    assert all(0.0 <= w <= 4.0 for w in waits)
    assert max(waits[:50]) <= 0.5  # attempt 0: at most base_s
    assert max(waits) > 2.0  # later attempts reach towards the cap


async def test_the_pacer_spaces_starts_and_refuses_a_silly_rate() -> None:
    pacer = Pacer(50.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(6):
        await pacer.wait()
    assert loop.time() - started >= 5 / 50 - 0.005
    with pytest.raises(ValueError, match="expected a number of requests/s > 0"):
        Pacer(0.0)
