"""Waiting for a stop event, at most so long, without losing a cancellation.

``asyncio.wait_for(stop.wait(), delay)`` is the obvious way to sleep until either, and on
Python 3.11 it is wrong: when the event is set and the waiting task is cancelled in the same
turn of the loop (a service told to stop, then cancelled), ``wait_for`` returns the event's
result and the cancellation is lost (CPython gh-86296, fixed in 3.12 by rebuilding
``wait_for`` on ``asyncio.timeout``). A comparator worker stopped that way went on waiting
for a hung LLM judge it had been cancelled out of. ``asyncio.timeout`` counts its own
cancellations apart from anyone else's, so :func:`wait_set` is built on it.
"""

from __future__ import annotations

import asyncio

__all__ = ["wait_set"]


async def wait_set(event: asyncio.Event, timeout_s: float) -> bool:
    """Whether ``event`` was set within ``timeout_s`` seconds; a cancellation of the caller
    always propagates."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(timeout_s):
            await event.wait()
    except TimeoutError:
        return False
    return True
