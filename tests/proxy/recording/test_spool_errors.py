"""A spool whose disk refuses writes (issue 17, item 14), and a send-timeout disconnect that
logged "Future exception was never retrieved" (item 15).

A full disk is real here: ``/dev/full`` (every write fails with ``ENOSPC``, no privileges
needed) stands in for the spool file, and, where this process may mount one, a 64 KiB tmpfs
fills up for real, partial last write included. Redis is a real embedded server that starts
only after the disk is full, as it comes back after an outage.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from proxy.http.cycle import Request
from proxy.http.writer import ResponseWriter
from proxy.metrics import RecorderMetrics
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.recording.encode import PairData, encode_record
from proxy.recording.schema import PairRecord, RequestInfo, Role, Side
from proxy.recording.spool import Spool
from proxy.recording.writer import RedisRecorder
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.conftest import ProxyFactory, read_records
from tests.proxy.http.raw_client import connect, get, serving

pytestmark = pytest.mark.timeout(60)

DEV_FULL = Path("/dev/full")
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full")
CHAT = {"model": "gpt-x", "messages": [{"role": "user", "content": "Summarise the plan"}]}


def _dropped(registry: CollectorRegistry, reason: str) -> float:
    value = registry.get_sample_value("darklaunch_records_dropped_total", {"reason": reason})
    return value or 0.0


def _messages(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def _files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def _until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll ``condition()`` until it is true (the writer works on its own schedule)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the writer signals nothing to wait on
            await asyncio.sleep(0.02)


# -- the spool on its own -------------------------------------------------------------------------


@needs_dev_full
def test_a_write_the_disk_refuses_raises_and_leaves_the_spool_empty(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "c", 1 << 20)
    spool.path.symlink_to(DEV_FULL)
    with pytest.raises(OSError, match="No space left") as raised:
        spool.append("b1", [b'{"n":1}'])
    assert raised.value.errno == errno.ENOSPC
    assert not spool
    spool.path.unlink()  # the disk has room again
    assert spool.append("b2", [b'{"n":2}'])
    batch = spool.peek()
    assert batch is not None
    assert (batch.batch_id, batch.records) == ("b2", [b'{"n":2}'])


def test_a_batch_after_a_torn_fragment_is_a_line_of_its_own(tmp_path: Path) -> None:
    """A crash mid-append leaves a fragment; the next batch used to be glued onto it, making
    both one corrupt line that replay skipped: a batch acknowledged as spooled, lost."""
    spool = Spool(tmp_path, "c", 1 << 20)
    assert spool.append("b1", [b'{"n":1}'])
    with spool.path.open("ab") as handle:
        handle.write(b'{"batch": "torn", "reco')
    reopened = Spool(tmp_path, "c", 1 << 20)
    assert reopened.append("b2", [b'{"n":2}'])
    replayed = []
    while (batch := reopened.peek()) is not None:
        replayed.append(batch.batch_id)
        reopened.commit(batch)
    assert replayed == ["b1", "b2"]
    assert not reopened
    assert _files_in(tmp_path) == []


def test_a_torn_last_fragment_is_skipped_so_the_spool_empties(tmp_path: Path) -> None:
    """``peek`` returns nothing for a fragment at the end, yet the spool was not empty, so
    the writer replayed it forever and never wrote a new record again."""
    spool = Spool(tmp_path, "c", 1 << 20)
    assert spool.append("b1", [b'{"n":1}'])
    with spool.path.open("ab") as handle:
        handle.write(b'{"batch": "torn", "reco')
    batch = spool.peek()
    assert batch is not None
    spool.commit(batch)
    assert spool.peek() is None
    assert spool
    assert spool.skip_torn_tail()
    assert not spool
    assert not spool.skip_torn_tail()
    assert _files_in(tmp_path) == []


# -- the recorder, end to end ---------------------------------------------------------------------


@needs_dev_full
async def test_a_full_spool_disk_drops_and_counts_and_recording_resumes_with_redis(
    proxy_factory: ProxyFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    campaign = f"full-{uuid.uuid4().hex[:8]}"
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / f"{campaign}.spool").symlink_to(DEV_FULL)
    server = EmbeddedRedis(tmp_path / "redis")  # not started yet: Redis is away
    recording = {
        "redis_url": server.url,
        "campaign": campaign,
        "spool_dir": str(spool_dir),
        "batch_size": 8,
    }
    try:
        async with (
            running_simulator(SimProfile(name="inc")) as inc,
            running_simulator(SimProfile(name="cand")) as cand,
            proxy_factory(inc.url, [{"name": "c", "url": cand.url}], recording=recording) as proxy,
            aiohttp.ClientSession() as session,
        ):
            registry = proxy.state.registry
            for _ in range(64):
                async with session.post(proxy.url + "/v1/chat/completions", json=CHAT) as r:
                    assert r.status == 200  # clients never notice
            await _until(lambda: _dropped(registry, "spool_error") > 0)
            await asyncio.to_thread(server.start)  # Redis is back; the disk is still full
            for _ in range(32):
                async with session.post(proxy.url + "/v1/chat/completions", json=CHAT) as r:
                    assert r.status == 200
            await proxy.state.mirror.tasks.drain(5)
            recorder = proxy.state.recorder
            assert isinstance(recorder, RedisRecorder)
            await _until(lambda: recorder.healthy and recorder.queue.empty())
            async with session.get(proxy.admin_url + "/readyz") as r:
                assert r.status == 200
            async with session.get(proxy.admin_url + "/healthz") as r:
                assert (await r.json())["recorder"] == "healthy"
        dropped = _dropped(registry, "spool_error")
        ids = [record.pair_id for record in await read_records(server.url, campaign)]
        # Every answered request is in the stream once, or counted as lost.
        assert len(ids) == len(set(ids))
        assert len(ids) + dropped == 96
        assert 0 < dropped <= 64
        assert [_dropped(registry, r) for r in ("queue_full", "spool_full", "shutdown")] == [0] * 3
        assert len(_messages(caplog, "cannot write the spool")) == 1  # once, not per batch
        assert len(_messages(caplog, "recording goes on")) == 1
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        server.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a disk that really fills up. Skips where mounting is not permitted."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def encode_record_bytes(i: int) -> bytes:
    return encode_record(_record(i))


def _record(i: int) -> PairData:
    side = Side(role=Role.INCUMBENT, name="incumbent", status=200)
    return cast("PairData", PairRecord(
        pair_id=f"p{i}", campaign="c", timestamp=0.0, route="/r", method="POST",
        request=RequestInfo(body={"i": i, "text": "x" * 400}), incumbent=side,
    ).model_dump())  # fmt: skip


async def test_batches_spooled_before_the_disk_filled_replay_exactly_once(
    small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = EmbeddedRedis(tmp_path / "redis")  # not started yet: Redis is away
    registry = CollectorRegistry()
    recorder = RedisRecorder(
        server.url, "tiny", RecorderMetrics(registry), spool_dir=small_disk, batch_size=8
    )
    value = registry.get_sample_value
    try:
        await recorder.start()
        try:
            for i in range(400):  # about 200 KB of records for a 64 KiB disk
                recorder.submit(_record(i))
            await _until(lambda: recorder.queue.empty() and _dropped(registry, "spool_error") > 0)
            spooled = value("darklaunch_records_spooled_total") or 0
            dropped = _dropped(registry, "spool_error")
            assert spooled > 0
            assert spooled + dropped == 400
            await asyncio.to_thread(server.start)  # the disk is still full: no offset file fits
            await _until(lambda: not recorder.spool and recorder.healthy)
            for i in range(400, 432):
                recorder.submit(_record(i))  # straight to Redis
        finally:
            await recorder.stop()
        ids = [record.pair_id for record in await read_records(server.url, "tiny")]
    finally:
        server.stop()
    assert len(ids) == len(set(ids)) == spooled + 32
    assert (value("darklaunch_records_replayed_total") or 0) == spooled
    assert (value("darklaunch_records_spooled_total") or 0) == spooled  # the new ones: not
    assert _files_in(small_disk) == []
    assert len(_messages(caplog, "cannot write the spool")) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_fragment_left_by_a_crash_does_not_stop_recording(
    redis_url: str, campaign: str, tmp_path: Path
) -> None:
    """A spool that ends in a fragment (a crash mid-append) replays what is whole, then the
    writer goes on to new records instead of waiting on the fragment forever."""
    spool = Spool(tmp_path, campaign, 1 << 20)
    assert spool.append("whole", [encode_record_bytes(0)])
    with spool.path.open("ab") as handle:
        handle.write(b'{"batch": "torn", "reco')
    registry = CollectorRegistry()
    recorder = RedisRecorder(redis_url, campaign, RecorderMetrics(registry), spool_dir=tmp_path)
    await recorder.start()
    try:
        recorder.submit(_record(1))
        await _until(lambda: registry.get_sample_value("darklaunch_records_written_total") == 2)
    finally:
        await recorder.stop()
    assert [r.pair_id for r in await read_records(redis_url, campaign)] == ["p0", "p1"]
    assert _files_in(tmp_path) == []


# -- item 15: a send-timeout disconnect -----------------------------------------------------------


async def test_a_send_timeout_disconnect_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    """The wait for the client to read left its future behind; the disconnect then failed it,
    and asyncio logged "Future exception was never retrieved" at ERROR when it was collected."""
    caplog.set_level(logging.DEBUG)
    megabyte = b"m" * (1 << 20)
    outcome: list[BaseException] = []
    ended = asyncio.Event()

    async def handler(request: Request, response: ResponseWriter) -> None:
        response.start(200, [], content_length=16 * len(megabyte))
        try:
            for _ in range(16):
                await response.write(megabyte)
        except ConnectionError as exc:
            outcome.append(exc)
            raise
        finally:
            ended.set()

    async with (
        serving(handler, send_timeout_s=0.3) as server,
        connect(server, rcvbuf=65536) as client,
    ):
        client.send(get("/"))  # and never read the answer
        async with asyncio.timeout(5):
            await ended.wait()
        async with asyncio.timeout(2):
            while server.connections:  # noqa: ASYNC110 - dropped, not kept open
                await asyncio.sleep(0.01)
    gc.collect()  # asyncio reports an unread future's exception when it is collected
    await asyncio.sleep(0.05)
    assert isinstance(outcome[0], ConnectionResetError)
    assert _messages(caplog, "disconnecting a client that read nothing")
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
