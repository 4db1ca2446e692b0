"""The item and its canonical bytes: ids that do not move, one spelling per item, and the
request kind read the same way the report's segments read it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from comparators.columns.segments import request_kind
from comparators.golden.errors import BadSetFile
from comparators.golden.model import (
    Expected,
    GoldenItem,
    ItemProvenance,
    body_kind,
    canonical_json,
    encode_items,
    item_id,
    parse_items,
    same_content,
    segment_counts,
)
from tests.comparators.factories import record

CHAT = "/v1/chat/completions"
BODY = {"model": "m", "messages": [{"role": "user", "content": "Is it €5?"}]}


def item(item_id: str = "a", **fields: Any) -> GoldenItem:
    return GoldenItem(
        id=item_id,
        route=fields.pop("route", CHAT),
        request=fields.pop("request", BODY),
        provenance=ItemProvenance(source="import", time=fields.pop("time", 1.0)),
        **fields,
    )


def test_the_derived_id_is_the_hash_of_route_and_request_in_any_key_order() -> None:
    reordered = {"messages": BODY["messages"], "model": "m"}
    # Canonical JSON: sorted keys, no white space, UTF-8 (the euro sign is not escaped).
    canonical = json.dumps(
        {"request": BODY, "route": CHAT}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert item_id(CHAT, BODY) == "g-" + hashlib.sha256(canonical).hexdigest()[:16]
    assert item_id(CHAT, reordered) == item_id(CHAT, BODY)
    assert item_id("/v1/responses", BODY) != item_id(CHAT, BODY)
    assert canonical_json({"b": 1, "a": {"d": 2, "c": 3}}) == b'{"a":{"c":3,"d":2},"b":1}'


def test_items_encode_sorted_by_id_with_sorted_keys_and_round_trip(tmp_path: Path) -> None:
    items = [item("b", tags={"kind": "chat"}), item("a", expected=Expected(text="yes"))]
    data = encode_items(items)
    lines = data.splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["a", "b"]
    assert all(list(json.loads(line)) == sorted(json.loads(line)) for line in lines)
    assert json.loads(lines[0])["expected"] == {"text": "yes"}  # only the keys that apply
    assert json.loads(lines[0])["provenance"] == {"source": "import", "time": 1.0}
    assert parse_items(data, tmp_path / "items.jsonl") == sorted(items, key=lambda i: i.id)
    assert encode_items(reversed(items)) == data


def test_expected_reads_and_writes_json_under_its_name() -> None:
    expected = Expected.model_validate(
        {"json": {"total": 5}, "tool_calls": [{"name": "lookup", "arguments": '{"q":1}'}]}
    )
    assert expected.json_value == {"total": 5}
    assert expected.model_dump(mode="json") == {
        "tool_calls": [{"name": "lookup", "arguments": '{"q":1}'}],
        "json": {"total": 5},
    }
    with pytest.raises(ValidationError, match="expected an object with text, tool_calls or json"):
        Expected.model_validate({})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Expected.model_validate({"txt": "typo"})


def test_a_line_that_is_not_an_item_names_its_line_and_key(tmp_path: Path) -> None:
    good = encode_items([item("a")])
    bad = good + b'{"id": "b", "route": "/v1/chat/completions", "request": {}}\n'
    with pytest.raises(BadSetFile, match=r"items\.jsonl:2: provenance: Field required") as info:
        parse_items(bad, tmp_path / "items.jsonl")
    assert info.value.line == 2


def test_same_content_ignores_provenance_only() -> None:
    assert same_content(item("a", time=1.0), item("a", time=2.0))
    assert not same_content(item("a"), item("a", label="wrong"))


def test_segments_count_tags_and_routes() -> None:
    items = [
        item("a", tags={"kind": "chat", "tenant": "acme"}),
        item("b", tags={"kind": "json"}, route="/v1/responses"),
        item("c", tags={"kind": "chat"}),
    ]
    assert segment_counts(items) == {
        "kind=chat": 2,
        "kind=json": 1,
        f"route={CHAT}": 2,
        "route=/v1/responses": 1,
        "tenant=acme": 1,
    }


TOOLS = [{"type": "function", "function": {"name": "f"}}]


@pytest.mark.parametrize(
    ("route", "body", "kind"),
    [
        (CHAT, BODY, "chat"),
        (CHAT, {**BODY, "tools": TOOLS}, "tool_call"),
        (CHAT, {**BODY, "functions": [{"name": "f"}]}, "tool_call"),
        (CHAT, {**BODY, "tools": []}, "chat"),
        (CHAT, {**BODY, "response_format": {"type": "json_schema"}}, "json"),
        ("/v1/responses", {"input": "x", "text": {"format": {"type": "json_object"}}}, "json"),
        ("/v1/embeddings", {"input": "x", "model": "e"}, "embedding"),
        (CHAT, '{"model": "m", "messages": [ (truncated)', "chat"),
    ],
)
def test_the_kind_is_the_segments_kind(route: str, body: Any, kind: str) -> None:
    """An imported request and an exported pair of the same body land in the same segment."""
    assert body_kind(route, body) == request_kind(record(route=route, body=body)) == kind
