"""The admin listener: health, readiness, and an admin API that needs its token."""

from __future__ import annotations

import aiohttp
import orjson

from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory

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
            async with session.get(proxy.admin_url + "/readyz") as response:
                assert response.status == 200
                assert (await response.json())["checks"] == {"incumbent": True, "recorder": True}
            async with session.get(proxy.admin_url + "/metrics") as response:
                assert b"darklaunch_requests_in_flight" in await response.read()
        async with (
            proxy_factory(f"http://127.0.0.1:{unused_tcp_port}") as proxy,
            aiohttp.ClientSession() as session,
            session.get(proxy.admin_url + "/readyz") as response,
        ):
            assert response.status == 503
            assert (await response.json())["checks"]["incumbent"] is False


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
