"""Connection-level guards aiohttp does not have: a header read deadline and OpenAI-shaped
errors for requests that fail to parse.

aiohttp's keep-alive timer stops at a connection's first byte, so a client that sends its
headers one byte every few seconds (slowloris) would hold a connection forever. Here every
request's headers must be complete within ``listen.header_read_timeout_s`` of their first
byte, or the client gets a 408 and the connection is closed. (The body has its own deadline,
enforced where the body is read: see :mod:`proxy.forward`.)

Requests that aiohttp's parser rejects (over-long or malformed header lines, CR/LF injected
into header values, bad request lines) get our usual error shape instead of aiohttp's plain
text, so every client-facing error from darklaunch parses the same way.

This module reaches into two aiohttp extension points that are not public API
(``AppRunner._make_server`` and the request handler class the server builds); the tests in
``tests/proxy/test_bad_input.py`` fail loudly if a new aiohttp changes them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

logger = logging.getLogger(__name__)

__all__ = ["GuardedAppRunner"]


def _error_body(message: str, kind: str, code: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


_TIMEOUT_BODY = _error_body(
    "request headers were not received in time", "invalid_request_error", "request_timeout"
)
_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
    b"Content-Length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)


_LINGER_S = 1.0


class GuardedRequestHandler(RequestHandler):
    __slots__ = ("_header_timer", "header_timeout_s")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self.header_timeout_s = 30.0

    def data_received(self, data: bytes) -> None:
        if self._force_close or self._close:
            return
        if self._header_timer is None and data and not self._request_in_progress:
            self._header_timer = self._loop.call_later(self.header_timeout_s, self._headers_late)
        super().data_received(data)
        if self._messages and self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        if self._request_in_progress or self._messages:
            return
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        logger.info("closing a connection whose request headers took too long")
        # Answer, half-close, and ignore further input for a moment before closing: closing
        # at once while the client is still sending would reset the connection and could
        # destroy the 408 before the client reads it.
        self._force_close = True
        transport.write(_TIMEOUT_RESPONSE)
        if transport.can_write_eof():
            transport.write_eof()
        self._loop.call_later(_LINGER_S, self.force_close)

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            raise ConnectionError("response already started; cannot send an error")
        if isinstance(exc, LineTooLong):
            status, code = 431, "request_header_too_large"
            text = f"a request line or header is too long: {exc.message}"
        elif isinstance(exc, HttpProcessingError):
            status, code = exc.code or 400, "invalid_http_request"
            text = f"malformed HTTP request: {exc.message}"
        else:
            logger.error("error handling request from %s", request.remote, exc_info=exc)
            status, code, text = 500, "internal_error", "internal error in darklaunch"
        kind = "invalid_request_error" if status < 500 else "server_error"
        response = web.Response(
            status=status, body=_error_body(text, kind, code), content_type="application/json"
        )
        response.force_close()
        return response


class _GuardedServer(web.Server):
    header_timeout_s = 30.0

    def __call__(self) -> RequestHandler:
        handler = GuardedRequestHandler(self, loop=self._loop, **self._kwargs)
        handler.header_timeout_s = self.header_timeout_s
        return handler


class GuardedAppRunner(web.AppRunner):
    """An :class:`aiohttp.web.AppRunner` whose connections use :class:`GuardedRequestHandler`."""

    def __init__(self, app: web.Application, *, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.header_timeout_s = header_timeout_s

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _GuardedServer  # same layout, one method overridden
        assert isinstance(server, _GuardedServer)
        server.header_timeout_s = self.header_timeout_s
        return server
