"""Serving a rollout's cohort: the candidate answers, the incumbent stands behind it.

For a request in the cohort (:mod:`proxy.rollout.cohort`) the candidate is called as the
client's upstream: its configured URL, headers, model rewrite and timeouts, with the client's
headers narrowed to the candidates' allowlist (a candidate may be another provider; the
client's credentials are the incumbent's). Nothing reaches the client until the candidate
has answered well enough to commit to:

* a streamed answer (``text/event-stream``) commits at its first body chunk, within the
  candidate's ``first_byte_timeout_s``;
* any other answer is read whole first (up to :data:`WHOLE_ANSWER_LIMIT`), within its
  ``timeout_s``, so a body cut short still falls back.

Before that point any failure (connect error, timeout, reset, a status in
``rollout.fallback_on_status``, the candidate's breaker open) sends the request to the
incumbent instead: the seed's tested fallback, counted in
``darklaunch_rollout_fallbacks_total`` by reason. After it, a failure can only cut the answer
short, as for the incumbent.

**Reverse shadow.** For a share (``rollout.reverse_shadow_rate``) of the requests the
candidate served, the incumbent is asked in the background, bounded like a mirror, and the
pair is recorded with the usual roles (incumbent side: the background answer; mirror: what the
client got) and ``served: candidate``. A request that fell back is recorded too, with the
candidate's failure as its mirror. So the guards keep judging through the ramp.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict

from proxy.config.root import Config
from proxy.config.upstreams import CandidateConfig
from proxy.http.cycle import Request
from proxy.http.headers import end_to_end_headers, relayed_length
from proxy.http.upstream_errors import UpstreamError, classify_failure
from proxy.http.upstream_response import UpstreamResponse
from proxy.http.writer import ResponseWriter
from proxy.metrics import ProxyMetrics, RolloutMetrics
from proxy.mirroring.crossapi import cross_call, outgoing
from proxy.mirroring.mirror import Mirror
from proxy.mirroring.pair import PendingPair
from proxy.mirroring.request import candidate_body, candidate_headers, replica_headers
from proxy.mirroring.target import CandidateTarget, SkipReason, replica_config
from proxy.mirroring.translate import Untranslatable
from proxy.recording.exchange import Capture, UpstreamResult
from proxy.recording.schema import ErrorInfo, Role
from proxy.rollout.cohort import Cohort
from proxy.rollout.follower import RolloutFollower

logger = logging.getLogger(__name__)

__all__ = ["WHOLE_ANSWER_LIMIT", "CohortOutcome", "CohortServer"]

# A non-streamed answer larger than this is relayed as it arrives instead of read whole first.
WHOLE_ANSWER_LIMIT = 8 << 20
_NOT_SERVED_HEADER = "x-darklaunch-shadow"


@dataclass(frozen=True, slots=True)
class CohortOutcome:
    """What became of a cohort request: served by the candidate, or to be served by the
    incumbent (``pending`` is the pair recording the candidate's failure, if one is kept)."""

    served: bool
    pending: PendingPair | None = None


class _Failed(Exception):
    """The candidate failed before the client got a byte: fall back, for ``reason``."""

    def __init__(self, reason: str, error: ErrorInfo, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.status = status


class CohortServer:
    """The rollout's serving path in one proxy process."""

    def __init__(
        self,
        config: Config,
        metrics: ProxyMetrics,
        rollout_metrics: RolloutMetrics,
        follower: RolloutFollower,
        mirror: Mirror,
    ) -> None:
        rollout = config.rollout
        assert rollout is not None
        self.config = rollout
        self.follower = follower
        self.mirror = mirror
        self.routes = frozenset(rollout.routes or config.mirror.routes)
        self.cohort = Cohort(rollout)
        (candidate,) = (c for c in config.candidates if c.name == rollout.candidate)
        # The client sees this stream: no usage chunk it did not ask for.
        self.serving_config: CandidateConfig = candidate.model_copy(update={"stream_usage": False})
        self.target = CandidateTarget(self.serving_config, metrics)
        shadow = replica_config(config).model_copy(update={"name": "incumbent"})
        self.shadow = CandidateTarget(shadow, metrics, role=Role.INCUMBENT)
        self.on_status = frozenset(rollout.fallback_on_status)
        self.capture_limit = config.recording.max_output_bytes
        self.metrics = rollout_metrics
        name = candidate.name
        rollout_metrics.for_candidate(name)
        self._served = {
            who: rollout_metrics.requests.labels(name, who) for who in rollout_metrics.SERVED_BY
        }
        self._random = random.random

    def open(self) -> None:
        self.target.open()
        self.shadow.open()

    async def close(self) -> None:
        await self.target.close()
        await self.shadow.close()

    def includes(self, request: Request) -> tuple[bool, Any]:
        """Whether the candidate serves this request now, and the body parsed on the way
        (``None`` when it did not need parsing)."""
        if request.path not in self.routes:
            return False, None
        share = self.follower.share
        if share <= 0.0:
            return False, None
        parsed = _parse(request.body) if self.cohort.needs_body else None
        if self.cohort.includes(share, request.headers, parsed):
            return True, parsed
        self._served["incumbent"].inc()
        return False, None

    async def serve(
        self, request: Request, response: ResponseWriter, parsed: Any, started: float
    ) -> CohortOutcome:
        """Serve a cohort request by the candidate, or say the incumbent must."""
        parsed = parsed if parsed is not None else _parse(request.body)
        if not isinstance(parsed, dict):
            return self._fall_back("not_json", None, None)
        path = request.path
        config = self.serving_config
        if cross_call(config.api, path, parsed) is not None:
            return self._fall_back("untranslatable", None, None)
        pending = PendingPair(
            request.method, path, request.path_qs, parsed, request.headers, started,
            sample_rate=self.follower.share * self.config.reverse_shadow_rate,
        )  # fmt: skip
        if not self.target.breaker.allow():
            return self._fall_back("breaker_open", pending, None)
        body = candidate_body(config, parsed, path, request.body)
        headers = candidate_headers(config, request.headers, pending.pair_id)
        del headers[_NOT_SERVED_HEADER]  # served, not shadowed: the candidate's real traffic
        result = UpstreamResult()
        try:
            await self._relay(request, response, body, headers, result)
        except _Failed as failed:
            result.status = failed.status
            result.error = failed.error
            result.latency_ms = (time.perf_counter() - started) * 1000.0
            self.target.breaker.record(False)
            self.target.observe(path, result)
            return self._fall_back(failed.reason, pending, result)
        ok = result.error is None or result.error.kind == "client_disconnected"
        self.target.breaker.record(ok and result.status is not None and result.status < 500)
        self.target.observe(path, result)
        self._served["candidate"].inc()
        if self._random() < self.config.reverse_shadow_rate:
            self._shadow_incumbent(request, pending, parsed, result)
        return CohortOutcome(True)

    async def _relay(
        self,
        request: Request,
        response: ResponseWriter,
        body: bytes,
        headers: CIMultiDict[str],
        result: UpstreamResult,
    ) -> None:
        """Call the candidate and relay its answer, or raise :class:`_Failed` while the client
        has not had a byte of it."""
        assert self.target.pool is not None
        config = self.serving_config
        loop = asyncio.get_running_loop()
        total_deadline = loop.time() + config.timeout_s
        first_deadline = min(loop.time() + config.first_byte_timeout_s, total_deadline)
        capture = Capture(self.capture_limit)
        # Timed from the call, as the reverse shadow's incumbent is: the pair compares the two
        # upstreams, not this proxy's own work before the call.
        started = time.perf_counter()
        try:
            upstream = await self.target.pool.request(
                request.method, request.path_qs, headers.items(), body, deadline=first_deadline
            )
        except (TimeoutError, UpstreamError) as exc:
            raise _before_first_byte(exc) from exc
        async with upstream:
            result.status = upstream.status
            result.content_type = upstream.headers.get("content-type")
            result.content_encoding = upstream.headers.get("content-encoding")
            if upstream.status in self.on_status:
                raise _Failed(
                    "status",
                    ErrorInfo(kind="http_status", message=f"answered {upstream.status}"),
                    upstream.status,
                )
            streamed = (result.content_type or "").startswith("text/event-stream")
            length = relayed_length(upstream)
            whole = not streamed and (length is None or length <= WHOLE_ANSWER_LIMIT)
            try:
                if whole:
                    upstream.move_deadline(total_deadline)
                    first = await _read_capped(upstream, WHOLE_ANSWER_LIMIT)
                else:
                    first = await anext(upstream, b"")
                    upstream.move_deadline(total_deadline)
            except (TimeoutError, UpstreamError) as exc:
                raise _before_first_byte(exc) from exc
            result.ttft_ms = (time.perf_counter() - started) * 1000.0
            capture.add(first)
            try:
                await self._send(response, upstream, first, whole, capture)
                result.complete = True
            except ConnectionError as exc:  # the client left
                result.error = ErrorInfo(kind="client_disconnected", message=type(exc).__name__)
            except (TimeoutError, UpstreamError) as exc:
                failure = classify_failure(exc)
                result.error = ErrorInfo(kind=failure.kind, message=failure.message)
                logger.warning("candidate %s mid-answer: %s", config.name, failure.message)
                response.abort()
            finally:
                result.latency_ms = (time.perf_counter() - started) * 1000.0
                result.body = capture.getvalue()
                result.truncated = capture.truncated

    async def _send(
        self,
        response: ResponseWriter,
        upstream: UpstreamResponse,
        first: bytes,
        whole: bool,
        capture: Capture,
    ) -> None:
        if whole:
            response.send(upstream.status, end_to_end_headers(upstream), first, upstream.reason)
            return
        response.start(
            upstream.status,
            end_to_end_headers(upstream),
            content_length=relayed_length(upstream),
            reason=upstream.reason,
        )
        await response.write(first)
        async for chunk in upstream:
            capture.add(chunk)
            await response.write(chunk)
        await response.finish()

    def _fall_back(
        self, reason: str, pending: PendingPair | None, result: UpstreamResult | None
    ) -> CohortOutcome:
        """Count the fallback; keep the pair (the candidate's failure against the answer the
        incumbent is about to give) when there was a call to record."""
        self.metrics.fallbacks.labels(self.target.name, reason).inc()
        self._served["fallback"].inc()
        if pending is None or result is None:
            return CohortOutcome(False)
        self.mirror.tasks.spawn(
            self._record_fallback(pending, result), name=f"fallback-{pending.pair_id}"
        )
        return CohortOutcome(False, pending)

    async def _record_fallback(self, pending: PendingPair, result: UpstreamResult) -> None:
        incumbent = await pending.incumbent  # the forwarder resolves it in a ``finally``
        self.mirror.record(pending, incumbent, [(self.target, result)])

    def _shadow_incumbent(
        self, request: Request, pending: PendingPair, parsed: dict[str, Any], served: UpstreamResult
    ) -> None:
        shadow = self.shadow
        if shadow.in_flight >= shadow.config.max_inflight:
            shadow.skipped(SkipReason.MAX_INFLIGHT)
            return
        out = outgoing(shadow.config, request.path, request.path_qs, parsed, request.body)
        if isinstance(out, Untranslatable):  # never: the incumbent speaks the route's API
            return
        headers = replica_headers(shadow.config, request.headers, pending.pair_id)
        pending.served = "candidate"
        shadow.in_flight += 1
        shadow.in_flight_gauge.inc()
        self.mirror.tasks.spawn(
            self._run_shadow(pending, out.body, headers, served), name=f"shadow-{pending.pair_id}"
        )

    async def _run_shadow(
        self, pending: PendingPair, body: bytes, headers: CIMultiDict[str], served: UpstreamResult
    ) -> None:
        shadow = self.shadow
        try:
            incumbent = await shadow.call(
                pending.method, pending.path_qs, body, headers, time.perf_counter(),
                self.capture_limit,
            )  # fmt: skip
        finally:
            shadow.in_flight -= 1
            shadow.in_flight_gauge.dec()
        shadow.observe(pending.route, incumbent)
        self.mirror.record(pending, incumbent, [(self.target, served)])


def _before_first_byte(exc: BaseException) -> _Failed:
    if isinstance(exc, TimeoutError):
        error = ErrorInfo(kind="first_byte_timeout", message="no first byte in time")
        return _Failed("first_byte_timeout", error)
    failure = classify_failure(exc)
    return _Failed(failure.kind, ErrorInfo(kind=failure.kind, message=failure.message))


async def _read_capped(upstream: UpstreamResponse, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in upstream:
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise UpstreamError(f"answer over {limit} bytes")
    return b"".join(chunks)


def _parse(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
