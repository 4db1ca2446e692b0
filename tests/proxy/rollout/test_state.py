"""The rollout's states and transitions, and their store in a real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from proxy.config.base import ConfigError
from proxy.config.rollout import RolloutConfig
from proxy.rollout.state import Action, Phase, TransitionError, apply, dark
from proxy.rollout.store import RolloutStore, StaleState
from tests.conftest import make_config

CONFIG = RolloutConfig.model_validate({"candidate": "cand", "steps": [0.1, 0.5, 1.0]})


def test_the_ramp_from_dark_to_complete() -> None:
    state = dark("c", "cand")
    assert not state.serving
    shares = []
    for action in (Action.START, Action.ADVANCE, Action.ADVANCE, Action.ADVANCE):
        state, entry = apply(state, action, CONFIG, actor="t", reason="r", now=100.0)
        shares.append((state.phase, state.step, state.share))
        assert entry.version == state.version
    assert shares == [
        (Phase.RAMPING, 0, 0.1),
        (Phase.RAMPING, 1, 0.5),
        (Phase.RAMPING, 2, 1.0),
        (Phase.COMPLETE, 2, 1.0),
    ]
    assert state.version == 4
    with pytest.raises(TransitionError, match="cannot advance a rollout that is complete"):
        apply(state, Action.ADVANCE, CONFIG, actor="t", reason="r")


def test_pause_keeps_the_share_and_the_window_and_rollback_serves_nobody() -> None:
    state, _ = apply(dark("c", "cand"), Action.START, CONFIG, actor="t", reason="", now=10.0)
    paused, _ = apply(state, Action.PAUSE, CONFIG, actor="t", reason="look", now=20.0)
    assert (paused.phase, paused.share, paused.since) == (Phase.PAUSED, 0.1, 10.0)
    assert paused.serving
    with pytest.raises(TransitionError, match="advance needs one that is ramping"):
        apply(paused, Action.ADVANCE, CONFIG, actor="t", reason="")
    rolled, entry = apply(paused, Action.ROLLBACK, CONFIG, actor="ctl", reason="error_rate",
                          cause="guard", evidence={"checks": []})  # fmt: skip
    assert (rolled.phase, rolled.step, rolled.share, rolled.serving) == (
        Phase.ROLLED_BACK, -1, 0.0, False,
    )  # fmt: skip
    assert (entry.from_phase, entry.to_phase, entry.cause) == (
        Phase.PAUSED, Phase.ROLLED_BACK, "guard",
    )  # fmt: skip
    again, _ = apply(rolled, Action.START, CONFIG, actor="t", reason="fixed")
    assert (again.phase, again.step) == (Phase.RAMPING, 0)
    with pytest.raises(TransitionError, match="cannot rollback a rollout that is dark"):
        apply(dark("c", "cand"), Action.ROLLBACK, CONFIG, actor="t", reason="")


def test_the_rollout_must_name_a_configured_candidate() -> None:
    with pytest.raises(ConfigError, match=r"rollout.*candidate: got 'nope'; expected one of"):
        make_config("http://127.0.0.1:1", [{"name": "cand", "url": "http://127.0.0.1:2"}],
                    rollout={"candidate": "nope"})  # fmt: skip


async def test_the_store_compares_and_sets_and_keeps_an_audit_trail(
    redis_url: str, campaign: str
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    try:
        store = RolloutStore(client, campaign, CONFIG)
        assert (await store.read()).phase is Phase.DARK
        first, _ = await store.act(Action.START, actor="a", reason="go")
        await store.act(Action.ADVANCE, actor="b", reason="next", expected=first)
        with pytest.raises(StaleState, match="expected version 1, found 2"):
            await store.act(Action.ROLLBACK, actor="c", reason="late", expected=first)
        stored = await store.read()
        assert (stored.step, stored.version, stored.actor) == (1, 2, "b")
        history = await store.history()
        assert [(t.action, t.actor) for t in history] == [("start", "a"), ("advance", "b")]
    finally:
        await client.aclose()


async def test_a_published_change_carries_the_new_state(redis_url: str, campaign: str) -> None:
    client = aioredis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    try:
        store = RolloutStore(client, campaign, CONFIG)
        await pubsub.subscribe(store.channel)
        await store.act(Action.START, actor="a", reason="go")
        message = None
        for _ in range(50):
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                break
        assert message is not None
        assert b'"phase":"ramping"' in message["data"]
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
