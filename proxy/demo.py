"""``darklaunch demo``: a dark launch on embedded defaults, end to end, in about a minute.

It starts an embedded Redis, two simulated model servers (an incumbent and a faster, cheaper
candidate that diverges on some prompts and refuses others) and the proxy, then replays a
bundled prompt mix through the official ``openai`` SDK, exactly as a client would, and reports
what was recorded. Everything it starts, it stops.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import redis.asyncio as aioredis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from proxy.config import Config, parse_config
from proxy.embedded_redis import EmbeddedRedis
from proxy.redis_recorder import pairs_key
from proxy.server import running_proxy
from proxy.simulate import SimProfile, running_simulator

if TYPE_CHECKING:
    from comparators.scores import ScoreRecord

__all__ = ["CANDIDATE_PROFILES", "INCUMBENT_PROFILE", "run_demo"]

INCUMBENT_PROFILE = SimProfile(
    name="incumbent",
    model="big-model-v1",
    latency_ms=120,
    latency_jitter_ms=60,
    token_interval_ms=8,
    tokens_per_chunk=2,
    nondeterminism=0.15,
    output_tokens_mean=60,
)
CANDIDATE_PROFILES = {
    "good": SimProfile(
        name="candidate",
        model="small-model-v2",
        latency_ms=60,
        latency_jitter_ms=30,
        token_interval_ms=5,
        tokens_per_chunk=2,
        nondeterminism=0.15,
        divergence_rate=0.05,
        refusal_rate=0.02,
        output_tokens_mean=55,
    ),
    "regressed": SimProfile(
        name="candidate",
        model="small-model-v2",
        latency_ms=200,
        latency_jitter_ms=150,
        token_interval_ms=12,
        tokens_per_chunk=2,
        nondeterminism=0.3,
        divergence_rate=0.35,
        refusal_rate=0.15,
        error_rate=0.05,
        output_tokens_mean=40,
    ),
}
PROMPTS = [
    "Explain how a write-ahead log makes a database durable.",
    "Summarise the trade-offs between gRPC and REST for internal services.",
    "Write a haiku about cache invalidation.",
    "What should a good incident postmortem contain?",
    "Describe blue-green deployment to a new engineer.",
    "List three ways to reduce tail latency in a web service.",
    "How do consumer groups in Redis streams share work?",
    "Give feedback on this plan: migrate the billing service over a weekend.",
]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["C", "F"]},
            },
            "required": ["city"],
        },
    },
}


async def _one_request(client: openai.AsyncOpenAI, kind: str, prompt: str, user: str) -> None:
    messages: Any = [{"role": "user", "content": prompt}]
    if kind == "chat":
        await client.chat.completions.create(model="big-model-v1", messages=messages, user=user)
    elif kind == "stream":
        stream = await client.chat.completions.create(
            model="big-model-v1", messages=messages, stream=True, user=user
        )
        async for _ in stream:
            pass
    elif kind == "tools":
        tool_messages: Any = [{"role": "user", "content": f"get_weather for Paris, then: {prompt}"}]
        await client.chat.completions.create(
            model="big-model-v1", messages=tool_messages, tools=[WEATHER_TOOL], user=user
        )
    else:
        await client.chat.completions.create(
            model="big-model-v1",
            messages=[{"role": "user", "content": f"Answer in JSON: {prompt}"}],
            response_format={"type": "json_object"},
            user=user,
        )


def demo_config(
    incumbent_url: str, candidate_url: str, redis_url: str, data_dir: Path, sample_rate: float
) -> Config:
    return parse_config(
        {
            "listen": {"host": "127.0.0.1", "port": 0},
            "admin": {"host": "127.0.0.1", "port": 0},
            "incumbent": {"url": incumbent_url, "version": "v1"},
            "candidates": [
                {
                    "name": "candidate",
                    "url": candidate_url,
                    "model": "small-model-v2",
                    "version": "v2",
                }
            ],
            "mirror": {"sample_rate": sample_rate, "sample_key": "json:user", "noise_rate": 0.3},
            "recording": {
                "campaign": "demo",
                "redis_url": redis_url,
                "spool_dir": str(data_dir / "spool"),
            },
        }
    )


async def run_demo(
    *,
    requests: int = 40,
    sample_rate: float = 1.0,
    concurrency: int = 4,
    candidate_profile: str = "good",
    data_dir: Path = Path(".darklaunch/demo"),
    console: Console | None = None,
) -> int:
    """Run the demo; returns the process exit code."""
    # The demo composes both planes; the data plane proper never imports the analysis plane.
    from comparators.campaign import load_scores
    from comparators.scores import scores_key
    from comparators.service import run_worker

    console = console or Console()
    redis_server = EmbeddedRedis(data_dir / "redis")
    redis_url = await asyncio.to_thread(redis_server.start)
    try:
        async with (
            running_simulator(INCUMBENT_PROFILE) as incumbent,
            running_simulator(CANDIDATE_PROFILES[candidate_profile]) as candidate,
        ):
            config = demo_config(incumbent.url, candidate.url, redis_url, data_dir, sample_rate)
            client = aioredis.Redis.from_url(redis_url)
            await client.delete(pairs_key("demo"), scores_key("demo"))
            stop_worker = asyncio.Event()
            worker = asyncio.ensure_future(  # noqa: TID251 - awaited below
                run_worker(config, stop=stop_worker, consumer="demo-live", serve_metrics=False)
            )
            async with running_proxy(config) as proxy:
                console.print(
                    f"[bold]darklaunch[/] proxy {proxy.url} → incumbent {incumbent.url}, "
                    f"mirroring {sample_rate:.0%} to candidate {candidate.url} "
                    f"(and {config.mirror.noise_rate:.0%} of those to the incumbent again)"
                )
                kinds = Counter[str]()
                started = time.monotonic()
                await _drive(proxy.url, requests, concurrency, kinds)
                elapsed = time.monotonic() - started
            stop_worker.set()
            await worker
            # Whatever the live worker had not reached when the proxy flushed its last records.
            await run_worker(config, once=True, consumer="demo-final", serve_metrics=False)
            recorded = int(await client.xlen(pairs_key("demo")))
            scores = await load_scores(client, "demo")
            await client.aclose()
    finally:
        await asyncio.to_thread(redis_server.stop)
    table = Table(title="demo traffic")
    table.add_column("kind")
    table.add_column("requests", justify="right")
    for kind, count in sorted(kinds.items()):
        table.add_row(kind, str(count))
    console.print(table)
    console.print(
        f"Sent {requests} requests in {elapsed:.1f}s; recorded [bold]{recorded}[/] pairs "
        f"to {pairs_key('demo')} in the embedded Redis."
    )
    console.print(summarize_scores(scores))
    return 0 if recorded > 0 else 1


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize_scores(scores: list[ScoreRecord]) -> str:
    """One line: how many mirrors were scored, divergence against the noise floor, failures,
    latency and cost. The full report and gate come from ``darklaunch report`` and ``gate``."""
    candidates = [s for s in scores if s.role.value == "candidate"]
    replicas = [s for s in scores if s.role.value == "replica"]
    if not candidates:
        return "Scored no candidate pairs."

    def numbers(rows: list[ScoreRecord], key: str) -> list[float]:
        return [
            float(v)
            for r in rows
            if isinstance(v := r.value(key), int | float) and not isinstance(v, bool)
        ]

    def share(rows: list[ScoreRecord], key: str) -> float:
        return sum(r.value(key) is True for r in rows) / len(rows)

    divergence = _mean([s.divergence for s in candidates if s.divergence is not None]) or 0.0
    noise = _mean([s.divergence for s in replicas if s.divergence is not None])
    latency = _mean(numbers(candidates, "latency.ratio"))
    cost_in = _mean(numbers(candidates, "cost.incumbent_usd"))
    cost_out = _mean(numbers(candidates, "cost.mirror_usd"))
    parts = [
        f"Scored {len(candidates)} candidate pairs ({len(replicas)} noise replicas):",
        f"divergence {divergence:.3f}" + (f" vs noise {noise:.3f}" if noise is not None else ""),
        f"errors {share(candidates, 'outcome.mirror_error'):.1%}",
        f"refusals {share(candidates, 'outcome.mirror_refusal'):.1%}",
    ]
    if latency is not None:
        parts.append(f"latency x{latency:.2f}")
    if cost_in is not None and cost_out is not None:
        parts.append(f"cost/query ${cost_out:.6f} vs ${cost_in:.6f}")
    return " ".join(parts[:1]) + " " + ", ".join(parts[1:])


async def _drive(url: str, total: int, concurrency: int, kinds: Counter[str]) -> None:
    plan = itertools.cycle(itertools.product(PROMPTS, ("chat", "stream", "tools", "json")))
    jobs = [(i, kind, prompt) for i, (prompt, kind) in zip(range(total), plan, strict=False)]
    queue: asyncio.Queue[tuple[int, str, str]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    columns = (TextColumn("traffic"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-demo", max_retries=0) as client:
        with Progress(*columns, transient=True) as progress:
            task = progress.add_task("traffic", total=total)

            async def worker() -> None:
                while not queue.empty():
                    index, kind, prompt = queue.get_nowait()
                    try:
                        await _one_request(client, kind, prompt, user=f"user-{index % 50}")
                        kinds[kind] += 1
                    except openai.APIError as exc:
                        kinds[f"{kind} (error {type(exc).__name__})"] += 1
                    progress.advance(task)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
