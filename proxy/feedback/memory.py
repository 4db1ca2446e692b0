"""What the proxy remembers about recent requests, so feedback can say which request it is about.

A client sends feedback with the only id it has: its own ``x-request-id`` or the one the
incumbent answered with (``x-request-id``, or Anthropic's ``request-id``, which the SDKs expose
as ``response._request_id``). This runs on the request path, so it costs O(1) and copies
nothing: an insertion into an :class:`~collections.OrderedDict` per id, with the oldest ids
forgotten beyond ``remember``. A sampled request is remembered as its pair id (its pair record
already holds the rest); an unsampled one as its route and a reference to the body bytes the
server already read, parsed and redacted only if feedback ever names it.

Bodies are what could make this large, so the bytes they hold are bounded too
(``feedback.remember_max_bytes``): a body counts once per id that names it, which can only
over-count, and the oldest ids go first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple

__all__ = ["MAX_ID_CHARS", "RememberedRequest", "RequestMemory"]

# Longer ids are not remembered (feedback refuses them too): a client's header could
# otherwise make each of the ``remember`` keys kilobytes long.
MAX_ID_CHARS = 256


class RememberedRequest(NamedTuple):
    """An unsampled request, as the server read it: its route and its raw body bytes, or
    ``None`` for a body larger than the whole byte bound (kept, it would evict every other)."""

    route: str
    body: bytes | None


# A pair id (sampled requests) or the request itself (the rest).
Remembered = str | RememberedRequest


class RequestMemory:
    """A bounded LRU map from request ids to what the proxy knows of their request."""

    __slots__ = ("_entries", "body_bytes", "max_body_bytes", "max_ids")

    def __init__(self, max_ids: int, max_body_bytes: int) -> None:
        self.max_ids = max_ids
        self.max_body_bytes = max_body_bytes
        self.body_bytes = 0
        self._entries: OrderedDict[str, Remembered] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def remember(self, client_id: str | None, incumbent_id: str | None, what: Remembered) -> None:
        """Remember ``what`` under each id that is given: O(1), no copies."""
        if client_id and len(client_id) <= MAX_ID_CHARS:
            self._put(client_id, what)
        if incumbent_id and incumbent_id != client_id and len(incumbent_id) <= MAX_ID_CHARS:
            self._put(incumbent_id, what)

    def _put(self, request_id: str, what: Remembered) -> None:
        entries = self._entries
        old = entries.pop(request_id, None)
        if isinstance(old, RememberedRequest) and old.body is not None:
            self.body_bytes -= len(old.body)
        if isinstance(what, RememberedRequest) and what.body is not None:
            size = len(what.body)
            if size > self.max_body_bytes:
                what = RememberedRequest(what.route, None)
            else:
                self.body_bytes += size
        entries[request_id] = what
        # Each insertion evicts at most one id for the count; the byte bound may take a few
        # more after a large body, each evicted once, so the cost stays O(1) amortised.
        while entries and (len(entries) > self.max_ids or self.body_bytes > self.max_body_bytes):
            _, evicted = entries.popitem(last=False)
            if isinstance(evicted, RememberedRequest) and evicted.body is not None:
                self.body_bytes -= len(evicted.body)

    def lookup(self, request_id: str) -> Remembered | None:
        """What is remembered for ``request_id``, or ``None``; does not refresh it."""
        return self._entries.get(request_id)
