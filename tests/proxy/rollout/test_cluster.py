"""The staged rollout's state on a real Redis Cluster: stored by compare and set, published,
followed by a real proxy, and still followed after the master that holds it is killed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from proxy.config.rollout import RolloutConfig
from proxy.recording.connect import REDIS_ERRORS, open_redis
from proxy.rollout.state import Action, Phase, RolloutState
from proxy.rollout.store import ControllerLock, RolloutStore
from proxy.server import RunningProxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.cluster import RedisClusterServer
from tests.conftest import ProxyFactory
from tests.proxy.http.raw_upstream import eventually

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


def _rollout(**overrides: Any) -> dict[str, Any]:
    return {"candidate": "cand", "steps": [0.5, 1.0], "sync_interval_s": 2.0, **overrides}


@asynccontextmanager
async def _store(url: str, campaign: str, **overrides: Any) -> AsyncIterator[RolloutStore]:
    client = open_redis(url)
    try:
        yield RolloutStore(client, campaign, RolloutConfig.model_validate(_rollout(**overrides)))
    finally:
        await client.aclose()


@asynccontextmanager
async def _proxy(
    proxy_factory: ProxyFactory, url: str, campaign: str, tmp: str, **rollout: Any
) -> AsyncIterator[RunningProxy]:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url,
            [{"name": "cand", "url": cand.url, "model": "cand-model"}],
            recording={"redis_url": url, "campaign": campaign, "spool_dir": tmp},
            rollout=_rollout(**rollout),
        ) as proxy,
    ):
        yield proxy


async def _model(proxy: RunningProxy) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(proxy.url + "/v1/chat/completions", json=CHAT) as response,
    ):
        assert response.status == 200
        answer: str = orjson.loads(await response.read())["model"]
        return answer


def _sample(proxy: RunningProxy, name: str, labels: dict[str, str] | None = None) -> float:
    return proxy.state.registry.get_sample_value(name, labels or {}) or 0.0


async def test_a_state_change_on_the_cluster_reaches_the_proxy(
    proxy_factory: ProxyFactory, redis_cluster: RedisClusterServer, tmp_path: Any
) -> None:
    url = redis_cluster.url
    campaign = f"r-{uuid.uuid4().hex[:8]}"
    async with (
        _store(url, campaign) as store,
        _proxy(proxy_factory, url, campaign, str(tmp_path / "spool")) as proxy,
    ):
        follower = proxy.state.rollout
        assert follower is not None
        assert await _model(proxy) == "m"  # dark
        await store.act(Action.START, actor="test", reason="go")
        await store.act(Action.ADVANCE, actor="test", reason="to 100%")
        await eventually(lambda: follower.share == 1.0, within=5.0)
        assert await _model(proxy) == "cand-model"
        assert [t.action for t in await store.history()] == [Action.START, Action.ADVANCE]
        # The follower's pub/sub and reads never failed on the cluster.
        assert _sample(proxy, "darklaunch_rollout_sync_errors_total") == 0
        lock = ControllerLock(store.client, campaign, ttl_s=5.0)
        rival = ControllerLock(store.client, campaign, ttl_s=5.0)
        assert await lock.acquire()
        assert await lock.acquire()  # renewed: still ours
        assert not await rival.acquire()
        await lock.release()
        assert await rival.acquire()
        await rival.release()


async def test_a_stored_state_is_published_to_a_cluster_subscriber(
    redis_cluster: RedisClusterServer,
) -> None:
    """What the follower listens to: the store's script publishes each new state, and the
    cluster client's pub/sub (set up after a read, as the follower does) hears it."""
    campaign = f"p-{uuid.uuid4().hex[:8]}"
    async with _store(redis_cluster.url, campaign) as store:
        await store.read()
        pubsub = store.client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(store.channel)
            started, _ = await store.act(Action.START, actor="test", reason="go")
            async with asyncio.timeout(5.0):
                while (message := await pubsub.get_message(timeout=1.0)) is None:
                    pass
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert RolloutState.model_validate_json(message["data"]) == started


async def test_the_proxy_follows_the_state_after_its_master_is_killed(
    proxy_factory: ProxyFactory, fresh_cluster: RedisClusterServer, tmp_path: Any
) -> None:
    cluster = fresh_cluster
    url = cluster.url
    campaign = f"rf-{uuid.uuid4().hex[:8]}"
    victim = cluster.master_of(f"{{{campaign}}}")
    replica = cluster.replica_of(victim)
    async with _store(url, campaign, steps=[1.0]) as store:
        await store.act(Action.START, actor="test", reason="go")
        async with _proxy(
            proxy_factory, url, campaign, str(tmp_path / "spool"), steps=[1.0], sync_interval_s=1.0
        ) as proxy:
            follower = proxy.state.rollout
            assert follower is not None
            await eventually(lambda: follower.share == 1.0, within=5.0)
            cluster.kill(victim)
            await asyncio.to_thread(cluster.wait_promoted, replica)
            async with asyncio.timeout(30):
                while True:  # the test's own client rediscovers the cluster too
                    try:
                        await store.act(Action.ROLLBACK, actor="test", reason="after failover")
                        break
                    except REDIS_ERRORS:
                        await asyncio.sleep(0.1)
            await eventually(lambda: follower.state.phase is Phase.ROLLED_BACK, within=10.0)
            assert await _model(proxy) == "m"
            # It noticed the master's death (its pub/sub connection was there) and got over it.
            assert _sample(proxy, "darklaunch_rollout_sync_errors_total") >= 1
    assert follower.state.reason == "after failover"
