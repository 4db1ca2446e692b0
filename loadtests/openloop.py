"""An open-loop load generator: requests leave on a fixed schedule, answered or not.

    python -m loadtests.openloop --url http://127.0.0.1:8080/v1/chat/completions \
        --rate 1000 --duration 10 --body-file body.json [--warmup 1] [--timeout 5]

Request ``i`` is due at ``t0 + i / rate``. It goes out on an idle keep-alive connection, or
on a new one (up to ``--max-conns``) when every connection is busy, so a slow answer never
delays the requests behind it. Latency is measured from the request's *due* time, not from
when it was written, which is what corrects coordinated omission: a stall in the system
under test (or in this generator) shows up in the figures instead of thinning the schedule.
The service time (written to answered) is reported alongside.

A request that has no complete answer ``--timeout`` seconds after its due time counts as a
timeout and enters the percentiles at the timeout (a lower bound on its true latency).

Prints one JSON object on stdout. It speaks just enough HTTP/1.1 for the benchmark's
upstreams: Content-Length and chunked bodies, keep-alive, ``Connection: close``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import uvloop

__all__ = ["OpenLoopResult", "percentile", "run_open_loop"]


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100.0 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class OpenLoopResult:
    rate: float
    duration_s: float
    sent: int = 0
    completed: int = 0
    timeouts: int = 0
    errors: int = 0
    non_2xx: int = 0
    connections: int = 0
    achieved_rps: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    p999_ms: float = 0.0
    max_ms: float = 0.0
    service_p50_ms: float = 0.0
    service_p99_ms: float = 0.0
    send_lag_p99_ms: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)


class _Generator:
    def __init__(self, url: str, body: bytes, timeout_s: float, max_conns: int) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Content-Type: application/json\r\nAuthorization: Bearer sk-bench\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.request = head.encode() + body
        self.timeout_s = timeout_s
        self.max_conns = max_conns
        self.queue: asyncio.Queue[tuple[float, bool] | None] = asyncio.Queue()
        self.waiting = 0
        self.workers: list[asyncio.Task[None]] = []
        self.outstanding = 0
        self.recording = False
        self.latencies: list[float] = []
        self.service: list[float] = []
        self.send_lag: list[float] = []
        self.result = OpenLoopResult(rate=0.0, duration_s=0.0)
        self.last_done = 0.0

    def _spawn_worker(self) -> None:
        self.workers.append(asyncio.get_running_loop().create_task(self._worker()))

    def _dispatch_due(self, batch: list[tuple[float, bool]]) -> None:
        for due, record in batch:
            self.dispatch(due, record)

    def dispatch(self, due: float, record: bool) -> None:
        self.outstanding += 1
        self.queue.put_nowait((due, record))
        if self.queue.qsize() > self.waiting and len(self.workers) < self.max_conns:
            self._spawn_worker()

    async def _exchange(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[int, bool]:
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                await reader.readexactly(size + 2)
        elif length >= 0:
            await reader.readexactly(length)
        else:
            await reader.read()
            close = True
        return status, close

    async def _worker(self) -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        self.result.connections += 1
        try:
            while True:
                self.waiting += 1
                try:
                    job = await self.queue.get()
                finally:
                    self.waiting -= 1
                if job is None:
                    return
                due, record = job
                status: int | None = None
                timed_out = False
                sent_at = time.perf_counter()
                deadline = due + self.timeout_s
                try:
                    if sent_at >= deadline:
                        raise TimeoutError
                    async with asyncio.timeout(deadline - sent_at):
                        if writer is None:
                            reader, writer = await asyncio.open_connection(self.host, self.port)
                        assert reader is not None
                        sent_at = time.perf_counter()
                        status, close = await self._exchange(reader, writer)
                    if close:
                        writer.close()
                        reader = writer = None
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    timed_out = isinstance(exc, TimeoutError)
                    if record:
                        if timed_out:
                            self.result.timeouts += 1
                        else:
                            self.result.errors += 1
                done = time.perf_counter()
                self.outstanding -= 1
                if not record:
                    continue
                self.result.sent += 1
                self.send_lag.append((sent_at - due) * 1000.0)
                if status is None:
                    if timed_out:
                        self.latencies.append(self.timeout_s * 1000.0)
                    continue
                self.result.completed += 1
                self.last_done = done
                if not 200 <= status < 300:
                    self.result.non_2xx += 1
                self.latencies.append((done - due) * 1000.0)
                self.service.append((done - sent_at) * 1000.0)
        finally:
            if writer is not None:
                writer.close()

    async def run(self, rate: float, duration_s: float, warmup_s: float) -> OpenLoopResult:
        for _ in range(min(8, self.max_conns)):
            self._spawn_worker()
        await asyncio.sleep(0.05)
        interval = 1.0 / rate
        warm = int(warmup_s * rate)
        total = warm + int(duration_s * rate)
        start = time.perf_counter() + 0.01
        finished = asyncio.Event()
        loop = asyncio.get_running_loop()
        # The event loop's timers have a millisecond's granularity; a thread sleeping with
        # nanosleep wakes within tens of microseconds of each due time and hands the batch
        # of due requests to the loop.
        ticker = threading.Thread(
            target=_tick,
            args=(loop, self._dispatch_due, finished, start, interval, warm, total),
            daemon=True,
        )
        ticker.start()
        try:
            await finished.wait()
        finally:
            await asyncio.to_thread(ticker.join, 5.0)
        measured_from = start + warm * interval
        limit = time.perf_counter() + self.timeout_s + 1.0
        while self.outstanding > 0 and time.perf_counter() < limit:  # noqa: ASYNC110
            await asyncio.sleep(0.01)  # bounded poll; the workers own the counter
        elapsed = max(duration_s, self.last_done - measured_from)
        for _ in self.workers:
            self.queue.put_nowait(None)
        for task in self.workers:
            task.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)
        return self._summarise(rate, duration_s, elapsed)

    def _summarise(self, rate: float, duration_s: float, elapsed: float) -> OpenLoopResult:
        r = self.result
        r.rate, r.duration_s = rate, duration_s
        lat = sorted(self.latencies)
        service = sorted(self.service)
        r.achieved_rps = r.completed / elapsed if elapsed > 0 else 0.0
        r.p50_ms, r.p90_ms = percentile(lat, 50), percentile(lat, 90)
        r.p99_ms, r.p999_ms = percentile(lat, 99), percentile(lat, 99.9)
        r.max_ms = lat[-1] if lat else 0.0
        r.service_p50_ms, r.service_p99_ms = percentile(service, 50), percentile(service, 99)
        r.send_lag_p99_ms = percentile(sorted(self.send_lag), 99)
        return r


def _tick(
    loop: asyncio.AbstractEventLoop,
    dispatch: Callable[[list[tuple[float, bool]]], None],
    finished: asyncio.Event,
    start: float,
    interval: float,
    warm: int,
    total: int,
) -> None:
    """The schedule's clock, in its own thread: hand each due batch to the loop."""
    i = 0
    try:
        while i < total:
            now = time.perf_counter()
            batch: list[tuple[float, bool]] = []
            while i < total and start + i * interval <= now:
                batch.append((start + i * interval, i >= warm))
                i += 1
            if batch:
                loop.call_soon_threadsafe(dispatch, batch)
            if i < total:
                time.sleep(max(0.0, start + i * interval - time.perf_counter()))
    finally:
        loop.call_soon_threadsafe(finished.set)


async def run_open_loop(
    url: str,
    body: bytes,
    *,
    rate: float,
    duration_s: float,
    warmup_s: float = 1.0,
    timeout_s: float = 5.0,
    max_conns: int = 256,
) -> OpenLoopResult:
    generator = _Generator(url, body, timeout_s, max_conns)
    return await generator.run(rate, duration_s, warmup_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--max-conns", type=int, default=256)
    parser.add_argument("--body-file", type=Path, required=True)
    args = parser.parse_args(argv)
    result = uvloop.run(
        run_open_loop(
            args.url,
            args.body_file.read_bytes(),
            rate=args.rate,
            duration_s=args.duration,
            warmup_s=args.warmup,
            timeout_s=args.timeout,
            max_conns=args.max_conns,
        )
    )
    data = asdict(result)
    del data["latencies_ms"]
    print(json.dumps(data))


if __name__ == "__main__":
    main()
