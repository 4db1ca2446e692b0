"""The header hygiene every hop needs, and the framing of a relayed answer.

Upstream calls carry the client's headers minus hop-by-hop ones and minus those the pool
writes itself (``Host``, ``Content-Length``); the client gets the upstream's headers minus
hop-by-hop ones and minus those the server writes itself. A relayed body keeps the upstream's
framing where it can: its ``Content-Length`` when it gave one, and one write when the whole
body came with the head.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from multidict import CIMultiDict, CIMultiDictProxy

from proxy.http.upstream_response import UpstreamResponse

__all__ = [
    "HOP_BY_HOP",
    "REQUEST_DROP",
    "connection_options",
    "end_to_end_headers",
    "forwardable_headers",
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
    if "connection" in headers:
        excluded.update(connection_options(headers))
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if name.lower() not in excluded:
            out.add(name, value)
    return out


_NO_OPTIONS: frozenset[str] = frozenset()
# The values nearly every message has, which name no field (both are hop-by-hop already).
_PLAIN_CONNECTION = frozenset({"keep-alive", "close"})


def connection_options(headers: CIMultiDictProxy[str] | Mapping[str, str]) -> frozenset[str]:
    """The field names a message's ``Connection`` header lists, lower-cased: hop-by-hop too
    (RFC 9110 §7.6.1). Every ``Connection`` line counts: the lines are one list (§5.3), so
    a second line must not smuggle a field past a proxy that reads only the first."""
    if isinstance(headers, _MULTIDICTS):
        lines = headers.getall("connection", ())
    else:
        line = headers.get("connection")
        lines = [line] if line else []
    if not lines or (len(lines) == 1 and lines[0].lower() in _PLAIN_CONNECTION):
        return _NO_OPTIONS  # the common case, on every answer: no parsing
    return frozenset(token.strip().lower() for line in lines for token in line.split(",")) - {""}


_MULTIDICTS = (CIMultiDictProxy, CIMultiDict)


# Response headers that are hop-by-hop, or that the server writes itself for the client hop.
_RESPONSE_DROP = HOP_BY_HOP | {"content-length"}


def end_to_end_headers(upstream: UpstreamResponse) -> list[tuple[str, str]]:
    """The upstream's headers the client gets, repeated ones and their order kept."""
    headers = upstream.headers
    drop = _RESPONSE_DROP
    if "connection" in headers and (options := connection_options(headers)):
        drop = drop | options
    return [(name, value) for name, value in headers.items() if name.lower() not in drop]


def relayed_length(upstream: UpstreamResponse) -> int | None:
    """The upstream's Content-Length, for a body relayed unchanged, so the client sees the
    same framing; ``None`` (the server then chunks) when the upstream did not give one."""
    length = upstream.headers.get("content-length")
    if length is None or not length.isdigit() or "transfer-encoding" in upstream.headers:
        return None
    return int(length)


def sendable_whole(upstream: UpstreamResponse) -> bool:
    """The upstream's whole body came with its head and was framed by a Content-Length, as a
    non-streamed completion's almost always is: it can be answered in one write."""
    headers = upstream.headers
    return (
        upstream.finished
        and "content-length" in headers
        and headers.get("transfer-encoding") is None
    )
