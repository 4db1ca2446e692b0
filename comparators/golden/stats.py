"""What one version of a golden set holds, for ``darklaunch golden stats``.

A golden set is only as good as its coverage: a set of 500 chat prompts with no tool call
cannot catch a candidate that breaks tools, and items without a reference answer can only be
compared against what production said. So the summary counts items per segment (tag and
route), how many carry a reference answer (``expected``) or a recorded one, and where the
items came from; and it says whether the items file still hashes to its manifest.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from comparators.golden.store import GoldenVersion
from comparators.tables import Grid, markdown_text, to_markdown

__all__ = ["GoldenStats", "stats_grids", "stats_markdown", "version_stats"]


class GoldenStats(BaseModel):
    """One version summarised; ``verified`` is true because it was loaded hash-checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    version: str
    format: str
    parent: str | None
    created_at_iso: str
    count: int
    with_expected: int
    with_recorded: int
    labelled: int
    segments: dict[str, int]
    # What made the version (the manifest's provenance) and where its items came from.
    provenance: dict[str, Any]
    sources: dict[str, int]
    added: int
    replaced: int
    missing_pairs: int | None
    sha256: str
    verified: bool


def version_stats(loaded: GoldenVersion) -> GoldenStats:
    """The summary of a version read by :func:`comparators.golden.store.load_version`."""
    manifest, items = loaded.manifest, loaded.items
    sources = Counter(item.provenance.source for item in items)
    return GoldenStats(
        path=str(loaded.path),
        version=manifest.version,
        format=manifest.format,
        parent=manifest.parent,
        created_at_iso=manifest.created_at_iso,
        count=len(items),
        with_expected=sum(item.expected is not None for item in items),
        with_recorded=sum(item.recorded is not None for item in items),
        labelled=sum(item.label is not None for item in items),
        segments=manifest.segments,
        provenance=manifest.provenance.model_dump(mode="json"),
        sources=dict(sorted(sources.items())),
        added=manifest.added,
        replaced=manifest.replaced,
        missing_pairs=manifest.missing_pairs,
        sha256=manifest.sha256,
        verified=True,
    )


def _share(part: int, whole: int) -> str:
    return f"{part} ({part / whole:.0%})" if whole else str(part)


def stats_grids(stats: GoldenStats) -> list[Grid]:
    """The version's facts, then its items per segment."""
    made = ", ".join(f"{key} {value}" for key, value in stats.provenance.items())
    facts = Grid(
        f"golden set {stats.path}",
        ("fact", "value"),
        keep_whole=frozenset({"fact"}),
        bold_first=True,
    )
    rows = [
        ("version", f"{stats.version} ({stats.format})"),
        ("parent", stats.parent or "none (a fresh lineage)"),
        ("created", stats.created_at_iso),
        ("made by", made),
        ("items", str(stats.count)),
        ("added / replaced", f"{stats.added} / {stats.replaced} (vs the parent)"),
        ("with expected answer", _share(stats.with_expected, stats.count)),
        ("with recorded answer", _share(stats.with_recorded, stats.count)),
        ("labelled", _share(stats.labelled, stats.count)),
        ("item sources", ", ".join(f"{k} {v}" for k, v in stats.sources.items()) or "none"),
        ("sha256", f"{stats.sha256} (verified)" if stats.verified else stats.sha256),
    ]
    if stats.missing_pairs is not None:
        rows.insert(6, ("missing pairs", str(stats.missing_pairs)))
    for row in rows:
        facts.add_row(*row)
    segments = Grid(
        "items per segment",
        ("segment", "items"),
        keep_whole=frozenset({"segment"}),
        right=frozenset({"items"}),
    )
    for segment, count in stats.segments.items():
        segments.add_row(segment, _share(count, stats.count))
    return [facts, segments]


def stats_markdown(stats: GoldenStats) -> str:
    """The same tables as Markdown, for a pull-request comment."""
    heading = f"### Golden set {markdown_text(stats.version)}\n\n"
    return heading + "".join(to_markdown(grid) for grid in stats_grids(stats))
