"""Shadow mirroring: decide, start and bound the candidate calls of a sampled request.

A mirror never touches the client's path. :meth:`Mirror.begin` runs synchronously on the
request path and costs a route lookup and a sampling decision for unsampled requests; for
sampled ones it parses the body once, builds each candidate's request and spawns one
background task per pair. That task runs the candidate calls, waits for the incumbent's
outcome and hands the finished pair to the recorder.

Every mirror that does not happen is counted in ``darklaunch_mirror_skipped_total`` with one
of these reasons: ``paused``, ``body_not_json_object``, ``breaker_open``, ``max_inflight``.
Every mirror that fails is counted in ``darklaunch_candidate_errors_total`` by error kind.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy
from prometheus_client import Counter, Histogram

from proxy.breaker import Breaker
from proxy.config import CandidateConfig, Config
from proxy.http.client import UpstreamError, UpstreamPool
from proxy.http.headers import REQUEST_DROP, classify_failure, forwardable_headers, make_pool
from proxy.metrics import ProxyMetrics, status_class
from proxy.recording.exchange import Capture, UpstreamResult
from proxy.recording.pacing import PacedSink
from proxy.recording.schema import ErrorInfo, Role
from proxy.sampling import Sampler
from proxy.tasks import TaskSet

logger = logging.getLogger(__name__)

__all__ = ["CandidateTarget", "Mirror", "PendingPair", "SkipReason", "with_stream_usage"]

# Headers that identify or authenticate the end user; a candidate never gets them unless the
# config says so, because a candidate may be a different provider.
_CREDENTIAL_HEADERS = ("authorization", "cookie", "api-key", "x-api-key", "openai-organization")


# Record building per event-loop iteration before finished pairs wait for the next one (see
# proxy.recording.pacing), and the backlog beyond which they are built without pausing.
BUILD_BUDGET_S = 0.0005
BUILD_BACKLOG = 64


class SkipReason:
    """The closed vocabulary of the ``reason`` label on skipped mirrors."""

    PAUSED = "paused"
    NOT_JSON_OBJECT = "body_not_json_object"
    BREAKER_OPEN = "breaker_open"
    MAX_INFLIGHT = "max_inflight"
    ALL = (PAUSED, NOT_JSON_OBJECT, BREAKER_OPEN, MAX_INFLIGHT)


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


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

    def build_body(self, body: dict[str, Any], route: str, raw: bytes) -> bytes:
        """The client's body with this candidate's model rewrite and overrides. Chat and
        completion streams ask for usage, since nobody sees a candidate's stream and cost
        accounting needs it (Responses streams always end with usage). With nothing to
        change, the candidate gets the client's bytes as they came."""
        config = self.config
        if config.model is None and not config.body_overrides:
            if config.stream_usage:
                return with_stream_usage(body, route) or raw
            return raw
        if config.model is not None:
            body = {**body, "model": config.model}
        if config.body_overrides:
            body = _deep_merge(body, config.body_overrides)
        if config.stream_usage:
            return with_stream_usage(body, route) or orjson.dumps(body)
        return orjson.dumps(body)

    def build_headers(
        self, client_headers: CIMultiDictProxy[str], pair_id: str
    ) -> CIMultiDict[str]:
        drop = list(REQUEST_DROP)
        if not self.config.forward_authorization:
            drop.extend(_CREDENTIAL_HEADERS)
        headers = forwardable_headers(client_headers, drop)
        headers["content-type"] = "application/json"
        for name, value in self.config.headers.items():
            headers[name] = value
        headers["x-darklaunch-pair-id"] = pair_id
        headers["x-darklaunch-shadow"] = "1"
        return headers

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


@dataclass(slots=True)
class _Call:
    target: CandidateTarget
    body: bytes
    headers: CIMultiDict[str]


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
    ) -> None:
        self.pair_id = _next_pair_id()
        self.timestamp = time.time()
        self.method = method
        self.route = route
        self.path_qs = path_qs
        self.body = body
        self.client_headers = client_headers
        self.started = started
        self.incumbent: asyncio.Future[UpstreamResult] = asyncio.get_running_loop().create_future()

    def incumbent_done(self, result: UpstreamResult) -> None:
        if not self.incumbent.done():
            self.incumbent.set_result(result)


PairSink = Callable[
    [PendingPair, UpstreamResult, list[tuple[CandidateTarget, UpstreamResult]]], None
]
_Finished = tuple[PendingPair, UpstreamResult, list[tuple[CandidateTarget, UpstreamResult]]]


