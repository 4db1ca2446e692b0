"""The mirror dispatcher: the sampling decision, the shedding, and one background task per pair.

:meth:`Mirror.begin` runs synchronously on the request path; the pair's task runs the candidate
calls, waits for the incumbent's outcome and hands the finished pair to the sink.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.config.root import Config
from proxy.metrics import ProxyMetrics
from proxy.mirroring.crossapi import api_headers, outgoing
from proxy.mirroring.pair import PendingPair
from proxy.mirroring.request import candidate_headers, replica_headers
from proxy.mirroring.target import CandidateTarget, SkipReason, replica_config
from proxy.mirroring.translate import Untranslatable
from proxy.recording.exchange import UpstreamResult
from proxy.recording.pacing import PacedSink
from proxy.recording.schema import Role
from proxy.sampling import Sampler
from proxy.tasks import TaskSet

__all__ = ["Mirror", "PairSink"]

# Record building per event-loop iteration before finished pairs wait for the next one (see
# proxy.recording.pacing), and the backlog beyond which they are built without pausing.
BUILD_BUDGET_S = 0.0005
BUILD_BACKLOG = 64


@dataclass(slots=True)
class _Call:
    target: CandidateTarget
    body: bytes
    headers: CIMultiDict[str]
    path_qs: str
    route: str | None = None  # a translated call's path, its answer's format


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
        pending = PendingPair(
            method, path, path_qs, parsed, headers, started, sample_rate=sampler.rate
        )
        calls: list[_Call] = []
        targets = self.targets
        if self.replica is not None and self._random() < self.noise_rate:
            targets = [*targets, self.replica]
        for target in targets:
            config = target.config
            out = outgoing(config, path, path_qs, parsed, body)
            if isinstance(out, Untranslatable):
                target.untranslatable(out.reason, out.detail)
                continue
            if target.in_flight >= config.max_inflight:
                target.skipped(SkipReason.MAX_INFLIGHT)
                continue
            if not target.breaker.allow():
                target.skipped(SkipReason.BREAKER_OPEN)
                continue
            target.in_flight += 1
            target.in_flight_gauge.inc()
            # A candidate gets an allowlist of the client's headers; the replica what the
            # incumbent got (see proxy.mirroring.request).
            make_headers = replica_headers if target.role is Role.REPLICA else candidate_headers
            call_headers = api_headers(config, make_headers(config, headers, pending.pair_id))
            calls.append(_Call(target, out.body, call_headers, out.path_qs, out.route))
        if not calls:
            return None
        self.tasks.spawn(self._run_pair(pending, calls), name=f"pair-{pending.pair_id}")
        return pending

    def record(
        self,
        pending: PendingPair,
        incumbent: UpstreamResult,
        mirrors: list[tuple[CandidateTarget, UpstreamResult]],
    ) -> None:
        """Hand a finished pair to the sink, paced like the mirror's own: a rollout's served
        and fallen-back pairs (:mod:`proxy.rollout.serve`) are built the same way."""
        self._builds((pending, incumbent, mirrors))

    async def _run_call(self, pending: PendingPair, call: _Call) -> UpstreamResult:
        target = call.target
        try:
            result = await target.call(
                pending.method,
                call.path_qs,
                call.body,
                call.headers,
                pending.started,
                self.capture_limit,
            )
        finally:
            target.in_flight -= 1
            target.in_flight_gauge.dec()
        result.route = call.route
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


def _parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
