"""Child processes for the benchmark: started pinned, logged to files, always killed.

Every child runs in its own session (so a Ctrl-C at the terminal reaches only the
orchestrator, which then stops the children itself, in a ``finally``) and asks the kernel to
SIGKILL it should the orchestrator die first (``PR_SET_PDEATHSIG``). Stopping is by process
group id, so a child's own children (nginx workers, darklaunch's ``--workers``) go too.

Also here: free ports, readiness polls and the /proc readers (RSS, CPU time, children).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

__all__ = [
    "Child",
    "ChildFailed",
    "Children",
    "children_of",
    "cpu_seconds",
    "free_ports",
    "http_get",
    "machine_cpu",
    "pin_threads",
    "rss_kb",
    "wait_http",
    "wait_port",
]

_PR_SET_PDEATHSIG = 1
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class ChildFailed(RuntimeError):
    """A child exited early or never became ready; the message carries its log's tail."""


def _preexec(cpus: frozenset[int] | None) -> None:
    # Runs in the child between fork and exec: die with the parent, then pin.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if cpus:
        os.sched_setaffinity(0, cpus)


class Child:
    """One started process (and its process group)."""

    def __init__(self, name: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, size: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def check(self) -> None:
        if not self.alive():
            raise ChildFailed(
                f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}"
            )

    def stop(self, grace_s: float = 3.0) -> None:
        """SIGTERM the group, wait up to ``grace_s``, then SIGKILL the group."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            try:
                self.process.wait(wait_s)
                # The leader is gone; SIGKILL any member of its group left behind.
                if sig == signal.SIGTERM:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(self.pid, signal.SIGKILL)
                return
            except subprocess.TimeoutExpired:
                continue


class Children:
    """Owns every child it starts; ``with Children(dir) as kids:`` stops them all on exit."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[Child] = []
        self._count = 0

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpus: frozenset[int] | None = None,
        env: dict[str, str] | None = None,
    ) -> Child:
        self._count += 1
        log = self.log_dir / f"{self._count:03d}-{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=lambda: _preexec(cpus),  # the orchestrator starts no threads
            )
        child = Child(name, process, log)
        self.running.append(child)
        return child

    def stop(self, child: Child, grace_s: float = 3.0) -> None:
        child.stop(grace_s)
        if child in self.running:
            self.running.remove(child)

    def stop_all(self) -> None:
        for child in reversed(list(self.running)):
            self.stop(child, grace_s=2.0)

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that were free on 127.0.0.1 a moment ago."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_port(port: int, child: Child | None = None, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child is not None:
            child.check()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise ChildFailed(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


def http_get(url: str, timeout_s: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_http(url: str, child: Child | None = None, timeout_s: float = 20.0) -> bytes:
    """Poll ``url`` until it answers 200; return the body."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while time.monotonic() < deadline:
        if child is not None:
            child.check()
        try:
            status, body = http_get(url, timeout_s=1.0)
            if status == 200:
                return body
            last = f"status {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    tail = child.log_tail() if child is not None else ""
    raise ChildFailed(f"{url} not ready after {timeout_s}s ({last})\n{tail}")


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from 3 (state) on


def cpu_seconds(pids: Sequence[int]) -> float:
    """User plus system CPU time of these processes (0 for any that are gone)."""
    total = 0.0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except (OSError, ValueError):
            continue
        total += (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime, stime
    return total


def machine_cpu() -> tuple[float, float]:
    """All CPUs' (total, idle) time in seconds since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields[:8]) / _CLK_TCK, idle / _CLK_TCK


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat_fields(int(entry.name))[1]) == pid:
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)


def pin_threads(pid: int, cpus: frozenset[int] | None) -> None:
    """Pin every thread of an already running process (one we did not start pinned)."""
    if not cpus:
        return
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            os.sched_setaffinity(int(task.name), cpus)
        except OSError:
            continue
