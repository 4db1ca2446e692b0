"""The one client factory: the URL picks a single-server client (exactly what
``Redis.from_url`` makes) or a Redis Cluster client, and a bad URL names the key, the value and
what was expected. No network: clients connect on their first command."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    ConnectionError,
    RedisClusterException,
    ResponseError,
    SlotNotCoveredError,
    TryAgainError,
)

from proxy.config.base import ConfigError
from proxy.recording.connect import (
    RedisURLError,
    cluster_unavailable,
    is_cluster_url,
    open_redis,
)
from tests.conftest import make_config


def _plain(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The connection options, with per-client helper objects compared by type only."""
    simple = (str, int, float, bool, type(None))
    return {k: v if isinstance(v, simple) else type(v) for k, v in kwargs.items()}


@pytest.mark.parametrize(
    "url",
    ["redis://localhost:6379/2", "rediss://u:p@example.com:6380/0", "unix:///tmp/redis.sock"],
)
async def test_a_single_server_url_gets_what_from_url_makes(url: str) -> None:
    options: dict[str, Any] = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}
    client = open_redis(url, **options)
    reference = aioredis.Redis.from_url(url, **options)
    try:
        assert type(client) is aioredis.Redis
        assert client.connection_pool.connection_class is reference.connection_pool.connection_class
        assert _plain(client.connection_pool.connection_kwargs) == _plain(
            reference.connection_pool.connection_kwargs
        )
    finally:
        await client.aclose()
        await reference.aclose()


async def test_a_cluster_url_gets_a_cluster_client_with_every_node_and_the_credentials() -> None:
    url = "redis+cluster://app:p%40ss@10.0.0.1:7000,10.0.0.2:7001,[::1]:7002?socket_timeout=3"
    client = open_redis(url, socket_connect_timeout=1.5, max_connections=4)
    try:
        assert isinstance(client, RedisCluster)
        nodes = [(node.host, node.port) for node in client.startup_nodes]
        assert nodes == [("10.0.0.1", 7000), ("10.0.0.2", 7001), ("::1", 7002)]
        kwargs = client.connection_kwargs
        assert (kwargs["username"], kwargs["password"]) == ("app", "p@ss")
        assert kwargs["socket_timeout"] == 3.0  # from the URL's query
        assert kwargs["socket_connect_timeout"] == 1.5  # from the caller
        assert kwargs["max_connections"] == 4
        assert kwargs["connection_class"] is not SSLConnection
    finally:
        await client.aclose()


async def test_rediss_cluster_is_tls() -> None:
    client = open_redis("rediss+cluster://10.0.0.1:7000")
    try:
        assert isinstance(client, RedisCluster)
        assert client.connection_kwargs["connection_class"] is SSLConnection
        assert [(n.host, n.port) for n in client.startup_nodes] == [("10.0.0.1", 7000)]
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:6379", r"expected a redis://, rediss:// or unix:// URL, or redis\+"),
        ("localhost:6379", r"expected a redis://, rediss:// or unix:// URL"),
        ("redis+cluster://", r"expected redis\+cluster://host:port\[,host:port...\] with at"),
        ("redis+cluster://h:1,,h:2", r"expected host:port for every node; '' is not one"),
        ("redis+cluster://h:port", r"expected host:port for every node; 'h:port' is not one"),
        ("redis+cluster://h:1/3", r"a cluster has only database 0\); got the path '/3'"),
        ("redis+cluster://h:1?colour=red", r"options a Redis Cluster client takes; 'colour'"),
        ("redis+cluster://h:1?socket_timeout=soon", r"Invalid value for 'socket_timeout'"),
    ],
)
def test_a_bad_url_names_the_key_the_value_and_what_was_expected(url: str, expected: str) -> None:
    with pytest.raises(RedisURLError, match=rf"^recording\.redis_url: got '.*'; .*{expected}"):
        open_redis(url)


def test_a_bad_url_never_shows_its_password() -> None:
    with pytest.raises(RedisURLError) as caught:
        open_redis("redis+cluster://app:hunter2@h:nope")
    assert "hunter2" not in str(caught.value)
    assert "app:***@h:nope" in str(caught.value)


def test_the_config_accepts_a_cluster_url_and_refuses_a_broken_one() -> None:
    url = "redis+cluster://10.0.0.1:7000,10.0.0.2:7000"
    config = make_config("http://127.0.0.1:1", recording={"redis_url": url})
    assert config.recording.redis_url == url
    with pytest.raises(ConfigError, match=r"recording\.redis_url: got 'redis\+cluster://a:b'; "
                       r"expected host:port for every node"):  # fmt: skip
        make_config("http://127.0.0.1:1", recording={"redis_url": "redis+cluster://a:b"})


def test_which_urls_are_clusters() -> None:
    assert is_cluster_url("redis+cluster://h:1")
    assert is_cluster_url("REDISS+CLUSTER://h:1")
    assert not is_cluster_url("redis://h:1")
    assert not is_cluster_url("unix:///tmp/s")


@pytest.mark.parametrize(
    ("exc", "passing"),
    [
        (ClusterDownError("CLUSTERDOWN The cluster is down"), True),
        (TryAgainError("TRYAGAIN"), True),
        (ClusterError("TTL exhausted."), True),
        (SlotNotCoveredError('Slot "5" is not covered by the cluster.'), True),
        (RedisClusterException("Redis Cluster cannot be connected. Please provide ..."), True),
        (RedisClusterException("EVALSHA - all keys must map to the same key slot"), False),
        (ResponseError("WRONGTYPE Operation against a key"), False),
        (ConnectionError("Connection refused"), False),  # a single server's: not a cluster's
    ],
)
def test_which_cluster_errors_waiting_fixes(exc: Exception, passing: bool) -> None:
    assert cluster_unavailable(exc) is passing
