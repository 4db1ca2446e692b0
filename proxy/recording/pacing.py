"""Spread bursts of record building over event-loop iterations.

Pairs often finish together: sixteen streams that started together end together. Building
their records back to back (assembling, redacting and encoding each) held the event loop for
milliseconds, and a client whose request or stream chunk arrived meanwhile waited for all of
them: on the streaming benchmark that was +6 ms on the p99 time to first token. A
:class:`PacedSink` builds inline while the current loop iteration has spent less than
``budget_s`` on it; beyond that, pairs queue and one task builds them a budget at a time,
yielding between budgets so the loop polls the sockets. A backlog longer than ``backlog``
is built without pausing, so under sustained overload recording keeps up rather than
queueing without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from proxy.tasks import TaskSet

logger = logging.getLogger(__name__)

__all__ = ["PacedSink"]

Item = TypeVar("Item")


class PacedSink(Generic[Item]):
    def __init__(
        self, build: Callable[[Item], None], tasks: TaskSet, *, budget_s: float, backlog: int
    ) -> None:
        self.build = build
        self.tasks = tasks
        self.budget_s = budget_s
        self.backlog = backlog
        self._queue: deque[Item] = deque()
        self._opened: float | None = None  # when this iteration's first build began
        self._draining = False

    def __call__(self, item: Item) -> None:
        if not self._queue:  # nothing waits: build now while this iteration's budget lasts
            now = time.perf_counter()
            if self._opened is None:
                self._opened = now
                asyncio.get_running_loop().call_soon(self._next_iteration)
                self._build(item)
                return
            if now - self._opened < self.budget_s:
                self._build(item)
                return
        self._queue.append(item)
        if not self._draining:
            self._draining = True
            self.tasks.spawn(self._drain(), name="pair-builds")

    def flush(self) -> None:
        """Build everything still queued, now (at shutdown, once the drain task is done)."""
        while self._queue:
            self._build(self._queue.popleft())

    def _next_iteration(self) -> None:
        self._opened = None  # runs an iteration later: the loop has polled I/O since

    async def _drain(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # let the loop poll the sockets before the next budget
                started = time.perf_counter()
                while self._queue and (
                    len(self._queue) > self.backlog or time.perf_counter() - started < self.budget_s
                ):
                    self._build(self._queue.popleft())
        finally:
            self._draining = False

    def _build(self, item: Item) -> None:
        try:
            self.build(item)
        except Exception:  # one bad pair must not stop the others from being recorded
            logger.exception("building a pair record failed")
