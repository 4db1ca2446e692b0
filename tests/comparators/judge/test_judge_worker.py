"""The LLM judge's consumer on a real Redis, against real HTTP judges on 127.0.0.1: the
simulator as a judge (it knows which of its answers were wrong, ``proxy.sim.judge``), and
aiohttp servers that answer garbage or nothing.

What issue 16 asks of it: both orders asked, a split is a tie, the budget stops judging and
is counted, malformed replies are retried once then counted and never guessed, re-judging is
served by the cache, and a slow or dead judge never holds back the comparators' scores.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from prometheus_client import CollectorRegistry

from comparators.judge.client import CACHE_TTL_S
from comparators.judge.metrics import JudgeMetrics
from comparators.judge.prompt import render_reference
from comparators.judge.record import Judgement
from comparators.judge.worker import JudgeWorker
from comparators.pricing.prices import PriceTable
from comparators.service import run_worker
from proxy.config.judge import JudgeConfig
from proxy.config.loading import parse_config
from proxy.recording.keys import (
    JUDGE_GROUP,
    RECORD_FIELD,
    Shard,
    judge_cache_key,
    judge_cache_pattern,
    judgements_key,
    pairs_key,
    scores_key,
)
from proxy.recording.schema import (
    Choice,
    Expected,
    Output,
    PairRecord,
    RequestInfo,
    Role,
    Side,
    ToolCall,
)
from proxy.recording.shards import record_shards, shard_of
from proxy.sim import judge as sim_judge
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import serve_handler

pytestmark = pytest.mark.timeout(60)

JUDGE_MODEL = "judge-model"
# $1 per million tokens either way: each simulated call costs a few ten-thousandths of a cent.
PRICES = PriceTable({JUDGE_MODEL: {"input_cost_per_token": 1e-6, "output_cost_per_token": 1e-6}})

RIGHT = "The standard transfer limit is 5,000 dollars a day."
WRONG = "The standard transfer limit is 50,000 dollars a day."
ALSO_RIGHT = "You can transfer up to 5,000 dollars each day."


def side(role: Role, name: str, text: str) -> Side:
    return Side(
        role=role,
        name=name,
        model="m",
        status=200,
        latency_ms=10.0,
        output=Output(choices=[Choice(text=text, finish_reason="stop")]),
    )


def pair(index: int, campaign: str, incumbent: str, candidate: str) -> PairRecord:
    return PairRecord(
        pair_id=f"pair-{index:04d}",
        campaign=campaign,
        timestamp=time.time(),
        route="/v1/chat/completions",
        method="POST",
        request=RequestInfo(
            body={"model": "m", "messages": [{"role": "user", "content": "What is my limit?"}]}
        ),
        incumbent=side(Role.INCUMBENT, "incumbent", incumbent),
        mirrors=[side(Role.CANDIDATE, "cand", candidate)],
    )


@pytest.fixture(autouse=True)
def truth() -> None:
    sim_judge.forget_all()
    sim_judge.remember(RIGHT, wrong=False)
    sim_judge.remember(ALSO_RIGHT, wrong=False)
    sim_judge.remember(WRONG, wrong=True)


async def write(client: aioredis.Redis, records: list[PairRecord]) -> None:
    for record in records:
        await client.xadd(pairs_key(record.campaign), {RECORD_FIELD: record.model_dump_json()})


async def judgements(client: aioredis.Redis, campaign: str, shard: Shard = None) -> list[Judgement]:
    entries: Any = await client.xrange(judgements_key(campaign, shard))
    return [Judgement.model_validate_json(fields[RECORD_FIELD.encode()]) for _, fields in entries]


def config(url: str, **extra: Any) -> JudgeConfig:
    options = {"url": url, "model": JUDGE_MODEL, "sample_rate": 1.0, "timeout_s": 5.0}
    return JudgeConfig.model_validate({**options, **extra})


@asynccontextmanager
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


def worker(client: aioredis.Redis, campaign: str, cfg: JudgeConfig) -> JudgeWorker:
    metrics = JudgeMetrics(CollectorRegistry())
    return JudgeWorker(client, campaign, cfg, PRICES, metrics, block_ms=50)


def sample(w: JudgeWorker, name: str, **labels: str) -> float:
    for metric in (w.metrics.calls, w.metrics.judgements, w.metrics.verdicts):
        for family in metric.collect():
            for s in family.samples:
                if s.name == name and s.labels == labels:
                    return float(s.value)
    return 0.0


async def test_both_orders_are_asked_and_the_verdict_follows_the_truth(redis_url: str) -> None:
    campaign = "judge-truth"
    async with (
        running_simulator(SimProfile(name="judge", judge_accuracy=1.0)) as judge,
        redis_client(redis_url) as client,
    ):
        await write(
            client,
            [
                pair(1, campaign, RIGHT, WRONG),  # the candidate is wrong
                pair(2, campaign, WRONG, RIGHT),  # the candidate fixes the incumbent
                pair(3, campaign, RIGHT, ALSO_RIGHT),  # both right, worded differently
            ],
        )
        w = worker(client, campaign, config(judge.url + "/v1"))
        await w.run(once=True)
        found = {j.pair_id: j for j in await judgements(client, campaign)}
        assert judge.stats.by_path["/v1/chat/completions"] == 6  # two orders per pair
        prompts = [orjson.loads(body)["messages"][0]["content"] for body in judge.stats.bodies]
    assert {j: found[j].verdict for j in found} == {
        "pair-0001": "incumbent",
        "pair-0002": "mirror",
        "pair-0003": "tie",
    }
    assert all(j.status == "judged" and j.orders_agree for j in found.values())
    assert all(j.calls == 2 and j.cached == 0 and j.input_tokens > 0 for j in found.values())
    assert all(j.cost_usd is not None and j.cost_usd > 0 for j in found.values())
    # Each pair was asked in both orders: each side once as answer A.
    shown = [
        tuple(
            p.split(f"<{tag}>")[1].split(f"</{tag}>")[0].strip() for tag in ("answer_a", "answer_b")
        )
        for p in prompts
    ]
    assert sorted(shown) == sorted(
        [
            (RIGHT, WRONG),
            (WRONG, RIGHT),
            (WRONG, RIGHT),
            (RIGHT, WRONG),
            (RIGHT, ALSO_RIGHT),
            (ALSO_RIGHT, RIGHT),
        ]
    )


async def test_a_split_decision_is_a_tie_and_the_disagreement_is_kept(redis_url: str) -> None:
    """A judge that always picks A says "incumbent" in one order and "mirror" in the other."""
    campaign = "judge-split"
    profile = SimProfile(name="judge", judge_accuracy=1.0, judge_position_bias=1.0)
    async with running_simulator(profile) as judge, redis_client(redis_url) as client:
        await write(client, [pair(1, campaign, RIGHT, WRONG)])
        w = worker(client, campaign, config(judge.url + "/v1"))
        await w.run(once=True)
        (found,) = await judgements(client, campaign)
    assert (found.first, found.second) == ("incumbent", "mirror")
    assert found.verdict == "tie"
    assert found.orders_agree is False


async def test_the_budget_stops_judging_and_is_counted(redis_url: str) -> None:
    campaign = "judge-budget"
    async with (
        running_simulator(SimProfile(name="judge", judge_accuracy=1.0)) as judge,
        redis_client(redis_url) as client,
    ):
        await write(client, [pair(i, campaign, RIGHT, WRONG) for i in range(6)])
        # One pair costs more than this: the first batch spends it, the rest wait an hour.
        w = worker(client, campaign, config(judge.url + "/v1", max_usd_per_hour=1e-9))
        w.batch_size = 1
        await w.run(once=True)
        found = await judgements(client, campaign)
        calls = judge.stats.requests
    assert [j.status for j in found] == ["judged"] + ["budget"] * 5
    assert calls == 2
    labels = {"role": "candidate", "candidate": "cand", "status": "budget"}
    assert sample(w, "darklaunch_judgements_total", **labels) == 5


async def test_malformed_replies_are_retried_once_then_counted_never_guessed(
    redis_url: str,
) -> None:
    calls: list[int] = []

    async def garbage(request: web.Request) -> web.StreamResponse:
        calls.append(1)
        reply = {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": JUDGE_MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "A is better, I think."},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
        return web.json_response(reply)

    campaign = "judge-malformed"
    async with serve_handler(garbage) as url, redis_client(redis_url) as client:
        await write(client, [pair(1, campaign, RIGHT, WRONG)])
        w = worker(client, campaign, config(url + "/v1"))
        await w.run(once=True)
        (found,) = await judgements(client, campaign)
    assert found.status == "malformed"
    assert found.verdict is None
    assert len(calls) == 4  # two orders, each tried twice
    assert found.input_tokens == 40  # what the four replies cost is still counted
    assert sample(w, "darklaunch_judge_calls_total", outcome="malformed") == 2


async def test_judging_again_is_served_by_the_cache(redis_url: str) -> None:
    campaign = "judge-cache"
    async with (
        running_simulator(SimProfile(name="judge", judge_accuracy=1.0)) as judge,
        redis_client(redis_url) as client,
    ):
        made = [pair(i, campaign, RIGHT, WRONG) for i in range(3)]
        made[0] = made[0].model_copy(update={"timestamp": made[0].timestamp - 86_400})
        await write(client, made)
        await worker(client, campaign, config(judge.url + "/v1")).run(once=True)
        assert judge.stats.requests == 6
        # One hash per day the pairs were made, each expiring a week after its last write.
        days = {judge_cache_key(campaign, int(p.timestamp // 86_400)): p for p in made}
        assert len(days) == 2
        assert {key async for key in client.scan_iter(match=judge_cache_pattern(campaign))} == {
            key.encode() for key in days
        }
        for key in days:
            assert 0 < await client.ttl(key) <= CACHE_TTL_S
        assert await client.hlen(judge_cache_key(campaign, int(made[0].timestamp // 86_400))) == 2
        # Judge the campaign again from its start, as after deleting the judgements.
        await client.delete(judgements_key(campaign))
        await client.xgroup_setid(pairs_key(campaign), JUDGE_GROUP, "0")
        again = worker(client, campaign, config(judge.url + "/v1"))
        await again.run(once=True)
        found = await judgements(client, campaign)
        assert judge.stats.requests == 6  # not one more call
    assert [(j.status, j.verdict, j.calls, j.cached, j.cost_usd) for j in found] == [
        ("judged", "incumbent", 0, 2, 0.0)
    ] * 3
    assert sample(again, "darklaunch_judge_calls_total", outcome="cached") == 6


def hanging_judge(hung: asyncio.Event) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A judge that sets ``hung`` when asked, then holds the call 30 s and fails it."""

    async def hanging(request: web.Request) -> web.Response:
        hung.set()
        await asyncio.sleep(30)
        return web.Response(status=500)

    return hanging


