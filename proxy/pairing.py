"""Turn a finished mirrored exchange into one :class:`~proxy.recording.schema.PairRecord`.

This runs in the pair's background task, after the client has been served: decoding,
stream assembly, redaction and truncation all happen here, once, so that readers of the
pairs stream never need raw bytes and nothing unredacted is ever enqueued. The record is
built as plain data (:mod:`proxy.recording.encode`) because this runs for every mirrored request.
"""

from __future__ import annotations

from typing import Any

import orjson

from proxy.config.root import Config
from proxy.mirroring.pair import PendingPair
from proxy.mirroring.target import CandidateTarget
from proxy.recording.assembly.dispatch import assemble
from proxy.recording.encode import OutputData, PairData, RequestData, SideData
from proxy.recording.exchange import UpstreamResult, decode_body
from proxy.recording.redact import Redactor
from proxy.recording.schema import SCHEMA_VERSION, Role
from proxy.recording.sink import Recorder
from proxy.recording.tags import Tagger

__all__ = ["RECORDED_HEADERS", "PairBuilder"]

# Request headers are never recorded, except these, which carry no secret and help debugging.
RECORDED_HEADERS = ("content-type", "user-agent", "x-request-id")


class PairBuilder:
    """The :class:`~proxy.mirroring.mirror.Mirror`'s sink: builds each record and submits it."""

    def __init__(self, config: Config, recorder: Recorder) -> None:
        self.campaign = config.recording.campaign
        self.max_body_bytes = config.recording.max_body_bytes
        self.max_output_bytes = config.recording.max_output_bytes
        self.incumbent_version = config.incumbent.version
        self.recorder = recorder
        redact = config.recording.redact
        self.redactor = Redactor(
            enabled=redact.enabled,
            builtins=redact.builtins,
            patterns=redact.patterns,
            drop_paths=redact.drop_paths,
        )
        self.tagger = Tagger(config.recording.tags, self.redactor)

    def __call__(
        self,
        pending: PendingPair,
        incumbent: UpstreamResult,
        mirrors: list[tuple[CandidateTarget, UpstreamResult]],
    ) -> None:
        self.recorder.submit(self.build(pending, incumbent, mirrors))

    def build(
        self,
        pending: PendingPair,
        incumbent: UpstreamResult,
        mirrors: list[tuple[CandidateTarget, UpstreamResult]],
    ) -> PairData:
        body = pending.body
        requested_model = body.get("model") if isinstance(body.get("model"), str) else None
        route = pending.route
        return {
            "schema_version": SCHEMA_VERSION,
            "pair_id": pending.pair_id,
            "campaign": self.campaign,
            "timestamp": pending.timestamp,
            "sample_rate": pending.sample_rate,
            "route": route,
            "method": pending.method,
            "request": self._request_info(pending, requested_model),
            "incumbent": self._side(
                route,
                Role.INCUMBENT,
                "incumbent",
                requested_model,
                self.incumbent_version,
                incumbent,
            ),
            "mirrors": [
                self._side(
                    result.route or route,
                    target.role,
                    target.name,
                    target.config.model or requested_model,
                    target.config.version,
                    result,
                )
                for target, result in mirrors
            ],
            "source": "live",
            "served": pending.served,
            "golden": None,
            "expected": None,
        }

    def _request_info(self, pending: PendingPair, model: str | None) -> RequestData:
        redactor = self.redactor
        headers: dict[str, str] = {}
        for name in RECORDED_HEADERS:
            value = pending.client_headers.get(name)
            if value is not None:
                headers[name] = redactor.text(value)
        body: Any = redactor.request_body(pending.body)
        truncated = False
        encoded = orjson.dumps(body)
        if len(encoded) > self.max_body_bytes:
            body = encoded[: self.max_body_bytes].decode("utf-8", errors="ignore")
            truncated = True
        return {
            "headers": headers,
            "body": body,
            "body_truncated": truncated,
            "stream": pending.body.get("stream") is True,
            "model": model,
            "tags": self.tagger(pending.client_headers, pending.body),
        }

    def _side(
        self,
        route: str,
        role: Role,
        name: str,
        model: str | None,
        version: str | None,
        result: UpstreamResult,
    ) -> SideData:
        output: OutputData | None = None
        if result.status is not None:
            raw = decode_body(result.body, result.content_encoding, self.max_output_bytes)
            output = self.redactor.output(
                assemble(
                    route,
                    result.content_type,
                    raw,
                    complete=result.complete,
                    truncated=result.truncated,
                )
            )
        return {
            "role": role,
            "name": name,
            "model": model,
            "version": version,
            "status": result.status,
            "error": self.redactor.error(result.error),
            "latency_ms": result.latency_ms,
            "ttft_ms": result.ttft_ms,
            "output": output,
        }
