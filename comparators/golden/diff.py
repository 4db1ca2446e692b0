"""What changed between two versions of a golden set, item by item.

A refreshed set can make the bar easier without anyone noticing: items removed, requests
reworded, reference answers relaxed. ``darklaunch golden diff`` names each item that moved,
in one of five kinds, so a reviewer reads the change instead of trusting it:

* ``added``: the id is only in the second version;
* ``removed``: only in the first (a fresh lineage, ``--new``, can drop items);
* ``changed``: what is sent changed (``route``, ``request`` or ``request_truncated``);
* ``relabelled``: the same request with another reference answer (``expected``) or review
  ``label``;
* ``updated``: only the tags, the recorded answers or the scores differ.

Provenance alone never counts: the same item entered again is the same item.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from comparators.golden.model import GoldenItem
from comparators.tables import Grid

__all__ = ["KINDS", "GoldenDiff", "diff_grid", "diff_items"]

KINDS = ("added", "removed", "changed", "relabelled", "updated")
_SENT = ("route", "request", "request_truncated")
_REFERENCE = ("expected", "label")


class GoldenDiff(BaseModel):
    """The ids of each kind of change from version ``a`` to version ``b``, sorted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: str
    b: str
    added: list[str]
    removed: list[str]
    changed: list[str]
    relabelled: list[str]
    updated: list[str]
    unchanged: int

    def ids(self, kind: str) -> list[str]:
        ids: list[str] = getattr(self, kind)
        return ids


def _kind(old: GoldenItem, new: GoldenItem) -> str | None:
    before = old.model_dump(exclude={"provenance"})
    after = new.model_dump(exclude={"provenance"})
    if before == after:
        return None
    if any(before[key] != after[key] for key in _SENT):
        return "changed"
    if any(before[key] != after[key] for key in _REFERENCE):
        return "relabelled"
    return "updated"


def diff_items(
    a: str, a_items: Sequence[GoldenItem], b: str, b_items: Sequence[GoldenItem]
) -> GoldenDiff:
    """How ``b_items`` (version ``b``) differ from ``a_items`` (version ``a``)."""
    old = {item.id: item for item in a_items}
    new = {item.id: item for item in b_items}
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    unchanged = 0
    for item_id in sorted(old.keys() | new.keys()):
        if item_id not in old:
            found["added"].append(item_id)
        elif item_id not in new:
            found["removed"].append(item_id)
        elif (kind := _kind(old[item_id], new[item_id])) is not None:
            found[kind].append(item_id)
        else:
            unchanged += 1
    return GoldenDiff(a=a, b=b, unchanged=unchanged, **found)


def diff_grid(diff: GoldenDiff, shown: int = 20) -> Grid:
    """Counts per kind with the first ``shown`` ids of each."""
    grid = Grid(
        f"golden set {diff.a} → {diff.b}",
        ("change", "items", "ids"),
        keep_whole=frozenset({"change"}),
        right=frozenset({"items"}),
    )
    for kind in KINDS:
        ids = diff.ids(kind)
        more = f" … and {len(ids) - shown} more" if len(ids) > shown else ""
        grid.add_row(kind, str(len(ids)), ", ".join(ids[:shown]) + more)
    grid.add_row("unchanged", str(diff.unchanged), "")
    return grid
