"""The measured cases: throughput and latency per system, isolation, streaming, memory.

Each function starts what it needs through a :class:`~loadtests.stack.Stack`, measures, and
stops it again before returning (the :class:`~loadtests.processes.Children` owner stops
anything left over, whatever happens).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtests.loadgen import WrkResult, run_hey, run_open_loop, run_process, run_wrk
from loadtests.openloop import OpenLoopResult
from loadtests.processes import Children, cpu_seconds, machine_cpu, rss_kb
from loadtests.stack import (
    SIMULATED_FAULTS,
    Layout,
    Running,
    Stack,
    darklaunch_counters,
    stream_length,
)
from loadtests.streaming import StreamResult

__all__ = [
    "FULL",
    "QUICK",
    "Bench",
    "CaseResult",
    "MemoryResult",
    "Settings",
    "darklaunch_case",
    "nginx_case",
    "run_isolation",
    "run_memory",
    "run_phase",
    "run_streaming",
]


@dataclass(frozen=True)
class Settings:
    quick: bool
    warmup_s: float
    closed_s: float
    open_s: float
    open_warmup_s: float
    open_rate: float
    connections: int
    threads: int
    timeout_s: float
    memory_requests: int
    memory_first_byte_timeout_s: float
    memory_connections: int
    stream_s: float
    stream_concurrency: int
    stream_events: int
    stream_interval_ms: float
    stream_first_ms: float
    comparator_pairs: int
    isolation_rounds: int


FULL = Settings(
    quick=False, warmup_s=2.0, closed_s=10.0, open_s=10.0, open_warmup_s=1.0, open_rate=1000.0,
    connections=64, threads=2, timeout_s=5.0, memory_requests=50_000,
    memory_first_byte_timeout_s=5.0, memory_connections=50, stream_s=10.0,
    stream_concurrency=16, stream_events=40,
    stream_interval_ms=20.0, stream_first_ms=50.0, comparator_pairs=5000, isolation_rounds=9,
)  # fmt: skip
QUICK = Settings(
    quick=True, warmup_s=1.0, closed_s=2.0, open_s=2.0, open_warmup_s=0.5, open_rate=1000.0,
    connections=64, threads=2, timeout_s=5.0, memory_requests=5_000,
    memory_first_byte_timeout_s=5.0, memory_connections=50, stream_s=3.0,
    stream_concurrency=8, stream_events=40,
    stream_interval_ms=20.0, stream_first_ms=50.0, comparator_pairs=500, isolation_rounds=2,
)  # fmt: skip


@dataclass
class Bench:
    """What every case shares: settings, the children's owner, files and the Redis."""

    settings: Settings
    kids: Children
    folder: Path
    script: Path
    body_file: Path
    redis_url: str
    cpus: int


@dataclass
class CaseResult:
    name: str
    closed: WrkResult
    open: OpenLoopResult
    proxy_cores: float | None = None
    load_cores: float | None = None
    machine_busy: float | None = None
    counters: dict[str, Any] | None = None
    recorded: int | None = None
    # Open-loop p99s of interleaved repeat runs (isolation only), the first from ``open``.
    rounds_p99_ms: list[float] = field(default_factory=list)


@dataclass
class MemoryResult:
    requests: int
    duration_s: float
    rps: float
    start_mb: float
    peak_mb: float
    end_mb: float
    hwm_mb: float
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    samples: list[tuple[float, float]] = field(default_factory=list)
    counters: dict[str, Any] | None = None


def measure_closed(
    b: Bench, layout: Layout, target: Running | str, pids: list[int]
) -> tuple[WrkResult, float | None, float, float | None]:
    """Warm up, then closed loop (wrk); also the proxy's cores, wrk's cores and how busy the
    machine was."""
    s = b.settings
    url = target if isinstance(target, str) else target.url
    load = layout.load_cpus
    run_wrk(url, b.script, connections=s.connections, threads=s.threads,
            duration_s=s.warmup_s, timeout_s=s.timeout_s, cpus=load)  # fmt: skip
    before, started, (total0, idle0) = cpu_seconds(pids), time.monotonic(), machine_cpu()
    closed = run_wrk(url, b.script, connections=s.connections, threads=s.threads,
                     duration_s=s.closed_s, timeout_s=s.timeout_s, cpus=load)  # fmt: skip
    wall = time.monotonic() - started
    total1, idle1 = machine_cpu()
    cores = (cpu_seconds(pids) - before) / wall if pids else None
    busy = 1.0 - (idle1 - idle0) / (total1 - total0) if total1 > total0 else None
    return closed, cores, closed.cpu_s / wall, busy