class Mirror:
    """The sampling decision and the bounded background calls for every candidate."""

    def __init__(self, config: Config, metrics: ProxyMetrics, sink: PairSink) -> None:
        self.routes = frozenset(config.mirror.routes)
        self.sampler = Sampler(config.mirror.sample_rate, config.mirror.sample_key)
        self.paused = config.mirror.paused
        self.targets = [CandidateTarget(c, metrics) for c in config.candidates]
        self.noise_rate = config.mirror.noise_rate
        self.replica = (
            CandidateTarget(replica_config(config), metrics, role=Role.REPLICA)
            if self.noise_rate > 0
            else None
        )
        self._random = random.random
        self.tasks = TaskSet("mirror")
        self._builds: PacedSink[_Finished] = PacedSink(
            lambda finished: sink(*finished),
            self.tasks,
            budget_s=BUILD_BUDGET_S,
            backlog=BUILD_BACKLOG,
        )
        self.capture_limit = config.recording.max_output_bytes
        self._decisions = {
            route: (
                metrics.mirror_decisions.labels(route, "sampled"),
                metrics.mirror_decisions.labels(route, "not_sampled"),
            )
            for route in self.routes
        }

    @property
    def sample_rate(self) -> float:
        return self.sampler.rate

    @sample_rate.setter
    def sample_rate(self, rate: float) -> None:
        self.sampler.rate = rate

    def _all_targets(self) -> list[CandidateTarget]:
        return [*self.targets, *([self.replica] if self.replica is not None else [])]

    async def start(self) -> None:
        for target in self._all_targets():
            target.open()

    async def stop(self, drain_timeout_s: float) -> int:
        """Let running pairs finish (up to the timeout), then close the pools."""
        cancelled = await self.tasks.drain(drain_timeout_s)
        self._builds.flush()  # pairs that finished but were still waiting for their build
        for target in self._all_targets():
            await target.close()
        return cancelled

    def begin(
        self,
        method: str,
        path: str,
        path_qs: str,
        headers: CIMultiDictProxy[str],
        body: bytes,
        started: float,
    ) -> PendingPair | None:
        """Decide whether this request is mirrored and, if so, start its candidate calls."""
        decisions = self._decisions.get(path)
        if decisions is None or not self.targets:
            return None
        sampler = self.sampler
        parsed: Any = None
        if sampler.needs_body:
            parsed = _parse_json(body)
        if not sampler.decide(sampler.key_of(headers, parsed)):
            decisions[1].inc()
            return None
        decisions[0].inc()
        if self.paused:
            for target in self.targets:
                target.skipped(SkipReason.PAUSED)
            return None
        if parsed is None:
            parsed = _parse_json(body)
        if not isinstance(parsed, dict):
            for target in self.targets:
                target.skipped(SkipReason.NOT_JSON_OBJECT)
            return None
        pending = PendingPair(method, path, path_qs, parsed, headers, started)
        calls: list[_Call] = []
        targets = self.targets
        if self.replica is not None and self._random() < self.noise_rate:
            targets = [*targets, self.replica]
        for target in targets:
            if target.in_flight >= target.config.max_inflight:
                target.skipped(SkipReason.MAX_INFLIGHT)
                continue
            if not target.breaker.allow():
                target.skipped(SkipReason.BREAKER_OPEN)
                continue
            target.in_flight += 1
            target.in_flight_gauge.inc()
            calls.append(
                _Call(
                    target,
                    target.build_body(parsed, path, body),
                    target.build_headers(headers, pending.pair_id),
                )
            )
        if not calls:
            return None
        self.tasks.spawn(self._run_pair(pending, calls), name=f"pair-{pending.pair_id}")
        return pending

    async def _run_call(self, pending: PendingPair, call: _Call) -> UpstreamResult:
        target = call.target
        try:
            result = await target.call(
                pending.method,
                pending.path_qs,
                call.body,
                call.headers,
                pending.started,
                self.capture_limit,
            )
        finally:
            target.in_flight -= 1
            target.in_flight_gauge.dec()
        ok = result.error is None and result.status is not None and result.status < 500
        target.breaker.record(ok)
        if result.error is not None:
            target.error(result.error.kind)
        elif result.status is not None and result.status >= 500:
            target.error("http_5xx")
        target.observe(pending.route, result)
        return result

    async def _run_pair(self, pending: PendingPair, calls: list[_Call]) -> None:
        if len(calls) == 1:  # the common case needs no extra task per call
            results = [await self._run_call(pending, calls[0])]
        else:
            results = await asyncio.gather(*(self._run_call(pending, call) for call in calls))
        # The handler resolves this in a ``finally``, so it always arrives; the incumbent's own
        # timeout bounds how long that takes.
        incumbent = await pending.incumbent
        self._builds(
            (
                pending,
                incumbent,
                [(call.target, result) for call, result in zip(calls, results, strict=True)],
            )
        )


_PROCESS_PREFIX = os.urandom(8).hex()
_pair_counter = itertools.count()


def _next_pair_id() -> str:
    """32 hex characters, unique across processes and restarts: 64 random bits drawn once
    per process, then a counter. About ten times cheaper than ``uuid4()`` per request."""
    return f"{_PROCESS_PREFIX}{next(_pair_counter) & 0xFFFFFFFFFFFFFFFF:016x}"


def replica_config(config: Config) -> CandidateConfig:
    """The incumbent, called a second time as if it were a candidate. It gets the client's
    credentials (the incumbent is who they are for) and the incumbent's own headers."""
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
        forward_authorization=True,
    )


def with_stream_usage(body: dict[str, Any], route: str) -> bytes | None:
    """The body re-encoded to ask for a usage chunk, or ``None`` when it needs no change:
    not a chat or completions stream, or usage already requested."""
    if body.get("stream") is not True or not route.endswith(("/chat/completions", "/completions")):
        return None
    options = body.get("stream_options")
    options = dict(options) if isinstance(options, dict) else {}
    if options.get("include_usage") is True:
        return None
    options["include_usage"] = True
    return orjson.dumps({**body, "stream_options": options})


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
