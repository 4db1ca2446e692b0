"""The constants of the capacity model in ``docs/SCALE.md``, measured on this machine.

    python -m loadtests.bench_scale [--pairs 20000] [--write-pairs 100000]
                                    [--comparator-pairs N] [--json loadtests/results/scale.json]

Everything runs against the embedded Redis (:mod:`proxy.recording.embedded_redis`, a unix
socket, append-only file on, automatic AOF rewrites off), a fresh server per measurement:

* **writes**: pairs per second one Redis absorbs through the proxy's own writer
  (:class:`~proxy.recording.writer.RedisRecorder`: orjson records, batches of up to 256 in one
  Lua script), fed by 1 and 2 processes as fast as the writer takes them, with the CPU time of
  the Redis server and of the feeders (``/proc/<pid>/stat``) over the same wall time, so the
  reader sees which one was the limit and what one pair costs Redis (``--write-pairs`` per
  feeder, 3 interleaved rounds);
* **memory**: ``INFO memory`` before and after writing ``--pairs`` distinct pairs and after
  scoring them with the real worker (:class:`~comparators.worker.CompareWorker`), once per
  comparator set (every built-in, as ``darklaunch compare`` runs with no ``comparators`` key,
  and each set bench_comparators defines); ``MEMORY USAGE`` of the pairs and scores streams,
  the append-only file's growth, the worker's pairs/s and the Redis CPU time it costs; for
  realistic records (:mod:`loadtests.realistic`) and, with every built-in, the synthetic
  1 KB-per-side ones of :mod:`loadtests.bench_comparators`;
* **batch markers**: the writer marks every batch with a key (deleted by its next write once
  Redis confirmed the batch); how many batches one proxy process writes at a steady 100,
  1,000 and 5,000 pairs/s, how many markers are left after, and what one marker costs;
* **comparators**: pairs scored per second on one core per comparator set, by the functions
  of :mod:`loadtests.bench_comparators` (whatever sets it defines when this runs).

Loops are bounded (a count, or a deadline); only unix sockets are used.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from comparators.consumer import OUTPUT_MAX_LEN
from comparators.engine import ScoringEngine
from comparators.metrics import WorkerMetrics
from comparators.worker import CompareWorker
from loadtests import bench_comparators
from loadtests.bench import machine
from loadtests.processes import cpu_seconds, machine_cpu
from loadtests.realistic import Scenario, generate
from proxy.metrics import RecorderMetrics
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.encode import PairData, encode_record
from proxy.recording.keys import batch_marker_key, pairs_key, scores_key
from proxy.recording.schema import PairRecord
from proxy.recording.writer import BATCH_MARKER_TTL_S, RedisRecorder

__all__ = ["main", "measure"]

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGN = "scale"
POOL = 2000  # distinct records cycled through (each written with a pair id of its own)
REDIS_ARGS = ("--auto-aof-rewrite-percentage", "0")  # no rewrite's fork mid-measurement
FEEDERS = (1, 2)  # processes writing at once
WRITE_ROUNDS = 3
PACED_RATES = (100, 1000, 5000)  # pairs/s of one proxy process, for the batch markers
PACED_SECONDS = 4.0
MARKERS = 50_000
STALL_S = 60.0  # a writer that takes nothing for this long has failed: stop, do not hang


def records(kind: str, count: int = POOL, seed: int = 1) -> list[PairData]:
    """``count`` pair records as the proxy hands them to its writer (typed dicts)."""
    made: list[PairRecord] = (
        generate(Scenario(pairs=count), seed)
        if kind == "realistic"
        else bench_comparators.make_pairs(count, seed)
    )
    return [cast("PairData", record.model_dump()) for record in made]


def fresh(pool: Sequence[PairData], index: int, salt: int) -> PairData:
    """The pool's record ``index`` (cycled) as a new pair: its own 32-hex id, now."""
    record = copy.copy(pool[index % len(pool)])
    record["pair_id"] = f"{salt:08x}{index:024x}"
    record["campaign"] = CAMPAIGN
    record["timestamp"] = time.time()
    return record


def describe(pool: Sequence[PairData]) -> dict[str, float]:
    sizes = [len(encode_record(fresh(pool, i, 0))) for i in range(len(pool))]
    mirrors = sum(len(record["mirrors"]) for record in pool)
    return {"record_bytes": sum(sizes) / len(sizes), "mirrors_per_pair": mirrors / len(pool)}


