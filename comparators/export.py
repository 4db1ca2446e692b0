"""Export selected pairs as a new version of a golden evaluation set.

Production divergences are the test cases an offline evaluation lacks. ``darklaunch export``
writes the (pair, mirror)s a ``--where`` filter (:mod:`comparators.where`) selects as items of
format ``darklaunch-golden-set/2`` (:mod:`comparators.golden.model`, ``docs/golden.md``):

* ``id`` ``<pair_id>:<mirror>``; ``route``; ``request``, the recorded (redacted) body, and
  ``request_truncated``;
* ``recorded``: the incumbent's answer, the mirror's name and its answer
  (:func:`comparators.pair_view.side_output`), for ``replay --incumbent recorded``;
* ``tags``: the request ``kind`` (:func:`comparators.columns.segments.request_kind`) and the
  pair's user tags; ``provenance``: the campaign, pair and mirror; ``scores``: the score record.

:func:`comparators.golden.store.write_version` writes them as the next version, built on the
latest one (``new`` starts a fresh lineage), with a manifest naming the campaign and filter
and the SHA-256 of the items. Versions are never overwritten: the directory is created with
``exist_ok=False`` and the files with mode ``"x"``, so a concurrent export fails cleanly.

``darklaunch export --labeled`` (:func:`export_labeled`) writes the (pair, mirror)s reviewers
labeled instead (one reviewer's with ``--reviewer``; both must match with ``--where``): the
same items with ``label`` (the verdict), ``expected`` (the reviewer's corrected answer, as
``text``) and provenance ``source: review`` naming the reviewer. When several reviewers
labeled one (pair, mirror), the last label given wins, so a relabelled pair replaces its item
in the next version (:func:`comparators.golden.store.merge_items`).

Exceptions::

    ExportError  (ValueError)  nothing matched, a filter key no score has, a version race, or
                               a parent version that does not verify
    FilterError  (ValueError)  the --where expression is not in the filter language
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from comparators.columns.frame import dedupe
from comparators.columns.segments import request_kind
from comparators.golden.errors import GoldenError
from comparators.golden.model import (
    FORMAT,
    Expected,
    GoldenItem,
    ItemProvenance,
    Recorded,
    VersionProvenance,
)
from comparators.golden.model import GoldenManifest as Manifest
from comparators.golden.store import next_version, write_version
from comparators.pair_view import side_output
from comparators.review.agreement import latest_per_pair
from comparators.review.label import Label
from comparators.scores import ScoreRecord
from comparators.where import FilterError, compile_filter
from proxy.recording.schema import PairRecord

__all__ = [
    "MANIFEST_FORMAT",
    "ExportError",
    "FilterError",
    "Manifest",
    "export_golden_set",
    "export_labeled",
    "labeled_pair_ids",
    "next_version",
    "selected_pair_ids",
]

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = FORMAT


class ExportError(ValueError):
    """An export that wrote nothing; the message says why and what to do."""


def _item(
    score: ScoreRecord | None,
    pair: PairRecord,
    provenance: ItemProvenance,
    label: Label | None = None,
) -> GoldenItem | None:
    """The item for (``provenance.pair_id``, ``provenance.mirror``); ``None`` when the pair
    record has no such mirror."""
    name = provenance.mirror
    mirror = next((m for m in pair.mirrors if m.name == name), None)
    if mirror is None:
        return None
    expected = label.expected if label is not None else None
    return GoldenItem(
        id=f"{pair.pair_id}:{name}",
        route=pair.route,
        request=pair.request.body,
        request_truncated=pair.request.body_truncated,
        expected=Expected(text=expected) if expected else None,
        recorded=Recorded(
            incumbent=side_output(pair.incumbent),
            mirror=name,
            candidate=side_output(mirror),
        ),
        tags={"kind": request_kind(pair), **pair.request.tags},
        label=label.verdict if label is not None else None,
        provenance=provenance,
        scores=score.model_dump(mode="json") if score is not None else None,
    )


def _check_keys(keys: frozenset[str], scores: Sequence[ScoreRecord], where: str) -> None:
    """A ``<comparator>.<metric>`` no score has is almost certainly a typo; matching nothing
    silently would look like "no such pairs"."""
    present: set[str] = set()
    for score in scores:
        present.update(k for k in keys if k in score.values)
        if len(present) == len(keys):
            return
    unknown = sorted(keys - present)
    raise ExportError(
        f"--where {where!r}: no score has the key(s) {', '.join(unknown)}; "
        "expected a <comparator>.<metric> key such as text.divergence or outcome.mirror_error"
    )


def export_golden_set(
    scores: Sequence[ScoreRecord],
    pairs: Mapping[str, PairRecord],
    where: str,
    out_dir: Path,
    source_campaign: str,
    *,
    allow_empty: bool = False,
    new: bool = False,
    now: float | None = None,
) -> Manifest:
    """Write the pairs ``where`` selects as the next version under ``out_dir``, on top of the
    latest version's items unless ``new``.

    ``pairs`` needs only the selected ids (:func:`selected_pair_ids`); a selected score whose
    pair is absent is counted in ``missing_pairs`` and left out. Raises :class:`ExportError`
    before writing anything when nothing would be written, unless ``allow_empty``.
    """
    flt = compile_filter(where)
    records = dedupe(scores)
    if flt.value_keys and records:
        _check_keys(flt.value_keys, records, where)
    selected = [r for r in records if flt.matches(r)]
    created = time.time() if now is None else now
    items: list[GoldenItem] = []
    missing = 0
    for score in selected:
        pair = pairs.get(score.pair_id)
        origin = ItemProvenance(
            source="export",
            campaign=source_campaign,
            pair_id=score.pair_id,
            mirror=score.mirror,
            time=created,
        )
        item = _item(score, pair, origin) if pair is not None else None
        if item is None:
            missing += 1
            continue
        items.append(item)
    if not items and not allow_empty:
        raise ExportError(
            f"--where {where!r} selected {len(selected)} of {len(records)} scores and "
            f"{missing} of those have no stored pair; nothing written"
        )
    provenance = VersionProvenance(
        source="export", campaign=source_campaign, filter=flt.source, rows=len(items)
    )
    try:
        manifest = write_version(
            out_dir, items, provenance, new=new, missing_pairs=missing, now=created
        )
    except GoldenError as exc:
        raise ExportError(str(exc)) from exc
    logger.info("exported %d pairs to %s (%d missing)", len(items), manifest.version, missing)
    return manifest


def selected_pair_ids(scores: Sequence[ScoreRecord], where: str) -> set[str]:
    """The pair ids ``where`` selects: what to fetch with
    :func:`comparators.campaign.load_pairs` before calling :func:`export_golden_set`."""
    flt = compile_filter(where)
    return {r.pair_id for r in dedupe(scores) if flt.matches(r)}


def _labeled(labels: Sequence[Label], reviewer: str | None) -> dict[tuple[str, str], Label]:
    """The label each (pair, mirror) is exported with: the last one given (``reviewer``'s
    only, when named)."""
    mine = [label for label in labels if reviewer is None or label.reviewer == reviewer]
    if not mine:
        names = ", ".join(sorted({label.reviewer for label in labels})) or "none"
        who = f"by reviewer {reviewer!r} " if reviewer is not None else ""
        raise ExportError(
            f"no labels {who}in this campaign; reviewers with labels: {names}; expected "
            "pairs labeled in darklaunch review"
        )
    return latest_per_pair(mine)


def labeled_pair_ids(
    scores: Sequence[ScoreRecord],
    labels: Sequence[Label],
    *,
    reviewer: str | None = None,
    where: str | None = None,
) -> set[str]:
    """The pair ids :func:`export_labeled` needs: what to fetch with
    :func:`comparators.campaign.load_pairs`."""
    keys = set(_labeled(labels, reviewer))
    if where is not None:
        flt = compile_filter(where)
        keys &= {(r.pair_id, r.mirror) for r in dedupe(scores) if flt.matches(r)}
    return {pair_id for pair_id, _ in keys}


def export_labeled(
    scores: Sequence[ScoreRecord],
    pairs: Mapping[str, PairRecord],
    labels: Sequence[Label],
    out_dir: Path,
    source_campaign: str,
    *,
    reviewer: str | None = None,
    where: str | None = None,
    new: bool = False,
    now: float | None = None,
) -> Manifest:
    """Write the labeled (pair, mirror)s (``reviewer``'s only, when named; those ``where``
    selects too, when given) as the next version under ``out_dir``.

    An item's provenance names the reviewer of the label it carries and ``time``, when it
    entered the set. ``scores`` need not cover every label: a (pair, mirror) without a score
    record is exported without ``scores`` unless ``where`` asks for one. A label whose pair
    record is gone is counted in ``missing_pairs``."""
    chosen = _labeled(labels, reviewer)
    records = {(r.pair_id, r.mirror): r for r in dedupe(scores)}
    source = "--labeled" + (f" --reviewer {reviewer}" if reviewer is not None else "")
    if where is not None:
        flt = compile_filter(where)
        if flt.value_keys and records:
            _check_keys(flt.value_keys, list(records.values()), where)
        chosen = {k: v for k, v in chosen.items() if k in records and flt.matches(records[k])}
        source += f" --where {flt.source}"
    created = time.time() if now is None else now
    items: list[GoldenItem] = []
    missing = 0
    for (pair_id, mirror), label in chosen.items():
        pair = pairs.get(pair_id)
        origin = ItemProvenance(
            source="review",
            campaign=source_campaign,
            pair_id=pair_id,
            mirror=mirror,
            reviewer=label.reviewer,
            time=created,
        )
        item = _item(records.get((pair_id, mirror)), pair, origin, label) if pair else None
        if item is None:
            missing += 1
            continue
        items.append(item)
    if not items:
        raise ExportError(
            f"{source}: {len(chosen)} labeled pairs selected and {missing} of those have no "
            "stored pair; nothing written"
        )
    provenance = VersionProvenance(
        source="review", campaign=source_campaign, filter=source, rows=len(items)
    )
    try:
        manifest = write_version(
            out_dir, items, provenance, new=new, missing_pairs=missing, now=created
        )
    except GoldenError as exc:
        raise ExportError(str(exc)) from exc
    logger.info("exported %d labeled pairs to %s", len(items), manifest.version)
    return manifest
