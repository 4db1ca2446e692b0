"""A golden set on disk: its versions listed, read back with their hash checked, verified, and
new versions written beside them, never over them.

Layout::

    <root>/v1/items.jsonl      the items, canonical bytes (comparators.golden.model)
    <root>/v1/manifest.json    written last: its presence marks a complete version
    <root>/v2/...              built on v1 unless started afresh (--new)

A new version is its parent's items plus the new ones; an item whose id the parent has
replaces the parent's ("relabelled", say, by a review), except that an item equal to the
parent's in everything but provenance keeps the parent's, with its first provenance: importing
the same file twice changes nothing but the version number. The parent is the latest complete
version.

Writing takes the next free number by creating its directory with ``exist_ok=False`` (atomic:
two writers never share one) and creates files with mode ``"x"``, so a version is never
overwritten. Reading verifies the SHA-256 of the items file against the manifest first, so an
edited item is an error naming the file and both hashes, never a silently different set.
Format ``/1`` folders (``pairs.jsonl``) are read through :mod:`comparators.golden.legacy`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from comparators.golden.errors import (
    BadSetFile,
    GoldenError,
    HashMismatch,
    NoVersion,
    VersionTaken,
)
from comparators.golden.legacy import LEGACY_FORMAT, LEGACY_ITEMS_FILE, legacy_items
from comparators.golden.legacy import legacy_manifest as _legacy_manifest
from comparators.golden.model import (
    FORMAT,
    GoldenItem,
    GoldenManifest,
    VersionProvenance,
    encode_items,
    parse_items,
    same_content,
    segment_counts,
)

__all__ = [
    "ITEMS_FILE",
    "MANIFEST_FILE",
    "GoldenVersion",
    "Merged",
    "Verification",
    "latest_version",
    "list_versions",
    "load_items",
    "load_version",
    "merge_items",
    "next_version",
    "parse_version",
    "verify_version",
    "write_version",
]

logger = logging.getLogger(__name__)

ITEMS_FILE = "items.jsonl"
MANIFEST_FILE = "manifest.json"
_VERSION = re.compile(r"^v([1-9][0-9]*)$")
_ITEMS_FILES = {FORMAT: ITEMS_FILE, LEGACY_FORMAT: LEGACY_ITEMS_FILE}


def parse_version(text: str) -> str:
    """``v3`` or ``3`` as ``v3``; anything else is an error naming the value."""
    candidate = text if text.startswith("v") else f"v{text}"
    if not _VERSION.match(candidate):
        raise GoldenError(f"version {text!r}; expected v<N> or <N>, such as v2 or 2")
    return candidate


def _number(version: str) -> int:
    return int(version[1:])


def _numbers(root: Path) -> list[int]:
    """Every ``v<N>`` directory, complete or not (a crashed writer's number stays taken)."""
    if not root.is_dir():
        return []
    return [
        int(match.group(1))
        for entry in root.iterdir()
        if entry.is_dir() and (match := _VERSION.match(entry.name))
    ]


def next_version(root: Path) -> str:
    """``v<n+1>`` for the highest ``v<n>`` directory in ``root`` (``v1`` when none)."""
    return f"v{max(_numbers(root), default=0) + 1}"


def list_versions(root: Path) -> list[str]:
    """The complete versions (with a manifest), oldest first."""
    return [f"v{n}" for n in sorted(_numbers(root)) if (root / f"v{n}" / MANIFEST_FILE).is_file()]


def latest_version(root: Path) -> str | None:
    """The newest complete version, or ``None`` when there is none."""
    versions = list_versions(root)
    return versions[-1] if versions else None


@dataclass(frozen=True)
class GoldenVersion:
    """One version read back: its folder, its manifest and its items, in id order."""

    path: Path
    manifest: GoldenManifest
    items: list[GoldenItem]


@dataclass(frozen=True)
class Verification:
    """One version's items file hashed against its manifest."""

    version: str
    path: Path
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual


def _resolve(root: Path, version: str | None) -> str:
    if version is None:
        latest = latest_version(root)
        if latest is None:
            raise NoVersion(root, None)
        return latest
    name = parse_version(version)
    if not (root / name / MANIFEST_FILE).is_file():
        raise NoVersion(root, name)
    return name


def _raw_manifest(root: Path, version: str) -> tuple[dict[str, Any], Path]:
    """The manifest as JSON and the items file its format names."""
    path = root / version / MANIFEST_FILE
    try:
        raw = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise BadSetFile(path, f"cannot read: {exc.strerror}") from exc
    except orjson.JSONDecodeError as exc:
        raise BadSetFile(path, f"not JSON ({exc}); expected a golden-set manifest") from exc
    if not isinstance(raw, dict):
        raise BadSetFile(path, "not a JSON object; expected a golden-set manifest")
    fmt = raw.get("format")
    if fmt not in _ITEMS_FILES:
        raise BadSetFile(path, f"format: got {fmt!r}; expected {FORMAT} or {LEGACY_FORMAT}")
    if raw.get("version") != version:
        raise BadSetFile(
            path,
            f"version: got {raw.get('version')!r} in folder {version}; expected the name it "
            "was written under (versions are never renamed)",
        )
    if not isinstance(raw.get("sha256"), str):
        raise BadSetFile(path, f"sha256: got {raw.get('sha256')!r}; expected a hex digest")
    return raw, root / version / _ITEMS_FILES[fmt]


def _hashed(path: Path) -> tuple[bytes, str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadSetFile(path, f"cannot read: {exc.strerror}") from exc
    return data, hashlib.sha256(data).hexdigest()


def verify_version(root: Path, version: str) -> Verification:
    """Hash ``version``'s items file against its manifest; a mismatch is reported, not raised
    (``darklaunch golden verify`` lists every version)."""
    name = _resolve(root, version)
    raw, items_path = _raw_manifest(root, name)
    _, actual = _hashed(items_path)
    return Verification(name, items_path, raw["sha256"], actual)


def load_version(root: Path, version: str | None = None) -> GoldenVersion:
    """A version (the latest complete one by default) with its manifest and items.

    Raises :class:`~comparators.golden.errors.HashMismatch` when the items file is not the one
    the manifest describes, :class:`~comparators.golden.errors.NoVersion` when there is no
    such version, and :class:`~comparators.golden.errors.BadSetFile` for a file that does not
    parse. Format ``/1`` folders load as format-2 items.
    """
    name = _resolve(root, version)
    raw, items_path = _raw_manifest(root, name)
    data, actual = _hashed(items_path)
    if actual != raw["sha256"]:
        raise HashMismatch(items_path, raw["sha256"], actual)
    manifest_path = root / name / MANIFEST_FILE
    if raw["format"] == LEGACY_FORMAT:
        items = legacy_items(data, items_path, raw)
        return GoldenVersion(root / name, _legacy_manifest(raw, items, manifest_path), items)
    try:
        manifest = GoldenManifest.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise BadSetFile(manifest_path, f"{where}: {error['msg']}") from exc
    return GoldenVersion(root / name, manifest, parse_items(data, items_path))


def load_items(root: Path, version: str | None = None) -> list[GoldenItem]:
    """The items of a version (the latest by default), hash-checked: what replay sends."""
    return load_version(root, version).items


@dataclass(frozen=True)
class Merged:
    """A parent's items with new ones laid over them."""

    items: list[GoldenItem]
    added: int
    replaced: int


def merge_items(parent: Sequence[GoldenItem], new: Sequence[GoldenItem]) -> Merged:
    """``parent`` plus ``new``: a new id is added, a known id with other content replaces the
    parent's, and one equal but for provenance keeps the parent's (its first provenance)."""
    by_id = {item.id: item for item in parent}
    seen: set[str] = set()
    added = replaced = 0
    for item in new:
        if item.id in seen:
            raise GoldenError(f"item id {item.id!r} twice in one batch; expected unique ids")
        seen.add(item.id)
        old = by_id.get(item.id)
        if old is None:
            added += 1
        elif same_content(old, item):
            continue
        else:
            replaced += 1
        by_id[item.id] = item
    return Merged(sorted(by_id.values(), key=lambda item: item.id), added, replaced)


def write_version(
    root: Path,
    items: Sequence[GoldenItem],
    provenance: VersionProvenance,
    *,
    new: bool = False,
    missing_pairs: int | None = None,
    now: float | None = None,
) -> GoldenManifest:
    """Write ``items`` as the next version under ``root``, built on the latest complete one
    unless ``new``. The parent is read hash-checked: nothing is built on an edited set."""
    parent = None if new else latest_version(root)
    merged = merge_items(load_items(root, parent) if parent is not None else [], items)
    content = encode_items(merged.items)
    created = time.time() if now is None else now
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GoldenError(f"{root}: cannot create ({exc.strerror}); expected a folder") from exc
    version = next_version(root)
    target = root / version
    try:
        target.mkdir(exist_ok=False)
    except FileExistsError as exc:
        raise VersionTaken(target) from exc
    except OSError as exc:
        raise GoldenError(
            f"{target}: cannot create ({exc.strerror}); expected a writable folder"
        ) from exc
    manifest = GoldenManifest(
        version=version,
        parent=parent,
        created_at=created,
        created_at_iso=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        provenance=provenance,
        count=len(merged.items),
        segments=segment_counts(merged.items),
        sha256=hashlib.sha256(content).hexdigest(),
        added=merged.added,
        replaced=merged.replaced,
        missing_pairs=missing_pairs,
    )
    with (target / ITEMS_FILE).open("xb") as handle:
        handle.write(content)
    # The manifest goes last: its presence marks a complete version.
    with (target / MANIFEST_FILE).open("x", encoding="utf-8") as handle:
        handle.write(manifest.model_dump_json(indent=2) + "\n")
    logger.info(
        "wrote %s: %d items (%d added, %d replaced, parent %s)",
        target,
        manifest.count,
        manifest.added,
        manifest.replaced,
        parent,
    )
    return manifest
