"""Connection pools to the configured upstreams (incumbent, candidates, fallback).

Each upstream gets its own keep-alive pool (:class:`proxy.http.upstream_pool.UpstreamPool`),
sized and timed by its ``pool`` section. Pools never decompress (bytes are relayed as the
upstream sent them), never add headers of their own beyond ``Host`` and ``Content-Length``
(so the upstream sees what the client sent), and keep no cookies (a shared cookie jar would
leak one client's cookies to others).
"""

from __future__ import annotations

from proxy.config.upstreams import PoolConfig
from proxy.http.upstream_pool import UpstreamPool, client_ssl_context

__all__ = ["make_pool"]


def make_pool(
    url: str, pool: PoolConfig, *, verify_tls: bool = True, ca_bundle: str | None = None
) -> UpstreamPool:
    """A keep-alive pool to ``url``'s origin; requests give the path after the base URL's."""
    return UpstreamPool(
        url,
        max_connections=pool.max_connections,
        keepalive_timeout_s=pool.keepalive_timeout_s,
        connect_timeout_s=pool.connect_timeout_s,
        ssl_context=client_ssl_context(verify_tls, ca_bundle),
    )
