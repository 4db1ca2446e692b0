"""Open the Redis client a URL names: one server, or a Redis Cluster.

Every process of darklaunch (the proxy's writer, feedback and rollout follower, the comparator
worker, the readers, the CLI) opens its client here, so the URL alone decides which kind it
gets:

* ``redis://``, ``rediss://``, ``unix://``: :meth:`redis.asyncio.Redis.from_url`, exactly as
  before the cluster existed;
* ``redis+cluster://[user:password@]host:port[,host:port...][?option=value...]`` and
  ``rediss+cluster://`` (TLS): :class:`redis.asyncio.cluster.RedisCluster`, which discovers
  the whole cluster from the nodes listed (one reachable node is enough) and follows ``MOVED``
  redirects and failovers.

A campaign's keys share the hash tag ``{<campaign>}`` (:mod:`proxy.recording.keys`), so the
scripts and transactions that touch several of them run on one node of a cluster.

Exceptions::

    RedisURLError  (ValueError)  the URL is not one of the forms above
"""

from __future__ import annotations

import inspect
from typing import Any, Final, TypeAlias
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import SSLConnection, parse_url
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    RedisClusterException,
    RedisError,
    TryAgainError,
)

from proxy.config.recording import CLUSTER_SCHEMES, REDIS_URL_FORMS, parse_cluster_url

__all__ = [
    "REDIS_ERRORS",
    "RedisClient",
    "RedisURLError",
    "cluster_unavailable",
    "is_cluster_url",
    "open_redis",
]

RedisClient: TypeAlias = aioredis.Redis | RedisCluster
"""Any client :func:`open_redis` returns; annotate with it wherever a client is passed."""

REDIS_ERRORS: Final = (RedisError, RedisClusterException)
"""What a command can raise on either client: the cluster client reports a cluster it cannot
reach or whose slots are not all served with ``RedisClusterException``, which is no
``RedisError``."""

# Keyword arguments the cluster client takes (it takes no others).
_CLUSTER_OPTIONS = frozenset(inspect.signature(RedisCluster.__init__).parameters) - {"self"}
# What RedisClusterException says when waiting can fix it: no node answered, or the slots are
# not all served yet (a failover in progress).
_UNREACHABLE = ("cannot be connected", "not covered", "could not agree")


class RedisURLError(ValueError):
    """``recording.redis_url`` is not a Redis URL darklaunch can open."""

    def __init__(self, url: str, expected: str) -> None:
        self.url = _without_password(url)
        self.expected = expected
        super().__init__(f"recording.redis_url: got {self.url!r}; expected {expected}")


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://``, ``rediss+cluster://``)."""
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def open_redis(url: str, **options: Any) -> RedisClient:
    """A client of the Redis ``url`` names (see the module docstring); ``options`` are keyword
    arguments both clients take (``socket_timeout``, ``socket_connect_timeout``,
    ``max_connections``, ``retry``, ...), and options in the URL's query win over them, as in
    redis-py. No connection is made until the first command. Raises :class:`RedisURLError`
    for a URL that is none of the accepted forms."""
    if not is_cluster_url(url):
        scheme = url.partition("://")[0] if "://" in url else ""
        if scheme not in ("redis", "rediss", "unix"):
            raise RedisURLError(url, REDIS_URL_FORMS)
        try:
            return aioredis.Redis.from_url(url, **options)
        except ValueError as exc:
            raise RedisURLError(url, f"a valid Redis URL ({exc})") from exc
    try:
        parsed = parse_cluster_url(url)
        kwargs: dict[str, Any] = dict(parse_url(parsed.node_url))
    except ValueError as exc:
        raise RedisURLError(url, str(exc)) from exc
    for name in ("host", "port", "db"):
        kwargs.pop(name, None)
    if kwargs.pop("connection_class", None) is SSLConnection:
        kwargs["ssl"] = True
    unknown = sorted(set(kwargs) - _CLUSTER_OPTIONS)
    if unknown:
        raise RedisURLError(url, f"options a Redis Cluster client takes; {unknown[0]!r} is not one")
    nodes = [ClusterNode(host, port) for host, port in parsed.nodes]
    return RedisCluster(startup_nodes=nodes, **{**options, **kwargs})


def cluster_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is a cluster's passing trouble, which waiting fixes: ``CLUSTERDOWN``
    while a failed master's replica takes over, ``TRYAGAIN`` during a resharding, no node
    reachable, slots not all served. A cross-slot command or a bad option is not."""
    if isinstance(exc, ClusterDownError | TryAgainError | ClusterError):
        return True
    return isinstance(exc, RedisClusterException) and any(
        words in str(exc) for words in _UNREACHABLE
    )


def _without_password(url: str) -> str:
    """``url`` with its password masked: errors and logs never carry one."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return url
    credentials, at, hosts = netloc.rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))
