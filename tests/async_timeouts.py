"""Timeouts that hold for async tests too.

pytest-timeout's default method raises from a SIGALRM handler. Under uvloop (the loop every
async test runs on, see ``conftest.pytest_asyncio_loop_factories``) that handler runs inside
one of the loop's callbacks, which catches the exception and logs it: an async test that never
finishes awaiting hangs the whole run, silently, until CI kills it. So each async test gets
two limits of its own:

* its body runs under ``asyncio.timeout_at`` the test's timeout (the ``timeout`` marker, else
  the configured one) after it started, so a hung await fails that test alone, with the await
  in the traceback (a Hypothesis test's examples share the one limit);
* a thread timer stands behind it, a little later, for a hang outside the body (an async
  fixture's teardown, the loop's close): it prints the stack of every task still on the test's
  loop, then pytest-timeout's thread method prints every thread's stack and ends the run. Loud,
  but finite, and it names the task that would not finish.

A synchronous test keeps pytest-timeout's SIGALRM, which works while Python code runs. Its
handler cannot run while the main thread waits in C (a blocked signal, a loop's close waiting
on a thread), so the same thread timer stands behind it too, at the same distance.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import io
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import pytest
import pytest_timeout

# How long after the body's own limit the thread timer ends the run: room for setup and
# teardown, which the body's limit does not cover. The ini option ``async_backstop_s`` sets it.
BACKSTOP_S = 60.0

_LIMIT = pytest.StashKey[float]()
_LOOP = pytest.StashKey[asyncio.AbstractEventLoop]()


def _bounded(
    item: pytest.Function, test: Callable[..., Awaitable[Any]], limit: float
) -> Callable[..., Awaitable[Any]]:
    deadline: list[
        float
    ] = []  # set by the first call: a Hypothesis test's limit is for all examples

    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        item.stash[_LOOP] = asyncio.get_running_loop()
        if not deadline:
            deadline.append(time.monotonic() + limit)  # the clock asyncio's loops keep
        bound = asyncio.timeout_at(deadline[0])
        try:
            async with bound:
                return await test(*args, **kwargs)
        except TimeoutError:
            if not bound.expired():
                raise  # the test's own timeout, not this one
            pytest.fail(f"{item.nodeid}: still awaiting after its {limit:g} s timeout")

    return run


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "async_backstop_s",
        "seconds after an async test's timeout before the run is ended with every stack",
        default=str(BACKSTOP_S),
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        # A Hypothesis test's coroutine is its inner test, run once per example.
        holder = getattr(item.obj, "hypothesis", None)
        owner, attr = (item, "obj") if holder is None else (holder, "inner_test")
        test = getattr(owner, attr, None)
        limit = pytest_timeout._get_item_settings(item).timeout
        if not inspect.iscoroutinefunction(test) or not limit:
            continue
        item.stash[_LIMIT] = float(limit)
        setattr(owner, attr, _bounded(item, test, float(limit)))


def _task_stacks(loop: asyncio.AbstractEventLoop) -> str:
    """Every unfinished task on ``loop`` with the line it waits at. Read from another thread
    while the loop is stuck, which is what it is for."""
    out = io.StringIO()
    for task in asyncio.all_tasks(loop):
        print(f"--- {task!r}", file=out)
        task.print_stack(file=out)
    return out.getvalue()


def _backstop(
    item: pytest.Item, settings: Any, after_s: float, before_exit: Callable[[], None]
) -> threading.Timer:
    """A started daemon timer that, ``after_s`` from now, runs ``before_exit`` and then
    pytest-timeout's thread method: every thread's stack, and the run's end."""

    def expire() -> None:
        try:
            before_exit()
        except Exception as exc:  # read from another thread: never let it stop the exit below
            sys.stderr.write(f"(the loop's tasks could not be listed: {exc!r})\n")
        finally:
            pytest_timeout.timeout_timer(item, settings._replace(timeout=after_s))

    timer = threading.Timer(after_s, expire)
    timer.name = f"timeout backstop {item.nodeid}"
    timer.daemon = True
    timer.start()
    return timer


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, None, None]:
    """The thread backstop behind a synchronous test's SIGALRM (async tests set their own in
    :func:`pytest_timeout_set_timer`)."""
    settings = pytest_timeout._get_item_settings(item)
    if item.stash.get(_LIMIT, None) is not None or not settings.timeout:
        yield
        return
    backstop = float(item.config.getini("async_backstop_s"))
    timer = _backstop(item, settings, float(settings.timeout) + backstop, lambda: None)
    try:
        yield
    finally:
        timer.cancel()


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    limit = item.stash.get(_LIMIT, None)
    if limit is None:
        return None  # not an async test: pytest-timeout's own method applies
    backstop = float(item.config.getini("async_backstop_s"))

    def list_tasks() -> None:
        loop = item.stash.get(_LOOP, None)
        if loop is not None:
            # Captured like the test's output; pytest-timeout prints that before the stacks.
            sys.stderr.write("Tasks still on the test's loop:\n" + _task_stacks(loop))

    timer = _backstop(item, settings, limit + backstop, list_tasks)

    def cancel() -> None:
        timer.cancel()
        timer.join()

    item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout's cancel hook
    return True
