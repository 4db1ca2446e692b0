"""One keep-alive connection to an upstream: an asyncio protocol whose answers are parsed by
httptools (llhttp, the parser inside Node.js and uvicorn).

:class:`UpstreamConnection` carries one exchange at a time: :meth:`~UpstreamConnection.send`
writes a request and returns a future for the answer's head, then the body is fed to the
:class:`~proxy.http.upstream_response.UpstreamResponse` as it arrives. A finished answer
hands the connection back to its pool when the upstream keeps it alive; anything that leaves
its framing in doubt (an unread answer, bytes nobody asked for, a parse error, a deadline)
closes it instead.

The connection knows of its pool only what :class:`Owner` says
(:class:`proxy.http.upstream_pool.UpstreamPool` is one).
"""

from __future__ import annotations

import asyncio
from typing import Protocol, cast

import httptools

from proxy.http.upstream_errors import BadResponse, Disconnected, StaleConnection, UpstreamError
from proxy.http.upstream_response import UpstreamResponse, header_text

__all__ = ["Owner", "UpstreamConnection"]


class Owner(Protocol):
    """What a connection needs of the pool it belongs to."""

    loop: asyncio.AbstractEventLoop

    def release(self, connection: UpstreamConnection) -> None:
        """The connection finished an exchange and can carry another."""

    def forget(self, connection: UpstreamConnection) -> None:
        """The connection closed."""


class UpstreamConnection(asyncio.Protocol):
    """One keep-alive connection; it carries one exchange at a time."""

    def __init__(self, pool: Owner) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.paused = False
        self.reused = False
        self.idle_since = 0.0
        self._head_waiter: asyncio.Future[UpstreamResponse] | None = None
        self._response: UpstreamResponse | None = None
        self._reason = b""
        self._raw_headers: list[tuple[bytes, bytes]] = []
        self._interim = False
        self._head_only = False
        self._until_eof = False
        self._got_bytes = False
        self._deadline: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._head_waiter is None and self._response is None:
            self.abort()  # bytes nobody asked for: the connection's framing is lost
            return
        self._got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BadResponse("the upstream switched protocols, which is not supported"))
        except httptools.HttpParserError as exc:
            self._fail(BadResponse(f"the upstream's answer is not valid HTTP/1.1: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_deadline()
        self.pool.forget(self)
        response = self._response
        if self._head_waiter is not None:
            if self.reused and not self._got_bytes:
                error: UpstreamError = StaleConnection("the upstream closed a pooled connection")
            else:
                error = Disconnected("the upstream closed the connection before answering")
            self._reject(error)
        elif response is not None:
            self._response = None
            if self._until_eof:
                response._finish()  # no length and no chunking: the close ends the body
            else:
                response._fail(Disconnected("the upstream closed the connection mid-answer"))

    # httptools callbacks

    def on_status(self, status: bytes) -> None:
        self._reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self._raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # 100 Continue, 103 Early Hints: the real answer follows
            self._interim = True
            self._reason = b""
            self._raw_headers = []
            return
        response = UpstreamResponse(self, status, header_text(self._reason), self._raw_headers)
        self._reason = b""
        self._raw_headers = []
        self._until_eof = status not in (204, 304) and not any(
            name.lower() in (b"content-length", b"transfer-encoding")
            for name, _ in response._raw_headers
        )
        waiter, self._head_waiter = self._head_waiter, None
        if waiter is None or waiter.done():  # the caller gave up while the head arrived
            self.abort()
            return
        waiter.set_result(response)
        if self._head_only:  # a HEAD answer's length describes a body that never comes
            response._finish()
            self.abort()
            return
        self._response = response

    def on_body(self, body: bytes) -> None:
        if self._response is not None:
            self._response._feed(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            return
        response, self._response = self._response, None
        self._cancel_deadline()
        if response is not None:
            response._finish()
        # The answer's last bytes may have paused reading; a finished answer no longer
        # resumes it, and the next exchange on this connection must be read.
        self.resume()
        if self.parser.should_keep_alive() and not self.closed:
            self.pool.release(self)
        else:
            self.abort()

    # Used by the pool and the response.

    def send(
        self, data: bytes, head_only: bool, deadline: float | None
    ) -> asyncio.Future[UpstreamResponse]:
        waiter: asyncio.Future[UpstreamResponse] = self.pool.loop.create_future()
        if self.closed or self.transport is None or self.transport.is_closing():
            waiter.set_exception(StaleConnection("the upstream closed a pooled connection"))
            return waiter
        self._head_waiter = waiter
        self._head_only = head_only
        self._got_bytes = False
        self.set_deadline(deadline)
        self.transport.write(data)
        return waiter

    def set_deadline(self, when: float | None) -> None:
        self._cancel_deadline()
        if when is not None:
            self._deadline = self.pool.loop.call_at(when, self._expire)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        self._fail(TimeoutError("the upstream did not answer in time"))

    def _fail(self, error: BaseException) -> None:
        self._reject(error)
        response, self._response = self._response, None
        if response is not None:
            response._fail(error)
        self.abort()

    def _reject(self, error: BaseException) -> None:
        waiter, self._head_waiter = self._head_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.closed:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            self._cancel_deadline()
            if self.transport is not None:
                self.transport.abort()
            self.pool.forget(self)
