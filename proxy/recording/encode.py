"""The pair record as the proxy builds it: plain dicts shaped exactly like the schema in
:mod:`proxy.recording.schema`.

A record is built for every mirrored request, on the event loop. Constructing the pydantic
models (eight per pair) and serialising them with ``model_dump_json`` was a large share of
the cost of building one, so the writer fills these typed dicts and encodes them with orjson
instead. Readers still parse with :class:`~proxy.recording.schema.PairRecord`, which stays the
schema: every key here is a field there, in the same order and of the same type, and
``tests/proxy/recording/test_encode.py`` walks both from the root, field by field, and fails
on any difference.
"""

from __future__ import annotations

from typing import Any, TypedDict

import orjson

from proxy.recording.schema import PairRecord, Role

__all__ = [
    "ChoiceData",
    "ErrorData",
    "ExpectedData",
    "GoldenRefData",
    "OutputData",
    "PairData",
    "RequestData",
    "SideData",
    "ToolCallData",
    "encode_record",
]


class ToolCallData(TypedDict):
    id: str | None
    name: str
    arguments: str


class ChoiceData(TypedDict):
    index: int
    text: str
    tool_calls: list[ToolCallData]
    finish_reason: str | None
    refusal: str | None
    reasoning: str | None


class OutputData(TypedDict):
    streamed: bool
    body: Any
    choices: list[ChoiceData]
    usage: dict[str, Any] | None
    response_model: str | None
    partial: bool
    truncated: bool
    format: str | None
    unscored: str | None


class ErrorData(TypedDict):
    kind: str
    message: str


class SideData(TypedDict):
    role: Role
    name: str
    model: str | None
    version: str | None
    status: int | None
    error: ErrorData | None
    latency_ms: float | None
    ttft_ms: float | None
    output: OutputData | None


class RequestData(TypedDict):
    headers: dict[str, str]
    body: Any
    body_truncated: bool
    stream: bool
    model: str | None
    tags: dict[str, str]


class ExpectedData(TypedDict):
    text: str | None
    tool_calls: list[ToolCallData] | None
    value: Any


class GoldenRefData(TypedDict):
    version: str
    item: str
    round: int


class PairData(TypedDict):
    schema_version: int
    pair_id: str
    campaign: str
    timestamp: float
    sample_rate: float | None
    route: str
    method: str
    request: RequestData
    incumbent: SideData
    mirrors: list[SideData]
    source: str
    served: str
    golden: GoldenRefData | None
    expected: ExpectedData | None


def encode_record(record: PairData) -> bytes:
    """The record as the JSON that readers parse with ``PairRecord.model_validate_json``.

    Raises ``ValueError`` when the record cannot be encoded at all (a string holding a lone
    surrogate, say), as ``model_dump_json`` did.
    """
    try:
        return orjson.dumps(record)
    except orjson.JSONEncodeError:
        # orjson refuses more than 254 levels of nesting, pydantic only a few levels deeper:
        # pydantic has the last word on such a body, so exactly the same records get through.
        return PairRecord.model_validate(record).model_dump_json().encode()
