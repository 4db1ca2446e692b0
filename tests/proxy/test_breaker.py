from __future__ import annotations

from proxy.breaker import Breaker, BreakerState


def _state(breaker: Breaker) -> BreakerState:
    return breaker.state


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_then_probes_once_and_closes_on_success() -> None:
    clock = Clock()
    seen: list[BreakerState] = []
    breaker = Breaker(3, 10.0, clock=clock, on_change=seen.append)
    for _ in range(2):
        assert breaker.allow()
        breaker.record(False)
    assert _state(breaker) is BreakerState.CLOSED
    breaker.record(False)
    assert _state(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    clock.now = 10.5
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.record(True)
    assert _state(breaker) is BreakerState.CLOSED
    assert seen == [BreakerState.OPEN, BreakerState.HALF_OPEN, BreakerState.CLOSED]


def test_failed_probe_reopens_for_another_period() -> None:
    clock = Clock()
    breaker = Breaker(1, 5.0, clock=clock)
    breaker.record(False)
    clock.now = 6.0
    assert breaker.allow()
    breaker.record(False)
    assert _state(breaker) is BreakerState.OPEN
    clock.now = 10.0
    assert not breaker.allow()
    clock.now = 11.5
    assert breaker.allow()


def test_success_resets_the_consecutive_count() -> None:
    breaker = Breaker(2, 1.0)
    breaker.record(False)
    breaker.record(True)
    breaker.record(False)
    assert _state(breaker) is BreakerState.CLOSED
