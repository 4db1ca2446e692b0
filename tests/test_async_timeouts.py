"""The async timeouts of ``tests.async_timeouts`` on a real pytest run of their own: a hung
await fails its test alone, a task that will not die at the loop's close ends the run with its
name and line instead of hanging it, and so does a synchronous test SIGALRM cannot reach."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = """
import uvloop
pytest_plugins = ["tests.async_timeouts"]

def pytest_asyncio_loop_factories(config, item):
    return {"uvloop": uvloop.new_event_loop}
"""

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
timeout = 1
async_backstop_s = 2
"""

TESTS = """
import asyncio

async def test_hung_await():
    await asyncio.Event().wait()

def test_after_the_hang():
    pass

async def _stubborn():
    while True:
        try:
            await asyncio.sleep(100)
        except asyncio.CancelledError:
            pass

async def test_leaves_a_stubborn_task():
    asyncio.get_running_loop().create_task(_stubborn(), name="stubborn-one")
"""


def _run(
    tmp_path: Path, *selection: str, file: str = "test_given.py"
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "pytest.ini").write_text(INI)
    (tmp_path / "test_probe.py").write_text(TESTS)
    args = [f"test_probe.py::{name}" for name in selection] or [file]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_a_hung_await_fails_its_test_alone(tmp_path: Path) -> None:
    run = _run(tmp_path, "test_hung_await", "test_after_the_hang")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 1 passed" in run.stdout
    assert "test_probe.py::test_hung_await: still awaiting after its 1 s timeout" in run.stdout


def test_a_task_that_will_not_die_ends_the_run_with_its_name(tmp_path: Path) -> None:
    run = _run(tmp_path, "test_leaves_a_stubborn_task", "test_after_the_hang")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Tasks still on the test's loop" in run.stdout
    assert "name='stubborn-one'" in run.stdout
    assert "in _stubborn" in run.stdout  # the line it waits at
    assert "passed" not in run.stdout  # the run ended there


def test_a_hypothesis_example_that_hangs_fails_its_test(tmp_path: Path) -> None:
    (tmp_path / "test_given.py").write_text(
        "import asyncio\n"
        "from hypothesis import given, settings, strategies as st\n\n"
        "@settings(deadline=None, max_examples=2, database=None)\n"
        "@given(st.integers())\n"
        "async def test_given_hangs(n):\n"
        "    await asyncio.Event().wait()\n"
    )
    run = _run(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "test_given_hangs: still awaiting after its 1 s timeout" in run.stdout


def test_a_tests_own_timeout_error_is_reported_as_its_own(tmp_path: Path) -> None:
    (tmp_path / "test_own.py").write_text(
        "import asyncio\n\n"
        "async def test_own_deadline():\n"
        "    async with asyncio.timeout(0.01):\n"
        "        await asyncio.sleep(5)\n"
    )
    run = _run(tmp_path, file="test_own.py")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "still awaiting" not in run.stdout
    assert "TimeoutError" in run.stdout


def test_a_sync_test_the_alarm_cannot_reach_ends_the_run(tmp_path: Path) -> None:
    """SIGALRM blocked stands for a main thread waiting in C: pytest-timeout's handler never
    runs, and the thread backstop ends the run with the stack it waits at."""
    (tmp_path / "test_blocked.py").write_text(
        "import signal, time\n\n"
        "def test_deaf_to_the_alarm():\n"
        "    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})\n"
        "    time.sleep(30)\n\n"
        "def test_never_reached():\n"
        "    pass\n"
    )
    run = _run(tmp_path, file="test_blocked.py")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Timeout" in run.stdout + run.stderr
    assert "test_deaf_to_the_alarm" in run.stdout + run.stderr  # the stack it waits in
    assert "passed" not in run.stdout  # the run ended there
