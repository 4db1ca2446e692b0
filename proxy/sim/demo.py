"""``darklaunch demo``: a complete dark-launch campaign on embedded defaults, in about a minute.

It starts an embedded Redis, two simulated model servers (an incumbent, and a faster, cheaper
candidate that diverges on some prompts and refuses some), the proxy and a comparator worker.
A generator replays a bundled prompt mix (plain chat, streaming, tool calls, JSON mode) through
the official ``openai`` SDK, exactly as a client would, at a fixed rate. Then it prints the
campaign report and the gate verdict and writes the HTML report; ``darklaunch demo`` exits
with the verdict's code. Everything it starts, it stops: the demo leaves no process behind.

The demo composes both planes, so it imports the analysis plane, lazily, inside its functions;
the data plane proper never does.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import redis.asyncio as aioredis
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.keys import pairs_key, scores_key
from proxy.server import running_proxy
from proxy.sim.profile import SimProfile
from proxy.sim.prompts import PROMPTS, WEATHER_TOOL
from proxy.sim.server import running_simulator

if TYPE_CHECKING:
    from comparators.gate.result import GateResult
    from comparators.report.model import CampaignReport

__all__ = ["CANDIDATE_PROFILES", "DEMO_POLICY", "INCUMBENT_PROFILE", "DemoResult", "run_demo"]

CAMPAIGN = "demo"
INCUMBENT_PROFILE = SimProfile(
    name="incumbent",
    model="big-model-v1",
    latency_ms=150,
    latency_jitter_ms=80,
    token_interval_ms=6,
    tokens_per_chunk=3,
    nondeterminism=0.15,
    output_tokens_mean=60,
)
CANDIDATE_PROFILES = {
    # Faster and about 15x cheaper; diverges on about 1% of prompts and refuses about 1%.
    "good": INCUMBENT_PROFILE.model_copy(
        update={
            "name": "candidate",
            "model": "small-model-v2",
            "latency_ms": 70,
            "latency_jitter_ms": 40,
            "token_interval_ms": 3,
            "divergence_rate": 0.01,
            "refusal_rate": 0.01,
            "output_tokens_mean": 55,
        }
    ),
    # Slower, wrong more often, refuses and fails: every check of the gate should catch it.
    "regressed": INCUMBENT_PROFILE.model_copy(
        update={
            "name": "candidate",
            "model": "small-model-v2",
            "latency_ms": 260,
            "latency_jitter_ms": 200,
            "token_interval_ms": 10,
            "nondeterminism": 0.3,
            "divergence_rate": 0.3,
            "refusal_rate": 0.12,
            "error_rate": 0.05,
            "output_tokens_mean": 40,
        }
    ),
}
# The shipped gate defaults (config/gate.yaml), except that the demo's smaller campaign is
# enough from 300 pairs, and a smaller model may refuse up to 3 points more often.
DEMO_POLICY: dict[str, Any] = {"min_pairs": 300, "max_refusal_rate_increase": 0.03}
KINDS = ("chat", "stream", "tools", "json")


@dataclass
class DemoResult:
    sent: Counter[str]
    recorded: int
    report: CampaignReport
    gate: GateResult
    html: Path


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
                "campaign": CAMPAIGN,
                "redis_url": redis_url,
                "spool_dir": str(data_dir / "spool"),
            },
            "budgets": {"latency_ms": 2000, "ttft_ms": 600, "cost_usd": 0.005},
            "worker": {"block_ms": 200},
        }
    )


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
        tool_messages: Any = [
            {"role": "user", "content": f"Use get_weather for Paris, then: {prompt}"}
        ]
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


async def _drive(
    url: str, duration_s: float, rate: float, sent: Counter[str], console: Console
) -> None:
    """Open-loop traffic: one request every 1/rate seconds for ``duration_s``, at most 64 in
    flight (beyond that the generator waits, and says so in the counts)."""
    plan = itertools.cycle(itertools.product(PROMPTS, KINDS))
    slots = asyncio.Semaphore(64)
    running: set[asyncio.Task[None]] = set()
    columns = (
        TextColumn("[bold]traffic[/]"),
        BarColumn(),
        TextColumn("{task.fields[done]} answered"),
        TimeElapsedColumn(),
    )
    async with openai.AsyncOpenAI(
        base_url=url + "/v1", api_key="sk-demo", max_retries=0, timeout=30
    ) as client:

        async def one(index: int, kind: str, prompt: str) -> None:
            try:
                await _one_request(client, kind, prompt, user=f"user-{index % 97}")
                sent[kind] += 1
            except openai.APIError as exc:
                sent[f"{kind} ({type(exc).__name__})"] += 1
            finally:
                slots.release()

        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("traffic", total=duration_s, done=0)
            started = time.monotonic()
            for index in itertools.count():
                due = started + index / rate
                now = time.monotonic()
                if due - started >= duration_s:
                    break
                if due > now:
                    await asyncio.sleep(due - now)
                await slots.acquire()
                prompt, kind = next(plan)
                job = asyncio.ensure_future(one(index, kind, prompt))  # noqa: TID251 - kept in `running`
                running.add(job)
                job.add_done_callback(running.discard)
                progress.update(
                    task,
                    completed=min(duration_s, time.monotonic() - started),
                    done=sum(sent.values()),
                )
            if running:
                await asyncio.wait(running, timeout=60)


async def run_demo(
    *,
    duration_s: float = 40.0,
    rate: float = 25.0,
    sample_rate: float = 1.0,
    candidate_profile: str = "good",
    data_dir: Path = Path(".darklaunch/demo"),
    console: Console | None = None,
) -> DemoResult:
    """Run the whole campaign and print what a person needs to decide."""
    from comparators.commands import report_campaign
    from comparators.gate.policy import parse_policy
    from comparators.gate.render import render_gate
    from comparators.report.table import render_table
    from comparators.service import run_worker
    from comparators.tables import output_console

    if console is None:
        console = output_console()  # logs and CI: wide enough for the tables to stay tables
    redis_server = EmbeddedRedis(data_dir / "redis")
    redis_url = await asyncio.to_thread(redis_server.start)
    sent = Counter[str]()
    try:
        async with (
            running_simulator(INCUMBENT_PROFILE) as incumbent,
            running_simulator(CANDIDATE_PROFILES[candidate_profile]) as candidate,
        ):
            config = demo_config(incumbent.url, candidate.url, redis_url, data_dir, sample_rate)
            client = aioredis.Redis.from_url(redis_url)
            await client.delete(pairs_key(CAMPAIGN), scores_key(CAMPAIGN))
            stop_worker = asyncio.Event()
            worker = asyncio.ensure_future(  # noqa: TID251 - awaited below
                run_worker(
                    config,
                    stop=stop_worker,
                    consumer="demo-live",
                    serve_metrics=False,
                    handle_signals=False,
                )
            )
            async with running_proxy(config) as proxy:
                console.print(
                    f"[bold]darklaunch demo[/]: proxy {proxy.url} in front of the incumbent; "
                    f"{sample_rate:.0%} mirrored to the '{candidate_profile}' candidate, "
                    f"{config.mirror.noise_rate:.0%} of those to the incumbent again "
                    "(noise floor); "
                    f"{rate:g} requests/s for {duration_s:g}s"
                )
                await _drive(proxy.url, duration_s, rate, sent, console)
            stop_worker.set()
            await worker
            # Score what the live worker had not reached when the proxy flushed its last pairs.
            await run_worker(config, once=True, consumer="demo-final", serve_metrics=False)
            recorded = int(await client.xlen(pairs_key(CAMPAIGN)))
            await client.aclose()
            output = await report_campaign(
                config, CAMPAIGN, "html", policy=parse_policy(DEMO_POLICY)
            )
    finally:
        await asyncio.to_thread(redis_server.stop)
    assert output.gate is not None
    assert output.text is not None
    html = data_dir / "report.html"
    html.write_text(output.text, encoding="utf-8")
    _print_traffic(console, sent, recorded)
    console.print(render_table(output.report))
    console.print(render_gate(output.gate))
    console.print(
        f"HTML report: [bold]{html}[/]   (rerun: darklaunch demo --candidate-profile regressed)"
    )
    return DemoResult(sent, recorded, output.report, output.gate, html)


def _print_traffic(console: Console, sent: Counter[str], recorded: int) -> None:
    console.print("[bold]traffic sent through the proxy[/] (official openai SDK)")
    table = Table()
    table.add_column("kind")
    table.add_column("requests", justify="right")
    for kind, count in sorted(sent.items()):
        table.add_row(kind, str(count))
    console.print(table)
    answered, stream = sum(sent.values()), pairs_key(CAMPAIGN)
    console.print(f"{answered} requests answered; [bold]{recorded}[/] pairs recorded to {stream}.")
