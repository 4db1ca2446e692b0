"""Drive load: wrk for closed-loop throughput, the in-repo open-loop generator for latency.

* :func:`run_wrk` runs Debian's ``wrk`` (``-c`` connections, ``-t`` threads, ``-d`` seconds)
  with a Lua script that POSTs the chat request and prints its summary as one JSON line:
  requests, errors by kind and latency percentiles (wrk's own HdrHistogram, microseconds).
  Closed loop: each connection sends its next request when the last answer arrives, so it
  finds the maximum rate; its latencies are *not* corrected for coordinated omission.
* :func:`run_open_loop` runs :mod:`loadtests.openloop` in its own process at a fixed rate.

Both pin the load generator to the CPUs given, and can call ``on_tick`` while they run (the
memory benchmark samples RSS that way).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loadtests.openloop import OpenLoopResult

__all__ = [
    "HeyResult",
    "WrkResult",
    "hey_version",
    "run_hey",
    "run_open_loop",
    "run_process",
    "run_wrk",
    "write_wrk_script",
    "wrk_version",
]

ROOT = Path(__file__).resolve().parents[1]
_MARK = "WRKJSON "
_SCRIPT = """
wrk.method = "POST"
wrk.body = [==[BODY]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'MARK{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max, latency.mean))
end
"""


@dataclass
class WrkResult:
    connections: int
    threads: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    errors_connect: int
    errors_read: int
    errors_write: int
    errors_status: int
    errors_timeout: int
    cpu_s: float = 0.0


def write_wrk_script(path: Path, body: bytes) -> Path:
    text = body.decode()
    if "]==]" in text:
        raise ValueError("the body must not contain ]==]")
    path.write_text(_SCRIPT.replace("BODY", text).replace("MARK", _MARK))
    return path


def wrk_version() -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, timeout=10, check=False)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" [")[0].removeprefix("wrk ") if first else "unknown"


def _pin(cpus: frozenset[int] | None) -> Callable[[], None] | None:
    if not cpus:
        return None

    def pin() -> None:
        os.sched_setaffinity(0, cpus)

    return pin


def run_process(
    argv: list[str],
    *,
    cpus: frozenset[int] | None,
    env: dict[str, str] | None,
    limit_s: float,
    on_tick: Callable[[], None] | None,
    tick_s: float = 0.5,
) -> tuple[str, float]:
    """Run a load generator to completion (killing it past ``limit_s``); return its stdout
    and the CPU time (user + system, seconds) it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
        preexec_fn=_pin(cpus),  # the orchestrator starts no threads
    ) as process:
        try:
            deadline = time.monotonic() + limit_s
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{argv[0]} ran past {limit_s:.0f}s")
                if on_tick is not None:
                    on_tick()
                try:
                    process.wait(tick_s)
                except subprocess.TimeoutExpired:
                    continue
            assert process.stdout is not None
            assert process.stderr is not None
            out = process.stdout.read().decode(errors="replace")
            err = process.stderr.read().decode(errors="replace")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}: {err[-1000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, used


def run_wrk(
    url: str,
    script: Path,
    *,
    connections: int = 64,
    threads: int = 2,
    duration_s: float = 10.0,
    timeout_s: float = 5.0,
    cpus: frozenset[int] | None = None,
) -> WrkResult:
    """Closed-loop load for ``duration_s`` (whole seconds: wrk takes no fractions)."""
    argv = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration_s))}s",
        "--timeout", f"{timeout_s:g}s", "-s", str(script), url,
    ]  # fmt: skip
    out, cpu_s = run_process(argv, cpus=cpus, env=None, limit_s=duration_s + 30.0, on_tick=None)
    line = next((ln for ln in out.splitlines() if ln.startswith(_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out[-1000:]}")
    data = json.loads(line[len(_MARK) :])
    seconds = data["duration_us"] / 1e6
    return WrkResult(
        connections=connections,
        threads=threads,
        duration_s=round(seconds, 3),
        requests=data["requests"],
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        p999_ms=data["p999_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        mean_ms=data["mean_us"] / 1000,
        errors_connect=data["connect"],
        errors_read=data["read"],
        errors_write=data["write"],
        errors_status=data["status"],
        errors_timeout=data["timeout"],
        cpu_s=round(cpu_s, 3),
    )


@dataclass
class HeyResult:
    requests: int
    duration_s: float
    rps: float
    statuses: dict[str, int]
    errors: int


def run_hey(
    url: str,
    body_file: Path,
    *,
    requests: int,
    connections: int = 64,
    timeout_s: float = 5.0,
    limit_s: float = 600.0,
    cpus: frozenset[int] | None = None,
    on_tick: Callable[[], None] | None = None,
    tick_s: float = 0.5,
) -> HeyResult:
    """Exactly ``requests`` POSTs over ``connections`` workers (hey ``-n``): for runs bounded
    by count, which wrk cannot do (its threads can stop early, its clock cannot)."""
    argv = [
        "hey", "-n", str(requests), "-c", str(connections), "-m", "POST",
        "-T", "application/json", "-H", "Authorization: Bearer sk-bench",
        "-D", str(body_file), "-t", f"{max(1, round(timeout_s))}", url,
    ]  # fmt: skip
    out, _ = run_process(argv, cpus=cpus, env=None, limit_s=limit_s, on_tick=on_tick, tick_s=tick_s)
    total = rps = 0.0
    statuses: dict[str, int] = {}
    errors = 0
    section = ""
    for raw in out.splitlines():
        line = raw.strip()
        if line.startswith("Total:"):
            total = float(line.split()[1])
        elif line.startswith("Requests/sec:"):
            rps = float(line.split()[1])
        elif line.endswith("distribution:"):
            section = line
        elif line.startswith("[") and "]" in line:
            count = int(line.split("]", 1)[1].split()[0])
            if section.startswith("Status"):
                statuses[line[1 : line.index("]")]] = count
            elif section.startswith("Error"):
                errors += count
    return HeyResult(sum(statuses.values()) + errors, total, rps, statuses, errors)


def hey_version() -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "hey"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def run_open_loop(
    url: str,
    body_file: Path,
    *,
    rate: float,
    duration_s: float,
    warmup_s: float = 1.0,
    timeout_s: float = 5.0,
    cpus: frozenset[int] | None = None,
) -> OpenLoopResult:
    """The open-loop generator in its own (pinned) process."""
    argv = [
        sys.executable, "-m", "loadtests.openloop", "--url", url, "--rate", f"{rate:g}",
        "--duration", f"{duration_s:g}", "--warmup", f"{warmup_s:g}",
        "--timeout", f"{timeout_s:g}", "--body-file", str(body_file),
    ]  # fmt: skip
    limit = warmup_s + duration_s + timeout_s + 30.0
    out, _ = run_process(argv, cpus=cpus, env=None, limit_s=limit, on_tick=None)
    data = json.loads(out.strip().splitlines()[-1])
    return OpenLoopResult(**data)
