"""``darklaunch serve --workers 2``: processes share the port and their metrics add up."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import yaml
from prometheus_client.parser import text_string_to_metric_families

from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator


async def _worker_pid(url: str) -> int | None:
    """The pid of whichever worker answers ``/healthz`` on a fresh connection (so the kernel
    picks among every worker bound to the shared port), once that worker's public listener
    serves; ``None`` while none answers, or the one that did does not serve yet."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        try:
            async with session.get(url + "/healthz") as response:
                health = await response.json()
        except aiohttp.ClientError:
            return None
    pid: int = health["pid"]
    return pid if health["serving"] is True else None


async def _wait_for_workers(url: str, count: int) -> set[int]:
    """Wait until ``count`` distinct workers say, through the shared admin port, that they
    serve clients. Returning at the first answer raced the other workers' start-up: the
    requests that followed could all reach the one worker up, and only it would count."""
    pids: set[int] = set()
    async with asyncio.timeout(60):
        while len(pids) < count:
            pid = await _worker_pid(url)
            if pid is not None:
                pids.add(pid)
            else:
                await asyncio.sleep(0.1)
    return pids


async def test_two_workers_share_the_port_and_aggregate_metrics(
    tmp_path: Path, redis_url: str, campaign: str, unused_tcp_port_factory: object
) -> None:
    port, admin = unused_tcp_port_factory(), unused_tcp_port_factory()  # type: ignore[operator]
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
    ):
        path = tmp_path / "darklaunch.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "listen": {"port": port},
                    "admin": {"port": admin},
                    "incumbent": {"url": inc.url},
                    "candidates": [{"name": "c", "url": cand.url}],
                    "mirror": {"sample_rate": 1.0},
                    "recording": {
                        "redis_url": redis_url,
                        "campaign": campaign,
                        "spool_dir": str(tmp_path / "spool"),
                    },
                }
            )
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "proxy", "serve", "--config", str(path), "--workers", "2",
            "--log-level", "WARNING",
        )  # fmt: skip
        try:
            started = await _wait_for_workers(f"http://127.0.0.1:{admin}", 2)
            pids = set()
            for _ in range(200):
                # A fresh connection each time, so the kernel spreads them over the workers.
                async with aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(force_close=True)
                ) as session:
                    async with session.post(
                        f"http://127.0.0.1:{port}/v1/embeddings", json={"model": "m", "input": "x"}
                    ) as response:
                        assert response.status == 200
                    async with session.get(f"http://127.0.0.1:{admin}/healthz") as response:
                        pids.add((await response.json())["pid"])
            assert pids == started
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{admin}/metrics") as r,
            ):
                text = await r.text()
            total = sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "darklaunch_requests_total"
                and sample.labels.get("role") == "incumbent"
            )
            assert total == 200
            # A worker that dies is replaced, and the port keeps answering meanwhile.
            victim = pids.pop()
            os.kill(victim, signal.SIGKILL)
            seen: set[int] = set()
            async with asyncio.timeout(60):
                while not seen - pids - {victim}:
                    pid = await _worker_pid(f"http://127.0.0.1:{admin}")
                    if pid is not None:
                        seen.add(pid)
                    await asyncio.sleep(0.05)
            assert victim not in seen
        finally:
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0
