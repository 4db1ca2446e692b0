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
from comparators.golden.model import FORMAT, GoldenItem, ItemProvenance, Recorded, VersionProvenance
from comparators.golden.model import GoldenManifest as Manifest
from comparators.golden.store import next_version, write_version
from comparators.pair_view import side_output
from comparators.scores import ScoreRecord
from comparators.where import FilterError, compile_filter
from proxy.recording.schema import PairRecord

__all__ = [
    "MANIFEST_FORMAT",
    "ExportError",
    "FilterError",
    "Manifest",
    "export_golden_set",
    "next_version",
    "selected_pair_ids",
]

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = FORMAT


class ExportError(ValueError):
    """An export that wrote nothing; the message says why and what to do."""


def _item(score: ScoreRecord, pair: PairRecord, campaign: str, now: float) -> GoldenItem | None:
    mirror = next((m for m in pair.mirrors if m.name == score.mirror), None)
    if mirror is None:
        return None
    return GoldenItem(
        id=f"{score.pair_id}:{score.mirror}",
        route=pair.route,
        request=pair.request.body,
        request_truncated=pair.request.body_truncated,
        recorded=Recorded(
            incumbent=side_output(pair.incumbent),
            mirror=score.mirror,
            candidate=side_output(mirror),
        ),
        tags={"kind": request_kind(pair), **pair.request.tags},
        provenance=ItemProvenance(
            source="export",
            campaign=campaign,
            pair_id=score.pair_id,
            mirror=score.mirror,
            time=now,
        ),
        scores=score.model_dump(mode="json"),
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
        item = _item(score, pair, source_campaign, created) if pair is not None else None
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
