"""The plain-data record is the schema, field by field, and encodes to exactly what the
pydantic models would have written."""

from __future__ import annotations

from types import UnionType
from typing import Any, TypedDict, Union, cast, get_args, get_origin, get_type_hints, is_typeddict

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from proxy.recording.assembly.dispatch import assemble
from proxy.recording.encode import (
    ErrorData,
    OutputData,
    PairData,
    SideData,
    ToolCallData,
    encode_record,
)
from proxy.recording.redact import Redactor
from proxy.recording.schema import (
    Choice,
    Output,
    PairRecord,
    Role,
    ToolCall,
)


def _drift(data: Any, model: Any, path: str = "PairData") -> list[str]:
    """Every way the write-side form ``data`` (a TypedDict) differs from the schema ``model``
    (a pydantic model), walked field by field from the root: names, order and types, nested
    records compared in turn. Empty when the two describe the same JSON."""
    if not (is_typeddict(data) and isinstance(model, type) and issubclass(model, BaseModel)):
        return [] if data == model else [f"{path}: {data} where the schema has {model}"]
    hints, fields = get_type_hints(data), model.model_fields
    if list(hints) != list(fields):
        return [f"{path}: keys {list(hints)} where the schema has fields {list(fields)}"]
    return [
        p for name in hints for p in _same(hints[name], fields[name].annotation, f"{path}.{name}")
    ]


def _same(data: Any, model: Any, where: str) -> list[str]:
    data_origin, model_origin = get_origin(data), get_origin(model)
    if data_origin is None and model_origin is None:
        return _drift(data, model, where)
    unions = {Union, UnionType}
    if data_origin != model_origin and not {data_origin, model_origin} <= unions:
        return [f"{where}: {data} where the schema has {model}"]
    data_args, model_args = get_args(data), get_args(model)
    if len(data_args) != len(model_args):
        return [f"{where}: {data} where the schema has {model}"]
    return [
        p for d, m in zip(data_args, model_args, strict=True) for p in _same(d, m, f"{where}[]")
    ]


def test_the_write_form_is_the_schema_field_by_field() -> None:
    """The one schema is PairRecord; PairData, the fast form the proxy builds, is checked
    against it mechanically from the root down, so a field added, renamed, reordered or
    retyped on either side fails here."""
    assert _drift(PairData, PairRecord) == []


class _Renamed(TypedDict):
    id: str | None
    title: str
    arguments: str


class _Retyped(TypedDict):
    id: str | None
    name: str
    arguments: int


class _Loosened(TypedDict):
    index: int
    text: str
    tool_calls: list[ToolCallData]
    finish_reason: str
    refusal: str | None
    reasoning: str | None


class _DeepDrift(TypedDict):
    index: int
    text: str
    tool_calls: list[_Retyped]
    finish_reason: str | None
    refusal: str | None
    reasoning: str | None


@pytest.mark.parametrize(
    ("data", "model", "found"),
    [
        (_Renamed, ToolCall, "ToolCall: keys ['id', 'title', 'arguments']"),
        (_Retyped, ToolCall, "ToolCall.arguments: <class 'int'>"),
        (_Loosened, Choice, "Choice.finish_reason: <class 'str'>"),
        (_DeepDrift, Choice, "Choice.tool_calls[].arguments: <class 'int'>"),
    ],
)
def test_the_check_finds_drift(data: Any, model: type[BaseModel], found: str) -> None:
    problems = _drift(data, model, model.__name__)
    assert len(problems) == 1
    assert problems[0].startswith(found)


