"""An upstream's answer as the upstream client hands it over: :class:`UpstreamResponse`.

The status line and headers have arrived; the body is an async iterator of chunks as the
upstream sent them (de-chunked, never decompressed), fed by the connection it arrives on.

Flow control: a slow reader (the client of a streamed answer) pauses the upstream socket once
``_HIGH_WATER`` bytes are buffered and resumes it below ``_LOW_WATER``, so a fast upstream
cannot fill memory.

The response knows of its connection only what :class:`BodySource` says (the client's
:class:`proxy.http.upstream_connection.UpstreamConnection` is one).
"""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType
from typing import Protocol, Self

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["BodySource", "UpstreamResponse", "header_text"]

_HIGH_WATER = 256 * 1024
_LOW_WATER = 64 * 1024


def header_text(raw: bytes) -> str:
    """A header name, value or reason phrase as text, one character per byte (Latin-1, as
    the client's request headers are read): relayed, it is written back as the same bytes,
    whatever they are (RFC 9110 §5.5: field values are octets; UTF-8 is only a convention)."""
    return raw.decode("latin-1")


class BodySource(Protocol):
    """What a response needs of the connection its body arrives on."""

    paused: bool  # reading is paused: the response has too much buffered

    def set_deadline(self, when: float | None) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def abort(self) -> None: ...


class UpstreamResponse:
    """An answer whose status line and headers have arrived; the body is an async iterator
    of chunks as the upstream sent them (de-chunked, never decompressed).

    Use it as an async context manager: leaving before the body ended closes the connection,
    since a half-read answer would corrupt the next request on it.
    """

    __slots__ = (
        "_buffered",
        "_chunks",
        "_connection",
        "_error",
        "_finished",
        "_headers",
        "_raw_headers",
        "_waiter",
        "reason",
        "status",
    )

    def __init__(
        self,
        connection: BodySource,
        status: int,
        reason: str,
        raw_headers: list[tuple[bytes, bytes]],
    ) -> None:
        self._connection: BodySource | None = connection
        self.status = status
        self.reason = reason
        self._raw_headers = raw_headers
        self._headers: CIMultiDictProxy[str] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._finished = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        if self._headers is None:
            headers: CIMultiDict[str] = CIMultiDict()
            for name, value in self._raw_headers:
                headers.add(header_text(name), header_text(value))
            self._headers = CIMultiDictProxy(headers)
        return self._headers

    @property
    def finished(self) -> bool:
        """The whole body has arrived (it may not all have been read yet)."""
        return self._finished

    def move_deadline(self, when: float | None) -> None:
        """Give the rest of this answer until ``when`` (event-loop time) instead."""
        if self._connection is not None and not self._finished:
            self._connection.set_deadline(when)

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._finished:
                raise StopAsyncIteration
            waiter = self._waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        connection = self._connection
        if connection is not None and connection.paused and self._buffered <= _LOW_WATER:
            connection.resume()
        return chunk

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop reading: an unfinished answer's connection is closed, never reused."""
        connection, self._connection = self._connection, None
        if connection is not None and not self._finished:
            connection.abort()

    # Called by the connection.

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self._wake()
        if self._buffered > _HIGH_WATER and self._connection is not None:
            self._connection.pause()

    def _finish(self) -> None:
        self._finished = True
        self._connection = None
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if not self._finished and self._error is None:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
