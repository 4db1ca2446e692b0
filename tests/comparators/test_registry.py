from __future__ import annotations

from importlib.metadata import EntryPoint
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ConfigDict

from comparators.base import Comparator, ComparatorContext, ComparatorError, Pairing, make_score
from comparators.builtin.text import TextComparator
from comparators.registry import (
    BUILTINS,
    ENTRY_POINT_GROUP,
    discover_comparators,
    load_comparators,
)
from comparators.scores import Score


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    factor: float = 1.0


class Echo:
    """A third-party comparator, as a plug-in package would write it."""

    name: ClassVar[str] = "echo"
    Options: ClassVar[type[BaseModel]] = EchoOptions

    def __init__(self, options: EchoOptions, context: ComparatorContext) -> None:
        self.factor = options.factor

    def compare(self, pair: Pairing) -> list[Score]:
        return [make_score(self.name, {"factor": self.factor})]


class Misnamed(Echo):
    name: ClassVar[str] = "something-else"


class Fragile(Echo):
    name: ClassVar[str] = "fragile"

    def __init__(self, options: EchoOptions, context: ComparatorContext) -> None:
        raise RuntimeError("needs a GPU")


NOT_A_CLASS = 42


def ep(name: str, attr: str) -> EntryPoint:
    return EntryPoint(name=name, value=f"{__name__}:{attr}", group=ENTRY_POINT_GROUP)


def load(selection: dict[str, Any] | None, *eps: EntryPoint) -> list[Comparator]:
    return load_comparators(selection, ComparatorContext(), available=discover_comparators(eps))


def test_none_selects_every_builtin_with_defaults() -> None:
    comparators = load(None, ep("echo", "Echo"))
    assert [c.name for c in comparators] == list(BUILTINS)
    assert list(BUILTINS) == [
        "text",
        "semantic",
        "json",
        "tool_calls",
        "outcome",
        "latency",
        "cost",
        "embedding",
        "reference",
    ]


def test_selection_order_and_options_are_kept() -> None:
    comparators = load({"cost": {"chars_per_token": 3}, "text": {"normalize": False}})
    assert [c.name for c in comparators] == ["cost", "text"]
    text = comparators[1]
    assert isinstance(text, TextComparator)
    assert text.options.normalize is False


def test_entry_point_comparator_is_loaded_with_its_options() -> None:
    [echo] = load({"echo": {"factor": 2.5}}, ep("echo", "Echo"))
    assert isinstance(echo, Echo)
    assert echo.factor == 2.5


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(
        ComparatorError,
        match=r"'txt': unknown comparator; expected one of: cost, echo, embedding, json, latency",
    ):
        load({"txt": {}}, ep("echo", "Echo"))


@pytest.mark.parametrize(
    ("selection", "match"),
    [
        (
            {"text": {"normalize": "maybe"}},
            r"text\.normalize: got 'maybe'; expected a valid boolean",
        ),
        (
            {"text": {"normalise": True}},
            r"text\.normalise: unknown option; expected one of: normalize",
        ),
        ({"outcome": {"x": 1}}, r"outcome\.x: unknown option; expected one of: refusals"),
        (
            {"cost": {"chars_per_token": 0}},
            r"cost\.chars_per_token: got 0; expected greater than 0",
        ),
        ({"json": [1]}, r"json: got \[1\]; expected a mapping of options"),
    ],
)
def test_bad_options_name_comparator_option_value_and_expectation(
    selection: dict[str, Any], match: str
) -> None:
    with pytest.raises(ComparatorError, match=match) as info:
        load(selection)
    assert info.value.comparator == next(iter(selection))


def test_null_options_mean_defaults() -> None:
    [text] = load({"text": None})
    assert isinstance(text, TextComparator)


def test_entry_point_clashing_with_a_builtin_names_both_sources() -> None:
    with pytest.raises(
        ComparatorError,
        match=(
            r"'text': registered twice, by built-in comparators\.builtin\.text:TextComparator "
            r"and by entry point text = tests\.comparators\.test_registry:Echo"
        ),
    ):
        discover_comparators([ep("text", "Echo")])


def test_two_entry_points_under_one_name_clash() -> None:
    with pytest.raises(ComparatorError, match="registered twice"):
        discover_comparators([ep("echo", "Echo"), ep("echo", "Misnamed")])


def test_the_same_entry_point_seen_twice_is_one_registration() -> None:
    assert "echo" in discover_comparators([ep("echo", "Echo"), ep("echo", "Echo")])


def test_a_broken_plugin_only_fails_when_selected() -> None:
    broken = EntryPoint(name="broken", value="no_such_module:Thing", group=ENTRY_POINT_GROUP)
    assert len(load(None, broken)) == len(BUILTINS)
    with pytest.raises(ComparatorError, match=r"'broken': entry point broken = .* failed to load"):
        load({"broken": {}}, broken)


@pytest.mark.parametrize(
    ("name", "attr", "match"),
    [
        ("echo", "Misnamed", r"Misnamed\.name: got 'something-else'; expected 'echo'"),
        ("num", "NOT_A_CLASS", r"got 42; expected a comparator class"),
        ("fragile", "Fragile", r"failed to start \(RuntimeError\('needs a GPU'\)\)"),
    ],
)
def test_plugins_of_the_wrong_shape_are_rejected(name: str, attr: str, match: str) -> None:
    with pytest.raises(ComparatorError, match=match):
        load({name: {}}, ep(name, attr))


def test_installed_entry_points_are_discovered_by_default() -> None:
    assert set(BUILTINS) <= set(discover_comparators())


def test_error_reads_well() -> None:
    error = ComparatorError("text", ["text.x: unknown option"])
    assert str(error) == "comparator 'text': text.x: unknown option"
    assert repr(error) == "ComparatorError(comparator='text', problems=['text.x: unknown option'])"