def measure_open(b: Bench, layout: Layout, url: str) -> OpenLoopResult:
    s = b.settings
    return run_open_loop(url, b.body_file, rate=s.open_rate, duration_s=s.open_s,
                         warmup_s=s.open_warmup_s, timeout_s=s.timeout_s,
                         cpus=layout.load_cpus)  # fmt: skip


def measure(b: Bench, layout: Layout, target: Running | str, pids: list[int]) -> CaseResult:
    """Warm up, then closed loop (wrk) with the proxy's CPU use, then open loop."""
    url = target if isinstance(target, str) else target.url
    name = "direct" if isinstance(target, str) else target.name
    closed, cores, load_cores, busy = measure_closed(b, layout, target, pids)
    return CaseResult(name, closed, measure_open(b, layout, url), cores, load_cores, busy)


def darklaunch_case(
    b: Bench,
    stack: Stack,
    incumbent: Running,
    candidate: str,
    *,
    workers: int,
    sample_rate: float,
    campaign: str,
    extra: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> CaseResult:
    dl = stack.darklaunch(
        incumbent.base_url,
        candidate,
        workers=workers,
        sample_rate=sample_rate,
        redis_url=b.redis_url,
        campaign=campaign,
        candidate_extra=extra,
        env=env,
    )
    try:
        result = measure(b, stack.layout, dl, dl.pids)
        time.sleep(1.0)  # let the recorder flush its last batch
        assert dl.admin_url is not None
        result.counters = darklaunch_counters(dl.admin_url)
        result.recorded = stream_length(b.redis_url, campaign, delete=True)
        return result
    finally:
        b.kids.stop(dl.child)


def nginx_case(
    b: Bench, stack: Stack, incumbent: Running, candidate: str, workers: int
) -> CaseResult:
    ng = stack.nginx_mirror(incumbent.base_url, candidate, workers)
    try:
        return measure(b, stack.layout, ng, ng.pids)
    finally:
        b.kids.stop(ng.child)


def run_phase(b: Bench, workers: int) -> dict[str, CaseResult]:
    """Direct, darklaunch without and with mirroring, nginx mirror: ``workers`` each."""
    layout = Layout.for_workers(workers, b.cpus)
    stack = Stack(b.kids, b.folder, layout)
    incumbent, candidate = stack.upstreams(1 if layout.pinned else workers)
    results: dict[str, CaseResult] = {}
    try:
        results["direct"] = measure(b, layout, incumbent.url, [])
        for name, rate in (("darklaunch_off", 0.0), ("darklaunch_mirror", 1.0)):
            results[name] = darklaunch_case(
                b, stack, incumbent, candidate.base_url, workers=workers, sample_rate=rate,
                campaign=f"w{workers}-{name}",
            )  # fmt: skip
        results["nginx_mirror"] = nginx_case(b, stack, incumbent, candidate.base_url, workers)
        if workers == 1:  # the floor of darklaunch's HTTP layer, per core
            for mirror in (None, candidate.base_url):
                bare = stack.floor(incumbent.base_url, mirror)
                try:
                    results[bare.name] = measure(b, layout, bare, bare.pids)
                finally:
                    b.kids.stop(bare.child)
    finally:
        b.kids.stop(incumbent.child)
    return results


ISOLATION_MODES = ("fast", "slow", "hang", "error")
SETTLE_S = 2.0


def run_isolation(b: Bench) -> dict[str, dict[str, CaseResult]]:
    """A fast, slow, hanging and failing candidate behind darklaunch and nginx (1 worker).

    A millisecond-scale p99 moves by more than 10% between identical runs on a shared VM, so
    darklaunch's open-loop runs are repeated in ``isolation_rounds`` interleaved rounds (fast,
    slow, hang, error, fast, ...), one darklaunch per candidate started up front, and each
    mode is judged on the median of its rounds: drift over the run hits every mode alike.
    """
    s = b.settings
    layout = Layout.for_workers(1, b.cpus)
    stack = Stack(b.kids, b.folder, layout)
    incumbent, fast = stack.upstreams(1)
    faulty = stack.faulty_candidates()
    urls = {"fast": fast.base_url, **{mode: c.base_url for mode, c in faulty.items()}}
    out: dict[str, dict[str, CaseResult]] = {"darklaunch": {}, "nginx_mirror": {}}
    proxies: dict[str, Running] = {}
    try:
        for mode in ISOLATION_MODES:
            proxies[mode] = stack.darklaunch(
                incumbent.base_url, urls[mode], workers=1, sample_rate=1.0,
                redis_url=b.redis_url, campaign=f"iso-{mode}",
            )  # fmt: skip
        closed = {
            m: measure_closed(b, layout, proxies[m], proxies[m].pids) for m in ISOLATION_MODES
        }
        time.sleep(SETTLE_S)  # the last closed loop's records and timeouts drain first
        for round_index in range(s.isolation_rounds):
            for mode in ISOLATION_MODES:
                opened = measure_open(b, layout, proxies[mode].url)
                if round_index == 0:
                    out["darklaunch"][mode] = CaseResult(
                        proxies[mode].name, closed[mode][0], opened, *closed[mode][1:]
                    )
                out["darklaunch"][mode].rounds_p99_ms.append(opened.p99_ms)
        time.sleep(1.0)  # let the recorders flush their last batches
        for mode, dl in proxies.items():
            assert dl.admin_url is not None
            out["darklaunch"][mode].counters = darklaunch_counters(dl.admin_url)
            out["darklaunch"][mode].recorded = stream_length(
                b.redis_url, f"iso-{mode}", delete=True
            )
        for dl in proxies.values():
            b.kids.stop(dl.child)
        for mode in ISOLATION_MODES:
            out["nginx_mirror"][mode] = nginx_case(b, stack, incumbent, urls[mode], 1)
    finally:
        for dl in proxies.values():
            b.kids.stop(dl.child)
        for candidate in faulty.values():
            b.kids.stop(candidate.child)
        b.kids.stop(incumbent.child)
    return out


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_memory(b: Bench) -> MemoryResult:
    """RSS of one darklaunch process over ``memory_requests`` requests, every one mirrored
    to a candidate that never answers."""
    s = b.settings
    layout = Layout.for_workers(1, b.cpus)
    stack = Stack(b.kids, b.folder, layout)
    incumbent, _ = stack.upstreams(1)
    hang = stack.simulator("hang-memory", SIMULATED_FAULTS["hang"])
    extra = {"first_byte_timeout_s": s.memory_first_byte_timeout_s}
    dl = stack.darklaunch(
        incumbent.base_url,
        hang.base_url,
        workers=1,
        sample_rate=1.0,
        redis_url=b.redis_url,
        campaign="memory",
        candidate_extra=extra,
    )
    try:
        pid = dl.pids[0]
        time.sleep(1.0)
        start = (rss_kb(pid) or 0) / 1024
        samples: list[tuple[float, float]] = [(0.0, start)]
        t0 = time.monotonic()

        def sample() -> None:
            value = rss_kb(pid)
            if value is not None:
                samples.append((round(time.monotonic() - t0, 2), value / 1024))

        load = run_hey(dl.url, b.body_file, requests=s.memory_requests,
                       connections=s.memory_connections, timeout_s=s.timeout_s,
                       limit_s=120.0 if s.quick else 600.0, cpus=layout.load_cpus,
                       on_tick=sample, tick_s=0.25)  # fmt: skip
        sample()
        time.sleep(2.0)
        sample()
        assert dl.admin_url is not None
        return MemoryResult(
            requests=load.requests,
            duration_s=load.duration_s,
            rps=load.rps,
            start_mb=start,
            peak_mb=max(v for _, v in samples),
            end_mb=samples[-1][1],
            hwm_mb=_status_mb(pid, "VmHWM"),
            statuses=load.statuses,
            errors=load.errors,
            samples=samples,
            counters=darklaunch_counters(dl.admin_url),
        )
    finally:
        b.kids.stop(dl.child)
        b.kids.stop(hang.child)
        b.kids.stop(incumbent.child)


def _stream_client(b: Bench, layout: Layout, url: str) -> StreamResult:
    s = b.settings
    argv = [
        sys.executable, "-m", "loadtests.streaming", "client", "--url", url,
        "--duration", f"{s.stream_s:g}", "--concurrency", str(s.stream_concurrency),
    ]  # fmt: skip
    out, _ = run_process(argv, cpus=layout.load_cpus, env=None, limit_s=s.stream_s + 60.0,
                      on_tick=None, tick_s=0.5)  # fmt: skip
    return StreamResult(**json.loads(out.strip().splitlines()[-1]))


def run_streaming(b: Bench) -> dict[str, StreamResult]:
    """SSE streams direct, through darklaunch without mirroring, and with every stream
    mirrored (as a stream) to a candidate."""
    s = b.settings
    layout = Layout.for_workers(1, b.cpus)
    stack = Stack(b.kids, b.folder, layout)
    sse = stack.sse_server(s.stream_events, s.stream_interval_ms, s.stream_first_ms)
    results: dict[str, StreamResult] = {}
    try:
        results["direct"] = _stream_client(b, layout, sse.url)
        for name, rate in (("darklaunch_off", 0.0), ("darklaunch_mirror", 1.0)):
            dl = stack.darklaunch(sse.base_url, sse.base_url, workers=1, sample_rate=rate,
                                  redis_url=b.redis_url, campaign=f"stream-{name}")  # fmt: skip
            try:
                results[name] = _stream_client(b, layout, dl.url)
            finally:
                b.kids.stop(dl.child)
    finally:
        b.kids.stop(sse.child)
    return results
