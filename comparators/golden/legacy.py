"""Reading format ``darklaunch-golden-set/1``, so exports written before format 2 still load.

A ``/1`` version holds ``pairs.jsonl`` (one line per exported (pair, mirror)) and a manifest
with ``source_campaign`` and ``filter``. Each line becomes a format-2 item:

* ``id`` is ``<pair_id>:<mirror>``, as a format-2 export names its items;
* ``input`` is the ``request`` (``input_truncated`` its ``request_truncated``);
* ``reference`` is ``recorded.incumbent``, ``candidate`` is ``recorded.candidate``;
* ``tags`` are the score record's ``kind`` and user tags (``kind`` read from the body when the
  score predates it), ``scores`` the score record.

The files are never rewritten: this is a reading, and the ``/1`` manifest's hash still covers
``pairs.jsonl`` exactly as it was written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from comparators.golden.errors import BadSetFile
from comparators.golden.model import (
    GoldenItem,
    GoldenManifest,
    ItemProvenance,
    Recorded,
    VersionProvenance,
    body_kind,
    segment_counts,
)

__all__ = ["LEGACY_FORMAT", "LEGACY_ITEMS_FILE", "legacy_items", "legacy_manifest"]

LEGACY_FORMAT = "darklaunch-golden-set/1"
LEGACY_ITEMS_FILE = "pairs.jsonl"
_LINE_KEYS = ("pair_id", "mirror", "route", "input")


def _field(raw: dict[str, Any], key: str, kind: tuple[type, ...], path: Path) -> Any:
    value = raw.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        expected = " or ".join(k.__name__ for k in kind)
        raise BadSetFile(path, f"{key}: got {value!r}; expected a {expected} ({LEGACY_FORMAT})")
    return value


def _item(line: dict[str, Any], campaign: str | None, time: float) -> GoldenItem:
    scores = line.get("scores") if isinstance(line.get("scores"), dict) else None
    route, body = line["route"], line["input"]
    tags: dict[str, str] = {}
    if scores is not None and isinstance(scores.get("tags"), dict):
        tags.update({str(k): str(v) for k, v in scores["tags"].items()})
    kind = scores.get("kind") if scores is not None else None
    tags["kind"] = kind if isinstance(kind, str) else body_kind(route, body)
    return GoldenItem(
        id=f"{line['pair_id']}:{line['mirror']}",
        route=route,
        request=body,
        request_truncated=bool(line.get("input_truncated", False)),
        recorded=Recorded(
            incumbent=line.get("reference") or {},
            mirror=line["mirror"],
            candidate=line.get("candidate"),
        ),
        tags=tags,
        provenance=ItemProvenance(
            source="export",
            campaign=campaign,
            pair_id=line["pair_id"],
            mirror=line["mirror"],
            time=time,
        ),
        scores=scores,
    )


def legacy_items(data: bytes, path: Path, manifest: dict[str, Any]) -> list[GoldenItem]:
    """The items of a ``/1`` ``pairs.jsonl`` (already hash-checked by the caller)."""
    campaign = manifest.get("source_campaign")
    time = float(manifest.get("created_at") or 0.0)
    items: list[GoldenItem] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problem = f"not JSON ({exc}); expected a {LEGACY_FORMAT} line"
            raise BadSetFile(path, problem, number) from exc
        missing = [key for key in _LINE_KEYS if not isinstance(line, dict) or key not in line]
        if missing:
            raise BadSetFile(
                path, f"no {', '.join(missing)}; expected a {LEGACY_FORMAT} line", number
            )
        try:
            items.append(_item(line, campaign if isinstance(campaign, str) else None, time))
        except ValidationError as exc:
            raise BadSetFile(path, f"{exc.errors()[0]['msg']} ({LEGACY_FORMAT})", number) from exc
    return items


def legacy_manifest(raw: dict[str, Any], items: list[GoldenItem], path: Path) -> GoldenManifest:
    """A ``/1`` manifest read as a format-2 one: no parent, made by an export of
    ``source_campaign`` with ``filter``; segments counted from its items. ``format`` stays
    ``/1``, so a reader can still tell."""
    count = _field(raw, "count", (int,), path)
    return GoldenManifest(
        format=LEGACY_FORMAT,
        version=_field(raw, "version", (str,), path),
        parent=None,
        created_at=float(_field(raw, "created_at", (float, int), path)),
        created_at_iso=_field(raw, "created_at_iso", (str,), path),
        provenance=VersionProvenance(
            source="export",
            campaign=_field(raw, "source_campaign", (str,), path),
            filter=_field(raw, "filter", (str,), path),
            rows=count,
        ),
        count=count,
        segments=segment_counts(items),
        sha256=_field(raw, "sha256", (str,), path),
        added=count,
        replaced=0,
        missing_pairs=int(raw.get("missing_pairs") or 0),
    )
