"""One mirror destination: its pool, its bounds, its breaker, its metrics and its calls.

A target is a configured candidate, or the replica: the incumbent called a second time as if
it were a candidate, to measure the incumbent's own nondeterminism.
"""

from __future__ import annotations

import asyncio
import logging
import time

from multidict import CIMultiDict
from prometheus_client import Counter, Histogram

from proxy.breaker import Breaker
from proxy.config.root import Config
from proxy.config.upstreams import CandidateConfig
from proxy.http.upstream_errors import UpstreamError, classify_failure
from proxy.http.upstream_pool import UpstreamPool
from proxy.metrics import ProxyMetrics, status_class
from proxy.recording.exchange import Capture, UpstreamResult
from proxy.recording.schema import ErrorInfo, Role
from proxy.upstreams import make_pool

logger = logging.getLogger(__name__)

__all__ = ["CandidateTarget", "SkipReason", "replica_config"]


class SkipReason:
    """The closed vocabulary of the ``reason`` label on skipped mirrors."""

    PAUSED = "paused"
    NOT_JSON_OBJECT = "body_not_json_object"
    BREAKER_OPEN = "breaker_open"
    MAX_INFLIGHT = "max_inflight"
    # The candidate speaks another API and this request has no faithful translation; the
    # translator's reason is counted in ``darklaunch_mirror_untranslatable_total``.
    UNTRANSLATABLE = "untranslatable"
    ALL = (PAUSED, NOT_JSON_OBJECT, BREAKER_OPEN, MAX_INFLIGHT, UNTRANSLATABLE)


class CandidateTarget:
    """One mirror destination with its own pool, bounds and breaker."""

    def __init__(
        self, config: CandidateConfig, metrics: ProxyMetrics, role: Role = Role.CANDIDATE
    ) -> None:
        self.config = config
        self.role = role
        self.name = config.name
        self.label = config.name
        self.in_flight = 0
        self.pool: UpstreamPool | None = None
        gauge = metrics.breaker_state.labels(self.name)
        self.breaker = Breaker(
            config.breaker.failure_threshold,
            config.breaker.reset_after_s,
            on_change=lambda state: gauge.set(int(state)),
        )
        self.in_flight_gauge = metrics.mirror_in_flight.labels(self.name)
        self._skipped = {
            reason: metrics.mirror_skipped.labels(self.name, reason) for reason in SkipReason.ALL
        }
        self._errors = metrics.candidate_errors
        self._metrics = metrics
        self._counts: dict[tuple[str, int | None], Counter] = {}
        self._timing: dict[str, tuple[Histogram, Histogram]] = {}

    def observe(self, route: str, result: UpstreamResult) -> None:
        """This call's request count and timings, with the labelled children cached per route
        and status: ``labels()`` costs a lock and a tuple hash on every call."""
        key = (route, result.status)
        count = self._counts.get(key)
        if count is None:
            labels = (route, self.role.value, self.label, status_class(result.status))
            count = self._counts[key] = self._metrics.requests.labels(*labels)
        count.inc()
        timing = self._timing.get(route)
        if timing is None:
            labels3 = (route, self.role.value, self.label)
            timing = self._timing[route] = (
                self._metrics.request_duration.labels(*labels3),
                self._metrics.time_to_first_byte.labels(*labels3),
            )
        if result.latency_ms is not None:
            timing[0].observe(result.latency_ms / 1000.0)
        if result.ttft_ms is not None:
            timing[1].observe(result.ttft_ms / 1000.0)

    def skipped(self, reason: str) -> None:
        self._skipped[reason].inc()

    def untranslatable(self, reason: str, detail: str) -> None:
        """A request this candidate's API cannot be sent: skipped, counted by why, and logged
        (the detail names the field, never a value longer than a few words)."""
        self._skipped[SkipReason.UNTRANSLATABLE].inc()
        self._metrics.mirror_untranslatable.labels(self.name, reason).inc()
        logger.debug("not mirrored to %s: %s (%s)", self.name, reason, detail)

    def error(self, kind: str) -> None:
        self._errors.labels(self.name, kind).inc()

    def open(self) -> None:
        ca = str(self.config.ca_bundle) if self.config.ca_bundle else None
        self.pool = make_pool(
            self.config.url, self.config.pool, verify_tls=self.config.verify_tls, ca_bundle=ca
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()

    async def call(
        self,
        method: str,
        path_qs: str,
        body: bytes,
        headers: CIMultiDict[str],
        started: float,
        capture_limit: int,
    ) -> UpstreamResult:
        """Run one mirror call to the end and describe it; never raises.

        The first-byte deadline covers connecting, the response headers and the first body
        chunk; once a byte has arrived the deadline moves out to ``timeout_s``.
        """
        config = self.config
        result = UpstreamResult()
        capture = Capture(capture_limit)
        loop = asyncio.get_running_loop()
        total_deadline = loop.time() + config.timeout_s
        first_deadline = min(loop.time() + config.first_byte_timeout_s, total_deadline)
        got_first = False
        assert self.pool is not None
        try:
            response = await self.pool.request(
                method, path_qs, headers.items(), body, deadline=first_deadline
            )
            async with response:
                result.status = response.status
                result.content_type = response.headers.get("content-type")
                result.content_encoding = response.headers.get("content-encoding")
                if response.status == 429 or response.status >= 500:
                    result.retry_after = response.headers.get("retry-after")
                async for chunk in response:
                    if not got_first:
                        got_first = True
                        result.ttft_ms = (time.perf_counter() - started) * 1000.0
                        response.move_deadline(total_deadline)
                    capture.add(chunk)
                result.complete = True
        except TimeoutError:
            kind = "timeout" if got_first else "first_byte_timeout"
            result.error = ErrorInfo(
                kind=kind, message=f"no {'end' if got_first else 'first byte'} in time"
            )
        except UpstreamError as exc:
            result.error = ErrorInfo(kind=classify_failure(exc).kind, message=str(exc))
        except Exception as exc:  # a bug must not kill the pair task; it is logged and recorded
            logger.exception("mirror call to %s failed unexpectedly", self.name)
            result.error = ErrorInfo(kind="internal", message=type(exc).__name__)
        now = time.perf_counter()
        result.latency_ms = (now - started) * 1000.0
        if result.ttft_ms is None and result.complete:
            result.ttft_ms = result.latency_ms
        result.body = capture.getvalue()
        result.truncated = capture.truncated
        return result


def replica_config(config: Config) -> CandidateConfig:
    """The incumbent, called a second time as if it were a candidate. Its headers are not a
    candidate's but what the incumbent got (:func:`proxy.mirroring.request.replica_headers`):
    the client's credentials are the incumbent's, and so are its configured headers."""
    incumbent = config.incumbent
    return CandidateConfig(
        name="replica",
        url=incumbent.url,
        headers=incumbent.headers,
        version=incumbent.version,
        verify_tls=incumbent.verify_tls,
        ca_bundle=incumbent.ca_bundle,
        pool=incumbent.pool,
        timeout_s=incumbent.timeout_s,
        first_byte_timeout_s=incumbent.timeout_s,
        max_inflight=config.mirror.replica_max_inflight,
    )