@dataclass
class Server:
    redis: EmbeddedRedis
    url: str
    client: aioredis.Redis
    folder: Path

    @property
    def pid(self) -> int:
        assert self.redis.process is not None, "the embedded Redis is not ours"
        return self.redis.process.pid

    async def used_memory(self) -> dict[str, int]:
        await asyncio.sleep(0.5)  # Redis refreshes its RSS figure in its periodic cron
        info: Any = await self.client.info("memory")
        return {key: int(info[key]) for key in ("used_memory", "used_memory_rss")}

    async def usage(self, key: str) -> int:
        """``MEMORY USAGE`` of ``key``, every element counted (``SAMPLES 0``)."""
        used = await self.client.memory_usage(key, samples=0)
        if used is None:
            raise RuntimeError(f"{key} does not exist")
        return int(used)

    def aof_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.folder.glob("appendonly*"))


@asynccontextmanager
async def embedded() -> AsyncIterator[Server]:
    with tempfile.TemporaryDirectory(prefix="dl-scale-") as folder:
        redis = EmbeddedRedis(Path(folder), extra_args=REDIS_ARGS)
        url = await asyncio.to_thread(redis.start)
        client = aioredis.Redis.from_url(url)
        try:
            yield Server(redis, url, client, Path(folder))
        finally:
            await client.aclose()
            await asyncio.to_thread(redis.stop)


def recorder(url: str, spool: Path, campaign: str = CAMPAIGN) -> _CountingRecorder:
    return _CountingRecorder(
        url, campaign, RecorderMetrics(CollectorRegistry()), spool_dir=spool, flush_timeout_s=120
    )


async def feed(
    writer: RedisRecorder, pool: Sequence[PairData], count: int, salt: int, rate: float | None
) -> float:
    """Submit ``count`` records to a started writer, as fast as its queue takes them or at
    ``rate`` per second on a fixed schedule, and flush; the seconds from the first submit
    until every record was written."""
    started = time.perf_counter()
    for i in range(count):
        if rate is not None:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await _room(writer)
        writer.submit(fresh(pool, i, salt))
    await writer.stop()
    elapsed = time.perf_counter() - started
    written = sum(
        sample.value
        for metric in writer.metrics.written.collect()
        for sample in metric.samples
        if sample.name.endswith("_total")
    )
    if written != count:
        raise RuntimeError(f"the writer wrote {written:.0f} of {count} records")
    return elapsed


async def _room(writer: RedisRecorder) -> None:
    deadline = time.monotonic() + STALL_S
    while writer.queue.full():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the writer took nothing for {STALL_S:.0f}s")
        await asyncio.sleep(0.0005)


def _feeder(url: str, kind: str, count: int, salt: int, ready: Any, go: Any, out: Any) -> None:
    """One feeding process: build the pool, say so, wait for the start, feed, report."""
    pool = records(kind, seed=salt)

    async def run() -> dict[str, float]:
        with tempfile.TemporaryDirectory(prefix="dl-scale-spool-") as spool:
            writer = recorder(url, Path(spool))
            await writer.start()
            ready.put(salt)
            if not await asyncio.to_thread(go.wait, 300):
                raise RuntimeError("no start signal")
            cpu, started = time.process_time(), time.monotonic()
            await feed(writer, pool, count, salt, None)
            ended = time.monotonic()
            return {"started": started, "ended": ended, "cpu_s": time.process_time() - cpu}

    out.put(asyncio.run(run()))


async def write_rate(server: Server, kind: str, feeders: int, pairs: int) -> dict[str, float]:
    """``feeders`` processes, each writing ``pairs`` records as fast as its writer can."""
    context = multiprocessing.get_context("spawn")
    ready, out, go = context.Queue(), context.Queue(), context.Event()
    children = [
        context.Process(target=_feeder, args=(server.url, kind, pairs, k + 1, ready, go, out))
        for k in range(feeders)
    ]
    for child in children:
        child.start()
    try:
        for _ in children:
            await asyncio.to_thread(ready.get, True, 300)
        redis_cpu = cpu_seconds([server.pid])
        go.set()
        reports = [await asyncio.to_thread(out.get, True, 600) for _ in children]
        redis_cpu = cpu_seconds([server.pid]) - redis_cpu
    finally:
        for child in children:
            child.join(30)
            if child.is_alive():
                child.kill()
    seconds = max(r["ended"] for r in reports) - min(r["started"] for r in reports)
    total = feeders * pairs
    length = int(await server.client.xlen(pairs_key(CAMPAIGN)))
    if length != total:
        raise RuntimeError(f"{length} entries in the stream for {total} records written")
    return {
        "feeders": feeders,
        "pairs": total,
        "seconds": seconds,
        "pairs_per_s": total / seconds,
        "redis_cpu_share": redis_cpu / seconds,
        "feeders_cpu_share": sum(r["cpu_s"] for r in reports) / seconds,
        "redis_us_per_pair": redis_cpu / total * 1e6,
    }


