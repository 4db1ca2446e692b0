"""The golden-set format ``darklaunch-golden-set/2``: one item, one manifest, and the canonical
bytes both are hashed from. ``docs/golden.md`` documents every field.

An item is a request to send again (``darklaunch replay``) with what is known about its
answer: a reference answer a person or a file gave (``expected``), what production answered
(``recorded``), segment ``tags``, a review ``label`` and where it came from (``provenance``).
A manifest describes one frozen version: its parent, what made it, counts per segment and the
SHA-256 of its items file, so a reader can prove the items are the ones written.

The bytes are canonical so the same items always hash the same: one JSON object per line,
keys sorted, no white space (``orjson`` with ``OPT_SORT_KEYS``), lines sorted by ``id``. An
item's id, when its source gives none, is ``g-`` + the first 16 hex digits of the SHA-256 of
the canonical JSON of ``{"route", "request"}``: the same request always gets the same id, so
importing it again replaces it instead of adding a twin.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from comparators.builtin.json_diff import json_requested
from comparators.golden.errors import BadSetFile

__all__ = [
    "FORMAT",
    "KINDS",
    "Expected",
    "ExpectedToolCall",
    "GoldenItem",
    "GoldenManifest",
    "ItemProvenance",
    "Recorded",
    "VersionProvenance",
    "body_kind",
    "canonical_json",
    "encode_items",
    "item_id",
    "parse_items",
    "same_content",
    "segment_counts",
]

FORMAT = "darklaunch-golden-set/2"
KINDS = ("chat", "tool_call", "json", "embedding")


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no white space, UTF-8: one spelling per value, so one hash."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def item_id(route: str, request: Any) -> str:
    """The id of an item whose source gives none: stable across imports of the same request."""
    digest = hashlib.sha256(canonical_json({"route": route, "request": request})).hexdigest()
    return f"g-{digest[:16]}"


def body_kind(route: str, body: Any) -> str:
    """What a request asks for, the same reading as
    :func:`comparators.columns.segments.request_kind` (which needs a whole pair record), for a
    route and body alone: ``embedding``, ``tool_call``, ``json``, else ``chat``. A test holds
    the two to the same answers."""
    if route.endswith("/embeddings"):
        return "embedding"
    if not isinstance(body, dict):
        return "chat"
    if body.get("tools") or body.get("functions"):
        return "tool_call"
    if json_requested(body):
        return "json"
    return "chat"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Sparse(_Frozen):
    """A model written with only the keys that apply: ``None`` fields are left out, so a
    provenance says ``{"source": "import", "file": ..., "line": 3}`` and nothing more."""

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {key: value for key, value in data.items() if value is not None}


class ExpectedToolCall(_Frozen):
    """A tool call a reference answer makes; ``arguments`` is JSON text, as models send it."""

    name: str = Field(min_length=1)
    arguments: str = "{}"


class Expected(_Sparse):
    """A reference answer: ``text``, ``tool_calls`` and/or ``json`` (a document to compare
    field by field). At least one is set; a JSON ``null`` counts as not set."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True
    )

    text: str | None = None
    tool_calls: list[ExpectedToolCall] | None = None
    # ``json`` would shadow BaseModel.json: stored under another name, read and written as json.
    json_value: Any = Field(default=None, alias="json")

    @model_validator(mode="after")
    def _not_empty(self) -> Expected:
        if self.text is None and self.tool_calls is None and self.json_value is None:
            raise ValueError("expected an object with text, tool_calls or json")
        return self


class Recorded(_Frozen):
    """What production answered when the item was recorded: the incumbent's answer and, for an
    export, the mirror's. Each side is :func:`comparators.pair_view.side_output`'s view (name,
    model, text, tool_calls, refusal, finish_reason, error)."""

    incumbent: dict[str, Any]
    mirror: str | None = None
    candidate: dict[str, Any] | None = None


class ItemProvenance(_Sparse):
    """Where one item came from, and when it entered the set (unix seconds)."""

    source: Literal["export", "import", "review"]
    campaign: str | None = None
    pair_id: str | None = None
    mirror: str | None = None
    file: str | None = None
    line: int | None = None
    reviewer: str | None = None
    time: float


class GoldenItem(_Frozen):
    """One line of ``items.jsonl``."""

    id: str = Field(min_length=1)
    route: str = Field(min_length=1)
    request: Any
    request_truncated: bool = False
    expected: Expected | None = None
    recorded: Recorded | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    label: str | None = None
    provenance: ItemProvenance
    scores: dict[str, Any] | None = None


class VersionProvenance(_Sparse):
    """What made a version: an export (``campaign``, ``filter``), a labeled export of reviewed
    pairs (``review``: ``campaign``, ``filter`` naming the reviewer and any ``--where``) or an
    import (``file``); ``rows`` is how many items that source gave."""

    source: Literal["export", "review", "import"]
    campaign: str | None = None
    filter: str | None = None
    file: str | None = None
    rows: int | None = None


class GoldenManifest(_Frozen):
    """``manifest.json``: written last, so its presence marks a complete version."""

    format: str = FORMAT
    version: str
    parent: str | None
    created_at: float
    created_at_iso: str
    provenance: VersionProvenance
    count: int = Field(ge=0)
    segments: dict[str, int]
    sha256: str
    added: int = Field(ge=0)
    replaced: int = Field(ge=0)
    # Export only: selected scores whose pair record is no longer stored (trimmed).
    missing_pairs: int | None = None


def encode_items(items: Iterable[GoldenItem]) -> bytes:
    """The canonical ``items.jsonl`` bytes: lines sorted by id, keys sorted."""
    ordered = sorted(items, key=lambda item: item.id)
    return b"".join(canonical_json(item.model_dump(mode="json")) + b"\n" for item in ordered)


def parse_items(data: bytes, path: Path) -> list[GoldenItem]:
    """The items of an ``items.jsonl``; a line that is not an item raises
    :class:`~comparators.golden.errors.BadSetFile` naming the line and the first problem."""
    items: list[GoldenItem] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(GoldenItem.model_validate_json(line))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"]) or "the line"
            raise BadSetFile(
                path, f"{where}: {error['msg']}; expected an item of {FORMAT}", number
            ) from exc
    return items


def same_content(a: GoldenItem, b: GoldenItem) -> bool:
    """Equal in everything but provenance: the same item entered the set again."""
    return a.model_dump(exclude={"provenance"}) == b.model_dump(exclude={"provenance"})


def segment_counts(items: Iterable[GoldenItem]) -> dict[str, int]:
    """Items per ``<tag>=<value>`` and per ``route=<route>``, sorted by segment."""
    counts: Counter[str] = Counter()
    for item in items:
        counts[f"route={item.route}"] += 1
        counts.update(f"{key}={value}" for key, value in item.tags.items())
    return dict(sorted(counts.items()))
