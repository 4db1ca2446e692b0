"""Two real ``darklaunch serve`` processes on one Redis: a rollback asked of one reaches both
within 2 s under load, and no client sees an error while it does."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis

from proxy.config.rollout import RolloutConfig
from proxy.rollout.state import Action, Phase
from proxy.rollout.store import RolloutStore
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from proxy.tasks import TaskSet
from tests.conftest import start_serve

TOKEN = "adm-two-proxies-91c"
SWITCH_WITHIN_S = 2.0
ROLLOUT = {"candidate": "cand", "steps": [1.0], "sync_interval_s": 1.0}


def _config(inc: str, cand: str, redis_url: str, campaign: str, spool: Path) -> dict[str, Any]:
    return {
        "listen": {"host": "127.0.0.1", "port": 0},
        "admin": {"host": "127.0.0.1", "port": 0, "token": TOKEN},
        "incumbent": {"url": inc},
        "candidates": [{"name": "cand", "url": cand, "model": "cand-model"}],
        "mirror": {"sample_rate": 0.0},
        "recording": {"redis_url": redis_url, "campaign": campaign, "spool_dir": str(spool)},
        "rollout": ROLLOUT,
    }


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


async def _load(url: str, stop: asyncio.Event, answers: list[tuple[float, int, str]]) -> None:
    """Ask again and again until ``stop``; keep (when the request was sent, status, model)."""
    loop = asyncio.get_running_loop()
    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            sent = loop.time()
            async with session.post(url + "/v1/chat/completions", json=body) as response:
                payload = orjson.loads(await response.read())
                answers.append((sent, response.status, payload.get("model", "?")))


async def test_a_rollback_on_one_proxy_reaches_both_within_2s_without_client_errors(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    client = aioredis.Redis.from_url(redis_url)
    store = RolloutStore(client, campaign, RolloutConfig.model_validate(ROLLOUT))
    await store.act(Action.START, actor="test", reason="go")
    processes: list[asyncio.subprocess.Process] = []
    drains = TaskSet("stderr")
    try:
        async with (
            running_simulator(SimProfile(name="inc")) as inc,
            running_simulator(SimProfile(name="cand")) as cand,
        ):
            urls: list[tuple[str, str]] = []
            for name in ("a", "b"):
                folder = tmp_path / name
                folder.mkdir()
                config = _config(inc.url, cand.url, redis_url, campaign, folder / "spool")
                process, url, lines = await start_serve(config, folder)
                processes.append(process)
                admin = re.search(r"admin on (http://\S+)", "".join(lines))
                assert admin is not None
                urls.append((url, admin.group(1)))
                assert process.stderr is not None
                drains.spawn(_drain(process.stderr))
            stop = asyncio.Event()
            answers: dict[str, list[tuple[float, int, str]]] = {url: [] for url, _ in urls}
            async with asyncio.TaskGroup() as load:
                for url, _ in urls:
                    for _ in range(4):
                        load.create_task(_load(url, stop, answers[url]))
                await asyncio.sleep(1.0)
                asked = asyncio.get_running_loop().time()
                async with (
                    aiohttp.ClientSession() as session,
                    session.post(
                        urls[0][1] + "/admin/rollout",
                        json={"action": "rollback", "reason": "two-proxy test"},
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    ) as response,
                ):
                    assert response.status == 200  # applied here and stored at once
                await asyncio.sleep(SWITCH_WITHIN_S + 1.0)
                stop.set()
        for url, _ in urls:
            seen = answers[url]
            assert len(seen) > 100, len(seen)  # there was load on both
            assert {status for _, status, _ in seen} == {200}  # no client error, ever
            before = [model for sent, _, model in seen if sent < asked]
            assert "cand-model" in before  # the candidate was serving this proxy's clients
            last_candidate = max(sent for sent, _, model in seen if model == "cand-model")
            assert last_candidate - asked < SWITCH_WITHIN_S, (url, last_candidate - asked)
            after = [model for sent, _, model in seen if sent >= asked + SWITCH_WITHIN_S]
            assert after
            assert set(after) == {"m"}
        stored = await store.read()
        assert stored.phase is Phase.ROLLED_BACK
        assert stored.actor.startswith("admin:")
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(20):
                    await process.wait()
        await drains.drain(5.0)
        await client.aclose()