async def test_a_hanging_judge_never_holds_back_the_comparators(redis_url: str) -> None:
    hung = asyncio.Event()
    hanging = hanging_judge(hung)
    campaign = "judge-hanging"
    async with serve_handler(hanging) as url, redis_client(redis_url) as client:
        await write(client, [pair(i, campaign, RIGHT, WRONG) for i in range(20)])
        cfg = parse_config(
            {
                "incumbent": {"url": "http://127.0.0.1:9"},
                "recording": {"redis_url": redis_url, "campaign": campaign},
                "judge": {"url": url + "/v1", "model": JUDGE_MODEL, "timeout_s": 20},
                "worker": {"block_ms": 50},
            }
        )
        stop = asyncio.Event()
        task = asyncio.create_task(  # noqa: TID251 - awaited below
            run_worker(cfg, stop=stop, serve_metrics=False, handle_signals=False)
        )
        try:
            async with asyncio.timeout(10):
                await hung.wait()  # the judge was asked, and will not answer for 20 s
            for _ in range(200):  # up to 10 s
                if await client.xlen(scores_key(campaign)) >= 20:
                    break
                await asyncio.sleep(0.05)
            assert await client.xlen(scores_key(campaign)) == 20  # the comparators went on
            assert await client.xlen(judgements_key(campaign)) == 0
        finally:
            stop.set()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_a_stopped_worker_gives_up_a_batch_a_hanging_judge_holds_and_judges_it_later(
    redis_url: str,
) -> None:
    """SIGTERM (the stop event, no cancellation) ends the worker in moments, not after the
    hung judge's timeouts; the batch it gave up stays pending, and the next run judges it."""
    hung = asyncio.Event()
    hanging = hanging_judge(hung)
    campaign = "judge-stopped"
    async with serve_handler(hanging) as url, redis_client(redis_url) as client:
        await write(client, [pair(i, campaign, RIGHT, WRONG) for i in range(6)])
        stopped = worker(client, campaign, config(url + "/v1", timeout_s=20))
        stop = asyncio.Event()
        task = asyncio.ensure_future(stopped.run(stop=stop))  # noqa: TID251 - awaited below
        async with asyncio.timeout(10):
            await hung.wait()
        started = time.monotonic()
        stop.set()
        async with asyncio.timeout(5):  # the judge would hold each call for 20 s
            stats = await task
        assert time.monotonic() - started < 5
        assert (stats.entries, stats.scored) == (6, 0)
        assert await client.xlen(judgements_key(campaign)) == 0
        pending: Any = await client.xpending(pairs_key(campaign), JUDGE_GROUP)
        assert pending["pending"] == 6  # neither written nor acknowledged

    async with (
        running_simulator(SimProfile(name="judge", judge_accuracy=1.0)) as judge,
        redis_client(redis_url) as client,
    ):
        again = worker(client, campaign, config(judge.url + "/v1"))
        again.consumer = stopped.consumer  # the same worker, restarted
        stats = await again.run(once=True)
        assert stats.scored == 6
        verdicts = {j.pair_id: j.status for j in await judgements(client, campaign)}
        assert verdicts == {f"pair-{i:04d}": "judged" for i in range(6)}
        pending = await client.xpending(pairs_key(campaign), JUDGE_GROUP)
        assert pending["pending"] == 0


