"""Export selected pairs as a new version of a golden evaluation set.

Production divergences are the test cases an offline evaluation lacks. ``darklaunch export``
writes the pairs a ``--where`` filter (:mod:`comparators.where`) selects to
``<out>/<version>/pairs.jsonl``, one JSON object per (pair, mirror)::

    {"pair_id", "mirror", "role", "route", "model", "timestamp",
     "input": <the recorded request body>, "input_truncated": bool,
     "reference": <the incumbent's answer>, "candidate": <the mirror's answer>,
     "scores": <the score record>}

and a ``manifest.json`` with the version, source campaign, filter, count and the SHA-256 of
``pairs.jsonl``. Lines are in (timestamp, pair_id, mirror) order with sorted keys, so the same
selection always hashes the same and a manifest hash proves a file unchanged.

Versions are ``v1``, ``v2``, ...: each export takes the next free number by creating its
directory with ``exist_ok=False``, which is atomic, so two concurrent exports cannot share
one, and files are created with mode ``"x"``, so an earlier version is never overwritten.

Exceptions::

    ExportError  (ValueError)  nothing matched, a filter key no score has, or a version race
    FilterError  (ValueError)  the --where expression is not in the filter language
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from comparators.columns.frame import dedupe
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

MANIFEST_FORMAT = "darklaunch-golden-set/1"
_VERSION = re.compile(r"^v([1-9][0-9]*)$")


class ExportError(ValueError):
    """An export that wrote nothing; the message says why and what to do."""


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str = MANIFEST_FORMAT
    version: str
    source_campaign: str
    filter: str
    count: int
    sha256: str
    created_at: float
    created_at_iso: str
    # Selected scores whose pair record is no longer stored (trimmed by max_len/retention).
    missing_pairs: int = 0


def next_version(out_dir: Path) -> str:
    """``v<n+1>`` for the highest ``v<n>`` directory in ``out_dir`` (``v1`` when none)."""
    numbers = [
        int(match.group(1))
        for entry in (out_dir.iterdir() if out_dir.is_dir() else [])
        if entry.is_dir() and (match := _VERSION.match(entry.name))
    ]
    return f"v{max(numbers, default=0) + 1}"


def _line(score: ScoreRecord, pair: PairRecord) -> dict[str, Any] | None:
    mirror = next((m for m in pair.mirrors if m.name == score.mirror), None)
    if mirror is None:
        return None
    return {
        "pair_id": score.pair_id,
        "mirror": score.mirror,
        "role": score.role.value,
        "route": score.route,
        "model": score.model,
        "timestamp": score.timestamp,
        "input": pair.request.body,
        "input_truncated": pair.request.body_truncated,
        "reference": side_output(pair.incumbent),
        "candidate": side_output(mirror),
        "scores": score.model_dump(mode="json"),
    }


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
    now: float | None = None,
) -> Manifest:
    """Write the pairs ``where`` selects as the next version under ``out_dir``.

    ``pairs`` needs only the selected ids (:func:`selected_pair_ids`); a selected score whose
    pair is absent is counted in ``missing_pairs`` and left out. Raises :class:`ExportError`
    before writing anything when nothing would be written, unless ``allow_empty``.
    """
    flt = compile_filter(where)
    records = dedupe(scores)
    if flt.value_keys and records:
        _check_keys(flt.value_keys, records, where)
    selected = sorted(
        (r for r in records if flt.matches(r)), key=lambda r: (r.timestamp, r.pair_id, r.mirror)
    )
    lines: list[bytes] = []
    missing = 0
    for score in selected:
        pair = pairs.get(score.pair_id)
        line = _line(score, pair) if pair is not None else None
        if line is None:
            missing += 1
            continue
        lines.append(orjson.dumps(line, option=orjson.OPT_SORT_KEYS) + b"\n")
    if not lines and not allow_empty:
        raise ExportError(
            f"--where {where!r} selected {len(selected)} of {len(records)} scores and "
            f"{missing} of those have no stored pair; nothing written"
        )
    content = b"".join(lines)
    created = time.time() if now is None else now
    out_dir.mkdir(parents=True, exist_ok=True)
    version = next_version(out_dir)
    target = out_dir / version
    try:
        target.mkdir(exist_ok=False)
    except FileExistsError as exc:
        raise ExportError(
            f"{target} was created by someone else while exporting (a concurrent export?); "
            "nothing written, run the export again"
        ) from exc
    manifest = Manifest(
        version=version,
        source_campaign=source_campaign,
        filter=flt.source,
        count=len(lines),
        sha256=hashlib.sha256(content).hexdigest(),
        created_at=created,
        created_at_iso=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
        missing_pairs=missing,
    )
    with (target / "pairs.jsonl").open("xb") as handle:
        handle.write(content)
    # The manifest goes last: its presence marks a complete version.
    with (target / "manifest.json").open("x", encoding="utf-8") as handle:
        handle.write(manifest.model_dump_json(indent=2) + "\n")
    logger.info("exported %d pairs to %s (%d missing)", len(lines), target, missing)
    return manifest


def selected_pair_ids(scores: Sequence[ScoreRecord], where: str) -> set[str]:
    """The pair ids ``where`` selects: what to fetch with
    :func:`comparators.campaign.load_pairs` before calling :func:`export_golden_set`."""
    flt = compile_filter(where)
    return {r.pair_id for r in dedupe(scores) if flt.matches(r)}
