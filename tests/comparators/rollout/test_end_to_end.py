"""The whole loop on real parts: clients through a real proxy following a real Redis, the
comparator worker scoring the pairs the cohort and the mirror produce, and the controller
ramping (or rolling back) on its guards. Steps are held no time, so the ramp runs in seconds."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from comparators.commands import report_campaign
from comparators.rollout.controller import Controller, TickResult
from comparators.service import run_worker
from proxy.rollout.state import Action, Phase
from proxy.rollout.store import RolloutStore
from proxy.server import RunningProxy, running_proxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import SimServer, running_simulator
from tests.comparators.rollout.support import LENIENT
from tests.conftest import make_config
from tests.proxy.http.raw_upstream import eventually

STEPS = [0.25, 0.5, 1.0]
# What these tests judge is the error rate; simulators answering in a millisecond under a
# test's load make latency ratios noise.
POLICY = LENIENT.model_copy(
    update={
        "max_p95_latency_ratio": None,
        "max_p99_latency_ratio": None,
        "max_median_latency_ratio": None,
    }
)
STEP_PAIRS = 40
details: list[str] = []


def _config(redis_url: str, campaign: str, inc: str, cand: str) -> Any:
    return make_config(
        inc,
        [{"name": "cand", "url": cand, "model": "cand-model", "first_byte_timeout_s": 2}],
        recording={"redis_url": redis_url, "campaign": campaign},
        mirror={"sample_rate": 1.0},
        comparators={"outcome": {}, "latency": {}, "text": {}},
        rollout={
            "candidate": "cand",
            "cohort_key": "header:x-user",
            "steps": STEPS,
            "min_step_duration_s": 0,
            "min_step_pairs": STEP_PAIRS,
            "guards": {"max_error_rate": 0.1},
            "sync_interval_s": 0.2,
        },
    )


async def _traffic(proxy: RunningProxy, n: int, start: int) -> Counter[tuple[int, str]]:
    """``n`` users asking once each, 8 at a time; (status, who answered) counted."""
    seen: Counter[tuple[int, str]] = Counter()
    gate = asyncio.Semaphore(8)

    async def one(session: aiohttp.ClientSession, user: int) -> None:
        body = {"model": "m", "messages": [{"role": "user", "content": f"question {user}"}]}
        async with (
            gate,
            session.post(
                proxy.url + "/v1/chat/completions", json=body, headers={"x-user": f"u{user}"}
            ) as response,
        ):
            payload = orjson.loads(await response.read())
            seen[response.status, payload.get("model", "?")] += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session, user) for user in range(start, start + n)))
    return seen


async def _settle(proxy: RunningProxy) -> None:
    """Every pair of the traffic so far built and written to Redis."""
    await eventually(lambda: len(proxy.state.mirror.tasks) == 0, within=10.0)
    await eventually(lambda: proxy.state.recorder.healthy, within=5.0)
    await asyncio.sleep(0.05)  # the writer's linger


async def _round(
    proxy: RunningProxy, config: Any, controller: Controller, user: int
) -> tuple[Counter[tuple[int, str]], TickResult]:
    seen = await _traffic(proxy, 60, user)
    await _settle(proxy)
    await asyncio.sleep(0.3)  # the recorder's batch reaches the stream
    await run_worker(config, once=True, serve_metrics=False, handle_signals=False)
    outcome = await controller.tick()
    details.append(outcome.detail)
    return seen, outcome.result


async def _follow(proxy: RunningProxy, store: RolloutStore) -> None:
    state = await store.read()
    follower = proxy.state.rollout
    assert follower is not None
    await eventually(lambda: follower.state.version == state.version, within=2.0)


async def test_a_healthy_candidate_is_ramped_to_complete_by_the_controller(
    redis_url: str, campaign: str
) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        config = _config(redis_url, campaign, inc.url, cand.url)
        client = aioredis.Redis.from_url(redis_url)
        store = RolloutStore(client, campaign, config.rollout)
        controller = Controller(client, config, POLICY)
        try:
            async with running_proxy(config) as proxy:
                await store.act(Action.START, actor="test", reason="go")
                await _follow(proxy, store)
                served: list[float] = []
                for round_ in range(8):
                    seen, _result = await _round(proxy, config, controller, round_ * 100)
                    assert {status for status, _ in seen} == {200}
                    served.append(seen[200, "cand-model"] / sum(seen.values()))
                    await _follow(proxy, store)
                    if (await store.read()).phase is Phase.COMPLETE:
                        break
                state = await store.read()
                assert state.phase is Phase.COMPLETE, (state, served, details)
                # Once complete, every request is the candidate's.
                seen = await _traffic(proxy, 20, 10_000)
                assert seen == Counter({(200, "cand-model"): 20})
            history = await store.history()
            assert [t.action for t in history] == ["start", "advance", "advance", "advance"]
            assert all(t.cause == "guard" for t in history[1:])
            assert served[0] < 0.6  # the first step served about a quarter of the users
        finally:
            await client.aclose()


async def test_a_candidate_failing_at_step_2_is_rolled_back_and_clients_never_see_it(
    redis_url: str, campaign: str
) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        config = _config(redis_url, campaign, inc.url, cand.url)
        client = aioredis.Redis.from_url(redis_url)
        store = RolloutStore(client, campaign, config.rollout)
        controller = Controller(client, config, POLICY)
        statuses: Counter[int] = Counter()
        try:
            async with running_proxy(config) as proxy:
                await store.act(Action.START, actor="test", reason="go")
                await _follow(proxy, store)
                seen, result = await _round(proxy, config, controller, 0)
                statuses.update(status for status, _ in seen.elements())
                assert result is TickResult.ADVANCED
                await _follow(proxy, store)
                assert (await store.read()).step == 1  # step 2 of 3
                _break(cand)
                rolled = False
                for round_ in range(1, 5):
                    seen, result = await _round(proxy, config, controller, round_ * 100)
                    statuses.update(status for status, _ in seen.elements())
                    # The cohort's requests fell back: every answer is the incumbent's.
                    assert seen[200, "cand-model"] == 0
                    if result is TickResult.ROLLED_BACK:
                        rolled = True
                        break
                assert rolled
                await _follow(proxy, store)
                assert proxy.state.rollout is not None
                assert proxy.state.rollout.share == 0.0
                fallbacks = proxy.state.registry.get_sample_value(
                    "darklaunch_rollout_fallbacks_total", {"candidate": "cand", "reason": "status"}
                )
                assert fallbacks is not None
                assert fallbacks > 0
            assert set(statuses) == {200}  # zero 5xx to clients through the whole run
            state = await store.read()
            assert state.phase is Phase.ROLLED_BACK
            last = (await store.history())[-1]
            assert last.action == "rollback"
            assert last.cause == "guard"
            assert "error_rate" in last.reason
            assert any(c["name"] == "error_rate" for c in last.evidence["checks"])
            # The report tells the same story: its rollout timeline, from the audit trail.
            output = await report_campaign(config, campaign, "html")
            timeline = output.report.rollout
            assert timeline is not None
            assert (timeline.candidate, timeline.phase) == ("cand", "rolled_back")
            assert [event.action for event in timeline.events] == ["start", "advance", "rollback"]
            assert output.text is not None
            assert "Rollout of cand: rolled_back" in output.text
        finally:
            await client.aclose()


def _break(server: SimServer) -> None:
    server.profile = server.profile.model_copy(update={"mode": "error", "error_status": 500})
