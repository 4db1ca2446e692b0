"""The fallback path: each reason the incumbent cannot answer, served and counted."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest
from aiohttp import web

from proxy.server import RunningProxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory, serve_handler

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


async def _post(proxy: RunningProxy) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(proxy.url + "/v1/chat/completions", json=CHAT) as r,
    ):
        return r.status, dict(r.headers), await r.read()


def _fallbacks(proxy: RunningProxy, reason: str, served_by: str) -> float:
    value = proxy.state.registry.get_sample_value(
        "darklaunch_fallbacks_total", {"reason": reason, "served_by": served_by}
    )
    return value or 0.0


@pytest.fixture
async def backup() -> AsyncIterator[str]:
    async with running_simulator(SimProfile(name="backup", model="backup-model")) as server:
        yield server.url


async def test_connection_refused_goes_to_fallback_upstream(
    proxy_factory: ProxyFactory, backup: str, unused_tcp_port: int
) -> None:
    async with proxy_factory(
        f"http://127.0.0.1:{unused_tcp_port}", fallback={"url": backup}
    ) as proxy:
        status, _, body = await _post(proxy)
        assert status == 200
        assert orjson.loads(body)["model"] == "m"
        assert _fallbacks(proxy, "connect", "upstream") == 1


async def test_timeout_goes_to_fallback_upstream(proxy_factory: ProxyFactory, backup: str) -> None:
    async with (
        running_simulator(SimProfile(name="inc", mode="hang")) as inc,
        proxy_factory(
            inc.url, incumbent={"url": inc.url, "timeout_s": 0.3}, fallback={"url": backup}
        ) as proxy,
    ):
        status, _, _ = await _post(proxy)
        assert status == 200
        assert _fallbacks(proxy, "timeout", "upstream") == 1


async def test_configured_5xx_goes_to_fallback_but_4xx_passes_through(
    proxy_factory: ProxyFactory, backup: str
) -> None:
    async with (
        running_simulator(SimProfile(name="inc", mode="error", error_status=503)) as inc,
        proxy_factory(inc.url, fallback={"url": backup, "on_status": [503]}) as proxy,
    ):
        status, _, _ = await _post(proxy)
        assert status == 200
        assert _fallbacks(proxy, "status", "upstream") == 1
        inc.profile = inc.profile.model_copy(update={"error_status": 429})
        status, _, body = await _post(proxy)
        assert status == 429  # not in on_status: the incumbent's own answer, verbatim
        assert "error" in orjson.loads(body)


async def test_reset_before_answer_goes_to_fallback(
    proxy_factory: ProxyFactory, backup: str
) -> None:
    async with (
        running_simulator(SimProfile(name="inc", mode="reset")) as inc,
        proxy_factory(inc.url, fallback={"url": backup}) as proxy,
    ):
        status, _, _ = await _post(proxy)
        assert status == 200
        assert _fallbacks(proxy, "reset", "upstream") == 1


async def test_static_fallback_without_upstream(
    proxy_factory: ProxyFactory, unused_tcp_port: int
) -> None:
    static = {
        "status": 503,
        "body": {"error": {"message": "down for maintenance", "type": "server_error"}},
    }
    async with proxy_factory(
        f"http://127.0.0.1:{unused_tcp_port}", fallback={"static": static}
    ) as proxy:
        status, headers, body = await _post(proxy)
    assert status == 503
    assert orjson.loads(body)["error"]["message"] == "down for maintenance"
    assert headers["x-darklaunch-fallback"] == "connect"
    assert _fallbacks(proxy, "connect", "static") == 1


async def test_fallback_upstream_failing_too_uses_static_then_error(
    proxy_factory: ProxyFactory, unused_tcp_port: int
) -> None:
    dead = f"http://127.0.0.1:{unused_tcp_port}"
    async with proxy_factory(dead, fallback={"url": dead, "static": {"status": 503}}) as proxy:
        status, _, body = await _post(proxy)
        assert status == 503
        assert orjson.loads(body)["error"]["code"] == "model_unavailable"
        assert _fallbacks(proxy, "connect", "static") == 1
    async with proxy_factory(dead, fallback={"url": dead}) as proxy:
        status, _, body = await _post(proxy)
        assert status == 502
        assert "incumbent and fallback failed" in orjson.loads(body)["error"]["message"]
        assert _fallbacks(proxy, "connect", "none") == 1


async def test_mirrored_pair_records_the_incumbent_failure(
    proxy_factory: ProxyFactory, backup: str
) -> None:
    from proxy.recording.sink import MemoryRecorder

    recorder = MemoryRecorder()

    async def broken(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=500, text="boom")

    async with (
        serve_handler(broken) as inc_url,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc_url, [{"name": "c", "url": cand.url}], recorder=recorder, fallback={"url": backup}
        ) as proxy,
    ):
        status, _, _ = await _post(proxy)
        await proxy.state.mirror.tasks.drain(5)
    assert status == 200
    (record,) = recorder.records
    assert record.incumbent.status == 500  # what the incumbent said, though the client was served
    assert record.incumbent.error is not None
    assert record.incumbent.error.kind == "status"
