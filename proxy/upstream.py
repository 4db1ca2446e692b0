"""Connection pools to upstreams, and the header hygiene every hop needs.

Each upstream gets its own keep-alive pool. Sessions never decompress (bytes are relayed as
the upstream sent them), never add headers of their own (so the upstream sees what the client
sent), and never keep cookies (a shared cookie jar would leak one client's cookies to others).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config import PoolConfig

__all__ = [
    "HOP_BY_HOP",
    "UpstreamFailure",
    "classify_failure",
    "cut_short",
    "forwardable_headers",
    "make_session",
    "start_response",
]

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


# Response headers that are hop-by-hop, or that aiohttp sets itself for the client hop.
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}


def start_response(upstream: aiohttp.ClientResponse, *, keep_length: bool) -> web.StreamResponse:
    """A client response with the upstream's status and end-to-end headers. The upstream's
    Content-Length is kept when the body will be relayed unchanged, so the client sees the
    same framing; otherwise aiohttp chunks it."""
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    for name, value in upstream.headers.items():
        if name.lower() not in _RESPONSE_DROP:
            response.headers.add(name, value)
    length = upstream.headers.get("content-length")
    if keep_length and length is not None and upstream.headers.get("transfer-encoding") is None:
        response.content_length = int(length)
    return response


def cut_short(request: web.Request, response: web.StreamResponse) -> None:
    """End an answer whose upstream failed after the headers were sent. A chunked stream still
    ends cleanly; a body with a Content-Length must not look complete, so the connection is
    closed instead of leaving the client waiting for bytes that will never come."""
    if response.content_length is not None and request.transport is not None:
        request.transport.close()
    else:
        response.force_close()


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    """Why an upstream gave no usable answer, and what our own error response says."""

    kind: str
    status: int
    code: str
    message: str


def classify_failure(exc: BaseException) -> UpstreamFailure:
    """Translate aiohttp's exceptions at the module boundary into our small vocabulary."""
    if isinstance(exc, TimeoutError):
        return UpstreamFailure(
            "timeout", 504, "upstream_timeout", "the upstream did not answer in time"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc)
        return UpstreamFailure(
            "connect", 502, "upstream_unreachable", f"cannot connect to the upstream: {reason}"
        )
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientOSError
    ):
        return UpstreamFailure(
            "reset",
            502,
            "upstream_disconnected",
            f"the upstream closed the connection: {type(exc).__name__}",
        )
    return UpstreamFailure(
        "protocol", 502, "upstream_error", f"bad answer from the upstream: {type(exc).__name__}"
    )
