from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from comparators.builtin.json_diff import (
    JsonComparator,
    JsonOptions,
    diff,
    json_requested,
    parse_document,
)
from comparators.scores import Score
from tests.comparators.factories import context, mirror, pairing, side


def run(a: str, b: str, body: Any = None, **options: Any) -> Score:
    comparator = JsonComparator(JsonOptions.model_validate(options), context())
    kwargs = {} if body is None else {"body": body}
    [score] = comparator.compare(pairing(side(a), mirror(b), **kwargs))
    return score


@pytest.mark.parametrize(
    ("a", "b", "changed", "total"),
    [
        ({"a": 1, "b": 2}, {"a": 1, "b": 2}, 0, 2),
        ({"a": 1, "b": 2}, {"b": 2, "a": 1}, 0, 2),  # key order is not structure
        ({"a": 1, "b": 2}, {"a": 1, "b": 3}, 1, 2),
        ({"a": 1, "b": {"c": 1, "d": 2}}, {"a": 1}, 2, 3),  # missing subtree of 2 leaves
        ({"a": 1}, {"a": 1, "x": [1, 2, 3]}, 3, 4),  # extra subtree of 3 leaves
        ({"a": "1"}, {"a": 1}, 1, 1),  # string -> number
        ({"a": [1, 2]}, {"a": {"x": 1}}, 2, 2),  # type change weighs the larger side
        ({"a": 1}, {"a": 1.0}, 0, 1),  # one number type
        ({"a": True}, {"a": 1}, 1, 1),  # a boolean is never a number
        ([1, 2, 3], [1, 2], 1, 3),
        ({}, {}, 0, 1),
        ({}, {"a": 1}, 1, 1),
        ({"a": None}, {"a": None}, 0, 1),
    ],
)
def test_leaf_counts(a: Any, b: Any, changed: int, total: int) -> None:
    result = diff(a, b)
    assert (result.changed, result.total) == (changed, total)
    assert result.divergence == changed / total


def test_entries_name_kind_and_json_pointer() -> None:
    result = diff(
        {"keep": 1, "gone": {"x": 1}, "a/b": 1, "m~n": "s", "list": [1, 2]},
        {"keep": 1, "new": True, "a/b": 2, "m~n": 3, "list": [1]},
    )
    assert result.entries == [
        {"op": "missing", "path": "/gone", "incumbent": "<object of 1>"},
        {"op": "value_change", "path": "/a~1b", "incumbent": 1, "mirror": 2},
        {"op": "type_change", "path": "/m~0n", "incumbent": "string", "mirror": "number"},
        {"op": "missing", "path": "/list/1", "incumbent": 2},
        {"op": "extra", "path": "/new", "mirror": True},
    ]
    assert result.counts == {"missing": 2, "value_change": 1, "type_change": 1, "extra": 1}


def test_identical_documents() -> None:
    score = run('{"city": "Paris", "n": [1, 2]}', '{"n":[1,2],"city":"Paris"}')
    assert score.values == {
        "applicable": True,
        "incumbent_valid": True,
        "mirror_valid": True,
        "equal": True,
        "changed_fields": 0,
        "divergence": 0.0,
    }


def test_changed_document_reports_the_diff() -> None:
    score = run('{"city": "Paris", "country": "FR"}', '{"city": "Lyon", "country": "FR"}')
    assert score.values["divergence"] == 0.5
    assert score.values["equal"] is False
    assert score.values["changed_fields"] == 1
    assert score.details["diff"] == [
        {"op": "value_change", "path": "/city", "incumbent": "Paris", "mirror": "Lyon"}
    ]
    assert score.details["changed_leaves"] == 1
    assert score.details["total_leaves"] == 2


def test_invalid_json_on_one_side_is_total_divergence() -> None:
    score = run('{"city": "Paris"}', '{"city": "Paris"')
    assert score.values == {
        "applicable": True,
        "incumbent_valid": True,
        "mirror_valid": False,
        "equal": False,
        "changed_fields": None,
        "divergence": 1.0,
    }
    assert score.details["mirror_error"].startswith("invalid JSON")


def test_prose_on_both_sides_is_not_applicable() -> None:
    score = run("Paris.", "Lyon.")
    assert score.values == {
        "applicable": False,
        "incumbent_valid": None,
        "mirror_valid": None,
        "equal": None,
        "changed_fields": None,
        "divergence": None,
    }


@pytest.mark.parametrize("kind", ["json_object", "json_schema"])
def test_requested_json_with_prose_answers_is_applicable_without_divergence(kind: str) -> None:
    body = {"messages": [], "response_format": {"type": kind}}
    score = run("Paris.", "Lyon.", body=body)
    assert score.values == {
        "applicable": True,
        "incumbent_valid": False,
        "mirror_valid": False,
        "equal": None,
        "changed_fields": None,
        "divergence": None,
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"response_format": {"type": "json_object"}}, True),
        ({"response_format": {"type": "text"}}, False),
        ({"text": {"format": {"type": "json_schema", "schema": {}}}}, True),
        ({"text": "not a dict"}, False),
        (None, False),
    ],
)
def test_json_requested(body: Any, expected: bool) -> None:
    assert json_requested(body) is expected


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ('{"a": 1}', True),
        ("  [1, 2]  ", True),
        ('```json\n{"a": 1}\n```', True),
        ("42", False),  # a scalar is not a document
        ('"a string"', False),
        ("[1] Introduction", False),
        ("", False),
    ],
)
def test_parse_document(text: str, valid: bool) -> None:
    document, error = parse_document(text)
    assert (error is None) is valid
    assert (document is not None) is valid


def test_diff_entries_are_capped_but_counted() -> None:
    a = orjson.dumps({f"k{i}": i for i in range(60)}).decode()
    b = orjson.dumps({f"k{i}": -i - 1 for i in range(60)}).decode()
    score = run(a, b, max_entries=10)
    assert len(score.details["diff"]) == 10
    assert score.details["diff_truncated"] is True
    assert score.details["counts"] == {"value_change": 60}
    assert score.values["divergence"] == 1.0


def test_long_strings_are_cut_in_entries() -> None:
    result = diff({"a": "x" * 500}, {"a": "y"})
    assert len(result.entries[0]["incumbent"]) == 201


def test_failed_side_leaves_nothing_to_compare() -> None:
    comparator = JsonComparator(JsonOptions(), context())
    [score] = comparator.compare(pairing(side('{"a": 1}'), mirror(error="reset")))
    assert set(score.values.values()) == {None}


def test_one_changed_field_of_six_is_not_equal_whatever_its_share() -> None:
    invoice = {"id": "A-7", "total": 1250.0, "currency": "USD", "due": "2026-01-31",
               "paid": False, "customer": "Acme"}  # fmt: skip
    wrong = {**invoice, "total": 1520.0}
    score = run(json.dumps(invoice), json.dumps(wrong))
    assert score.values["divergence"] == pytest.approx(1 / 6)  # below a 0.2 word threshold
    assert score.values["equal"] is False
    assert score.details["diff"] == [
        {"op": "value_change", "path": "/total", "incumbent": 1250.0, "mirror": 1520.0}
    ]


def test_key_order_spacing_and_number_spelling_are_equal() -> None:
    score = run('{"a": 1.0, "b": [true, null]}', '{ "b" : [ true , null ] , "a" : 1 }')
    assert score.values["equal"] is True
