"""The proxy's writers on a real Redis Cluster: a campaign's records, markers and feedback
live on the one master that owns its hash tag, and the feedback client keeps its bound of
connections there without failing a burst."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import orjson
import redis

from proxy.feedback.store import MAX_CONNECTIONS, FeedbackStore
from proxy.recording.keys import campaign_tag, feedback_key, pairs_key
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator
from tests.cluster import RedisClusterServer
from tests.conftest import ProxyFactory, read_records


async def test_a_campaigns_records_and_markers_live_on_the_master_of_its_tag(
    proxy_factory: ProxyFactory, redis_cluster: RedisClusterServer, tmp_path: Path
) -> None:
    url = redis_cluster.url
    campaign = f"w-{uuid.uuid4().hex[:8]}"
    requests = 30
    async with (
        running_simulator(SimProfile(name="inc")) as inc,
        running_simulator(SimProfile(name="cand")) as cand,
        proxy_factory(
            inc.url,
            [{"name": "cand", "url": cand.url}],
            recording={"redis_url": url, "campaign": campaign, "spool_dir": str(tmp_path)},
        ) as proxy,
        aiohttp.ClientSession() as session,
    ):
        for i in range(requests):
            body = {"model": "m", "messages": [{"role": "user", "content": f"q{i}"}]}
            async with session.post(proxy.url + "/v1/chat/completions", json=body) as response:
                assert response.status == 200
                await response.read()
        registry = proxy.state.registry
    assert registry.get_sample_value("darklaunch_records_written_total") == requests
    assert len(await read_records(url, campaign)) == requests
    owner = redis_cluster.master_of(f"{{{campaign}}}")
    for port in redis_cluster.master_ports():
        with redis.Redis(port=port) as node:
            keys = set(node.scan_iter(match=f"{campaign_tag(campaign)}:*"))
            if port == owner.port:
                assert pairs_key(campaign).encode() in keys
                assert any(b":batch:" in key for key in keys)  # the script's marker, same slot
                assert node.xlen(pairs_key(campaign)) == requests
            else:
                assert keys == set()


async def test_a_feedback_burst_beyond_the_pool_waits_its_turn_on_a_cluster(
    redis_cluster: RedisClusterServer,
) -> None:
    """The cluster client's pools raise at once when full; the store's turns make a burst
    wait instead, as a single server's blocking pool does."""
    campaign = f"f-{uuid.uuid4().hex[:8]}"
    store = FeedbackStore(campaign)
    store.start(redis_cluster.url)
    burst = 5 * MAX_CONNECTIONS
    try:
        await asyncio.gather(
            *(store.write(orjson.dumps({"n": i})) for i in range(burst))
        )  # raises FeedbackNotStored if one had failed
    finally:
        await store.stop()
    owner = redis_cluster.master_of(f"{{{campaign}}}")
    with redis.Redis(port=owner.port) as node:
        assert node.xlen(feedback_key(campaign)) == burst