async def memory(
    server: Server, pool: Sequence[PairData], comparators: str = "all_builtins"
) -> dict[str, Any]:
    """Write the pool's records from this process, then score them with a comparator set.
    Every record is a distinct pair, so the semantic comparator's cache sees what a worker
    would (a pool cycled over and over would hit it more often)."""
    pairs = len(pool)
    base, aof = await server.used_memory(), server.aof_bytes()
    writer = recorder(server.url, server.folder / "spool")
    await writer.start()
    redis_cpu = cpu_seconds([server.pid])
    seconds = await feed(writer, pool, pairs, 1, None)
    write_cpu = cpu_seconds([server.pid]) - redis_cpu
    written = await server.used_memory()
    markers = [key async for key in server.client.scan_iter(batch_marker_key(CAMPAIGN, "*"))]
    batches = writer.batches
    pairs_stream = await server.usage(pairs_key(CAMPAIGN))
    aof_written = server.aof_bytes()

    engine = ScoringEngine(bench_comparators.config(comparator_sets()[comparators], server.url))
    engine.score(PairRecord.model_validate(pool[0]))  # load the models outside the timing
    worker = CompareWorker(
        server.client, CAMPAIGN, engine, WorkerMetrics(CollectorRegistry()), batch_size=256
    )
    redis_cpu, cpu, started = cpu_seconds([server.pid]), time.process_time(), time.perf_counter()
    stats = await worker.run(once=True)
    scoring_s, worker_cpu = time.perf_counter() - started, time.process_time() - cpu
    score_cpu = cpu_seconds([server.pid]) - redis_cpu
    if stats.scored != pairs:
        raise RuntimeError(f"the worker scored {stats.scored} of {pairs} pairs")
    scored = await server.used_memory()
    scores = int(await server.client.xlen(scores_key(CAMPAIGN)))
    scores_stream = await server.usage(scores_key(CAMPAIGN))
    return {
        **describe(pool),
        "comparators": comparators,
        "pairs": pairs,
        "write_pairs_per_s": pairs / seconds,
        "write_redis_us_per_pair": write_cpu / pairs * 1e6,
        "batches": batches,
        "markers_left": len(markers),
        "pairs_bytes_per_pair": (written["used_memory"] - base["used_memory"]) / pairs,
        "pairs_rss_bytes_per_pair": (written["used_memory_rss"] - base["used_memory_rss"]) / pairs,
        "pairs_stream_bytes_per_pair": pairs_stream / pairs,
        "aof_bytes_per_pair": (aof_written - aof) / pairs,
        "score_entries": scores,
        "scores_bytes_per_pair": (scored["used_memory"] - written["used_memory"]) / pairs,
        "scores_stream_bytes_per_entry": scores_stream / scores,
        "total_bytes_per_pair": (scored["used_memory"] - base["used_memory"]) / pairs,
        "total_rss_bytes_per_pair": (scored["used_memory_rss"] - base["used_memory_rss"]) / pairs,
        "aof_total_bytes_per_pair": (server.aof_bytes() - aof) / pairs,
        "worker_pairs_per_s": pairs / scoring_s,
        "worker_pairs_per_cpu_s": pairs / worker_cpu,
        "score_redis_us_per_pair": score_cpu / pairs * 1e6,
    }


class _CountingRecorder(RedisRecorder):
    """The writer, counting the batches it writes (markers no longer tell: the next write
    deletes a confirmed batch's marker)."""

    batches = 0

    async def _write(self, batch_id: str, records: list[bytes], *, fresh: bool = False) -> bool:
        self.batches += 1
        return await super()._write(batch_id, records, fresh=fresh)


