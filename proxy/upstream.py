"""Connection pools to upstreams, and the header hygiene every hop needs.

Each upstream gets its own keep-alive pool (:mod:`proxy.http_client`). Pools never
decompress (bytes are relayed as the upstream sent them), never add headers of their own
beyond ``Host`` and ``Content-Length`` (so the upstream sees what the client sent), and keep
no cookies (a shared cookie jar would leak one client's cookies to others).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config import PoolConfig
from proxy.http_client import (
    ConnectFailed,
    Disconnected,
    UpstreamPool,
    UpstreamResponse,
    client_ssl_context,
)

__all__ = [
    "HOP_BY_HOP",
    "REQUEST_DROP",
    "UpstreamFailure",
    "classify_failure",
    "cut_short",
    "forwardable_headers",
    "make_pool",
    "sendable_whole",
    "start_response",
    "whole_response",
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


# Response headers that are hop-by-hop, or that aiohttp's server sets itself for the client hop.
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}


def start_response(upstream: UpstreamResponse, *, keep_length: bool) -> web.StreamResponse:
    """A client response with the upstream's status and end-to-end headers. The upstream's
    Content-Length is kept when the body will be relayed unchanged, so the client sees the
    same framing; otherwise aiohttp chunks it."""
    response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
    _copy_end_to_end(upstream, response)
    length = upstream.headers.get("content-length")
    if keep_length and length is not None and upstream.headers.get("transfer-encoding") is None:
        response.content_length = int(length)
    return response


def sendable_whole(upstream: UpstreamResponse) -> bool:
    """The upstream's whole body came with its head and was framed by a Content-Length, as a
    non-streamed completion's almost always is: :func:`whole_response` can answer at once."""
    headers = upstream.headers
    return (
        upstream.finished
        and "content-length" in headers
        and headers.get("transfer-encoding") is None
    )


def whole_response(upstream: UpstreamResponse, body: bytes) -> web.Response:
    """The client's answer in one write (status line, headers and body together): the same
    bytes and framing a chunk-by-chunk relay gives, one system call sooner."""
    response = web.Response(status=upstream.status, reason=upstream.reason, body=body)
    _copy_end_to_end(upstream, response)
    return response


def _copy_end_to_end(upstream: UpstreamResponse, response: web.StreamResponse) -> None:
    for name, value in upstream.headers.items():
        if name.lower() not in _RESPONSE_DROP:
            response.headers.add(name, value)


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
