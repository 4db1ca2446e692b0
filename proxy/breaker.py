"""A circuit breaker per candidate.

A candidate that keeps failing still costs sockets, memory and a slot of ``max_inflight`` per
mirror. After ``failure_threshold`` consecutive failures the breaker opens and mirrors are
skipped (and counted) for ``reset_after_s``; then a single probe is let through. A probe that
succeeds closes the breaker, one that fails opens it again for another period.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import IntEnum

__all__ = ["Breaker", "BreakerState"]


class BreakerState(IntEnum):
    """Values are the ``darklaunch_breaker_state`` gauge's."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class Breaker:
    def __init__(
        self,
        failure_threshold: int,
        reset_after_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._on_change = on_change
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    def allow(self) -> bool:
        """Whether a mirror may start now. In half-open state only one probe runs at a time."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.reset_after_s:
                return False
            self._set(BreakerState.HALF_OPEN)
        if self._probe_in_flight:
            return False
        self._probe_in_flight = True
        return True

    def record(self, success: bool) -> None:
        self._probe_in_flight = False
        if success:
            self._failures = 0
            if self.state is not BreakerState.CLOSED:
                self._set(BreakerState.CLOSED)
            return
        self._failures += 1
        if self.state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
            self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        self.state = state
        if self._on_change is not None:
            self._on_change(state)
