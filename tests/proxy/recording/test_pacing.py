from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from proxy.recording.pacing import PacedSink
from proxy.tasks import TaskSet


def _busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


async def test_builds_inline_while_the_iteration_budget_lasts() -> None:
    built: list[int] = []
    sink = PacedSink(built.append, TaskSet("t"), budget_s=0.05, backlog=100)
    for item in range(5):
        sink(item)
    assert built == [0, 1, 2, 3, 4]  # cheap items: all built before __call__ returned


async def test_a_burst_is_spread_over_iterations_and_sockets_are_read_between() -> None:
    events: list[str] = []
    tasks = TaskSet("t")

    def build(item: int) -> None:
        _busy(1.0)
        events.append(f"build {item}")

    sink = PacedSink(build, tasks, budget_s=0.002, backlog=1000)
    reader, writer = socket.socketpair()
    reader.setblocking(False)
    loop = asyncio.get_running_loop()
    loop.add_reader(reader.fileno(), lambda: events.append(f"read {reader.recv(16)!r}"))
    try:
        writer.send(b"x")  # readable before the burst starts
        for item in range(30):
            sink(item)
        assert len([e for e in events if e.startswith("build")]) <= 4  # one budget, inline
        await tasks.drain(10)
    finally:
        loop.remove_reader(reader.fileno())
        reader.close()
        writer.close()
    builds = [e for e in events if e.startswith("build")]
    assert builds == [f"build {i}" for i in range(30)]  # all of them, once, in order
    read_at = events.index("read b'x'")
    assert 0 < read_at < 10  # the socket was served long before the burst was through


async def test_a_long_backlog_is_built_without_pausing() -> None:
    iterations = 0
    stop = False

    async def count_iterations() -> None:
        nonlocal iterations
        while not stop:
            iterations += 1
            await asyncio.sleep(0)

    tasks = TaskSet("t")
    built: list[int] = []

    def build(item: int) -> None:
        _busy(0.5)
        built.append(item)

    counting = TaskSet("counter")
    counting.spawn(count_iterations())
    await asyncio.sleep(0)
    sink = PacedSink(build, tasks, budget_s=0.001, backlog=10)
    for item in range(60):
        sink(item)
    await tasks.drain(10)
    stop = True
    await counting.drain(5)
    assert built == list(range(60))
    # Beyond the backlog the drain builds straight through; at one budget (two items) per
    # iteration the 60 items would have needed about 30 iterations.
    assert iterations < 20


async def test_a_failing_build_is_logged_and_the_rest_still_built(
    caplog: pytest.LogCaptureFixture,
) -> None:
    built: list[int] = []

    def build(item: int) -> None:
        if item == 2:
            raise ValueError("bad pair")
        built.append(item)

    sink = PacedSink(build, TaskSet("t"), budget_s=0.05, backlog=100)
    with caplog.at_level(logging.ERROR, logger="proxy.recording.pacing"):
        for item in range(5):
            sink(item)
    assert built == [0, 1, 3, 4]
    assert "building a pair record failed" in caplog.text


async def test_flush_builds_what_is_still_queued() -> None:
    built: list[int] = []

    def build(item: int) -> None:
        _busy(1.0)
        built.append(item)

    tasks = TaskSet("t")
    sink = PacedSink(build, tasks, budget_s=0.0005, backlog=1000)
    for item in range(10):
        sink(item)
    assert len(built) < 10
    sink.flush()
    assert built == list(range(10))
    await tasks.drain(5)  # the drain task finds nothing left
    assert built == list(range(10))
