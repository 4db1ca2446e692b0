from __future__ import annotations

import asyncio
import logging

import pytest

from proxy.tasks import TaskSet


async def test_drain_waits_for_tasks_spawned_while_draining() -> None:
    tasks = TaskSet("t")
    done: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.05)
        done.append("second")

    async def first() -> None:
        await asyncio.sleep(0.05)
        done.append("first")
        tasks.spawn(second(), name="second")  # as a pair hands its record to a builder

    tasks.spawn(first(), name="first")
    assert await tasks.drain(5) == 0
    assert done == ["first", "second"]
    assert len(tasks) == 0


async def test_drain_cancels_and_counts_what_outlives_the_timeout() -> None:
    tasks = TaskSet("t")
    tasks.spawn(asyncio.sleep(60), name="forever")
    assert await tasks.drain(0.05) == 1
    await asyncio.sleep(0)
    assert len(tasks) == 0


async def test_cancel_ends_endless_tasks_without_a_shutdown_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tasks = TaskSet("t")
    tasks.spawn(asyncio.sleep(60), name="follower")
    await tasks.cancel()
    await asyncio.sleep(0)
    assert len(tasks) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