async def test_a_pair_with_a_reference_answer_is_judged_against_it(redis_url: str) -> None:
    campaign = "judge-reference"
    with_reference = pair(1, campaign, RIGHT, WRONG).model_copy(
        update={"expected": Expected(text="Your limit is 5,000 dollars.", value={"limit": 5000})}
    )
    async with (
        running_simulator(SimProfile(name="judge", judge_accuracy=1.0)) as judge,
        redis_client(redis_url) as client,
    ):
        await write(client, [with_reference, pair(2, campaign, RIGHT, ALSO_RIGHT)])
        await worker(client, campaign, config(judge.url + "/v1")).run(once=True)
        prompts = [orjson.loads(body)["messages"][0]["content"] for body in judge.stats.bodies]
    references = sorted(p.split("<reference>")[1].split("</reference>")[0].strip() for p in prompts)
    # Both orders of the first pair carry the reference; the second pair has none to give.
    assert references == [
        "(none given)",
        "(none given)",
        'Your limit is 5,000 dollars.\n{"limit": 5000}',
        'Your limit is 5,000 dollars.\n{"limit": 5000}',
    ]


def test_the_reference_is_rendered_from_every_part_given() -> None:
    assert render_reference(None) is None
    assert render_reference(Expected()) is None
    calls = [ToolCall(name="get_limit", arguments='{"card": "x"}')]
    assert render_reference(Expected(tool_calls=calls)) == (
        '(calls tool get_limit with arguments {"card": "x"})'
    )