def _pair(
    output: OutputData | None,
    request_body: Any = None,
    *,
    error: ErrorData | None = None,
    latency_ms: float | None = 12.5,
) -> PairData:
    incumbent: SideData = {
        "role": Role.INCUMBENT,
        "name": "incumbent",
        "model": "m",
        "version": None,
        "status": 200 if output is not None else None,
        "error": error,
        "latency_ms": latency_ms,
        "ttft_ms": None,
        "output": output,
    }
    return {
        "schema_version": 1,
        "pair_id": "p1",
        "campaign": "c",
        "timestamp": 1_764_000_000.123456,
        "sample_rate": 0.05,
        "route": "/v1/chat/completions",
        "method": "POST",
        "request": {
            "headers": {"content-type": "application/json"},
            "body": request_body,
            "body_truncated": False,
            "stream": False,
            "model": "m",
            "tags": {"tenant": "acme", "feature": "search"},
        },
        "incumbent": incumbent,
        "mirrors": [{**incumbent, "role": Role.REPLICA, "name": "replica"}],
        "source": "replay",
        "served": "incumbent",
        "golden": {"version": "v2", "item": "g-0123456789abcdef", "round": 1},
        "expected": {
            "text": "Paris",
            "tool_calls": [{"id": None, "name": "f", "arguments": "{}"}],
            "value": {"a": [1, 2.5, None]},
        },
    }


def _as_pydantic_writes_it(record: PairData) -> bytes:
    return PairRecord.model_validate(record).model_dump_json().encode()


def _assert_encodes_like_pydantic(record: PairData) -> None:
    ours = encode_record(record)
    theirs = _as_pydantic_writes_it(record)
    sort = orjson.OPT_SORT_KEYS
    assert orjson.dumps(orjson.loads(ours), option=sort) == orjson.dumps(
        orjson.loads(theirs), option=sort
    )
    assert PairRecord.model_validate_json(ours) == PairRecord.model_validate_json(theirs)


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES, JSON_VALUES)
def test_any_json_bodies_encode_like_pydantic(response: Any, request_body: Any) -> None:
    output = assemble("/v1/other", "application/json", orjson.dumps(response))
    _assert_encodes_like_pydantic(_pair(output, request_body))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["/v1/chat/completions", "/v1/responses", "/v1/completions", "/v1/x"]),
    st.sampled_from(["text/event-stream", "application/json", None]),
    st.binary(max_size=600),
    st.booleans(),
)
def test_assembled_and_redacted_outputs_encode_like_pydantic(
    route: str, content_type: str | None, body: bytes, complete: bool
) -> None:
    output = Redactor().output(assemble(route, content_type, body, complete=complete))
    error: ErrorData = {"kind": "reset", "message": body.decode("utf-8", "replace")}
    _assert_encodes_like_pydantic(_pair(output, error=error, latency_ms=None))


def test_numbers_and_text_that_json_writers_treat_differently() -> None:
    body = {
        "floats": [0.1, -0.0, 1e-7, 1e20, 1.5e300, 5e-324, 123456789.123456789],
        "ints": [0, -1, 2**63 - 1, -(2**63), 2**64 - 1],
        "text": '\x00\x1f\x7f \u2028\u2029 "\\/ é 😀 \ud7ff \ufeff',
        "\x01key": None,
    }
    _assert_encodes_like_pydantic(_pair(None, body, latency_ms=0.30000000000000004))


@pytest.mark.parametrize("depth", range(245, 262))
def test_deep_nesting_gets_through_exactly_when_pydantic_lets_it(depth: int) -> None:
    # orjson gives up a few levels before pydantic does; pydantic decides in between.
    nested = orjson.loads("[" * depth + "]" * depth)
    record = _pair(cast("OutputData", Output(body=nested).model_dump()), nested)
    try:
        expected = _as_pydantic_writes_it(record)
    except ValueError:
        with pytest.raises(ValueError, match="depth"):
            encode_record(record)
    else:
        assert encode_record(record) == expected


def test_a_string_that_is_not_unicode_is_a_value_error() -> None:
    record = _pair(None, {"user-agent": "caf\udce9"})
    with pytest.raises(ValueError, match="surrogates not allowed"):
        encode_record(record)


def test_roles_encode_as_their_value() -> None:
    encoded = encode_record(_pair(None))
    sides = orjson.loads(encoded)
    assert (sides["incumbent"]["role"], sides["mirrors"][0]["role"]) == ("incumbent", "replica")
    assert PairRecord.model_validate_json(encoded).mirrors[0].role is Role.REPLICA
