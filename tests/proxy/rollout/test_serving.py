"""A rollout's cohort served by the candidate through a real proxy, with the incumbent as the
fallback and the reverse shadow recording pairs; the state followed from a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
from aiohttp import web

from proxy.config.rollout import RolloutConfig
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.writer import RedisRecorder
from proxy.rollout.state import Action, Phase
from proxy.rollout.store import RolloutStore
from proxy.server import RunningProxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory, read_records, serve_handler
from tests.proxy.http.raw_upstream import eventually

TOKEN = "adm-rollout-5e1d"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


def _rollout(**overrides: Any) -> dict[str, Any]:
    return {"candidate": "cand", "steps": [0.5, 1.0], "sync_interval_s": 0.2, **overrides}


@asynccontextmanager
async def _store(redis_url: str, campaign: str, **overrides: Any) -> AsyncIterator[RolloutStore]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield RolloutStore(client, campaign, RolloutConfig.model_validate(_rollout(**overrides)))
    finally:
        await client.aclose()


async def _ask(
    session: aiohttp.ClientSession, proxy: RunningProxy, headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:  # fmt: skip
    async with session.post(
        proxy.url + "/v1/chat/completions", json=body or CHAT, headers=headers or {}
    ) as response:
        return response.status, orjson.loads(await response.read())


def _sample(proxy: RunningProxy, name: str, labels: dict[str, str] | None = None) -> float:
    return proxy.state.registry.get_sample_value(name, labels or {}) or 0.0


@asynccontextmanager
async def _proxy(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str, inc: str, cand: str, **extra: Any
) -> AsyncIterator[RunningProxy]:
    candidate = {"name": "cand", "url": cand, "model": "cand-model", **extra.pop("candidate", {})}
    async with proxy_factory(
        inc,
        [candidate],
        recording={"redis_url": redis_url, "campaign": campaign},
        admin={"token": TOKEN},
        rollout=_rollout(**extra.pop("rollout", {})),
        **extra,
    ) as proxy:
        yield proxy


async def test_dark_serves_nobody_then_a_started_rollout_serves_its_cohort(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with (
        _store(redis_url, campaign) as store,
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        _proxy(proxy_factory, redis_url, campaign, inc.url, cand.url) as proxy,
        aiohttp.ClientSession() as session,
    ):
        status, body = await _ask(session, proxy, {"x-darklaunch-cohort": "candidate"})
        assert (status, body["model"]) == (200, "m")  # dark: even a flagged user gets the incumbent
        registry = proxy.state.registry
        # Series an alert reads with increase() exist at 0 before their first event.
        rolled_back = {"phase": "rolled_back", "cause": "guard"}
        assert registry.get_sample_value("darklaunch_rollout_transitions_total", rolled_back) == 0
        timeout = {"candidate": "cand", "reason": "first_byte_timeout"}
        assert registry.get_sample_value("darklaunch_rollout_fallbacks_total", timeout) == 0
        await store.act(Action.START, actor="test", reason="go")
        await store.act(Action.ADVANCE, actor="test", reason="to 100%")
        follower = proxy.state.rollout
        assert follower is not None
        await eventually(lambda: follower.share == 1.0, within=2.0)
        status, body = await _ask(session, proxy)
        assert (status, body["model"]) == (200, "cand-model")
        status, body = await _ask(session, proxy, {"x-darklaunch-cohort": "incumbent"})
        assert body["model"] == "m"  # the flag opts an internal user out
        await eventually(lambda: len(proxy.state.mirror.tasks) == 0, within=5.0)
        assert isinstance(proxy.state.recorder, RedisRecorder)
        served_by = {"candidate": "cand", "served_by": "candidate"}
        assert _sample(proxy, "darklaunch_rollout_requests_total", served_by) == 1
        assert _sample(proxy, "darklaunch_rollout_phase", {"phase": "complete"}) == 0
        assert _sample(proxy, "darklaunch_rollout_step") == 2
    records = await read_records(redis_url, campaign)
    served = [r for r in records if r.served == "candidate"]
    assert len(served) == 1
    pair = served[0]
    # The roles stay put: the incumbent side was asked in the background, the mirror is what
    # the client got.
    assert pair.incumbent.status == 200
    assert pair.incumbent.output is not None
    assert pair.incumbent.output.body["model"] == "m"
    assert [m.name for m in pair.mirrors] == ["cand"]
    assert pair.mirrors[0].output is not None
    assert pair.mirrors[0].output.body["model"] == "cand-model"


async def test_a_failing_candidate_falls_back_to_the_incumbent_and_the_pair_keeps_the_failure(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with _store(redis_url, campaign, steps=[1.0]) as store:
        await store.act(Action.START, actor="test", reason="go")
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand", mode="error", error_status=503)) as cand,
        _proxy(proxy_factory, redis_url, campaign, inc.url, cand.url, rollout={"steps": [1.0]})
        as proxy,
        aiohttp.ClientSession() as session,
    ):  # fmt: skip
        assert proxy.state.rollout is not None
        assert proxy.state.rollout.share == 1.0
        answers = [await _ask(session, proxy) for _ in range(3)]
        assert [(status, body["model"]) for status, body in answers] == [(200, "m")] * 3
        assert _sample(
            proxy, "darklaunch_rollout_fallbacks_total", {"candidate": "cand", "reason": "status"}
        ) == 3  # fmt: skip
        assert cand.stats.requests == 3
        await eventually(lambda: len(proxy.state.mirror.tasks) == 0, within=5.0)
    records = await read_records(redis_url, campaign)
    assert len(records) == 3
    for record in records:
        assert record.served == "incumbent"
        assert record.incumbent.status == 200
        assert record.mirrors[0].status == 503


async def test_a_hanging_candidate_falls_back_at_its_first_byte_timeout(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with _store(redis_url, campaign, steps=[1.0]) as store:
        await store.act(Action.START, actor="test", reason="go")
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand", mode="hang")) as cand,
        _proxy(
            proxy_factory, redis_url, campaign, inc.url, cand.url,
            rollout={"steps": [1.0]}, candidate={"first_byte_timeout_s": 0.3},
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):  # fmt: skip
        loop = asyncio.get_running_loop()
        began = loop.time()
        status, body = await _ask(session, proxy)
        assert (status, body["model"]) == (200, "m")
        assert loop.time() - began < 5.0  # bounded by the candidate's timeout, not the hang
        assert _sample(
            proxy, "darklaunch_rollout_fallbacks_total",
            {"candidate": "cand", "reason": "first_byte_timeout"},
        ) == 1  # fmt: skip


async def test_served_requests_never_carry_the_clients_credentials_to_the_candidate(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    seen: list[dict[str, str]] = []

    async def candidate(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        await request.read()
        message = {"role": "assistant", "content": "hi"}
        choice = {"index": 0, "finish_reason": "stop", "message": message}
        return web.json_response(
            {"id": "x", "object": "chat.completion", "model": "cand-model", "choices": [choice]}
        )

    async with _store(redis_url, campaign, steps=[1.0]) as store:
        await store.act(Action.START, actor="test", reason="go")
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        serve_handler(candidate) as cand,
        _proxy(
            proxy_factory, redis_url, campaign, inc.url, cand,
            rollout={"steps": [1.0]}, candidate={"headers": {"Authorization": "Bearer cand-key"}},
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):  # fmt: skip
        client = {"Authorization": "Bearer client-secret", "x-api-key": "client-key-2",
                  "Cookie": "s=1"}  # fmt: skip
        status, body = await _ask(session, proxy, client)
        assert (status, body["choices"][0]["message"]["content"]) == (200, "hi")
    assert len(seen) == 1
    sent = {k.lower(): v for k, v in seen[0].items()}
    assert sent["authorization"] == "Bearer cand-key"
    assert "x-api-key" not in sent
    assert "cookie" not in sent
    assert "x-darklaunch-shadow" not in sent  # served traffic is real traffic


async def test_a_streamed_answer_from_the_candidate_stays_a_stream(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with _store(redis_url, campaign, steps=[1.0]) as store:
        await store.act(Action.START, actor="test", reason="go")
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand", token_interval_ms=5)) as cand,
        _proxy(proxy_factory, redis_url, campaign, inc.url, cand.url, rollout={"steps": [1.0]})
        as proxy,
        aiohttp.ClientSession() as session,
        session.post(proxy.url + "/v1/chat/completions", json={**CHAT, "stream": True}) as r,
    ):  # fmt: skip
        assert r.status == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        chunks = [chunk async for chunk in r.content.iter_any()]
        text = b"".join(chunks).decode()
        assert text.rstrip().endswith("data: [DONE]")
        assert '"cand-model"' in text
        assert "usage" not in text  # no usage chunk the client did not ask for


async def test_an_admin_rollback_applies_at_once_and_is_stored_when_redis_returns(
    proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    redis = EmbeddedRedis(tmp_path / "redis")
    url = redis.start()
    campaign = "admin-rollback"
    async with _store(url, campaign, steps=[1.0]) as store:
        await store.act(Action.START, actor="test", reason="go")
    try:
        async with (
            running_simulator(SimProfile(name="inc")) as inc,
            running_simulator(SimProfile(name="cand")) as cand,
            _proxy(proxy_factory, url, campaign, inc.url, cand.url, rollout={"steps": [1.0]})
            as proxy,
            aiohttp.ClientSession() as session,
        ):  # fmt: skip
            follower = proxy.state.rollout
            assert follower is not None
            assert follower.share == 1.0
            redis.stop()
            # Redis is away: the proxy keeps the last state it knew.
            await asyncio.sleep(0.5)
            assert (await _ask(session, proxy))[1]["model"] == "cand-model"
            rollback = proxy.admin_url + "/admin/rollout"
            async with session.post(
                rollback, json={"action": "rollback", "reason": "pager"}, headers=AUTH
            ) as response:
                assert response.status == 202  # applied here, not stored yet
                view = await response.json()
            assert view["state"]["phase"] == "rolled_back"
            assert view["local_rollback_pending"] is True
            assert (await _ask(session, proxy))[1]["model"] == "m"
            async with session.post(rollback, json={"action": "start"}, headers=AUTH) as r:
                assert r.status == 503  # any other action needs Redis: nothing changed
            redis.start()
            await eventually(lambda: follower.pending_rollback is None, within=10.0)
            client = aioredis.Redis.from_url(url)
            stored = await RolloutStore(client, campaign, follower.config).read()
            await client.aclose()
            assert stored.phase is Phase.ROLLED_BACK
            assert stored.reason == "pager"
            assert (await _ask(session, proxy))[1]["model"] == "m"
    finally:
        redis.stop()


async def test_a_state_gone_from_redis_turns_the_candidate_off(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str
) -> None:
    async with _store(redis_url, campaign, steps=[1.0]) as store:
        await store.act(Action.START, actor="test", reason="go")
        async with (
            running_simulator(SimProfile(name="inc")) as inc,
            running_simulator(SimProfile(name="cand")) as cand,
            _proxy(proxy_factory, redis_url, campaign, inc.url, cand.url, rollout={"steps": [1.0]})
            as proxy,
            aiohttp.ClientSession() as session,
        ):  # fmt: skip
            follower = proxy.state.rollout
            assert follower is not None
            assert follower.share == 1.0
            await store.client.delete(store.key)  # a Redis that came back empty
            await eventually(lambda: follower.share == 0.0, within=2.0)
            assert (await _ask(session, proxy))[1]["model"] == "m"
            lost = {"phase": "dark", "cause": "lost"}
            assert _sample(proxy, "darklaunch_rollout_transitions_total", lost) == 1
            await store.act(Action.START, actor="test", reason="again")  # versions start over
            await eventually(lambda: follower.share == 1.0, within=2.0)
