"""How an upstream call fails, and how darklaunch reports it.

Every error the upstream client raises comes from here, never a parser's or the socket's
own::

    UpstreamError
    ├── ConnectFailed   the connection could not be opened (refused, DNS, TLS)
    ├── Disconnected    the upstream closed the connection before the answer ended
    │   └── StaleConnection   a pooled connection closed before any byte of the answer
    └── BadResponse     the upstream's bytes are not an HTTP/1.1 answer
        └── HeadTooLarge      its head or trailer section is over a limit

A deadline that passes raises the built-in ``TimeoutError``. :func:`classify_failure` turns
any of them into an :class:`UpstreamFailure`: the kind counted in metrics and records, and the
status and code of our own error response.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BadResponse",
    "ConnectFailed",
    "Disconnected",
    "HeadTooLarge",
    "StaleConnection",
    "UpstreamError",
    "UpstreamFailure",
    "classify_failure",
]


class UpstreamError(Exception):
    """An upstream call failed; ``str()`` says how, in words fit for a log line."""


class ConnectFailed(UpstreamError):
    pass


class Disconnected(UpstreamError):
    pass


class BadResponse(UpstreamError):
    pass


class HeadTooLarge(BadResponse):
    """The upstream's head, or the trailer section after its chunked body, broke one of the
    limits in :mod:`proxy.http.upstream_connection`; ``str()`` names the limit and its value.

    A ``BadResponse`` like any other (kind ``protocol``, 502 ``upstream_error``, as nginx's
    "upstream sent too big header"); its own class lets a test or a log reader tell it apart.
    """


class StaleConnection(Disconnected):
    """A reused connection closed before any byte of the answer. The pool sends an
    idempotent request again, once; any other it reports as disconnected (RFC 9110 §9.2.2)."""


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
