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
from aiohttp import web
from multidict import CIMultiDict

from proxy.config import FallbackConfig
from proxy.errors import error_response
from proxy.http_client import UpstreamError, UpstreamPool
from proxy.metrics import ProxyMetrics
from proxy.upstream import classify_failure, cut_short, make_pool, start_response

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
        request: web.Request,
        path_qs: str,
        body: bytes,
        headers: CIMultiDict[str],
        reason: str,
    ) -> web.StreamResponse:
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
                    response = start_response(upstream, keep_length=True)
                    await response.prepare(request)
                    try:
                        async for chunk in upstream:
                            await response.write(chunk)
                        await response.write_eof()
                    except (TimeoutError, UpstreamError):
                        cut_short(request, response)
                    return response
            except (TimeoutError, UpstreamError) as exc:
                failure = classify_failure(exc)
                logger.warning(
                    "fallback upstream failed too (%s): %s", failure.kind, failure.message
                )
                if self.config.static is None:
                    self.counter.labels(reason, "none").inc()
                    return error_response(
                        failure.status,
                        f"incumbent and fallback failed: {failure.message}",
                        failure.code,
                    )
        static = self.config.static
        assert static is not None  # the config guarantees a url or a static answer
        self.counter.labels(reason, "static").inc()
        response = web.Response(
            status=static.status, body=self._static_body, content_type="application/json"
        )
        response.headers.update(static.headers)
        response.headers["x-darklaunch-fallback"] = reason
        return response
