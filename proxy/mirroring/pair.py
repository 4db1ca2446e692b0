"""A sampled request whose candidate calls are running, and the id that names its pair.

The forwarder completes it with the incumbent's outcome; the pair's task waits for that before
the record is built.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from typing import Any

from multidict import CIMultiDictProxy

from proxy.recording.exchange import UpstreamResult

__all__ = ["PendingPair"]


class PendingPair:
    """A sampled request whose candidate calls are running; completed by the incumbent."""

    __slots__ = (
        "body",
        "client_headers",
        "incumbent",
        "method",
        "pair_id",
        "path_qs",
        "route",
        "sample_rate",
        "served",
        "started",
        "timestamp",
    )

    def __init__(
        self,
        method: str,
        route: str,
        path_qs: str,
        body: Any,
        client_headers: CIMultiDictProxy[str],
        started: float,
        *,
        sample_rate: float,
    ) -> None:
        self.pair_id = _next_pair_id()
        self.timestamp = time.time()
        self.method = method
        self.route = route
        self.path_qs = path_qs
        self.body = body
        self.client_headers = client_headers
        self.started = started
        # The rate this request was sampled at, recorded with the pair: the rate can change
        # at run time, and a cost projection must scale each pair by the rate that drew it.
        self.sample_rate = sample_rate
        # Who answered the client (``PairRecord.served``): set by a rollout's cohort serving.
        self.served = "incumbent"
        self.incumbent: asyncio.Future[UpstreamResult] = asyncio.get_running_loop().create_future()

    def incumbent_done(self, result: UpstreamResult) -> None:
        if not self.incumbent.done():
            self.incumbent.set_result(result)


_PROCESS_PREFIX = os.urandom(8).hex()
_pair_counter = itertools.count()


def _next_pair_id() -> str:
    """32 hex characters, unique across processes and restarts: 64 random bits drawn once
    per process, then a counter. About ten times cheaper than ``uuid4()`` per request."""
    return f"{_PROCESS_PREFIX}{next(_pair_counter) & 0xFFFFFFFFFFFFFFFF:016x}"
