"""The admin listener: health, readiness, and an admin API that needs its token."""

from __future__ import annotations

import asyncio
import os
from contextlib import AsyncExitStack

import aiohttp
import orjson

from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory
from tests.proxy.http.raw_upstream import eventually

TOKEN = "adm-7f3c9a1b2d"


async def test_admin_api_refuses_without_token_and_works_with_it(
    proxy_factory: ProxyFactory,
) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(inc.url, [{"name": "c", "url": cand.url}], admin={"token": TOKEN}) as proxy,
        aiohttp.ClientSession() as session,
    ):
        url = proxy.admin_url + "/admin/mirror"
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            async with session.post(url, json={"sample_rate": 0.0}, headers=headers) as response:
                assert response.status == 401
                assert orjson.loads(await response.read())["error"]["code"] == "unauthorized"
        assert proxy.state.mirror.sample_rate == 1.0
        auth = {"Authorization": f"Bearer {TOKEN}"}
        async with session.post(url, json={"sample_rate": 0.25}, headers=auth) as response:
            assert response.status == 200
            assert await response.json() == {"sample_rate": 0.25, "paused": False}
        async with session.post(url, json={"paused": True}, headers=auth) as response:
            assert (await response.json())["paused"] is True
        async with session.post(url, json={"sample_rate": 2}, headers=auth) as response:
            assert response.status == 400
            assert "sample_rate: got 2" in (await response.json())["error"]["message"]
        async with session.get(url, headers=auth) as response:
            assert await response.json() == {"sample_rate": 0.25, "paused": True}
        # Paused: sampled requests are not mirrored, and that is counted.
        proxy.state.mirror.sample_rate = 1.0
        async with session.post(
            proxy.url + "/v1/embeddings", json={"model": "m", "input": "x"}
        ) as response:
            assert response.status == 200
        assert (
            proxy.state.registry.get_sample_value(
                "darklaunch_mirror_skipped_total", {"candidate": "c", "reason": "paused"}
            )
            == 1
        )
        assert cand.stats.requests == 0
        # The admin API is never on the public listener.
        async with session.post(
            proxy.url + "/admin/mirror", json={"paused": False}, headers=auth
        ) as response:
            assert inc.stats.by_path.get("/admin/mirror") == 1  # just forwarded upstream


async def test_admin_api_disabled_without_configured_token(proxy_factory: ProxyFactory) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        proxy_factory(inc.url) as proxy,
        aiohttp.ClientSession() as session,
    ):
        url = proxy.admin_url + "/admin/mirror"
        async with session.post(
            url, json={"paused": True}, headers={"Authorization": "Bearer "}
        ) as response:
            assert response.status == 403


async def test_health_and_readiness(proxy_factory: ProxyFactory, unused_tcp_port: int) -> None:
    async with running_simulator(SimProfile(name="inc")) as inc:
        async with proxy_factory(inc.url) as proxy, aiohttp.ClientSession() as session:
            async with session.get(proxy.admin_url + "/healthz") as response:
                assert response.status == 200
                assert await response.json() == {
                    "status": "ok",
                    "pid": os.getpid(),
                    "serving": True,
                    "recorder": "healthy",
                }
            async with session.get(proxy.admin_url + "/readyz") as response:
                assert response.status == 200
                assert await response.json() == {"status": "ready", "serving": True}
            async with session.get(proxy.admin_url + "/metrics") as response:
                assert b"darklaunch_requests_in_flight" in await response.read()
        # An unreachable incumbent is every proxy's problem alike (the fallback path's
        # business): readiness stays, or a load balancer would take them all out at once.
        async with (
            proxy_factory(f"http://127.0.0.1:{unused_tcp_port}") as proxy,
            aiohttp.ClientSession() as session,
            session.get(proxy.admin_url + "/readyz") as response,
        ):
            assert response.status == 200


async def test_readiness_turns_503_when_the_drain_starts(proxy_factory: ProxyFactory) -> None:
    """At shutdown /readyz answers 503 while the public listener still finishes its answers,
    so a load balancer stops sending before the proxy stops listening."""
    async with running_simulator(SimProfile(name="inc", latency_ms=2000)) as inc:
        stack = AsyncExitStack()
        proxy = await stack.enter_async_context(proxy_factory(inc.url))
        async with aiohttp.ClientSession() as session:

            async def slow_request() -> int:
                async with session.post(
                    proxy.url + "/v1/embeddings", json={"model": "m", "input": "x"}
                ) as response:
                    await response.read()
                    return response.status

            async with asyncio.TaskGroup() as group:
                answer = group.create_task(slow_request())
                value = proxy.state.registry.get_sample_value
                await eventually(lambda: bool(value("darklaunch_requests_in_flight")), within=5)
                shutdown = group.create_task(stack.aclose())
                await eventually(lambda: not proxy.state.serving, within=5)
                assert not answer.done()  # the drain is on: the answer is still coming
                async with session.get(proxy.admin_url + "/readyz") as response:
                    assert response.status == 503
                    assert await response.json() == {"status": "not_serving", "serving": False}
            assert answer.result() == 200
            assert shutdown.done()


async def test_noise_replica_calls_the_incumbent_again_with_client_credentials(
    proxy_factory: ProxyFactory,
) -> None:
    from proxy.recording.schema import Role
    from proxy.recording.sink import MemoryRecorder

    recorder = MemoryRecorder()
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        async with (
            proxy_factory(
                inc.url,
                [{"name": "c", "url": cand.url}],
                recorder=recorder,
                mirror={"noise_rate": 1.0},
            ) as proxy,
            aiohttp.ClientSession() as session,
        ):
            for _ in range(3):
                async with session.post(
                    proxy.url + "/v1/chat/completions",
                    json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                    headers={"Authorization": "Bearer sk-client-key-123456"},
                ) as response:
                    await response.read()
            await proxy.state.mirror.tasks.drain(5)
        assert inc.stats.requests == 6
        assert all(h["authorization"] == "Bearer sk-client-key-123456" for h in inc.stats.headers)
    for record in recorder.records:
        roles = sorted(m.role for m in record.mirrors)
        assert roles == [Role.CANDIDATE, Role.REPLICA]
        replica = next(m for m in record.mirrors if m.role is Role.REPLICA)
        assert replica.name == "replica"
        assert replica.status == 200
