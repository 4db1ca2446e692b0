"""What one upstream call produced, before it becomes part of a record.

The request path fills these in cheaply (timings, status, a capped copy of the bytes); the
expensive work of decoding, assembling and redacting happens later, off the client's path.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from proxy.recording.schema import ErrorInfo

__all__ = ["Capture", "UpstreamResult", "decode_body"]


class Capture:
    """A capped copy of a response body. Bytes beyond ``limit`` are counted, not kept, so a
    100 MB answer costs at most ``limit`` bytes of memory."""

    __slots__ = ("_chunks", "limit", "size", "truncated")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.truncated = False
        self._chunks: list[bytes] = []

    def add(self, chunk: bytes) -> None:
        room = self.limit - self.size
        if room <= 0:
            self.truncated = True
            return
        if len(chunk) > room:
            chunk = chunk[:room]
            self.truncated = True
        self._chunks.append(chunk)
        self.size += len(chunk)

    def getvalue(self) -> bytes:
        return b"".join(self._chunks)


@dataclass(slots=True)
class UpstreamResult:
    """One upstream call's outcome, timings in milliseconds from the client's request start."""

    status: int | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    body: bytes = b""
    complete: bool = False
    truncated: bool = False
    latency_ms: float | None = None
    ttft_ms: float | None = None
    error: ErrorInfo | None = None
    # The upstream's ``Retry-After`` on a 429 or 5xx, as sent: when a replay may ask again.
    retry_after: str | None = None
    # The path a translated mirror call went to (``/v1/messages`` for an Anthropic candidate
    # behind a chat route): its answer is read in that route's format. ``None``: the pair's.
    route: str | None = None


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo gzip/deflate so a compressed answer can still be assembled. The client got the
    compressed bytes untouched; this copy is only for the record, capped at ``limit`` bytes
    so a compression bomb cannot blow up memory."""
    if not content_encoding or content_encoding == "identity" or not body:
        return body
    encoding = content_encoding.lower()
    try:
        if encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, limit)
        if encoding == "deflate":
            return zlib.decompressobj().decompress(body, limit)
    except zlib.error:
        return body
    return body
