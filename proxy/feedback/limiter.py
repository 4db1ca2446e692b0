"""How much feedback one client may send: a token bucket per client, in one process.

The feedback endpoint is on the public listener, so anyone who can reach the proxy can write
to Redis through it; the bucket keeps one client (or one script) from filling the stream.
A client is its IP address plus a hash of its ``Authorization`` header when it sends one: many
users behind one gateway share an address but not a key, and the key itself is never kept.
``X-Forwarded-For`` is not trusted, since any client can write it.

The table of clients is bounded: beyond :data:`MAX_CLIENTS` the least recently seen is
forgotten, and a forgotten client starts again with a full bucket.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from multidict import CIMultiDictProxy

__all__ = ["MAX_CLIENTS", "ClientLimiter", "client_key"]

MAX_CLIENTS = 100_000


def client_key(remote: str, headers: CIMultiDictProxy[str]) -> str:
    """``<ip>`` or ``<ip>|<hash of the Authorization header>``."""
    authorization = headers.get("authorization")
    if not authorization:
        return remote
    digest = hashlib.blake2b(authorization.encode(errors="replace"), digest_size=12).hexdigest()
    return f"{remote}|{digest}"


class ClientLimiter:
    """``per_minute`` requests a minute per client, in bursts of up to ``per_minute``."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_clients: int = MAX_CLIENTS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.max_clients = max_clients
        self._clock = clock
        # client -> (tokens left, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> int | None:
        """Spend one token of ``client``'s: ``None`` when allowed, else the whole seconds to
        wait before the next one (the ``Retry-After``)."""
        now = self._clock()
        buckets = self._buckets
        tokens, then = buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        buckets[client] = (tokens, now)
        if len(buckets) > self.max_clients:
            buckets.popitem(last=False)
        if allowed:
            return None
        return max(1, math.ceil((1.0 - tokens) / self.rate))