async def test_min_per_segment_counts_over_every_shard(redis_url: str) -> None:
    """Next to nothing is sampled (``sample_rate: 1e-9``), so only ``min_per_segment`` pairs
    of the one segment are judged: four in all, not four in each of the three shards."""
    campaign = "judge-min-shards"
    async with (
        running_simulator(SimProfile(name="judge", judge_accuracy=1.0)) as judge,
        redis_client(redis_url) as client,
    ):
        for i in range(30):
            record = pair(i, campaign, RIGHT, WRONG)
            shard = shard_of(record.pair_id, 3)
            await client.xadd(pairs_key(campaign, shard), {RECORD_FIELD: record.model_dump_json()})
        await record_shards(client, campaign, 3)
        cfg = parse_config(
            {
                "incumbent": {"url": "http://127.0.0.1:9"},
                "recording": {"redis_url": redis_url, "campaign": campaign, "shards": 3},
                "judge": {"url": judge.url + "/v1", "model": JUDGE_MODEL, "sample_rate": 1e-9,
                          "min_per_segment": 4},
                "worker": {"block_ms": 50},
            }
        )  # fmt: skip
        stats = await run_worker(cfg, once=True, serve_metrics=False, handle_signals=False)
        judged: list[Judgement] = []
        for shard in range(3):
            judged += await judgements(client, campaign, shard)
    assert stats.scored == 30
    assert len(judged) == 4
    assert {j.status for j in judged} == {"judged"}
