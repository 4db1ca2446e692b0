"""Diffing versions: every moved item named under the kind of move it made."""

from __future__ import annotations

from typing import Any

from comparators.golden.diff import diff_grid, diff_items
from comparators.golden.model import Expected, GoldenItem, ItemProvenance, Recorded

CHAT = "/v1/chat/completions"


def item(item_id: str, prompt: str = "q", *, time: float = 1.0, **fields: Any) -> GoldenItem:
    return GoldenItem(
        id=item_id,
        route=fields.pop("route", CHAT),
        request={"model": "m", "messages": [{"role": "user", "content": prompt}]},
        provenance=ItemProvenance(source="import", time=time),
        **fields,
    )


def test_each_kind_of_change_is_named() -> None:
    before = [
        item("same"),
        item("moved-only", time=1.0),
        item("gone"),
        item("reworded", "old question"),
        item("rerouted"),
        item("new-answer", expected=Expected(text="old")),
        item("new-label"),
        item("retagged", tags={"kind": "chat"}),
        item("rerecorded", recorded=Recorded(incumbent={"text": "a"})),
    ]
    after = [
        item("same"),
        item("moved-only", time=9.0),  # provenance alone is no change
        item("reworded", "new question", label="also relabelled"),
        item("rerouted", route="/v1/responses"),
        item("new-answer", expected=Expected(text="new")),
        item("new-label", label="wrong"),
        item("retagged", tags={"kind": "adversarial"}),
        item("rerecorded", recorded=Recorded(incumbent={"text": "b"})),
        item("fresh"),
    ]
    diff = diff_items("v1", before, "v2", after)
    assert diff.added == ["fresh"]
    assert diff.removed == ["gone"]
    assert diff.changed == ["rerouted", "reworded"]  # what is sent outranks the label
    assert diff.relabelled == ["new-answer", "new-label"]
    assert diff.updated == ["rerecorded", "retagged"]
    assert diff.unchanged == 2
    reverse = diff_items("v2", after, "v1", before)
    assert (reverse.added, reverse.removed) == (["gone"], ["fresh"])


def test_the_table_counts_and_cuts_the_ids_at_twenty() -> None:
    diff = diff_items("v1", [], "v2", [item(f"id-{n:02d}") for n in range(25)])
    grid = diff_grid(diff)
    assert grid.title == "golden set v1 → v2"
    rows = {str(row[0]): row for row in grid.rows}
    assert rows["added"][1] == "25"
    ids = str(rows["added"][2])
    assert ids.startswith("id-00, id-01, ")
    assert "id-19" in ids
    assert "id-20" not in ids
    assert ids.endswith("… and 5 more")
    assert rows["removed"][1:] == ("0", "")
