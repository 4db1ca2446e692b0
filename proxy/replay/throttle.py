"""A request-rate limit: starts spaced at least ``1 / rate`` seconds apart, never bursting to
catch up after a pause (a golden set replayed against a rate-limited API should not turn a
slow minute into a burst of 429s)."""

from __future__ import annotations

import asyncio

__all__ = ["Pacer"]


class Pacer:
    """``await pacer.wait()`` before each start; ``rate=None`` does not wait."""

    def __init__(self, rate: float | None) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate: got {rate!r}; expected a number of requests/s > 0")
        self.interval = 0.0 if rate is None else 1.0 / rate
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            loop = asyncio.get_running_loop()
            now = loop.time()
            start = max(now, self._next)
            self._next = start + self.interval
            if start > now:
                await asyncio.sleep(start - now)
