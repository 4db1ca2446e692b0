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
- a client that has gone (a write raised :class:`ConnectionError`) only ends the connection;
- an answer the client has not read (the socket's buffer over its high-water mark) is waited
  for, within the send timeout, before the next pipelined request is answered: at most one
  answer is ever held for a client, whatever it pipelines.

Then the connection answers its next request, or closes.

"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from multidict import CIMultiDictProxy

from proxy.http.errors import error_body, error_headers
from proxy.http.writer import Connection, ResponseWriter

logger = logging.getLogger(__name__)

__all__ = ["Handler", "Request", "exchange"]


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


async def exchange(conn: Connection, handler: Handler, request: Request) -> None:
    """Answer ``request`` on ``conn`` with ``handler``, then tell the connection it is done."""
    response = ResponseWriter(conn, request.method == "HEAD")
    try:
        await handler(request, response)
        if not response.started:
            raise RuntimeError("the handler returned without answering")
        if not response.finished:
            response.abort()
        elif conn.write_paused:
            # The next answer waits until the client has read this one (to the socket
            # buffer's low-water mark): otherwise a client that pipelines requests and reads
            # nothing would have every answer fetched and held in memory (issue 17).
            await conn.drained()
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
