"""Relay every request to the incumbent and its answer back to the client, untouched.

This is the client's path and it owns nothing but the client. Bytes are relayed as they
arrive (no buffering, no decompression, no re-serialisation), so a stream stays a stream and
a client gets exactly what the incumbent sent. The only work added for mirrored requests is a
capped copy of the answer, handed to the pair's background task when the answer ends.

Our own errors here, in OpenAI's shape, are limited to the upstream's failures:
``upstream_unreachable`` (502), ``upstream_disconnected`` (502), ``upstream_error`` (502) and
``upstream_timeout`` (504). Requests that break a limit (413, 414, 431, 408) or do not parse
(400) never get this far: :mod:`proxy.http.protocol` answers them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import Counter

from proxy.config.root import Config
from proxy.fallback import Fallback
from proxy.feedback.memory import RememberedRequest, RequestMemory
from proxy.http.cycle import Request
from proxy.http.headers import (
    REQUEST_DROP,
    end_to_end_headers,
    forwardable_headers,
    relayed_length,
    sendable_whole,
)
from proxy.http.upstream_errors import UpstreamError, UpstreamFailure, classify_failure
from proxy.http.upstream_pool import UpstreamPool
from proxy.http.upstream_response import UpstreamResponse
from proxy.http.writer import ResponseWriter, send_error
from proxy.metrics import ProxyMetrics, status_class
from proxy.mirroring.mirror import Mirror
from proxy.mirroring.pair import PendingPair
from proxy.mirroring.request import with_stream_usage
from proxy.recording.exchange import Capture, UpstreamResult
from proxy.recording.schema import ErrorInfo
from proxy.recording.sse import UsageEventFilter
from proxy.rollout.serve import CohortServer
from proxy.upstreams import make_pool

logger = logging.getLogger(__name__)

__all__ = ["OTHER_ROUTE", "Forwarder"]

OTHER_ROUTE = "other"
_KNOWN_ROUTES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/responses",
    "/v1/embeddings",
    "/v1/models",
    "/v1/moderations",
    "/v1/audio/transcriptions",
    "/v1/audio/speech",
    "/v1/images/generations",
    "/v1/rerank",
)


class Forwarder:
    """The catch-all request handler: forward to the incumbent, maybe mirror, relay back."""

    def __init__(
        self,
        config: Config,
        metrics: ProxyMetrics,
        mirror: Mirror | None,
        *,
        memory: RequestMemory | None = None,
        cohort: CohortServer | None = None,
    ) -> None:
        incumbent = config.incumbent
        # A staged rollout's serving path (``rollout:``): its cohort is answered by the
        # candidate, with this forwarder's incumbent relay as the fallback.
        self.cohort = cohort
        self.fallback = Fallback(config.fallback, metrics) if config.fallback else None
        self.base_url = incumbent.url
        self.override_headers = dict(incumbent.headers)
        self.pool = incumbent.pool
        self.verify_tls = incumbent.verify_tls
        self.ca_bundle = str(incumbent.ca_bundle) if incumbent.ca_bundle else None
        self.timeout_s = incumbent.timeout_s
        self.capture_limit = config.recording.max_output_bytes
        self.body_timeout_s = config.listen.body_read_timeout_s
        self.inject_usage = config.recording.stream_usage == "inject"
        self.metrics = metrics
        self.mirror = mirror
        self.upstream: UpstreamPool | None = None
        # Request ids on mirrored routes, for feedback (proxy.feedback); None: not kept.
        self.memory = memory
        self._remembered_routes = frozenset(config.mirror.routes)
        routes = set(_KNOWN_ROUTES) | set(config.mirror.routes)
        self._route_labels = {route: route for route in routes}
        self._timing = {
            route: (
                metrics.request_duration.labels(route, "incumbent", ""),
                metrics.time_to_first_byte.labels(route, "incumbent", ""),
            )
            for route in [*routes, OTHER_ROUTE]
        }
        self._request_counters: dict[tuple[str, int | None], Counter] = {}
        self._upstream_errors = {
            kind: metrics.upstream_errors.labels(kind)
            for kind in ("connect", "timeout", "reset", "protocol", "status", "client_disconnected")
        }

    async def start(self) -> None:
        self.upstream = make_pool(
            self.base_url, self.pool, verify_tls=self.verify_tls, ca_bundle=self.ca_bundle
        )
        if self.fallback is not None:
            self.fallback.start()

    async def stop(self) -> None:
        if self.upstream is not None:
            await self.upstream.close()
        if self.fallback is not None:
            await self.fallback.stop()

    def _upstream_headers(self, request: Request) -> CIMultiDict[str]:
        headers = forwardable_headers(request.headers, REQUEST_DROP)
        peer = request.remote
        prior = headers.get("x-forwarded-for")
        headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
        if "x-forwarded-proto" not in headers:
            headers["X-Forwarded-Proto"] = request.scheme
        for name, value in self.override_headers.items():
            headers[name] = value
        return headers

    async def handle(self, request: Request, response: ResponseWriter) -> None:
        started = time.perf_counter()
        self.metrics.in_flight.inc()
        try:
            await self._handle(request, response, started)
        finally:
            self.metrics.in_flight.dec()

    async def _handle(self, request: Request, response: ResponseWriter, started: float) -> None:
        # The target is always base URL + the request's own path: the host comes from the
        # config only, so an absolute-URI request line cannot make this an open proxy, and the
        # server has refused any path with a dot segment, which could climb out of the base
        # path (proxy.http.framing.dot_segment). It has also read the body, within its size limit
        # and deadline, and dropped any trailer fields: the headers are the head's only.
        path = request.path
        path_qs = request.path_qs
        route = self._route_labels.get(path, OTHER_ROUTE)
        body = request.body
        pending: PendingPair | None = None
        usage_filter: UsageEventFilter | None = None
        in_cohort, parsed = (
            self.cohort.includes(request) if self.cohort is not None else (False, None)
        )
        if in_cohort:
            assert self.cohort is not None
            outcome = await self.cohort.serve(request, response, parsed, started)
            if outcome.served:
                return
            pending = outcome.pending  # the incumbent answers; its pair keeps the failure
        elif self.mirror is not None:
            pending = self.mirror.begin(
                request.method, path, path_qs, request.headers, body, started
            )
        if pending is not None and self.inject_usage:
            injected = with_stream_usage(pending.body, path)
            if injected is not None:
                body, usage_filter = injected, UsageEventFilter()
        result = UpstreamResult()
        try:
            await self._relay(
                request, response, route, path_qs, body, started, result, pending, usage_filter
            )
        finally:
            if result.latency_ms is None:
                result.latency_ms = (time.perf_counter() - started) * 1000.0
            if pending is not None:
                pending.incumbent_done(result)

    async def _relay(
        self,
        request: Request,
        response: ResponseWriter,
        route: str,
        path_qs: str,
        body: bytes,
        started: float,
        result: UpstreamResult,
        pending: PendingPair | None,
        usage_filter: UsageEventFilter | None,
    ) -> None:
        assert self.upstream is not None
        capture = Capture(self.capture_limit) if pending is not None else None
        duration, first_byte = self._timing[route]
        headers = self._upstream_headers(request)
        failure: UpstreamFailure | None = None
        answer_headers: CIMultiDictProxy[str] | None = None
        try:
            upstream = await self.upstream.request(
                request.method,
                path_qs,
                headers.items(),
                body,
                deadline=asyncio.get_running_loop().time() + self.timeout_s,
            )
            async with upstream:
                answer_headers = upstream.headers
                result.status = upstream.status
                result.content_type = answer_headers.get("content-type")
                result.content_encoding = upstream.headers.get("content-encoding")
                fallback = self.fallback
                if fallback is None or upstream.status not in fallback.on_status:
                    await self._send(
                        request, response, upstream, result, started, capture, usage_filter
                    )
                    return
                failure = UpstreamFailure(
                    "status", 502, "upstream_error", f"the incumbent answered {upstream.status}"
                )
        except ConnectionError as exc:  # the client's socket, while sending the answer
            self._client_gone(result, exc)
            return
        except (TimeoutError, UpstreamError) as exc:
            failure = classify_failure(exc)
            result.status = None
        finally:
            now = time.perf_counter()
            result.latency_ms = (now - started) * 1000.0
            if capture is not None:
                result.body = capture.getvalue()
                result.truncated = capture.truncated
            duration.observe(now - started)
            if result.ttft_ms is not None:
                first_byte.observe(result.ttft_ms / 1000.0)
            self._count(route, result.status)
            if self.memory is not None:
                self._remember(self.memory, request, pending, answer_headers)
        self._upstream_errors[failure.kind].inc()
        result.error = ErrorInfo(kind=failure.kind, message=failure.message)
        logger.warning("incumbent %s on %s: %s", failure.kind, request.path, failure.message)
        if self.fallback is not None:
            await self.fallback.serve(request, response, path_qs, body, headers, failure.kind)
        else:
            send_error(response, failure.status, failure.message, failure.code)

    async def _send(
        self,
        request: Request,
        response: ResponseWriter,
        upstream: UpstreamResponse,
        result: UpstreamResult,
        started: float,
        capture: Capture | None,
        usage_filter: UsageEventFilter | None,
    ) -> None:
        """Relay an answer whose headers have arrived. Failures from here on can only cut the
        answer short: the client already has the status line."""
        if usage_filter is None and request.method != "HEAD" and sendable_whole(upstream):
            body = await upstream.read()  # all of it is buffered already: this never waits
            result.ttft_ms = (time.perf_counter() - started) * 1000.0
            if capture is not None:
                capture.add(body)
            result.complete = True
            response.send(upstream.status, end_to_end_headers(upstream), body, upstream.reason)
            return
        response.start(
            upstream.status,
            end_to_end_headers(upstream),
            content_length=relayed_length(upstream) if usage_filter is None else None,
            reason=upstream.reason,
        )
        try:
            async for chunk in upstream:
                if result.ttft_ms is None:
                    result.ttft_ms = (time.perf_counter() - started) * 1000.0
                if capture is not None:
                    capture.add(chunk)
                await response.write(chunk if usage_filter is None else usage_filter.feed(chunk))
            result.complete = True
            if usage_filter is not None:
                await response.write(usage_filter.flush())
            await response.finish()
        except (TimeoutError, UpstreamError) as exc:
            failure = classify_failure(exc)
            self._upstream_errors[failure.kind].inc()
            result.error = ErrorInfo(kind=failure.kind, message=failure.message)
            logger.warning(
                "incumbent %s mid-answer on %s: %s", failure.kind, request.path, failure.message
            )
            response.abort()

    def _count(self, route: str, status: int | None) -> None:
        """``darklaunch_requests_total`` for the incumbent, with the labelled child cached:
        ``labels()`` costs a lock and a tuple hash on every call."""
        key = (route, status)
        child = self._request_counters.get(key)
        if child is None:
            child = self.metrics.requests.labels(route, "incumbent", "", status_class(status))
            self._request_counters[key] = child
        child.inc()

    def _remember(
        self,
        memory: RequestMemory,
        request: Request,
        pending: PendingPair | None,
        answer: CIMultiDictProxy[str] | None,
    ) -> None:
        """Remember a request on a mirrored route under its ids, once its answer is relayed:
        the client's ``x-request-id`` and the incumbent's (``request-id`` for Anthropic).
        O(1), and references only: the pair id, or the route and the body bytes as read."""
        if request.path not in self._remembered_routes:
            return
        client_id = request.headers.get("x-request-id")
        incumbent_id = None
        if answer is not None:
            incumbent_id = answer.get("x-request-id") or answer.get("request-id")
        if client_id is None and incumbent_id is None:
            return
        memory.remember(
            client_id,
            incumbent_id,
            pending.pair_id
            if pending is not None
            else RememberedRequest(request.path, request.body),
        )

    def _client_gone(self, result: UpstreamResult, exc: BaseException) -> None:
        """The client left mid-answer: stop relaying, keep what was seen for the record."""
        self._upstream_errors["client_disconnected"].inc()
        result.error = ErrorInfo(kind="client_disconnected", message=type(exc).__name__)
