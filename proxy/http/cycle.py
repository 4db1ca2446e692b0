"""One request/response exchange on the public listener.

The connection (:class:`proxy.http.protocol.HttpProtocol`) parses a :class:`Request` whole
(its body is needed whole both for the incumbent and for the mirror) and runs
:func:`exchange` on it, one request at a time. The exchange hands the request and a
:class:`~proxy.http.writer.ResponseWriter` to the :data:`Handler` and makes sure the client
gets an answer whatever the handler does:

- a handler that returns without answering, or fails before answering, gets a 500 in
  OpenAI's shape sent for it (logged), and the connection ends after it;
- an answer the handler started but did not finish is cut short: the connection is closed,
  so the client cannot take it for complete;
- a client that has gone (a write raised :class:`ConnectionError`) only ends the connection.

Then the connection answers its next request, or closes.

:func:`dot_segment` is the rule on a request's path that the connection enforces before a
:class:`Request` exists: no ``.`` or ``..`` segment, however it is spelled.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from multidict import CIMultiDictProxy

from proxy.http.errors import error_body, error_headers
from proxy.http.writer import Connection, ResponseWriter

logger = logging.getLogger(__name__)

__all__ = ["Handler", "Request", "dot_segment", "exchange"]


class Request:
    """One parsed request. ``path`` is percent-decoded, for routing; ``path_qs`` is the target
    exactly as sent (origin form), for forwarding."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "path_qs", "remote", "version")

    def __init__(
        self,
        method: str,
        path: str,
        path_qs: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        version: str,
        keep_alive: bool,
        remote: str,
    ) -> None:
        self.method = method
        self.path = path
        self.path_qs = path_qs
        self.headers = headers
        self.body = body
        self.version = version
        self.keep_alive = keep_alive
        self.remote = remote

    @property
    def scheme(self) -> str:
        return "http"


Handler = Callable[[Request, ResponseWriter], Awaitable[None]]

_DOT_SEGMENTS = frozenset({".", ".."})


def dot_segment(path: str) -> bool:
    """Whether ``path`` (as sent, without its query) has a ``.`` or ``..`` segment as some
    upstream might read it: percent-decoded once (``%2e``, and ``%2f`` making a slash), with
    a backslash taken for a slash (WHATWG URL parsers, so Node, do that) and a ``;`` parameter
    cut off (Java servlet containers read ``..;`` as ``..``).

    Why: the upstream gets the configured base path plus this path verbatim, so a dot segment
    would resolve above the base path, on a request carrying the incumbent's configured
    credentials. Such a path is refused, not resolved: no OpenAI API path has one (nginx
    resolves those that stay under the root and answers 400 to the others)."""
    if "." not in path and "%" not in path:  # the common case: no decoding at all
        return False
    decoded = unquote(path, encoding="latin-1").replace("\\", "/")
    return any(segment.partition(";")[0] in _DOT_SEGMENTS for segment in decoded.split("/"))


async def exchange(conn: Connection, handler: Handler, request: Request) -> None:
    """Answer ``request`` on ``conn`` with ``handler``, then tell the connection it is done."""
    response = ResponseWriter(conn, request.method == "HEAD")
    try:
        await handler(request, response)
        if not response.started:
            raise RuntimeError("the handler returned without answering")
        if not response.finished:
            response.abort()
    except ConnectionError:
        conn.keep_alive = False
    except Exception:
        logger.exception("error answering %s %s", request.method, request.path)
        if response.started:
            response.abort()
        else:
            conn.keep_alive = False
            with contextlib.suppress(ConnectionError):
                response.send(
                    500,
                    error_headers("internal_error"),
                    error_body(500, "internal error in darklaunch", "internal_error"),
                )
    finally:
        conn.answered()
