"""Mirroring: candidates get the sampled traffic, bounded, and never touch the client."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import aiohttp
import orjson
import pytest

from proxy.recording.schema import Role
from proxy.recording.sink import MemoryRecorder
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory

CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "Explain caching in two lines"}]}
FAST_FAIL = {"timeout_s": 1.0, "first_byte_timeout_s": 0.5}
NO_BREAKER = {"breaker": {"failure_threshold": 1000}}


def _strip_volatile(body: bytes) -> Any:
    data = orjson.loads(body)
    data.pop("id", None)
    data.pop("created", None)
    return data


async def _timed_posts(
    url: str, n: int, body: dict[str, Any] = CHAT
) -> tuple[list[float], list[bytes]]:
    latencies: list[float] = []
    bodies: list[bytes] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            started = time.perf_counter()
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                bodies.append(await response.read())
                assert response.status == 200
            latencies.append(time.perf_counter() - started)
    return latencies, bodies


def _sample(proxy: Any, metric: str, **labels: str) -> float:
    value = proxy.state.registry.get_sample_value(metric, labels)
    return 0.0 if value is None else value


WARM = 6  # requests before the timed ones: pools, first failures' logging, metric children


@pytest.mark.parametrize(
    "candidate",
    [
        SimProfile(name="slow", latency_ms=5000),
        SimProfile(name="hang", mode="hang"),
        SimProfile(name="reset", mode="reset"),
        SimProfile(name="garbage", mode="garbage"),
    ],
    ids=lambda p: p.name,
)
@pytest.mark.usefixtures("production_gc")
async def test_bad_candidate_changes_nothing_for_the_client(
    proxy_factory: ProxyFactory, candidate: SimProfile
) -> None:
    incumbent = SimProfile(name="inc", latency_ms=20, seed=1)
    n = 15
    async with running_simulator(incumbent) as inc, running_simulator(candidate) as cand:
        async with proxy_factory(inc.url) as alone:
            await _timed_posts(alone.url, WARM)  # warm the pools
            base_latency, base_bodies = await _timed_posts(alone.url, n)
        recorder = MemoryRecorder()
        async with proxy_factory(
            inc.url, [{"name": "c", "url": cand.url, **FAST_FAIL, **NO_BREAKER}], recorder=recorder
        ) as mirrored:
            await _timed_posts(mirrored.url, WARM)
            latency, bodies = await _timed_posts(mirrored.url, n)
            assert cand.stats.requests >= n  # the candidate really was called every time
    assert [_strip_volatile(b) for b in bodies] == [_strip_volatile(b) for b in base_bodies]
    delta_ms = (statistics.median(latency) - statistics.median(base_latency)) * 1000
    assert abs(delta_ms) < 5, (delta_ms, base_latency, latency)
    # The tail, as the second slowest of 15 (the slowest is one scheduling hiccup of a shared
    # machine away: it once read 49 against 32 ms in a full run, and 32 ms alone). A candidate
    # that held the client's requests back would slow most of them, not one.
    assert sorted(latency)[-2] < sorted(base_latency)[-2] + 0.015, (base_latency, latency)
    # Every pair was still recorded once the candidate gave up or answered.
    assert len(recorder.records) == n + WARM
    assert all(r.mirrors[0].role is Role.CANDIDATE for r in recorder.records)


async def test_sample_rate_share_over_4000_requests(proxy_factory: ProxyFactory) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        async with (
            proxy_factory(
                inc.url, [{"name": "c", "url": cand.url}], mirror={"sample_rate": 0.25}
            ) as proxy,
            aiohttp.ClientSession() as session,
        ):
            body = orjson.dumps({"model": "m", "input": "hello"})

            async def worker(count: int) -> None:
                for _ in range(count):
                    async with session.post(proxy.url + "/v1/embeddings", data=body) as response:
                        assert response.status == 200
                        await response.read()

            await asyncio.gather(*(worker(250) for _ in range(16)))
            sampled = _sample(
                proxy,
                "darklaunch_mirror_decisions_total",
                route="/v1/embeddings",
                decision="sampled",
            )
            not_sampled = _sample(
                proxy,
                "darklaunch_mirror_decisions_total",
                route="/v1/embeddings",
                decision="not_sampled",
            )
        assert sampled + not_sampled == 4000
        assert 0.22 <= sampled / 4000 <= 0.28
        assert cand.stats.requests == sampled


async def test_sample_key_header_is_sticky_per_user(proxy_factory: ProxyFactory) -> None:
    recorder = MemoryRecorder()
    users = [f"user-{i}" for i in range(40)]
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url,
            [{"name": "c", "url": cand.url}],
            recorder=recorder,
            mirror={"sample_rate": 0.5, "sample_key": "header:x-user-id"},
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        for _ in range(5):
            for user in users:
                body = {"model": "m", "input": "hi", "user": user}
                async with session.post(
                    proxy.url + "/v1/embeddings", json=body, headers={"X-User-Id": user}
                ) as response:
                    await response.read()
    counts: dict[str, int] = dict.fromkeys(users, 0)
    for record in recorder.records:
        counts[record.request.body["user"]] += 1
    assert set(counts.values()) <= {0, 5}, counts
    assert 0 < sum(1 for c in counts.values() if c == 5) < len(users)


async def test_non_object_body_skips_mirror_and_is_counted(proxy_factory: ProxyFactory) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        async with (
            proxy_factory(inc.url, [{"name": "c", "url": cand.url}]) as proxy,
            aiohttp.ClientSession() as session,
        ):
            for payload in (b"[1, 2]", b"{not json"):
                async with session.post(
                    proxy.url + "/v1/chat/completions", data=payload
                ) as response:
                    assert response.status == 400  # the incumbent's own verdict, relayed
                    assert "error" in orjson.loads(await response.read())
            skipped = _sample(
                proxy,
                "darklaunch_mirror_skipped_total",
                candidate="c",
                reason="body_not_json_object",
            )
        assert skipped == 2
        assert cand.stats.requests == 0


async def test_max_inflight_sheds_and_counts(proxy_factory: ProxyFactory) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="c", mode="hang")) as cand,
    ):
        async with (
            proxy_factory(
                inc.url, [{"name": "c", "url": cand.url, "max_inflight": 2, **FAST_FAIL}]
            ) as proxy,
            aiohttp.ClientSession() as session,
        ):
            for _ in range(5):
                async with session.post(proxy.url + "/v1/chat/completions", json=CHAT) as response:
                    await response.read()
            shed = _sample(
                proxy, "darklaunch_mirror_skipped_total", candidate="c", reason="max_inflight"
            )
            in_flight = _sample(proxy, "darklaunch_mirror_in_flight", candidate="c")
        assert (shed, in_flight) == (3, 2)
        assert (
            _sample(
                proxy, "darklaunch_candidate_errors_total", candidate="c", kind="first_byte_timeout"
            )
            == 2
        )


async def test_breaker_opens_after_repeated_failures(proxy_factory: ProxyFactory) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="c", mode="reset")) as cand,
        proxy_factory(
            inc.url,
            [
                {
                    "name": "c",
                    "url": cand.url,
                    "breaker": {"failure_threshold": 3, "reset_after_s": 60},
                }
            ],
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        for _ in range(6):
            async with session.post(proxy.url + "/v1/chat/completions", json=CHAT) as response:
                await response.read()
            await proxy.state.mirror.tasks.drain(5)
        assert _sample(proxy, "darklaunch_breaker_state", candidate="c") == 1
        assert (
            _sample(proxy, "darklaunch_mirror_skipped_total", candidate="c", reason="breaker_open")
            == 3
        )
        assert _sample(proxy, "darklaunch_candidate_errors_total", candidate="c", kind="reset") == 3


async def test_client_disconnect_does_not_cancel_started_candidate(
    proxy_factory: ProxyFactory,
) -> None:
    recorder = MemoryRecorder()
    async with (
        running_simulator(SimProfile(name="inc", latency_ms=300)) as inc,
        running_simulator(SimProfile(name="cand", latency_ms=400)) as cand,
        proxy_factory(inc.url, [{"name": "c", "url": cand.url}], recorder=recorder) as proxy,
    ):
        async with aiohttp.ClientSession() as session:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    await session.post(proxy.url + "/v1/chat/completions", json=CHAT)
        await proxy.state.mirror.tasks.drain(5)
    assert len(recorder.records) == 1
    candidate = recorder.records[0].mirrors[0]
    assert candidate.status == 200
    assert candidate.output is not None
    assert candidate.output.text


async def test_pair_record_holds_both_sides(proxy_factory: ProxyFactory) -> None:
    recorder = MemoryRecorder()
    async with (
        running_simulator(SimProfile(name="inc", model="inc-model")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url,
            [{"name": "c", "url": cand.url, "model": "cand-model", "version": "v2"}],
            recorder=recorder,
            incumbent={"url": inc.url, "version": "v1"},
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        async with session.post(
            proxy.url + "/v1/chat/completions",
            json={**CHAT, "stream": True},
            headers={"User-Agent": "t/1"},
        ) as response:
            await response.read()
        await proxy.state.mirror.tasks.drain(5)
    (record,) = recorder.records
    assert record.route == "/v1/chat/completions"
    assert record.request.stream
    assert record.request.model == "gpt-x"
    assert record.request.headers == {"user-agent": "t/1", "content-type": "application/json"}
    assert record.incumbent.version == "v1"
    assert record.incumbent.output is not None
    assert record.incumbent.output.streamed
    assert record.incumbent.output.usage is None  # the client did not ask for usage
    assert record.incumbent.ttft_ms is not None
    assert record.incumbent.latency_ms is not None
    assert record.incumbent.ttft_ms <= record.incumbent.latency_ms
    candidate = record.mirrors[0]
    assert (candidate.name, candidate.model, candidate.version) == ("c", "cand-model", "v2")
    assert candidate.output is not None
    assert candidate.output.usage is not None
    assert candidate.output.text
    assert not candidate.output.partial
