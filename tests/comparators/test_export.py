"""Golden-set export: the filter language, format-2 items that load back, versions built on
their parent that never overwrite it, stable hashes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from comparators.export import (
    MANIFEST_FORMAT,
    ExportError,
    export_golden_set,
    next_version,
    selected_pair_ids,
)
from comparators.golden import store as golden_store
from comparators.golden.store import load_items, load_version
from comparators.scores import ScoreRecord
from comparators.where import FilterError, compile_filter
from proxy.recording.schema import (
    Choice,
    ErrorInfo,
    Output,
    PairRecord,
    RequestInfo,
    Role,
    Side,
    ToolCall,
)
from tests.comparators.score_factories import replica, score

CHAT = "/v1/chat/completions"
Data = tuple[list[ScoreRecord], dict[str, PairRecord]]


def pair(pair_id: str, *, candidate_error: bool = False) -> PairRecord:
    body = {"model": "big-model-v1", "messages": [{"role": "user", "content": f"q {pair_id}"}]}
    incumbent = Side(
        role=Role.INCUMBENT,
        name="incumbent",
        status=200,
        output=Output(
            choices=[
                Choice(
                    text=f"answer {pair_id}",
                    tool_calls=[ToolCall(name="lookup", arguments='{"q":1}')],
                )
            ]
        ),
    )
    if candidate_error:
        mirror = Side(
            role=Role.CANDIDATE, name="cand-a", error=ErrorInfo(kind="timeout", message="slow")
        )
    else:
        mirror = Side(
            role=Role.CANDIDATE,
            name="cand-a",
            status=200,
            output=Output(choices=[Choice(text=f"other {pair_id}")]),
        )
    again = Side(
        role=Role.REPLICA,
        name="replica",
        status=200,
        output=Output(choices=[Choice(text=f"again {pair_id}")]),
    )
    return PairRecord(
        pair_id=pair_id,
        campaign="prod",
        timestamp=1_700_000_000.0,
        route=CHAT,
        method="POST",
        request=RequestInfo(body=body, model="big-model-v1"),
        incumbent=incumbent,
        mirrors=[mirror, again],
    )


@pytest.fixture
def data() -> Data:
    scores = [
        score("p1", timestamp=1.0, similarity=0.3),
        score("p2", timestamp=2.0, similarity=0.9, mirror_ms=3000.0),
        score("p3", timestamp=3.0, mirror_error=True),
        score("p4", timestamp=4.0, route="/v1/responses", mirror_usd=0.01),
        replica("p1", timestamp=1.0, similarity=0.2),
    ]
    pairs = {p: pair(p, candidate_error=p == "p3") for p in ("p1", "p2", "p3", "p4")}
    return scores, pairs


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("divergence > 0.5", {"p1"}),  # a failed side has no divergence: it is an outcome
        ("divergence > 0.5 or outcome.mirror_error", {"p1", "p3"}),
        ("outcome.mirror_error == true", {"p3"}),
        ("outcome.mirror_error", {"p3"}),
        ("not outcome.mirror_error and divergence >= 0.05", {"p1", "p2"}),
        ('mirror == "cand-a" and latency.ratio >= 1.5', {"p2"}),
        ('route == "/v1/chat/completions" and role == "replica"', {"p1"}),
        ('route == "/v1/responses" or cost.delta_usd > 0.001', {"p4"}),
        ("0.5 < divergence <= 0.8", {"p1"}),
        ('mirror in ["cand-b", "cand-a"] and text.similarity < 0.5', {"p1"}),
        ("text.similarity == null", {"p3"}),
        ("latency.mirror_ms > -1 and not (divergence > 0.5)", {"p2", "p3", "p4"}),
        ('route == 1 or text.similarity > "a"', set()),  # mixed types never match
    ],
)
def test_filters_select(data: Data, where: str, expected: set[str]) -> None:
    scores, _ = data
    assert selected_pair_ids(scores, where) == expected


def test_breaches_membership() -> None:
    flt = compile_filter('"latency_ms" in breaches')
    assert flt.matches(score(breaches=["latency_ms"]))
    assert not flt.matches(score())


@pytest.mark.parametrize(
    ("where", "part"),
    [
        ("__import__('os')", "__import__('os')"),
        ("x.__class__", "x.__class__"),
        ("divergence.__class__ == 1", "divergence.__class__"),
        ("open('/etc/passwd') == 1", "open('/etc/passwd')"),
        ("divergence + 1 > 2", "divergence + 1"),
        ("values['text.divergence'] > 0.5", "values['text.divergence']"),
        ("[x for x in breaches] == 1", "[x for x in breaches]"),
        ("(lambda: 1)() == 1", "(lambda: 1)()"),
        ("divergence is None", "divergence is None"),
        ("colour == 'red'", "colour"),
        ("f'{divergence}' == '1'", "f'{divergence}'"),
    ],
)
def test_unsafe_or_unknown_expressions_are_rejected_by_name(where: str, part: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_filter(where)
    assert info.value.part == part
    assert repr(part) in str(info.value)


def test_syntax_errors_and_empty_filters_are_clear() -> None:
    with pytest.raises(FilterError, match="not a valid expression"):
        compile_filter("divergence > 0.5; import os")
    with pytest.raises(FilterError, match=r"empty filter; expected e\.g\. 'divergence > 0\.5'"):
        compile_filter("  ")


def test_export_writes_items_and_manifest(tmp_path: Path, data: Data) -> None:
    scores, pairs = data
    pairs["p1"].request.tags["tenant"] = "acme"
    manifest = export_golden_set(
        scores,
        pairs,
        "divergence > 0.5 or outcome.mirror_error",
        tmp_path,
        "prod",
        now=1_700_000_000.0,
    )
    target = tmp_path / "v1"
    assert sorted(p.name for p in target.iterdir()) == ["items.jsonl", "manifest.json"]
    raw = (target / "items.jsonl").read_bytes()
    lines = [json.loads(line) for line in raw.splitlines()]
    assert [line["id"] for line in lines] == ["p1:cand-a", "p1:replica", "p3:cand-a"]
    assert all(list(line) == sorted(line) for line in lines)  # keys sorted
    first = lines[0]
    assert first["route"] == CHAT
    assert first["request"]["messages"][0]["content"] == "q p1"
    assert first["request_truncated"] is False
    assert first["expected"] is None
    assert first["label"] is None
    recorded = first["recorded"]
    assert recorded["incumbent"]["text"] == "answer p1"
    assert recorded["incumbent"]["tool_calls"] == [{"name": "lookup", "arguments": '{"q":1}'}]
    assert (recorded["mirror"], recorded["candidate"]["text"]) == ("cand-a", "other p1")
    assert first["tags"] == {"kind": "chat", "tenant": "acme"}
    assert first["provenance"] == {
        "source": "export",
        "campaign": "prod",
        "pair_id": "p1",
        "mirror": "cand-a",
        "time": 1_700_000_000.0,
    }
    assert first["scores"]["divergence"] == pytest.approx(0.7)
    assert (lines[1]["scores"]["role"], lines[1]["recorded"]["candidate"]["text"]) == (
        "replica",
        "again p1",
    )
    assert lines[2]["recorded"]["candidate"]["error"] == "timeout"
    on_disk = json.loads((target / "manifest.json").read_text())
    assert on_disk == manifest.model_dump(mode="json")
    assert on_disk["format"] == MANIFEST_FORMAT == "darklaunch-golden-set/2"
    assert (manifest.version, manifest.parent) == ("v1", None)
    assert manifest.provenance.model_dump() == {
        "source": "export",
        "campaign": "prod",
        "filter": "divergence > 0.5 or outcome.mirror_error",
        "rows": 3,
    }
    assert (manifest.count, manifest.added, manifest.replaced) == (3, 3, 0)
    assert manifest.segments == {"kind=chat": 3, f"route={CHAT}": 3, "tenant=acme": 2}
    assert manifest.missing_pairs == 0
    assert manifest.sha256 == hashlib.sha256(raw).hexdigest()
    assert manifest.created_at_iso == "2023-11-14T22:13:20Z"


def test_exported_items_load_back(tmp_path: Path, data: Data) -> None:
    scores, pairs = data
    manifest = export_golden_set(scores, pairs, "outcome.mirror_error", tmp_path, "prod")
    loaded = load_version(tmp_path)
    assert loaded.manifest == manifest
    [item] = loaded.items
    assert item.id == "p3:cand-a"
    assert item.request == pairs["p3"].request.body
    assert item.recorded is not None
    assert item.recorded.incumbent["text"] == "answer p3"
    assert item.provenance.pair_id == "p3"


def test_a_tool_request_is_tagged_tool_call(tmp_path: Path, data: Data) -> None:
    scores, pairs = data
    pairs["p3"].request.body["tools"] = [{"type": "function", "function": {"name": "f"}}]
    export_golden_set(scores, pairs, "outcome.mirror_error", tmp_path, "prod")
    assert load_items(tmp_path)[0].tags["kind"] == "tool_call"


def test_a_second_export_builds_on_the_first_and_never_touches_it(
    tmp_path: Path, data: Data
) -> None:
    scores, pairs = data
    first = export_golden_set(scores, pairs, "divergence > 0.5", tmp_path, "prod", now=1.0)
    v1 = {p.name: p.read_bytes() for p in (tmp_path / "v1").iterdir()}
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "v1").iterdir()}
    # Same selection in another order, later: the same items, so the same bytes and hash.
    second = export_golden_set(
        list(reversed(scores)), pairs, "divergence > 0.5", tmp_path, "prod", now=2.0
    )
    assert (second.version, second.parent) == ("v2", "v1")
    assert (second.added, second.replaced, second.count) == (0, 0, first.count)
    assert second.sha256 == first.sha256
    assert {p.name: p.read_bytes() for p in (tmp_path / "v1").iterdir()} == v1
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "v1").iterdir()} == stamps
    third = export_golden_set(scores, pairs, "outcome.mirror_error", tmp_path, "prod")
    assert (third.version, third.parent, third.added, third.count) == ("v3", "v2", 1, 3)
    assert third.sha256 != first.sha256
    assert {item.id for item in load_items(tmp_path)} == {"p1:cand-a", "p1:replica", "p3:cand-a"}
    fresh = export_golden_set(scores, pairs, "outcome.mirror_error", tmp_path, "prod", new=True)
    assert (fresh.version, fresh.parent, fresh.count) == ("v4", None, 1)
    assert next_version(tmp_path) == "v5"


def test_a_rescored_pair_replaces_its_item(tmp_path: Path, data: Data) -> None:
    scores, pairs = data
    export_golden_set(scores, pairs, "outcome.mirror_error", tmp_path, "prod")
    rescored = [score("p3", timestamp=3.0, mirror_error=True, mirror_ms=5000.0)]
    second = export_golden_set(rescored, pairs, "outcome.mirror_error", tmp_path, "prod")
    assert (second.added, second.replaced, second.count) == (0, 1, 1)
    assert load_items(tmp_path)[0].scores["values"]["latency.mirror_ms"] == 5000.0  # type: ignore[index]


def test_a_version_taken_during_the_export_fails_clearly(
    tmp_path: Path, data: Data, monkeypatch: pytest.MonkeyPatch
) -> None:
    scores, pairs = data
    export_golden_set(scores, pairs, "divergence > 0.5", tmp_path, "prod")
    before = (tmp_path / "v1" / "items.jsonl").read_bytes()
    monkeypatch.setattr(golden_store, "next_version", lambda out_dir: "v1")
    with pytest.raises(ExportError, match=r"v1 was created by someone else while writing"):
        export_golden_set(scores, pairs, "divergence > 0.1", tmp_path, "prod")
    assert (tmp_path / "v1" / "items.jsonl").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1"]


def test_an_edited_parent_is_never_built_on(tmp_path: Path, data: Data) -> None:
    scores, pairs = data
    export_golden_set(scores, pairs, "divergence > 0.5", tmp_path, "prod")
    items = tmp_path / "v1" / "items.jsonl"
    items.write_bytes(items.read_bytes().replace(b"answer p1", b"answer p9"))
    with pytest.raises(ExportError, match=r"v1/items\.jsonl: sha256 [0-9a-f]{64} does not match"):
        export_golden_set(scores, pairs, "outcome.mirror_error", tmp_path, "prod")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v1"]


def test_missing_pairs_are_counted(tmp_path: Path, data: Data) -> None:
    scores, pairs = data
    manifest = export_golden_set(
        scores, {"p1": pairs["p1"]}, "divergence > 0.5 or outcome.mirror_error", tmp_path, "prod"
    )
    assert (manifest.count, manifest.missing_pairs) == (2, 1)  # p1 twice, p3 gone
    assert json.loads((tmp_path / "v1" / "manifest.json").read_text())["missing_pairs"] == 1


def test_nothing_selected_writes_nothing_unless_allowed(tmp_path: Path, data: Data) -> None:
    scores, pairs = data
    with pytest.raises(ExportError, match="selected 0 of 5 scores"):
        export_golden_set(scores, pairs, "divergence > 2", tmp_path, "prod")
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
    manifest = export_golden_set(
        scores, pairs, "divergence > 2", tmp_path, "prod", allow_empty=True
    )
    assert manifest.count == 0
    assert (tmp_path / "v1" / "items.jsonl").read_bytes() == b""


def test_a_key_no_score_has_is_a_typo(tmp_path: Path, data: Data) -> None:
    scores, pairs = data
    with pytest.raises(ExportError, match=r"no score has the key\(s\) outcome\.mirror_eror"):
        export_golden_set(scores, pairs, "outcome.mirror_eror == true", tmp_path, "prod")
