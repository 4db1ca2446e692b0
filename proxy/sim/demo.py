"""``darklaunch demo``: a complete dark-launch campaign on embedded defaults, in about a minute.

It starts an embedded Redis, two simulated model servers (an incumbent and a candidate, see
:data:`CANDIDATE_PROFILES`), the proxy and a comparator worker. A generator replays questions
from the content bank (:mod:`proxy.sim.prompts`: prose, short facts, JSON extraction, tool
calls and a few prompts the incumbent refuses, some streamed) through the official ``openai``
SDK, exactly as a client would, at a fixed rate; a share of them goes to the incumbent a second
time, the replica whose disagreements are the noise floor. Then it prints the campaign report,
where the quality verdict came from, and the verdict of the shipped gate policy (its quality
mode, ``semantic`` by default: meaning and exact facts, not wording), and writes the HTML
report; ``darklaunch demo`` exits with the verdict's code. Everything it starts, it stops: the
demo leaves no process behind.

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
import yaml
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.keys import judge_cache_pattern, judgements_key, pairs_key, scores_key
from proxy.server import running_proxy
from proxy.shipped.files import read_shipped
from proxy.sim.profile import SimProfile
from proxy.sim.prompts import DemoRequest, traffic
from proxy.sim.server import running_simulator

if TYPE_CHECKING:
    from comparators.gate.policy import GatePolicy
    from comparators.gate.result import GateResult
    from comparators.report.model import CampaignReport

__all__ = [
    "CANDIDATE_PROFILES",
    "DEMO_POLICY",
    "INCUMBENT_PROFILE",
    "DemoResult",
    "demo_policy",
    "run_demo",
]

CAMPAIGN = "demo"
MODEL = "big-model-v1"
INCUMBENT_PROFILE = SimProfile(
    name="incumbent",
    model=MODEL,
    latency_ms=150,
    latency_jitter_ms=80,
    token_interval_ms=6,
    tokens_per_chunk=3,
    nondeterminism=0.15,
    output_tokens_mean=60,
    # Its own wording differs on every call; 2% of its answers also differ defensibly in
    # content (a figure rounded, a detail left out), which the replica shows as noise.
    content_noise_rate=0.02,
)
_FASTER = {
    "name": "candidate",
    "model": "small-model-v2",
    "latency_ms": 70,
    "latency_jitter_ms": 40,
    "token_interval_ms": 3,
}
CANDIDATE_PROFILES = {
    # Faster and about 15x cheaper, says the same things in a mix of every style, and refuses
    # 1% of ordinary questions: PASS.
    "good": INCUMBENT_PROFILE.model_copy(
        update={**_FASTER, "style": "mixed", "refusal_rate": 0.01}
    ),
    # Just as fast, and as right as the incumbent (no more refusals either), but words every
    # answer its own way: reworded and reordered, padded out, or in markdown. Word overlap
    # calls most answers changed; the semantic check reads the same meaning and facts: PASS.
    # This is what the quality mode is for.
    "paraphrasing": INCUMBENT_PROFILE.model_copy(
        update={**_FASTER, "style": ("own", "verbose", "markdown")}
    ),
    # Slower, wrong on about an eighth of questions (half one fact, JSON field or argument
    # off, half another answer or the wrong tool), refuses more and fails some requests:
    # FAIL, with the changed-answer check among the failing ones.
    "regressed": INCUMBENT_PROFILE.model_copy(
        update={
            **_FASTER,
            "latency_ms": 260,
            "latency_jitter_ms": 200,
            "token_interval_ms": 10,
            "style": "mixed",
            "content_error_rate": 0.13,
            "refusal_rate": 0.06,
            "error_rate": 0.05,
        }
    ),
}
# Over the shipped gate policy (gate.yaml, quality: semantic): the demo's smaller campaign is
# enough from 300 pairs, and a smaller model may refuse up to 3 points more often.
DEMO_POLICY: dict[str, Any] = {"min_pairs": 300, "max_refusal_rate_increase": 0.03}


def demo_policy() -> GatePolicy:
    """The shipped gate policy with :data:`DEMO_POLICY` over it, validated as a file would be."""
    from comparators.gate.policy import parse_policy

    shipped = yaml.safe_load(read_shipped("gate.yaml")) or {}
    return parse_policy({**shipped, **DEMO_POLICY}, source="gate.yaml with the demo's limits")


@dataclass
class DemoResult:
    sent: Counter[str]
    recorded: int
    report: CampaignReport
    gate: GateResult
    html: Path


# The LLM judge of the demo: the simulator as a judge (proxy.sim.judge), right 85% of the time,
# picking the first answer 10% of the time whatever it says, priced like a small model.
JUDGE_PROFILE = SimProfile(
    name="judge", model="sim-judge", latency_ms=150, judge_accuracy=0.85, judge_position_bias=0.1
)
JUDGE_PRICE = {"input_cost_per_token": 1.5e-7, "output_cost_per_token": 6e-7}


def demo_config(
    incumbent_url: str,
    candidate_url: str,
    redis_url: str,
    data_dir: Path,
    sample_rate: float,
    judge_url: str | None = None,
    candidate_api: str | None = None,
) -> Config:
    judge = {} if judge_url is None else {
        "judge": {"url": judge_url + "/v1", "model": "sim-judge", "sample_rate": 0.3},
        "prices": {"models": {"sim-judge": JUDGE_PRICE}},
    }  # fmt: skip
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
                    "api": candidate_api,
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
            **judge,
        }
    )


async def _one_request(client: openai.AsyncOpenAI, request: DemoRequest, user: str) -> None:
    arguments = request.arguments()
    if not request.stream:
        await client.chat.completions.create(model=MODEL, user=user, **arguments)
        return
    stream = await client.chat.completions.create(model=MODEL, stream=True, user=user, **arguments)
    async for _ in stream:
        pass


async def _drive(
    url: str, duration_s: float, rate: float, sent: Counter[str], console: Console
) -> None:
    """Open-loop traffic: one request every 1/rate seconds for ``duration_s``, at most 64 in
    flight (beyond that the generator waits, and says so in the counts)."""
    plan = traffic()
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

        async def one(index: int, request: DemoRequest) -> None:
            try:
                await _one_request(client, request, user=f"user-{index % 97}")
                sent[request.label] += 1
            except openai.APIError as exc:
                sent[f"{request.label} ({type(exc).__name__})"] += 1
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
                job = asyncio.ensure_future(one(index, next(plan)))  # noqa: TID251 - kept in `running`
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
    candidate_api: str | None = None,
    data_dir: Path = Path(".darklaunch/demo"),
    console: Console | None = None,
) -> DemoResult:
    """Run the whole campaign and print what a person needs to decide. ``candidate_api``
    ``"anthropic"`` puts the candidate behind Anthropic's Messages API: the clients' chat
    requests are translated for it (docs/formats.md), and those that cannot be are counted."""
    from comparators.commands import report_campaign
    from comparators.gate.render import render_gate
    from comparators.report.table import render_table
    from comparators.service import run_worker
    from comparators.tables import output_console

    if console is None:
        console = output_console()  # logs and CI: wide enough for the tables to stay tables
    policy = demo_policy()
    redis_server = EmbeddedRedis(data_dir / "redis")
    redis_url = await asyncio.to_thread(redis_server.start)
    sent = Counter[str]()
    untranslatable = Counter[str]()
    try:
        async with (
            running_simulator(INCUMBENT_PROFILE) as incumbent,
            running_simulator(CANDIDATE_PROFILES[candidate_profile]) as candidate,
            running_simulator(JUDGE_PROFILE) as judge,
        ):
            config = demo_config(
                incumbent.url,
                candidate.url,
                redis_url,
                data_dir,
                sample_rate,
                judge.url,
                candidate_api,
            )
            client = aioredis.Redis.from_url(redis_url)
            caches = [key async for key in client.scan_iter(match=judge_cache_pattern(CAMPAIGN))]
            await client.delete(
                pairs_key(CAMPAIGN), scores_key(CAMPAIGN), judgements_key(CAMPAIGN), *caches
            )
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
                untranslatable = _untranslatable(proxy.state.registry)
            stop_worker.set()
            await worker
            # Score what the live worker had not reached when the proxy flushed its last pairs.
            await run_worker(config, once=True, consumer="demo-final", serve_metrics=False)
            recorded = int(await client.xlen(pairs_key(CAMPAIGN)))
            judged = await _judge_summary(client)
            await client.aclose()
            output = await report_campaign(config, CAMPAIGN, "html", policy=policy)
    finally:
        await asyncio.to_thread(redis_server.stop)
    assert output.gate is not None
    assert output.text is not None
    html = data_dir / "report.html"
    html.write_text(output.text, encoding="utf-8")
    _print_traffic(console, sent, recorded)
    if candidate_api is not None:
        console.print(_api_line(candidate_api, untranslatable))
    console.print(render_table(output.report))
    console.print(render_gate(output.gate))
    _print_quality(console, output.report, output.gate, policy)
    console.print(judged)
    others = " or ".join(p for p in CANDIDATE_PROFILES if p != candidate_profile)
    console.print(
        f"HTML report: [bold]{html}[/]   (try: darklaunch demo --candidate-profile {others})"
    )
    return DemoResult(sent, recorded, output.report, output.gate, html)


def _untranslatable(registry: CollectorRegistry) -> Counter[str]:
    """Mirrors the translator refused, by reason, as the proxy counted them."""
    found = Counter[str]()
    for metric in registry.collect():
        if metric.name == "darklaunch_mirror_untranslatable":
            for sample in metric.samples:
                if sample.name.endswith("_total") and sample.value:
                    found[sample.labels["reason"]] += int(sample.value)
    return found


def _api_line(api: str, untranslatable: Counter[str]) -> str:
    skipped = ", ".join(f"{n} {reason}" for reason, n in untranslatable.most_common())
    return (
        f"candidate API: {api} (requests translated, answers read in its format); "
        f"not translatable, skipped: {skipped or 'none'}"
    )


async def _judge_summary(client: aioredis.Redis) -> str:
    """One line on the LLM judge: what it judged, what it said, what it cost."""
    from comparators.campaign import load_judgements

    found = await load_judgements(client, CAMPAIGN)
    judged = [j for j in found if j.status == "judged" and j.role.value == "candidate"]
    verdicts = Counter(j.verdict for j in judged)
    cost = sum(j.cost_usd or 0.0 for j in found)
    return (
        f"[bold]LLM judge[/] (simulated, 85% accurate, both orders asked): {len(judged)} "
        f"candidate pairs judged: candidate better {verdicts['mirror']}, worse "
        f"{verdicts['incumbent']}, tie {verdicts['tie']}; {sum(j.calls for j in found)} calls, "
        f"${cost:.4f} (the campaign's evaluation cost)"
    )


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


def _print_quality(
    console: Console, report: CampaignReport, gate: GateResult, policy: GatePolicy
) -> None:
    """Say where the quality verdict came from: the policy's mode and the changed-answer rate
    it judged against the noise floor, next to what word overlap alone would have read, which
    is the difference between a candidate that rewords and one that is wrong."""
    from comparators.gate.policy import Quality
    from comparators.report.table import fmt_estimate, fmt_pct, fmt_pts

    check = next(
        (c for c in gate.checks if c.name == "excess_divergence" and c.segment is None), None
    )
    if not report.candidates or check is None:
        return
    row = report.candidates[0].overall
    bounds = ""
    if check.lower is not None and check.upper is not None:
        bounds = f" [{fmt_pts(check.lower)}, {fmt_pts(check.upper)}]"
    console.print(
        f"[bold]quality[/]: {policy.quality.value} (the shipped gate.yaml's mode): changed "
        f"answers minus the noise floor {fmt_pts(check.value or 0.0)}{bounds}, limit "
        f"{check.threshold * 100:g} pts: [bold]{check.status.value}[/]"
    )
    if policy.quality is not Quality.SEMANTIC or not row.change_rate.n:
        return
    console.print(
        f"  changed in meaning or facts: {fmt_estimate(row.change_rate)} of the candidate's "
        f"answers, {fmt_pct(row.noise_change_rate.value or 0.0)} of the replica's "
        f"(n={row.noise_change_rate.n}); changed in wording (word divergence > "
        f"{report.divergence_threshold:g}): {fmt_pct(row.divergence_rate.value or 0.0)} vs "
        f"{fmt_pct(row.noise_divergence_rate.value or 0.0)}, which this mode does not charge"
    )
