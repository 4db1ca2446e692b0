"""The comparator worker outlives its Redis: a Redis restart and a ``serve`` restart (whose
embedded Redis the worker shares) cost it a reconnect, never the run, and every (pair, mirror)
is still scored exactly once."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
import yaml
from prometheus_client import CollectorRegistry
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError

from comparators.consumer import transient
from comparators.service import run_worker
from proxy.recording.embedded_redis import EmbeddedRedis, redis_server_binary
from proxy.recording.keys import pairs_key, scores_key
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.comparators.test_worker import make_pair, read_scores, worker_config
from tests.conftest import start_serve


async def _add_pairs(url: str, campaign: str, first: int, count: int) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        mirrors = 0
        for i in range(first, first + count):
            pair = make_pair(i, campaign)
            mirrors += len(pair.mirrors)
            await client.xadd(pairs_key(campaign), {"record": pair.model_dump_json()})
        return mirrors
    finally:
        await client.aclose()


async def _scores(url: str, campaign: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        return int(await client.xlen(scores_key(campaign)))
    finally:
        await client.aclose()


async def _until(check: Any, timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await check():  # noqa: ASYNC110 - state in another process
            await asyncio.sleep(0.05)


async def test_a_redis_restart_costs_a_reconnect_and_no_score(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    url = await asyncio.to_thread(server.start)
    campaign = "restart"
    stop = asyncio.Event()
    registry = CollectorRegistry()
    config = worker_config(url, campaign, block_ms=50)
    worker = asyncio.ensure_future(  # noqa: TID251 - awaited below
        run_worker(config, stop=stop, registry=registry, serve_metrics=False, handle_signals=False)
    )
    try:
        mirrors = await _add_pairs(url, campaign, 0, 100)
        await _until(lambda: _scores_at_least(url, campaign, mirrors))
        await asyncio.to_thread(server.stop)  # a graceful stop: the append-only file is synced
        await asyncio.sleep(1.0)  # the worker meets a dead socket, and waits
        assert not worker.done()
        url = await asyncio.to_thread(server.start)
        mirrors += await _add_pairs(url, campaign, 100, 100)
        await _until(lambda: _scores_at_least(url, campaign, mirrors))
    finally:
        stop.set()
        stats = await asyncio.wait_for(worker, 30)
        await asyncio.to_thread(server.stop)
    assert stats.reconnects >= 1
    assert registry.get_sample_value("darklaunch_worker_reconnects_total") == stats.reconnects
    server = EmbeddedRedis(tmp_path / "redis")
    url = await asyncio.to_thread(server.start)
    try:
        scores = await read_scores(url, campaign)
    finally:
        await asyncio.to_thread(server.stop)
    assert len(scores) == mirrors
    assert Counter((s.pair_id, s.mirror) for s in scores).most_common(1)[0][1] == 1


async def _ask(proxy_url: str, numbers: range) -> int:
    """One chat request per number through the proxy; how many were answered 200."""
    answered = 0
    async with aiohttp.ClientSession() as session:
        for i in numbers:
            body = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]}
            async with session.post(proxy_url + "/v1/chat/completions", json=body) as response:
                await response.read()
                answered += response.status == 200
    return answered


async def _scores_at_least(url: str, campaign: str, n: int) -> bool:
    try:
        return await _scores(url, campaign) >= n
    except Exception:  # Redis down for a moment: not there yet
        return False


async def test_a_serve_restart_under_a_running_worker(tmp_path: Path) -> None:
    """``serve`` owns the embedded Redis the worker uses: stopping it takes Redis away."""
    data_dir = tmp_path / "data"
    campaign = "serve-restart"
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand", seed=2)) as cand,
    ):
        config: dict[str, Any] = {
            "listen": {"host": "127.0.0.1", "port": 0},
            "admin": {"host": "127.0.0.1", "port": 0},
            "incumbent": {"url": inc.url},
            "candidates": [{"name": "cand", "url": cand.url}],
            "mirror": {"sample_rate": 1.0},
            "recording": {"campaign": campaign, "data_dir": str(data_dir)},
        }
        process, proxy_url, _ = await start_serve(config, tmp_path)
        socket = f"unix://{data_dir.resolve() / 'redis.sock'}"
        worker_cfg = worker_config(socket, campaign, block_ms=50)
        stop = asyncio.Event()
        worker = asyncio.ensure_future(  # noqa: TID251 - awaited below
            run_worker(worker_cfg, stop=stop, serve_metrics=False, handle_signals=False)
        )
        sent = 0
        try:
            sent += await _ask(proxy_url, range(20))
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 30) == 0
            await asyncio.sleep(0.5)  # the worker meets the dead socket
            process, proxy_url, _ = await start_serve(config, tmp_path)
            sent += await _ask(proxy_url, range(20, 40))
            await _until(lambda: _scores_at_least(socket, campaign, sent))
            scores = await read_scores(socket, campaign)
        finally:
            stop.set()
            stats = await asyncio.wait_for(worker, 30)
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                await asyncio.wait_for(process.wait(), 30)
    assert stats.reconnects >= 1
    assert len(scores) == sent == 40
    assert len({(s.pair_id, s.mirror) for s in scores}) == 40


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(), True),
        (AuthenticationError("invalid password"), False),
        (
            RedisConnectionError("HELLO must be called with the client already authenticated"),
            False,
        ),
        (RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused."), True),
        (ValueError("bad"), False),
    ],
)
def test_only_errors_that_waiting_can_fix_are_waited_out(exc: Exception, expected: bool) -> None:
    assert transient(exc) is expected


async def test_a_redis_that_refuses_the_worker_is_one_error_line(tmp_path: Path) -> None:
    """Waiting cannot fix a wrong password: ``compare`` exits 2 with one line, no traceback."""
    sock = tmp_path / "s.sock"
    server = await asyncio.create_subprocess_exec(
        redis_server_binary(), "--port", "0", "--unixsocket", str(sock),
        "--requirepass", "secret", "--save", "", "--daemonize", "no",
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await _until(lambda: _exists(sock), 10)
        path = tmp_path / "c.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "incumbent": {"url": "http://127.0.0.1:9"},
                    "recording": {"redis_url": f"unix://{sock}", "campaign": "x"},
                }
            )
        )
        done = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxy", "compare", "--config", str(path), "--once",
            "--log-level", "ERROR",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, stderr = await asyncio.wait_for(done.communicate(), 60)
    finally:
        server.terminate()
        await server.wait()
    lines = stderr.decode().strip().splitlines()
    assert done.returncode == 2
    assert len(lines) == 1
    assert lines[0].startswith("error: Redis refused the worker")
    assert "credentials" in lines[0]


async def _exists(path: Path) -> bool:
    return await asyncio.to_thread(path.exists)
