"""Connection pools to upstreams, and the header hygiene every hop needs.

Each upstream gets its own keep-alive pool. Sessions never decompress (bytes are relayed as
the upstream sent them), never add headers of their own (so the upstream sees what the client
sent), and never keep cookies (a shared cookie jar would leak one client's cookies to others).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config import PoolConfig

__all__ = ["HOP_BY_HOP", "forwardable_headers", "make_session"]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


def forwardable_headers(
    headers: CIMultiDictProxy[str] | Mapping[str, str], drop: Iterable[str] = ()
) -> CIMultiDict[str]:
    """Copy headers minus hop-by-hop ones (including any the ``Connection`` header names)
    and minus ``drop``, keeping repeated headers and their order."""
    excluded = set(HOP_BY_HOP)
    excluded.update(name.lower() for name in drop)
    connection = headers.get("connection")
    if connection:
        excluded.update(token.strip().lower() for token in connection.split(","))
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in excluded:
            out.add(name, value)
    return out


def _ssl_context(verify_tls: bool, ca_bundle: str | None) -> ssl.SSLContext | bool:
    if not verify_tls:
        return False
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    return True


def make_session(
    pool: PoolConfig, *, verify_tls: bool = True, ca_bundle: str | None = None
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=pool.max_connections,
        limit_per_host=0,
        keepalive_timeout=pool.keepalive_timeout_s,
        ssl=_ssl_context(verify_tls, ca_bundle),
        ttl_dns_cache=60,
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        cookie_jar=aiohttp.DummyCookieJar(),
        timeout=aiohttp.ClientTimeout(total=None, connect=pool.connect_timeout_s),
        trust_env=False,
    )
