"""Whether redis-py's asyncio client lets a cancellation through: a task cancelled while a
command is in flight should end. redis-py 8.0 and 8.1 swallow such cancellations about four
times in ten (the task goes on past the command); 7.4.1 lets every one through, but with it
the cluster failover test failed and a test's event loop would not close, so the project stays
on 8 for now, and darklaunch's own stops do not depend on a cancellation arriving (a stopping
judge gives up its batch after a grace, ``comparators.judge.worker``). Marked as an expected
failure, strictly: a redis-py release that fixes it turns this test red, and the mark goes."""

from __future__ import annotations

import asyncio
import random

import pytest
import redis.asyncio as aioredis

TRIALS = 200


@pytest.mark.xfail(reason="redis-py 8.0 and 8.1 swallow a cancellation mid-command", strict=True)
async def test_a_task_cancelled_mid_command_ends(redis_url: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    rng = random.Random(7)
    try:
        for trial in range(TRIALS):
            went_on = asyncio.Event()

            async def job(went_on: asyncio.Event) -> None:
                await client.get("darklaunch:test:cancel")
                went_on.set()  # reached only when the cancellation was lost
                await asyncio.sleep(30)

            task = asyncio.ensure_future(job(went_on))  # noqa: TID251 - awaited below
            for _ in range(rng.randint(0, 6)):  # land the cancel at every stage of the command
                await asyncio.sleep(0)
            task.cancel()
            done, _ = await asyncio.wait((task,), timeout=0.5)
            if not done:
                task.cancel()
                await asyncio.wait((task,), timeout=0.5)
            assert not went_on.is_set(), f"trial {trial}: redis-py swallowed the cancellation"
            assert task.cancelled()
    finally:
        await client.aclose()
