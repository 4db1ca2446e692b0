"""Comparator throughput: pairs scored per second on one core.

Scores synthetic pairs with about 1 KB of text per side (the issue's yardstick) through the
real :class:`~comparators.engine.ScoringEngine`, with the text, outcome, latency and cost
comparators, then with every built-in. A third figure runs the whole worker (read from Redis,
score, write scores and acknowledge atomically) against the embedded Redis. A fourth scores
realistic answers (:mod:`loadtests.realistic`: prose, facts, JSON, tool calls, refusals, a
replica on half the pairs, worded afresh on every side) with the ``semantic`` comparator
alone, whose sentence embeddings are the costliest part of ``quality: semantic``; it counts
scored (pair, mirror)s, as the worker does.

The worker's own figures (issue 23: at least 5,000 pairs/s per core end to end, at the same
pace whatever the backlog) run it on :data:`LEXICAL_SET` with 10,000 and 100,000 pairs queued
(:data:`BACKLOGS`), and on :data:`SEMANTIC_SET` with 10,000; ``--worker-only`` runs just these.

    python -m loadtests.bench_comparators [--pairs 5000] [--worker-only]
                                          [--backlogs 10000,100000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from comparators.consumer import GroupConsumer
from comparators.engine import ScoringEngine
from comparators.judge.metrics import JudgeMetrics
from comparators.judge.worker import JudgeWorker
from comparators.metrics import WorkerMetrics
from comparators.worker import CompareWorker
from loadtests.realistic import Scenario, generate
from proxy.config.judge import JudgeConfig
from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.connect import open_redis
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.schema import Choice, Output, PairRecord, RequestInfo, Role, Side
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator

WORDS = tuple(
    "latency cache request model token stream budget answer service replica index shard "
    "queue batch policy gate record score metric window client server upstream prompt".split()
)
CORE_SET: dict[str, dict[str, Any]] = {"text": {}, "outcome": {}, "latency": {}, "cost": {}}
# The core set without anything that needs an embedding model: of its four comparators only
# the outcome comparator's refusals by meaning embed (the packaged wordllama model); with
# ``refusals: phrases`` it reads the phrase list alone. Text (rapidfuzz on normalised words),
# latency and cost are lexical or arithmetic.
LEXICAL_SET: dict[str, dict[str, Any]] = {
    "text": {},
    "outcome": {"refusals": "phrases"},
    "latency": {},
    "cost": {},
}
# The set with the semantic comparator on: refusals by meaning, sentence embeddings and
# fact tokens, as a worker with ``quality: semantic`` runs.
SEMANTIC_SET: dict[str, dict[str, Any]] = {**CORE_SET, "semantic": {}}
BACKLOGS = (10_000, 100_000)  # pairs queued before the worker starts
WORKER_BATCH = 256
PAIRS_STREAM = "darklaunch:{bench}:pairs"
ROOT = Path(__file__).resolve().parents[1]


def _text(rng: random.Random, size: int = 1024) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    return " ".join(words)[:size]


def make_pairs(count: int, seed: int = 1) -> list[PairRecord]:
    return list(iter_pairs(count, seed))


def iter_pairs(count: int, seed: int = 1) -> Iterator[PairRecord]:
    """The pairs of :func:`make_pairs`, one at a time: 100,000 need not be held at once."""
    rng = random.Random(seed)
    usage = {"prompt_tokens": 40, "completion_tokens": 256, "total_tokens": 296}
    for i in range(count):
        base = _text(rng)
        variant = base if rng.random() < 0.3 else _text(rng)

        def side(role: Role, name: str, model: str, text: str, latency: float) -> Side:
            answer = Output(choices=[Choice(text=text, finish_reason="stop")], usage=usage)
            return Side(
                role=role, name=name, model=model, status=200, latency_ms=latency,
                ttft_ms=latency / 5, output=answer,
            )  # fmt: skip

        yield PairRecord(
            pair_id=f"bench-{i}",
            campaign="bench",
            timestamp=time.time(),
            route="/v1/chat/completions",
            method="POST",
            request=RequestInfo(
                body={"model": "big-model-v1", "messages": [{"role": "user", "content": "q"}]}
            ),
            incumbent=side(Role.INCUMBENT, "incumbent", "big-model-v1", base, 400.0),
            mirrors=[
                side(Role.CANDIDATE, "cand", "small-model-v2", variant, rng.uniform(100, 800))
            ],
        )


def config(selection: dict[str, dict[str, Any]] | None, redis_url: str | None = None) -> Config:
    data: dict[str, Any] = {
        "incumbent": {"url": "http://127.0.0.1:1"},
        "prices": {"file": str(ROOT / "config" / "prices.json")},
        "budgets": {"latency_ms": 600, "ttft_ms": 150, "cost_usd": 0.002},
        "comparators": selection,
    }
    if redis_url:
        data["recording"] = {"redis_url": redis_url, "campaign": "bench"}
    return parse_config(data)


def score_rate(pairs: list[PairRecord], selection: dict[str, dict[str, Any]] | None) -> float:
    engine = ScoringEngine(config(selection))
    best = 0.0
    for _ in range(3):  # best of three, to see the code rather than the neighbours
        started = time.perf_counter()
        for pair in pairs:
            engine.score(pair)
        best = max(best, len(pairs) / (time.perf_counter() - started))
    return best


def semantic_rate(pairs: int, seed: int = 1) -> float:
    """(pair, mirror)s per second through the semantic comparator alone, best of three runs,
    each on freshly generated records so that no run reads another's cached embeddings (within
    a run the cache works as in a worker: a replica and a candidate share the incumbent's
    answer, and common openers recur)."""
    engine = ScoringEngine(config({"semantic": {}}))
    engine.score(generate(Scenario(pairs=1), seed)[0])  # load the model outside the timing
    best = 0.0
    for run in range(3):
        records = generate(Scenario(pairs=pairs), seed + run)
        mirrors = sum(len(record.mirrors) for record in records)
        started = time.perf_counter()
        for record in records:
            engine.score(record)
        best = max(best, mirrors / (time.perf_counter() - started))
    return best


async def _enqueue(client: Any, pairs: Iterable[PairRecord], chunk: int = 1000) -> None:
    pipe: Any = client.pipeline(transaction=False)
    for n, pair in enumerate(pairs, 1):
        pipe.xadd(PAIRS_STREAM, {"record": pair.model_dump_json()})
        if n % chunk == 0:
            await pipe.execute()
    await pipe.execute()


@dataclass(frozen=True)
class WorkerRun:
    """One run of the whole worker: pairs per second of wall clock, and per second of the
    worker's own CPU time (the bench process's; Redis runs in its own process), which is the
    "per core" figure: the wall rate also waits on Redis round trips."""

    pairs_per_s: float
    pairs_per_cpu_s: float


async def worker_rate(
    pairs: Iterable[PairRecord],
    selection: dict[str, dict[str, Any]] | None = CORE_SET,
    batch_size: int = WORKER_BATCH,
) -> float:
    """Pairs per second through the whole worker, wall clock (:func:`worker_run`)."""
    return (await worker_run(pairs, selection, batch_size)).pairs_per_s


async def worker_run(
    pairs: Iterable[PairRecord],
    selection: dict[str, dict[str, Any]] | None = CORE_SET,
    batch_size: int = WORKER_BATCH,
) -> WorkerRun:
    """The whole worker (``XREADGROUP``, parse, score, write the scores and ``XACK`` in one
    script, metrics), all of ``pairs`` queued before it starts, on a fresh embedded Redis; the
    clocks run from its first read to its last acknowledgement. No automatic AOF rewrite:
    100,000 pairs would fork one mid-measurement."""
    with tempfile.TemporaryDirectory(prefix="dl-bench-") as folder:
        server = EmbeddedRedis(Path(folder), extra_args=("--auto-aof-rewrite-percentage", "0"))
        url = await asyncio.to_thread(server.start)
        client = open_redis(url)
        try:
            await _enqueue(client, pairs)
            queued = await client.xlen(PAIRS_STREAM)
            engine = ScoringEngine(config(selection, url))
            worker = CompareWorker(
                client, "bench", engine, WorkerMetrics(CollectorRegistry()), batch_size=batch_size
            )
            cpu = time.process_time()
            started = time.perf_counter()
            stats = await worker.run(once=True)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            assert stats.scored == queued, stats
        finally:
            await client.aclose()
            await asyncio.to_thread(server.stop)
    return WorkerRun(queued / elapsed, queued / cpu)


def worker_figures(backlogs: tuple[int, ...] = BACKLOGS) -> dict[str, Any]:
    """The issue's worker figures: :data:`LEXICAL_SET` with each backlog queued, and
    :data:`SEMANTIC_SET` with the first, on the synthetic pairs (whose unpunctuated kilobyte is
    the semantic comparator's worst case) and on realistic ones (:mod:`loadtests.realistic`,
    a replica on half of them). One run each; synthetic pairs are generated as they are
    queued."""
    load = os.getloadavg()[0]
    runs = {
        str(queued): asyncio.run(worker_run(iter_pairs(queued), LEXICAL_SET)) for queued in backlogs
    }
    lexical = {queued: round(run.pairs_per_s) for queued, run in runs.items()}
    semantic = asyncio.run(worker_rate(iter_pairs(backlogs[0]), SEMANTIC_SET))
    realistic = generate(Scenario(pairs=backlogs[0]), 1)
    semantic_realistic = asyncio.run(worker_rate(realistic, SEMANTIC_SET))
    rates = list(lexical.values())
    return {
        "lexical_set": "text, outcome (refusals: phrases), latency, cost",
        "semantic_set": "text, outcome (refusals by meaning), latency, cost, semantic",
        "batch_size": WORKER_BATCH,
        "load_1m_before": round(load, 2),
        "lexical_pairs_per_s": lexical,
        "lexical_pairs_per_cpu_s": {q: round(run.pairs_per_cpu_s) for q, run in runs.items()},
        "semantic_pairs_per_s": {str(backlogs[0]): round(semantic)},
        "semantic_realistic_pairs_per_s": {str(backlogs[0]): round(semantic_realistic)},
        # the slowest backlog's pace over the fastest one's: 1.0 is "the same pace"
        "backlog_pace_ratio": round(min(rates) / max(rates), 3),
    }


JUDGE_LATENCY_MS = 200.0
JUDGE_CONCURRENCY = 8


async def judge_rate(pairs: list[PairRecord]) -> dict[str, float]:
    """The LLM judge beside the comparators, as ``darklaunch compare`` runs them, against the
    simulator as a judge answering in ``JUDGE_LATENCY_MS``: the mirrors judged per second,
    the judge's ceiling (``max_concurrency`` calls at a time, two per mirror: both orders),
    and the comparators' pairs per second meanwhile, in the same process."""
    with tempfile.TemporaryDirectory(prefix="dl-bench-") as folder:
        server = EmbeddedRedis(Path(folder))
        url = await asyncio.to_thread(server.start)
        client = open_redis(url)
        profile = SimProfile(name="judge", latency_ms=JUDGE_LATENCY_MS, judge_accuracy=0.85)
        try:
            await _enqueue(client, pairs)
            async with running_simulator(profile) as judge_server:
                judge = JudgeConfig(
                    url=judge_server.url + "/v1",
                    model="sim-judge",
                    sample_rate=1.0,
                    max_concurrency=JUDGE_CONCURRENCY,
                    max_usd_per_hour=None,
                )
                engine = ScoringEngine(config(CORE_SET, url))
                registry = CollectorRegistry()
                comparing = CompareWorker(
                    client, "bench", engine, WorkerMetrics(registry), batch_size=256
                )
                judging = JudgeWorker(
                    client, "bench", judge, engine.context.prices, JudgeMetrics(registry),
                    batch_size=64,
                )  # fmt: skip

                async def timed(worker: GroupConsumer) -> float:
                    started = time.perf_counter()
                    await worker.run(once=True)
                    return time.perf_counter() - started

                compare_s, judge_s = await asyncio.gather(timed(comparing), timed(judging))
        finally:
            await client.aclose()
            await asyncio.to_thread(server.stop)
    mirrors = sum(len(pair.mirrors) for pair in pairs)  # each one judged in two calls
    return {
        "pairs": len(pairs),
        "mirrors": mirrors,
        "judge_latency_ms": JUDGE_LATENCY_MS,
        "max_concurrency": JUDGE_CONCURRENCY,
        "judged_mirrors_per_s": mirrors / judge_s,
        "ceiling_mirrors_per_s": JUDGE_CONCURRENCY / (2 * JUDGE_LATENCY_MS / 1000),
        "comparators_pairs_per_s": len(pairs) / compare_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--worker-only", action="store_true", help="only the worker's figures")
    parser.add_argument(
        "--backlogs", default=",".join(map(str, BACKLOGS)), help="pairs queued, comma-separated"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    backlogs = tuple(int(n) for n in args.backlogs.split(","))
    results: dict[str, Any] = {}
    if not args.worker_only:
        pairs = make_pairs(args.pairs)
        results = {
            "pairs": args.pairs,
            "output_bytes": 1024,
            "core_set_pairs_per_s": round(score_rate(pairs, CORE_SET)),
            "lexical_set_pairs_per_s": round(score_rate(pairs, LEXICAL_SET)),
            "all_builtins_pairs_per_s": round(score_rate(pairs, None)),
            "worker_end_to_end_pairs_per_s": round(asyncio.run(worker_rate(pairs))),
            "semantic_pairs_per_s": round(semantic_rate(args.pairs)),
            "judge": asyncio.run(judge_rate(pairs[: min(len(pairs), 200)])),
        }
    results["worker"] = worker_figures(backlogs)
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
