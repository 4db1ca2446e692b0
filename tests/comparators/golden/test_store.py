"""Versions on disk: built on their parent, never overwritten, read back only when their hash
matches, and format /1 exports still readable."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from comparators.golden.errors import BadSetFile, GoldenError, HashMismatch, NoVersion
from comparators.golden.model import (
    Expected,
    GoldenItem,
    ItemProvenance,
    VersionProvenance,
    item_id,
)
from comparators.golden.store import (
    latest_version,
    list_versions,
    load_items,
    load_version,
    next_version,
    parse_version,
    verify_version,
    write_version,
)

CHAT = "/v1/chat/completions"
IMPORT = VersionProvenance(source="import", file="prompts.jsonl", rows=1)


def item(prompt: str, *, time: float = 1.0, **fields: Any) -> GoldenItem:
    request = {"model": "m", "messages": [{"role": "user", "content": prompt}]}
    return GoldenItem(
        id=fields.pop("id", None) or item_id(CHAT, request),
        route=CHAT,
        request=request,
        tags={"kind": "chat"},
        provenance=ItemProvenance(source="import", file="prompts.jsonl", line=1, time=time),
        **fields,
    )


def test_a_first_version_and_its_manifest(tmp_path: Path) -> None:
    root = tmp_path / "gold"
    manifest = write_version(root, [item("b"), item("a")], IMPORT, now=1_700_000_000.0)
    data = (root / "v1" / "items.jsonl").read_bytes()
    on_disk = json.loads((root / "v1" / "manifest.json").read_text())
    assert on_disk == manifest.model_dump(mode="json")
    assert on_disk["format"] == "darklaunch-golden-set/2"
    assert on_disk["provenance"] == {"source": "import", "file": "prompts.jsonl", "rows": 1}
    assert (manifest.version, manifest.parent, manifest.count) == ("v1", None, 2)
    assert (manifest.added, manifest.replaced, manifest.missing_pairs) == (2, 0, None)
    assert manifest.segments == {"kind=chat": 2, f"route={CHAT}": 2}
    assert manifest.sha256 == hashlib.sha256(data).hexdigest()
    assert manifest.created_at_iso == "2023-11-14T22:13:20Z"
    assert [i.id for i in load_items(root)] == sorted([item("a").id, item("b").id])


def test_a_second_version_builds_on_the_first(tmp_path: Path) -> None:
    write_version(tmp_path, [item("a"), item("b")], IMPORT, now=1.0)
    v1 = (tmp_path / "v1" / "items.jsonl").read_bytes()
    relabelled = item("b", time=2.0, expected=Expected(text="B"))
    same = item("a", time=2.0)  # entered again, unchanged: keeps its first provenance
    second = write_version(tmp_path, [same, relabelled, item("c", time=2.0)], IMPORT, now=2.0)
    assert (second.version, second.parent) == ("v2", "v1")
    assert (second.count, second.added, second.replaced) == (3, 1, 1)
    items = {i.id: i for i in load_items(tmp_path)}
    assert items[item("b").id].expected == Expected(text="B")
    assert items[item("a").id].provenance.time == 1.0
    assert (tmp_path / "v1" / "items.jsonl").read_bytes() == v1
    assert [i.id for i in load_items(tmp_path, "v1")] == sorted([item("a").id, item("b").id])


def test_new_starts_a_fresh_lineage(tmp_path: Path) -> None:
    write_version(tmp_path, [item("a"), item("b")], IMPORT)
    fresh = write_version(tmp_path, [item("c")], IMPORT, new=True)
    assert (fresh.version, fresh.parent, fresh.count, fresh.added) == ("v2", None, 1, 1)
    assert [i.id for i in load_items(tmp_path)] == [item("c").id]
    third = write_version(tmp_path, [item("d")], IMPORT)
    assert (third.parent, third.count) == ("v2", 2)


def test_versions_count_numerically_and_skip_incomplete_ones(tmp_path: Path) -> None:
    assert (list_versions(tmp_path / "none"), latest_version(tmp_path)) == ([], None)
    assert next_version(tmp_path / "none") == "v1"
    for _ in range(10):
        write_version(tmp_path, [item("a")], IMPORT)
    (tmp_path / "v11").mkdir()  # a writer that crashed before its manifest
    (tmp_path / "notes").mkdir()
    assert list_versions(tmp_path) == [f"v{n}" for n in range(1, 11)]
    assert (latest_version(tmp_path), next_version(tmp_path)) == ("v10", "v12")
    assert write_version(tmp_path, [item("b")], IMPORT).parent == "v10"


def test_an_edited_item_is_an_error_naming_the_file_and_both_hashes(tmp_path: Path) -> None:
    manifest = write_version(tmp_path, [item("a"), item("b")], IMPORT)
    path = tmp_path / "v1" / "items.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"content":"a"', b'"content":"A"'))
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(HashMismatch) as info:
        load_items(tmp_path)
    assert (info.value.path, info.value.expected, info.value.actual) == (
        path,
        manifest.sha256,
        actual,
    )
    assert str(info.value).startswith(
        f"{path}: sha256 {actual} does not match the manifest's {manifest.sha256}; an edited item?"
    )
    check = verify_version(tmp_path, "1")
    assert (check.ok, check.expected, check.actual) == (False, manifest.sha256, actual)
    with pytest.raises(HashMismatch):
        write_version(tmp_path, [item("c")], IMPORT)  # nothing is built on an edited set
    assert list_versions(tmp_path) == ["v1"]


def test_a_missing_version_and_bad_manifests_are_named(tmp_path: Path) -> None:
    with pytest.raises(NoVersion, match=r"gold: no complete version \(a v<N>/ folder"):
        load_items(tmp_path / "gold")
    write_version(tmp_path, [item("a")], IMPORT)
    with pytest.raises(NoVersion, match="no complete version v7"):
        load_items(tmp_path, "7")
    with pytest.raises(GoldenError, match="version 'latest'; expected v<N> or <N>"):
        load_items(tmp_path, "latest")
    manifest = tmp_path / "v1" / "manifest.json"
    raw = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**raw, "format": "darklaunch-golden-set/9"}))
    with pytest.raises(BadSetFile, match="format: got 'darklaunch-golden-set/9'; expected"):
        load_items(tmp_path)
    manifest.write_text(json.dumps({**raw, "version": "v3"}))
    with pytest.raises(BadSetFile, match="version: got 'v3' in folder v1"):
        load_items(tmp_path)
    manifest.write_text(json.dumps({**raw, "count": -1}))
    with pytest.raises(BadSetFile, match=r"manifest\.json: count: Input should be greater"):
        load_items(tmp_path)
    manifest.write_text("{")
    with pytest.raises(BadSetFile, match="not JSON"):
        load_items(tmp_path)


def test_parse_version() -> None:
    assert (parse_version("3"), parse_version("v12")) == ("v3", "v12")
    for bad in ("v0", "01", "v", "-1"):
        with pytest.raises(GoldenError, match=f"version {bad!r}; expected"):
            parse_version(bad)


def legacy_export(root: Path, version: str = "v1") -> None:
    """A version as ``darklaunch export`` wrote it before format 2."""
    line = {
        "pair_id": "p1",
        "mirror": "cand-a",
        "role": "candidate",
        "route": CHAT,
        "model": "big",
        "timestamp": 1.0,
        "input": {"model": "big", "messages": [{"role": "user", "content": "q"}]},
        "input_truncated": False,
        "reference": {"name": "incumbent", "text": "answer", "tool_calls": []},
        "candidate": {"name": "cand-a", "text": "other", "tool_calls": []},
        "scores": {"pair_id": "p1", "kind": "json", "tags": {"tenant": "acme"}},
    }
    data = json.dumps(line, sort_keys=True).encode() + b"\n"
    (root / version).mkdir(parents=True)
    (root / version / "pairs.jsonl").write_bytes(data)
    manifest = {
        "format": "darklaunch-golden-set/1",
        "version": version,
        "source_campaign": "prod",
        "filter": "divergence > 0.5",
        "count": 1,
        "sha256": hashlib.sha256(data).hexdigest(),
        "created_at": 1_700_000_000.0,
        "created_at_iso": "2023-11-14T22:13:20Z",
        "missing_pairs": 2,
    }
    (root / version / "manifest.json").write_text(json.dumps(manifest))


def test_a_format_1_export_loads_as_items(tmp_path: Path) -> None:
    legacy_export(tmp_path)
    loaded = load_version(tmp_path)
    [only] = loaded.items
    assert only.id == "p1:cand-a"
    assert only.request == {"model": "big", "messages": [{"role": "user", "content": "q"}]}
    assert only.recorded is not None
    assert (only.recorded.incumbent["text"], only.recorded.mirror) == ("answer", "cand-a")
    assert only.recorded.candidate == {"name": "cand-a", "text": "other", "tool_calls": []}
    assert only.tags == {"tenant": "acme", "kind": "json"}
    assert (only.provenance.source, only.provenance.campaign) == ("export", "prod")
    assert only.provenance.time == 1_700_000_000.0
    manifest = loaded.manifest
    assert (manifest.format, manifest.parent, manifest.count) == (
        "darklaunch-golden-set/1",
        None,
        1,
    )
    assert (manifest.provenance.campaign, manifest.provenance.filter) == (
        "prod",
        "divergence > 0.5",
    )
    assert manifest.segments == {"kind=json": 1, f"route={CHAT}": 1, "tenant=acme": 1}
    assert manifest.missing_pairs == 2
    assert verify_version(tmp_path, "v1").ok
    # A format-2 version can build on it; the /1 files stay as they were.
    before = (tmp_path / "v1" / "pairs.jsonl").read_bytes()
    second = write_version(tmp_path, [item("a")], IMPORT)
    assert (second.parent, second.count) == ("v1", 2)
    assert (tmp_path / "v1" / "pairs.jsonl").read_bytes() == before


def test_an_edited_format_1_export_is_detected(tmp_path: Path) -> None:
    legacy_export(tmp_path)
    path = tmp_path / "v1" / "pairs.jsonl"
    path.write_bytes(path.read_bytes().replace(b"answer", b"ANSWER"))
    with pytest.raises(HashMismatch, match=r"v1/pairs\.jsonl: sha256"):
        load_items(tmp_path)
    assert not verify_version(tmp_path, "v1").ok


def test_an_output_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "gold").write_text("not a folder")
    with pytest.raises(GoldenError, match=r"gold: cannot create \(.*\); expected a folder"):
        write_version(tmp_path / "gold", [item("a")], IMPORT)
