"""Background tasks with a strong reference, a logged failure and a bounded drain.

``asyncio.create_task`` alone keeps only a weak reference, so an unreferenced mirror task can
be garbage-collected mid-flight, and its exception is reported only at interpreter exit. Every
background task in darklaunch goes through :class:`TaskSet.spawn` instead (a ruff rule bans the
raw call), and shutdown drains the set so that no mirror or record is abandoned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["TaskSet"]


class TaskSet:
    """The live background tasks of one component, drained on shutdown."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._tasks: set[asyncio.Task[Any]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> None:
        task = asyncio.create_task(coro, name=name)  # noqa: TID251 - the one sanctioned call
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error(
                "background task %s of %s failed", task.get_name(), self.name, exc_info=exc
            )

    async def cancel(self) -> None:
        """Cancel every task and wait for them to end: for tasks that never end by
        themselves (a follower loop), whose cancellation at shutdown is no loss to report."""
        pending = set(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    async def drain(self, timeout_s: float) -> int:
        """Wait for every task to finish; cancel what is left after ``timeout_s``.

        Returns the number of tasks that had to be cancelled, so callers can count the loss.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        # Tasks may spawn tasks while they finish (a pair hands its record to a builder), so
        # wait until the set stays empty, not only for the tasks present at the start.
        while self._tasks and (remaining := deadline - loop.time()) > 0:
            await asyncio.wait(set(self._tasks), timeout=remaining)
        pending = set(self._tasks)
        if not pending:
            return 0
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
            logger.warning(
                "%s: cancelled %d tasks still running at shutdown", self.name, len(pending)
            )
        return len(pending)
