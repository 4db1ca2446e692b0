"""Connection pools to upstreams, and the header hygiene every hop needs.

Each upstream gets its own keep-alive pool (:mod:`proxy.http.client`). Pools never
decompress (bytes are relayed as the upstream sent them), never add headers of their own
beyond ``Host`` and ``Content-Length`` (so the upstream sees what the client sent), and keep
no cookies (a shared cookie jar would leak one client's cookies to others).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config import PoolConfig
from proxy.http.client import (
    ConnectFailed,
    Disconnected,
    UpstreamPool,
    UpstreamResponse,
    client_ssl_context,
)
from proxy.http.server import ResponseWriter

__all__ = [
    "HOP_BY_HOP",
    "REQUEST_DROP",
    "UpstreamFailure",
    "classify_failure",
    "cut_short",
    "end_to_end_headers",
    "forwardable_headers",
    "make_pool",
    "relayed_length",
    "sendable_whole",
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

# Request headers the pool writes itself (Host, Content-Length), or that mean nothing once
# the proxy has read the whole body (Expect: 100-continue was answered by the proxy).
REQUEST_DROP = ("host", "content-length", "expect")


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


# Response headers that are hop-by-hop, or that the server writes itself for the client hop.
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}


def end_to_end_headers(upstream: UpstreamResponse) -> list[tuple[str, str]]:
    """The upstream's headers the client gets, repeated ones and their order kept."""
    return [
        (name, value)
        for name, value in upstream.headers.items()
        if name.lower() not in _RESPONSE_DROP
    ]


def relayed_length(upstream: UpstreamResponse) -> int | None:
    """The upstream's Content-Length, for a body relayed unchanged, so the client sees the
    same framing; ``None`` (the server then chunks) when the upstream did not give one."""
    length = upstream.headers.get("content-length")
    if length is None or not length.isdigit() or "transfer-encoding" in upstream.headers:
        return None
    return int(length)


async def cut_short(response: ResponseWriter) -> None:
    """End an answer whose upstream failed after the headers were sent. A chunked stream still
    ends cleanly; a body with a Content-Length must not look complete, so the connection is
    closed instead of leaving the client waiting for bytes that will never come."""
    if response.framed_by_length:
        response.abort()
    else:
        await response.finish(close=True)


def sendable_whole(upstream: UpstreamResponse) -> bool:
    """The upstream's whole body came with its head and was framed by a Content-Length, as a
    non-streamed completion's almost always is: it can be answered in one write."""
    headers = upstream.headers
    return (
        upstream.finished
        and "content-length" in headers
        and headers.get("transfer-encoding") is None
    )


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    """Why an upstream gave no usable answer, and what our own error response says."""

    kind: str
    status: int
    code: str
    message: str


def classify_failure(exc: BaseException) -> UpstreamFailure:
    """Translate the client's exceptions into our small vocabulary of failure kinds."""
    if isinstance(exc, TimeoutError):
        return UpstreamFailure(
            "timeout", 504, "upstream_timeout", "the upstream did not answer in time"
        )
    if isinstance(exc, ConnectFailed):
        return UpstreamFailure("connect", 502, "upstream_unreachable", str(exc))
    if isinstance(exc, Disconnected):
        return UpstreamFailure("reset", 502, "upstream_disconnected", str(exc))
    return UpstreamFailure(
        "protocol", 502, "upstream_error", f"bad answer from the upstream: {exc}"
    )
