"""Recording to a real Redis: one complete, redacted record per mirrored request, even when
Redis goes away for a while."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import aiohttp
import openai
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from proxy.metrics import RecorderMetrics
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.encode import PairData
from proxy.recording.schema import SCHEMA_VERSION, PairRecord, RequestInfo, Role, Side
from proxy.recording.writer import RedisRecorder
from proxy.server import running_proxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory, make_config, read_records

CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "Summarise the plan"}]}


def _recording(url: str, campaign: str, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"redis_url": url, "campaign": campaign, "spool_dir": str(tmp_path / "spool"), **extra}


async def _post_many(
    url: str, count: int, concurrency: int = 16, body: dict[str, Any] = CHAT
) -> int:
    """Send ``count`` requests over ``concurrency`` connections; return how many got 200."""
    ok = 0
    left = count
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            nonlocal ok, left
            while left > 0:
                left -= 1
                async with session.post(url + "/v1/chat/completions", json=body) as response:
                    await response.read()
                    ok += response.status == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ok


async def test_1000_mirrored_requests_give_1000_complete_records(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str, tmp_path: Path
) -> None:
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        async with proxy_factory(
            inc.url,
            [{"name": "cand-a", "url": cand.url, "version": "v2"}],
            recording=_recording(redis_url, campaign, tmp_path),
        ) as proxy:
            assert await _post_many(proxy.url, 1000) == 1000
        written = proxy.state.registry.get_sample_value("darklaunch_records_written_total")
    records = await read_records(redis_url, campaign)
    assert len(records) == 1000
    assert written == 1000
    assert len({r.pair_id for r in records}) == 1000
    for record in records:
        assert record.schema_version == SCHEMA_VERSION
        assert record.campaign == campaign
        assert record.incumbent.status == 200
        assert record.incumbent.output is not None
        assert record.incumbent.output.text
        assert record.incumbent.latency_ms is not None
        (mirror,) = record.mirrors
        assert (mirror.role, mirror.name, mirror.version, mirror.status) == (
            Role.CANDIDATE,
            "cand-a",
            "v2",
            200,
        )
        assert mirror.output is not None
        assert mirror.output.usage is not None


async def test_streamed_chat_assembles_like_its_non_streamed_twin(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str, tmp_path: Path
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
            },
        }
    ]
    prompts = [
        {"model": "m", "messages": [{"role": "user", "content": "Describe the ocean in detail"}]},
        {
            "model": "m",
            "messages": [{"role": "user", "content": "please lookup_order 42"}],
            "tools": tools,
        },
    ]
    async with (
        running_simulator(SimProfile(name="inc", seed=9)) as inc,
        running_simulator(SimProfile(name="cand", seed=9)) as cand,
        proxy_factory(
            inc.url,
            [{"name": "c", "url": cand.url}],
            recording=_recording(redis_url, campaign, tmp_path),
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        for prompt in prompts:
            for stream in (False, True):
                async with session.post(
                    proxy.url + "/v1/chat/completions", json={**prompt, "stream": stream}
                ) as r:
                    await r.read()
    records = await read_records(redis_url, campaign)
    assert len(records) == 4
    by_kind = {(bool(r.request.body.get("tools")), r.request.stream): r for r in records}
    for has_tools in (False, True):
        plain = by_kind[(has_tools, False)].mirrors[0].output
        streamed = by_kind[(has_tools, True)].mirrors[0].output
        assert plain is not None
        assert streamed is not None
        assert streamed.streamed
        assert not plain.streamed
        assert streamed.text == plain.text
        assert [(t.name, t.arguments) for t in streamed.tool_calls] == [
            (t.name, t.arguments) for t in plain.tool_calls
        ]
        assert streamed.finish_reason == plain.finish_reason
    assert by_kind[(True, True)].mirrors[0].output.tool_calls  # type: ignore[union-attr]


async def test_redis_outage_spools_and_replays_exactly_once(
    proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        async with (
            running_simulator(SimProfile(name="inc")) as inc,
            running_simulator(SimProfile(name="cand")) as cand,
            proxy_factory(
                inc.url,
                [{"name": "c", "url": cand.url}],
                recording=_recording(url, "outage", tmp_path, batch_size=16),
            ) as proxy,
        ):
            assert await _post_many(proxy.url, 160) == 160
            server.kill()
            assert await _post_many(proxy.url, 160) == 160  # clients never notice
            await proxy.state.mirror.tasks.drain(5)
            await asyncio.sleep(0.3)
            registry = proxy.state.registry
            assert (registry.get_sample_value("darklaunch_records_spooled_total") or 0) > 0
            assert (registry.get_sample_value("darklaunch_recorder_spool_bytes") or 0) > 0
            await asyncio.to_thread(server.start)
            assert await _post_many(proxy.url, 160) == 160
        assert registry.get_sample_value(
            "darklaunch_records_dropped_total", {"reason": "queue_full"}
        ) in (None, 0.0)
        records = await read_records(url, "outage")
        ids = [r.pair_id for r in records]
        assert len(ids) == 480
        assert len(set(ids)) == 480
        assert not list((tmp_path / "spool").glob("*.spool"))
    finally:
        server.stop()


async def test_no_secret_or_pii_reaches_redis(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str, tmp_path: Path
) -> None:
    secrets = ["sk-proj-abcdefghijklmnop123456", "jane.doe@example.com", "Bearer tok_9f8e7d6c5b4a"]
    body = {
        "model": "gpt-x",
        "messages": [
            {
                "role": "user",
                "content": f"My key is {secrets[0]}, mail {secrets[1]}, please echo them",
            }
        ],
    }
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url,
            [{"name": "c", "url": cand.url}],
            recording=_recording(redis_url, campaign, tmp_path),
        ) as proxy,
        aiohttp.ClientSession() as session,
        session.post(
            proxy.url + "/v1/chat/completions",
            json=body,
            headers={
                "Authorization": secrets[2],
                "Cookie": "sid=s3cr3tcookie",
                "X-Api-Key": "apikey123456",
            },
        ) as response,
    ):
        assert response.status == 200
    dump = await _dump_every_key(redis_url)
    assert b"[REDACTED:" in dump
    for secret in [*secrets, "s3cr3tcookie", "apikey123456", "tok_9f8e7d6c5b4a"]:
        assert secret.encode() not in dump


async def _dump_every_key(url: str) -> bytes:
    """Every key and value in the whole server, whatever its type, as one byte string."""
    client: Any = aioredis.Redis.from_url(url)
    parts: list[bytes] = []
    try:
        async for key in client.scan_iter():
            parts.append(key)
            kind = await client.type(key)
            if kind == b"stream":
                values = [
                    v for _, fields in await client.xrange(key) for kv in fields.items() for v in kv
                ]
            elif kind == b"string":
                values = [await client.get(key)]
            elif kind == b"hash":
                values = [v for kv in (await client.hgetall(key)).items() for v in kv]
            elif kind == b"list":
                values = await client.lrange(key, 0, -1)
            elif kind in (b"set", b"zset"):
                values = (
                    list(await client.smembers(key))
                    if kind == b"set"
                    else await client.zrange(key, 0, -1)
                )
            else:
                raise AssertionError(f"unexpected key type {kind!r}")
            parts.extend(values)
    finally:
        await client.aclose()
    return b"\n".join(parts)


async def _stream_chunks(base_url: str) -> list[dict[str, Any]]:
    async with openai.AsyncOpenAI(
        base_url=base_url + "/v1", api_key="sk-x", max_retries=0
    ) as client:
        stream = await client.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "count to five"}], stream=True
        )
        return [chunk.model_dump(exclude={"id", "created"}) async for chunk in stream]


async def test_stream_usage_modes(
    proxy_factory: ProxyFactory, redis_url: str, campaign: str, tmp_path: Path
) -> None:
    async with (
        running_simulator(SimProfile(name="inc", seed=2)) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        direct = await _stream_chunks(inc.url)
        for mode in ("off", "inject"):
            async with proxy_factory(
                inc.url,
                [{"name": "c", "url": cand.url}],
                recording=_recording(redis_url, campaign, tmp_path, stream_usage=mode),
            ) as proxy:
                through = await _stream_chunks(proxy.url)
            assert through == direct  # the client sees exactly what it would have seen
            assert all(chunk["usage"] is None for chunk in through)
    off, inject = sorted(await read_records(redis_url, campaign), key=lambda r: r.timestamp)
    assert off.incumbent.output is not None
    assert off.incumbent.output.usage is None  # recorded as missing
    assert inject.incumbent.output is not None
    assert inject.incumbent.output.usage is not None
    assert inject.incumbent.output.usage["completion_tokens"] > 0
    assert not inject.incumbent.output.partial


def _record(i: int) -> PairData:
    side = Side(role=Role.INCUMBENT, name="incumbent", status=200)
    return cast("PairData", PairRecord(
        pair_id=f"p{i}", campaign="c", timestamp=0.0, route="/r", method="POST",
        request=RequestInfo(body={"i": i}), incumbent=side,
    ).model_dump())  # fmt: skip


async def test_losses_are_counted_by_reason(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    recorder = RedisRecorder(
        f"unix://{tmp_path}/nobody-home.sock",
        "c",
        RecorderMetrics(registry),
        spool_dir=tmp_path / "spool",
        spool_max_bytes=1200,  # one batch of two records fits, not two
        queue_size=4,
        batch_size=2,
        flush_timeout_s=2,
    )
    for i in range(6):
        recorder.submit(_record(i))  # the writer is not running yet: the queue fills
    assert (
        registry.get_sample_value("darklaunch_records_dropped_total", {"reason": "queue_full"}) == 2
    )
    await recorder.start()
    await recorder.stop()  # Redis never answers: the spool takes what fits, the rest is counted
    spooled = registry.get_sample_value("darklaunch_records_spooled_total") or 0
    dropped = (
        registry.get_sample_value("darklaunch_records_dropped_total", {"reason": "spool_full"}) or 0
    )
    assert spooled + dropped == 4
    assert dropped > 0
    assert spooled > 0
    assert recorder.healthy is False


async def test_a_record_that_cannot_be_encoded_is_counted_not_queued(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    recorder = RedisRecorder(
        f"unix://{tmp_path}/nobody-home.sock",
        "c",
        RecorderMetrics(registry),
        spool_dir=tmp_path / "spool",
    )
    bad = _record(0)
    bad["request"]["headers"] = {"user-agent": "caf\udce9"}  # undecodable header bytes
    recorder.submit(bad)
    recorder.submit(_record(1))
    assert (
        registry.get_sample_value("darklaunch_records_dropped_total", {"reason": "encode_error"})
        == 1
    )
    assert recorder.queue.qsize() == 1
    assert PairRecord.model_validate_json(recorder.queue.get_nowait()).pair_id == "p1"
    await recorder.client.aclose()


async def test_serve_without_redis_url_uses_an_embedded_redis(
    proxy_factory: ProxyFactory, tmp_path: Path
) -> None:
    data_dir = tmp_path / "embedded"
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        config = make_config(
            inc.url,
            [{"name": "c", "url": cand.url}],
            recording={
                "campaign": "embedded",
                "data_dir": str(data_dir),
                "spool_dir": str(tmp_path / "spool"),
            },
        )
        async with running_proxy(config) as proxy:
            assert await _post_many(proxy.url, 20, concurrency=4) == 20
        assert proxy.state.registry.get_sample_value("darklaunch_records_written_total") == 20
    assert (data_dir / "appendonly.aof").exists()  # the data lives under the configured folder
