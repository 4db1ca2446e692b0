from __future__ import annotations

from typing import Any

import pytest

from comparators.builtin.tool_calls import ToolCallsComparator, ToolCallsOptions, parse_arguments
from comparators.scores import Score
from proxy.recording.schema import ToolCall
from tests.comparators.factories import call, context, mirror, pairing, side


def run(a: list[ToolCall], b: list[ToolCall], **options: Any) -> Score:
    comparator = ToolCallsComparator(ToolCallsOptions.model_validate(options), context())
    pair = pairing(side("", tool_calls=a), mirror("", tool_calls=b))
    [score] = comparator.compare(pair)
    return score


WEATHER = call("get_weather", '{"city": "Paris", "unit": "c"}')
TIME = call("get_time", '{"tz": "Europe/Paris"}')


def test_no_tool_calls_is_not_applicable() -> None:
    score = run([], [])
    assert score.values == {"applicable": False, "agree": None, "divergence": None}


def test_same_calls_with_reformatted_arguments_agree() -> None:
    score = run([WEATHER], [call("get_weather", '{"unit":"c","city":"Paris"}')])
    assert score.values["applicable"] is True
    assert score.values["agree"] is True
    assert score.values["divergence"] == 0.0
    assert score.details == {"calls": []}


def test_one_changed_argument_is_diffed_per_argument() -> None:
    score = run([WEATHER], [call("get_weather", '{"city": "Lyon", "unit": "c"}')])
    assert score.values["agree"] is False
    assert score.values["divergence"] == 0.5  # 1 of 2 argument leaves changed
    [position] = score.details["calls"]
    assert position["arguments"] == [
        {"op": "value_change", "path": "/city", "incumbent": "Paris", "mirror": "Lyon"}
    ]


def test_reordered_calls_disagree_but_keep_the_same_set() -> None:
    score = run([WEATHER, TIME], [TIME, WEATHER])
    assert score.values["agree"] is False
    assert score.values["divergence"] == 1.0  # both positions name a different tool
    assert score.values["same_set"] is True
    assert [p["incumbent"] for p in score.details["calls"]] == ["get_weather", "get_time"]


def test_missing_call_counts_one_position() -> None:
    score = run([WEATHER, TIME], [WEATHER])
    assert score.values["divergence"] == 0.5
    assert score.values["incumbent_count"] == 2
    assert score.values["mirror_count"] == 1
    assert score.values["same_set"] is False
    assert score.details["calls"] == [
        {"index": 1, "incumbent": "get_time", "mirror": None, "divergence": 1.0}
    ]


def test_tool_call_on_one_side_only() -> None:
    score = run([], [WEATHER])
    assert score.values["applicable"] is True
    assert score.values["divergence"] == 1.0


@pytest.mark.parametrize(
    ("a", "b", "divergence"),
    [
        ("{not json", "{not json", 0.0),
        ("{not json", " {not json ", 0.0),
        ("{not json", '{"city": "Paris"}', 1.0),
        ("", "{}", 0.0),  # an empty argument string means no arguments
    ],
)
def test_unparseable_arguments_compare_raw(a: str, b: str, divergence: float) -> None:
    score = run([call("f", a)], [call("f", b)])
    assert score.values["divergence"] == divergence


def test_invalid_arguments_are_named() -> None:
    score = run([call("f", "{bad")], [call("f", "{}")])
    assert score.details["calls"][0]["invalid_arguments"] == ["incumbent"]


def test_parse_arguments() -> None:
    assert parse_arguments('{"a": [1]}') == {"a": [1]}
    assert parse_arguments("  ") == {}


def test_failed_side_leaves_nothing_to_compare() -> None:
    comparator = ToolCallsComparator(ToolCallsOptions(), context())
    [score] = comparator.compare(
        pairing(side("", tool_calls=[WEATHER]), mirror(status=429, error="http_status"))
    )
    assert score.values == {"applicable": None, "agree": None, "divergence": None}