async def batching(server: Server) -> list[dict[str, float]]:
    """Batches one writer makes at steady rates, and the batch markers left in Redis."""
    pool, rows = records("realistic"), []
    for rate in PACED_RATES:
        campaign = f"{CAMPAIGN}-{rate}"
        writer = recorder(server.url, server.folder / f"spool-{rate}", campaign)
        await writer.start()
        count = int(rate * PACED_SECONDS)
        seconds = await feed(writer, pool, count, rate, rate)
        pattern = batch_marker_key(campaign, "*")
        markers = len([key async for key in server.client.scan_iter(pattern, count=1000)])
        batches = writer.batches
        rows.append({
            "pairs_per_s": rate, "pairs": count, "seconds": seconds, "batches": batches,
            "pairs_per_batch": count / batches, "batches_per_s": batches / seconds,
            "markers_left": markers,
        })  # fmt: skip
    return rows


async def marker_bytes(server: Server, count: int = MARKERS) -> dict[str, float]:
    """Memory per batch marker: ``count`` markers set as the writer's script sets them."""
    before = await server.used_memory()
    for start in range(0, count, 5000):
        pipe: Any = server.client.pipeline(transaction=False)
        for i in range(start, min(count, start + 5000)):
            key = batch_marker_key("markers", f"{i:032x}")
            pipe.set(key, "1", nx=True, ex=BATCH_MARKER_TTL_S)
        await pipe.execute()
    after = await server.used_memory()
    one = await server.usage(batch_marker_key("markers", f"{0:032x}"))
    return {
        "markers": count,
        "bytes_per_marker": (after["used_memory"] - before["used_memory"]) / count,
        "memory_usage_of_one": float(one),
        "ttl_s": BATCH_MARKER_TTL_S,
    }


def comparator_sets() -> dict[str, dict[str, dict[str, Any]] | None]:
    """The comparator sets bench_comparators defines, by name; ``None`` is every built-in."""
    sets: dict[str, dict[str, dict[str, Any]] | None] = {"core": bench_comparators.CORE_SET}
    for name in ("lexical", "semantic"):  # where bench_comparators defines them
        chosen = getattr(bench_comparators, f"{name.upper()}_SET", None)
        if chosen is not None:
            sets[name] = chosen
    sets["all_builtins"] = None
    return sets


def comparator_rates(count: int) -> dict[str, Any]:
    """Pairs scored per second on one core, per comparator set, from bench_comparators."""
    sets = comparator_sets()
    synthetic = bench_comparators.make_pairs(count)
    realistic = generate(Scenario(pairs=count), 7)
    score = bench_comparators.score_rate
    return {
        "pairs": count,
        "engine_synthetic": {name: score(synthetic, chosen) for name, chosen in sets.items()},
        "engine_realistic": {name: score(realistic, chosen) for name, chosen in sets.items()},
        "realistic_mirrors_per_pair": sum(len(r.mirrors) for r in realistic) / count,
        "semantic_mirrors_per_s": bench_comparators.semantic_rate(count),
        "worker_core_synthetic": asyncio.run(bench_comparators.worker_rate(synthetic)),
    }


async def _redis_phases(pairs: int, write_pairs: int, log: Any) -> dict[str, Any]:
    results: dict[str, Any] = {"writes": [], "memory": []}
    for round_ in range(1, WRITE_ROUNDS + 1):  # interleaved, so drift hits both alike
        for feeders in FEEDERS:
            log(f"writes, round {round_}: {feeders} feeder(s) x {write_pairs} pairs")
            async with embedded() as server:
                row = await write_rate(server, "realistic", feeders, write_pairs)
                results["writes"].append({"round": round_, **row})
                results["redis_version"] = (await server.client.info("server"))["redis_version"]
    results["writes_median"] = [
        {key: statistics.median(row[key] for row in results["writes"] if row["feeders"] == n)
         for key in results["writes"][0] if key != "round"}
        for n in FEEDERS
    ]  # fmt: skip
    pools = {kind: records(kind, pairs) for kind in ("realistic", "synthetic")}
    runs = [("realistic", name) for name in comparator_sets()] + [("synthetic", "all_builtins")]
    for kind, comparators in runs:
        log(f"memory: {pairs} {kind} pairs, written then scored by the {comparators} set")
        async with embedded() as server:
            results["memory"].append(
                {"records": kind, **await memory(server, pools[kind], comparators)}
            )
    log("batch markers")
    async with embedded() as server:
        results["batching"] = await batching(server)
        results["markers"] = await marker_bytes(server)
    return results


