"""A version summarised: counts per segment, answers known, where items came from."""

from __future__ import annotations

from pathlib import Path

from comparators.golden.model import (
    Expected,
    GoldenItem,
    ItemProvenance,
    Recorded,
    VersionProvenance,
)
from comparators.golden.stats import stats_grids, stats_markdown, version_stats
from comparators.golden.store import load_version, write_version

CHAT = "/v1/chat/completions"


def item(item_id: str, source: str = "import", **fields: object) -> GoldenItem:
    return GoldenItem.model_validate(
        {
            "id": item_id,
            "route": fields.pop("route", CHAT),
            "request": {"model": "m", "input": item_id},
            "provenance": ItemProvenance.model_validate({"source": source, "time": 1.0}),
            **fields,
        }
    )


def test_stats_count_segments_answers_and_sources(tmp_path: Path) -> None:
    write_version(
        tmp_path,
        [
            item("a", tags={"kind": "chat", "tenant": "acme"}, expected=Expected(text="x")),
            item("b", tags={"kind": "tool_call"}, label="bad-tool"),
        ],
        VersionProvenance(source="import", file="p.jsonl", rows=2),
    )
    manifest = write_version(
        tmp_path,
        [
            item(
                "c",
                "export",
                tags={"kind": "chat"},
                route="/v1/responses",
                recorded=Recorded(incumbent={"text": "y"}),
            )
        ],
        VersionProvenance(source="export", campaign="prod", filter="divergence > 0.5", rows=1),
        missing_pairs=3,
    )
    stats = version_stats(load_version(tmp_path))
    assert (stats.version, stats.parent, stats.count) == ("v2", "v1", 3)
    assert (stats.with_expected, stats.with_recorded, stats.labelled) == (1, 1, 1)
    assert stats.segments == {
        "kind=chat": 2,
        "kind=tool_call": 1,
        f"route={CHAT}": 2,
        "route=/v1/responses": 1,
        "tenant=acme": 1,
    }
    assert stats.sources == {"export": 1, "import": 2}
    assert stats.provenance == {
        "source": "export",
        "campaign": "prod",
        "filter": "divergence > 0.5",
        "rows": 1,
    }
    assert (stats.added, stats.replaced, stats.missing_pairs) == (1, 0, 3)
    assert (stats.sha256, stats.verified) == (manifest.sha256, True)
    facts, segments = stats_grids(stats)
    assert ("with expected answer", "1 (33%)") in facts.rows
    assert ("missing pairs", "3") in facts.rows
    assert ("kind=chat", "2 (67%)") in segments.rows
    markdown = stats_markdown(stats)
    assert markdown.startswith("### Golden set v2\n")
    assert "| route=/v1/responses | 1 (33%) |" in markdown
