"""The fallback path: what clients get when the incumbent cannot answer.

When the incumbent refuses the connection, times out, drops it before answering, or answers
with one of ``fallback.on_status``, the request goes to the ``fallback.url`` upstream; without
one (or when it fails too) the configured static response is returned. Every fallback is
counted in ``darklaunch_fallbacks_total`` by reason: ``connect``, ``timeout``, ``reset``,
``protocol`` or ``status``, and by what served it: ``upstream``, ``static`` or ``none``.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from multidict import CIMultiDict

from proxy.config.fallback import FallbackConfig
from proxy.http.cycle import Request
from proxy.http.headers import end_to_end_headers, relayed_length
from proxy.http.upstream_errors import UpstreamError, classify_failure
from proxy.http.upstream_pool import UpstreamPool
from proxy.http.writer import ResponseWriter, send_error
from proxy.metrics import ProxyMetrics
from proxy.upstreams import make_pool

logger = logging.getLogger(__name__)

__all__ = ["Fallback"]


class Fallback:
    def __init__(self, config: FallbackConfig, metrics: ProxyMetrics) -> None:
        self.config = config
        self.on_status = frozenset(config.on_status)
        self.counter = metrics.fallbacks
        self.upstream: UpstreamPool | None = None
        static = config.static
        self._static_body = orjson.dumps(static.body) if static is not None else b""

    def start(self) -> None:
        if self.config.url is not None:
            ca = str(self.config.ca_bundle) if self.config.ca_bundle else None
            self.upstream = make_pool(
                self.config.url, self.config.pool, verify_tls=self.config.verify_tls, ca_bundle=ca
            )

    async def stop(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()

    async def serve(
        self,
        request: Request,
        response: ResponseWriter,
        path_qs: str,
        body: bytes,
        headers: CIMultiDict[str],
        reason: str,
    ) -> None:
        if self.upstream is not None:
            for name, value in self.config.headers.items():
                headers[name] = value
            try:
                upstream = await self.upstream.request(
                    request.method,
                    path_qs,
                    headers.items(),
                    body,
                    deadline=asyncio.get_running_loop().time() + self.config.timeout_s,
                )
                async with upstream:
                    self.counter.labels(reason, "upstream").inc()
                    response.start(
                        upstream.status,
                        end_to_end_headers(upstream),
                        content_length=relayed_length(upstream),
                        reason=upstream.reason,
                    )
                    try:
                        async for chunk in upstream:
                            await response.write(chunk)
                        await response.finish()
                    except (TimeoutError, UpstreamError):
                        response.abort()
                    return
            except (TimeoutError, UpstreamError) as exc:
                failure = classify_failure(exc)
                logger.warning(
                    "fallback upstream failed too (%s): %s", failure.kind, failure.message
                )
                if self.config.static is None:
                    self.counter.labels(reason, "none").inc()
                    send_error(
                        response,
                        failure.status,
                        f"incumbent and fallback failed: {failure.message}",
                        failure.code,
                    )
                    return
        static = self.config.static
        assert static is not None  # the config guarantees a url or a static answer
        self.counter.labels(reason, "static").inc()
        answer_headers = CIMultiDict({"Content-Type": "application/json"})
        answer_headers.update(static.headers)
        answer_headers["x-darklaunch-fallback"] = reason
        response.send(static.status, answer_headers.items(), self._static_body)