def _steal_s() -> float:
    """CPU time the hypervisor gave to others, all CPUs, since boot (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def measure(pairs: int, write_pairs: int, comparator_pairs: int | None = None) -> dict[str, Any]:
    began = time.monotonic()

    def log(message: str) -> None:
        load = os.getloadavg()[0]
        print(f"[{time.monotonic() - began:6.1f}s load {load:.2f}] {message}", file=sys.stderr)

    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["python -m loadtests.bench_scale", *sys.argv[1:]]),
        "machine": machine(),
        "load_average_before": os.getloadavg(),
        "pairs": pairs,
        "write_pairs_per_feeder": write_pairs,
        "output_max_len": OUTPUT_MAX_LEN,
    }
    total, idle, steal = *machine_cpu(), _steal_s()
    results.update(asyncio.run(_redis_phases(pairs, write_pairs, log)))
    count = comparator_pairs if comparator_pairs is not None else min(pairs, 5000)
    if count:
        log(f"comparators: {count} pairs per set")
        results["comparators"] = comparator_rates(count)
    results["load_average_after"] = os.getloadavg()
    total_after, idle_after = machine_cpu()
    all_s = total_after - total
    results["machine_busy_share"] = 1.0 - (idle_after - idle) / all_s
    results["steal_share"] = (_steal_s() - steal) / all_s
    results["seconds"] = time.monotonic() - began
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| writes: round | feeders | pairs | pairs/s | Redis CPU (cores) | feeders CPU (cores) | "
        "Redis µs per pair |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in [*results["writes"], *({"round": "median", **m} for m in results["writes_median"])]:
        lines.append(
            f"| {row['round']} | {row['feeders']} | {row['pairs']:,} | {row['pairs_per_s']:,.0f} | "
            f"{row['redis_cpu_share']:.2f} | {row['feeders_cpu_share']:.2f} | "
            f"{row['redis_us_per_pair']:.1f} |"
        )
    runs = results["memory"]
    lines += [
        "",
        "| memory | " + " | ".join(f"{r['records']}, {r['comparators']}" for r in runs) + " |",
    ]
    lines.append("| --- |" + " --- |" * len(runs))
    for key in runs[0]:
        if key not in ("records", "comparators"):
            cells = " | ".join(_cell(run[key]) for run in runs)
            lines.append(f"| {key} | {cells} |")
    lines += [
        "",
        "| one writer at | pairs per batch | batches/s | markers left |",
        "| --- | --- | --- | --- |",
    ]
    for row in results["batching"]:
        lines.append(
            f"| {row['pairs_per_s']:,} pairs/s | {row['pairs_per_batch']:.1f} | "
            f"{row['batches_per_s']:.0f} | {row.get('markers_left', '-')} |"
        )
    markers = results["markers"]
    lines.append(f"\nbatch marker: {markers['bytes_per_marker']:.0f} bytes (used_memory), "
                 f"kept {markers['ttl_s']:,} s")  # fmt: skip
    if "comparators" in results:
        rates = results["comparators"]
        lines += ["", "| comparator set | synthetic pairs/s | realistic pairs/s |"]
        lines.append("| --- | --- | --- |")
        for name, rate in rates["engine_synthetic"].items():
            lines.append(f"| {name} | {rate:,.0f} | {rates['engine_realistic'][name]:,.0f} |")
        lines.append(
            f"\nsemantic alone: {rates['semantic_mirrors_per_s']:,.0f} mirrors/s; worker end to "
            f"end (core set, synthetic): {rates['worker_core_synthetic']:,.0f} pairs/s"
        )
    return "\n".join(lines)


def _cell(value: object) -> str:
    return f"{value:,.1f}" if isinstance(value, int | float) else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--write-pairs", type=int, default=100_000, help="per feeding process")
    parser.add_argument("--comparator-pairs", type=int, default=None)
    parser.add_argument("--json", type=Path, default=ROOT / "loadtests/results/scale.json")
    args = parser.parse_args()
    results = measure(args.pairs, args.write_pairs, args.comparator_pairs)
    print(markdown(results))
    args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
