"""The controller on a real Redis: it advances on PASS, holds while a step is young, rolls back
on FAIL with the evidence in the audit trail, never advances a paused rollout, acts alone
under its lock, never overwrites a state that changed under it, and outlives its Redis."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from comparators.campaign import CampaignReadError
from comparators.gate.policy import GatePolicy
from comparators.rollout.controller import (
    Controller,
    RolloutNotConfigured,
    TickResult,
)
from comparators.rollout.guards import StepVerdict
from proxy.config.root import Config
from proxy.recording.keys import rollout_lock_key, scores_key
from proxy.rollout.state import Action, Phase, RolloutState
from proxy.rollout.store import RolloutStore
from tests.comparators.rollout.support import LENIENT, rollout_config, write_scores
from tests.conftest import make_config


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def started(client: aioredis.Redis, config: Config) -> RolloutStore:
    assert config.rollout is not None
    store = RolloutStore(client, config.recording.campaign, config.rollout)
    await store.act(Action.START, actor="cli:test", reason="go")
    return store


async def test_pass_with_the_step_met_advances_with_the_evidence(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    config = rollout_config(redis_url, campaign)
    store = await started(client, config)
    await write_scores(client, campaign, 40)
    outcome = await Controller(client, config, LENIENT).tick()
    assert outcome.result is TickResult.ADVANCED, outcome.detail
    stored = await store.read()
    assert (stored.phase, stored.step, stored.share, stored.actor) == (
        Phase.RAMPING, 1, 0.05, "controller",
    )  # fmt: skip
    entry = (await store.history())[-1]
    assert (entry.action, entry.cause, entry.from_step, entry.to_step) == (
        Action.ADVANCE, "guard", 0, 1,
    )  # fmt: skip
    assert entry.reason.startswith("every guard PASSes in step 1/5 on 40 pairs")
    assert entry.evidence["verdict"] == "PASS"
    assert entry.evidence["pairs"] == 40


async def test_a_young_step_holds_and_writes_nothing(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    config = rollout_config(redis_url, campaign, min_step_duration_s=3600)
    store = await started(client, config)
    await write_scores(client, campaign, 40)
    outcome = await Controller(client, config, LENIENT).tick()
    assert outcome.result is TickResult.HELD
    assert "more of the step's 1h minimum" in outcome.detail
    assert (await store.read()).version == 1
    assert len(await store.history()) == 1


async def test_a_fail_rolls_back_and_the_audit_names_the_check(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    config = rollout_config(redis_url, campaign, min_step_duration_s=3600)
    store = await started(client, config)
    await write_scores(client, campaign, 20, errors=True)  # every candidate answer failed
    outcome = await Controller(client, config, GatePolicy()).tick()
    assert outcome.result is TickResult.ROLLED_BACK
    stored = await store.read()
    assert (stored.phase, stored.share, stored.step) == (Phase.ROLLED_BACK, 0.0, -1)
    entry = (await store.history())[-1]
    assert (entry.action, entry.cause, entry.actor) == (Action.ROLLBACK, "guard", "controller")
    assert "error_rate 1 > 0.1 (lower bound" in entry.reason
    failed = [c["name"] for c in entry.evidence["checks"] if c["status"] == "FAIL"]
    assert "error_rate" in failed


async def test_paused_never_advances_but_still_rolls_back(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    config = rollout_config(redis_url, campaign)
    store = await started(client, config)
    await store.act(Action.PAUSE, actor="cli:test", reason="look first")
    await write_scores(client, campaign, 40)
    controller = Controller(client, config, LENIENT)
    held = await controller.tick()
    assert held.result is TickResult.HELD
    assert (await store.read()).phase is Phase.PAUSED
    await write_scores(client, campaign, 40, errors=True)
    failed = await controller.tick()
    assert failed.result is TickResult.ROLLED_BACK
    entry = (await store.history())[-1]
    assert (entry.from_phase, entry.to_phase) == (Phase.PAUSED, Phase.ROLLED_BACK)


async def test_only_the_lock_holder_acts(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    config = rollout_config(redis_url, campaign)
    store = await started(client, config)
    first, second = Controller(client, config, LENIENT), Controller(client, config, LENIENT)
    assert (await first.tick()).result is TickResult.HELD  # no pairs yet; takes the lock
    await write_scores(client, campaign, 40)
    waiting = await second.tick()
    assert waiting.result is TickResult.NOT_LEADER
    assert rollout_lock_key(campaign) in waiting.detail
    assert (await store.read()).step == 0  # the second judged nothing and wrote nothing
    assert (await first.tick()).result is TickResult.ADVANCED
    await first.lock.release()
    assert (await second.tick()).result is not TickResult.NOT_LEADER  # now it may act


class _Overtaken(Controller):
    """A real controller on a real Redis, with a person acting between its read and its
    write: the window where a compare and set earns its keep."""

    def __init__(
        self, client: aioredis.Redis, config: Config, policy: GatePolicy, *, other: RolloutStore
    ) -> None:
        super().__init__(client, config, policy)
        self.other = other

    async def judge(self, state: RolloutState, now: float | None = None) -> StepVerdict:
        verdict = await super().judge(state, now)
        await self.other.act(Action.PAUSE, actor="cli:ann", reason="meanwhile")
        return verdict


async def test_a_state_changed_meanwhile_is_not_overwritten(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    config = rollout_config(redis_url, campaign)
    store = await started(client, config)
    await write_scores(client, campaign, 40)
    controller = _Overtaken(client, config, LENIENT, other=store)
    outcome = await controller.tick()
    assert outcome.result is TickResult.RACED
    assert "expected version 1, found 2" in outcome.detail
    stored = await store.read()
    assert (stored.phase, stored.step, stored.actor, stored.version) == (
        Phase.PAUSED, 0, "cli:ann", 2,
    )  # fmt: skip
    assert [e.action for e in await store.history()] == [Action.START, Action.PAUSE]


async def test_the_whole_ramp_completes_through_ticks(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    config = rollout_config(redis_url, campaign)
    store = await started(client, config)
    controller = Controller(client, config, LENIENT)
    results = []
    for _ in range(12):
        await write_scores(client, campaign, 40)  # this step's own pairs
        outcome = await controller.tick()
        results.append(outcome.result)
        if outcome.state is not None and outcome.state.phase is Phase.COMPLETE:
            break
    assert results == [TickResult.ADVANCED] * 5
    stored = await store.read()
    assert (stored.phase, stored.share) == (Phase.COMPLETE, 1.0)
    history = await store.history()
    assert [e.action for e in history] == [Action.START] + [Action.ADVANCE] * 5
    assert [e.share for e in history] == [0.01, 0.05, 0.25, 0.5, 1.0, 1.0]
    assert (await controller.tick()).result is TickResult.IDLE


async def test_run_acts_and_releases_its_lock(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    config = rollout_config(redis_url, campaign)
    store = await started(client, config)
    await write_scores(client, campaign, 40, errors=True)
    stop = asyncio.Event()
    running = asyncio.get_running_loop().create_task(Controller(client, config, LENIENT).run(stop))
    async with asyncio.timeout(10):
        while (await store.read()).phase is not Phase.ROLLED_BACK:  # noqa: ASYNC110 - in Redis
            await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(running, 5)
    assert await client.exists(rollout_lock_key(campaign)) == 0


async def test_run_outlives_a_redis_that_is_away(
    caplog: pytest.LogCaptureFixture, redis_url: str, campaign: str
) -> None:
    """Port 1 refuses every connection: each tick fails, one warning line each, and the loop
    goes on until it is stopped."""
    config = rollout_config(redis_url, campaign)
    away = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    stop = asyncio.Event()
    try:
        with caplog.at_level(logging.WARNING, logger="comparators.rollout.controller"):
            running = asyncio.get_running_loop().create_task(
                Controller(away, config, LENIENT).run(stop)
            )
            async with asyncio.timeout(10):
                while len(caplog.records) < 3:  # noqa: ASYNC110 - log records, no event
                    await asyncio.sleep(0.02)
            assert not running.done()
            stop.set()
            await asyncio.wait_for(running, 5)
    finally:
        await away.aclose()
    lines = [r.getMessage() for r in caplog.records]
    assert all(line.startswith("rollout controller: Redis unavailable (") for line in lines)
    assert all("\n" not in line for line in lines)


async def test_an_error_waiting_cannot_fix_ends_run_and_frees_the_lock(
    client: aioredis.Redis, redis_url: str, campaign: str
) -> None:
    """A scores key of the wrong type fails every read the same way: run ends with it, as
    the comparator worker does, instead of logging it forever."""
    config = rollout_config(redis_url, campaign)
    await started(client, config)
    await client.set(scores_key(campaign), "not a stream")
    with pytest.raises(CampaignReadError, match="WRONGTYPE"):
        await asyncio.wait_for(Controller(client, config, LENIENT).run(asyncio.Event()), 5)
    assert await client.exists(rollout_lock_key(campaign)) == 0


def test_a_config_without_a_rollout_is_refused() -> None:
    config = make_config("http://127.0.0.1:9")
    with pytest.raises(RolloutNotConfigured, match=r"^rollout: not set in the config"):
        Controller(aioredis.Redis(), config, GatePolicy())
