"""The real ``darklaunch serve`` process: graceful SIGTERM under load loses no record."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp

from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import read_records, start_serve


async def test_sigterm_under_load_finishes_requests_and_loses_no_record(
    tmp_path: Path, redis_url: str, campaign: str
) -> None:
    async with (
        running_simulator(SimProfile(name="inc", latency_ms=20)) as inc,
        running_simulator(SimProfile(name="cand", latency_ms=50)) as cand,
    ):
        config = {
            "listen": {"port": 0},
            "admin": {"port": 0},
            "incumbent": {"url": inc.url},
            "candidates": [{"name": "c", "url": cand.url}],
            "mirror": {"sample_rate": 1.0},
            "recording": {
                "redis_url": redis_url,
                "campaign": campaign,
                "spool_dir": str(tmp_path / "spool"),
            },
        }
        process, url, _ = await start_serve(config, tmp_path)
        served: list[str] = []
        enough = asyncio.Event()
        counter = 0

        async def client(session: aiohttp.ClientSession) -> None:
            nonlocal counter
            while True:
                counter += 1
                request_id = f"req-{counter}"
                body = {
                    "model": "m",
                    "user": request_id,
                    "messages": [{"role": "user", "content": "hi"}],
                }
                try:
                    async with session.post(url + "/v1/chat/completions", json=body) as response:
                        await response.read()
                        if response.status == 200:
                            served.append(request_id)
                            if len(served) >= 100:
                                enough.set()
                except aiohttp.ClientError:
                    return

        async with aiohttp.ClientSession() as session:
            load = asyncio.gather(*(client(session) for _ in range(8)))
            await asyncio.wait_for(enough.wait(), 30)
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(load, 30)
        assert await asyncio.wait_for(process.wait(), 60) == 0
    records = await read_records(redis_url, campaign)
    recorded = [r.request.body["user"] for r in records]
    assert len(recorded) == len(set(recorded))  # none twice
    assert set(served) <= set(recorded)  # every answered request has its record
    assert len(served) >= 100
