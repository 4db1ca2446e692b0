"""The fields that differ between the two answers, as the pair page lists them.

Read from a score record's details: ``details["json"]["diff"]`` (the JSON comparator's
structural diff, entries named by JSON pointer) and ``details["tool_calls"]["calls"]`` (the
tool-call comparator's differing positions, with their argument diffs). Every value is returned
as plain text (compact JSON, cut to :data:`MAX_VALUE_CHARS`): the template escapes it, so a
hostile string in an answer stays text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from comparators.scores import ScoreRecord

__all__ = ["MAX_VALUE_CHARS", "FieldDiff", "FieldDiffs", "field_diffs", "shown"]

MAX_VALUE_CHARS = 200
ABSENT = "(absent)"
_OPS = {
    "value_change": "changed",
    "type_change": "type changed",
    "missing": "candidate lacks it",
    "extra": "candidate only",
}


def shown(value: Any) -> str:
    """``value`` as compact JSON text, cut to :data:`MAX_VALUE_CHARS` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


@dataclass(frozen=True)
class FieldDiff:
    """One row: where (``source`` and ``path``), what happened (``change``) and both values."""

    source: str
    path: str
    change: str
    incumbent: str
    candidate: str


@dataclass
class FieldDiffs:
    rows: list[FieldDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _entry_row(source: str, prefix: str, entry: Mapping[str, Any]) -> FieldDiff:
    op = str(entry.get("op", "?"))
    path = prefix + (str(entry.get("path", "")) or "/")

    def side(key: str) -> str:
        if key not in entry:
            return ABSENT
        if op == "type_change":  # the comparator records the two JSON types, not the values
            return f"({entry[key]})"
        return shown(entry[key])

    return FieldDiff(source, path, _OPS.get(op, op), side("incumbent"), side("mirror"))


def _entries(value: Any) -> list[Mapping[str, Any]]:
    return [e for e in value if isinstance(e, Mapping)] if isinstance(value, list) else []


def _json_rows(details: Mapping[str, Any], found: FieldDiffs) -> None:
    found.rows.extend(_entry_row("JSON", "", e) for e in _entries(details.get("diff")))
    if details.get("diff_truncated"):
        counts = details.get("counts")
        total = sum(counts.values()) if isinstance(counts, Mapping) else "more"
        found.notes.append(f"JSON: the first {len(found.rows)} of {total} changed fields")
    for key, who in (("incumbent_error", "incumbent"), ("mirror_error", "candidate")):
        if isinstance(error := details.get(key), str):
            found.notes.append(f"JSON: the {who}'s answer is not a JSON document ({error})")


def _tool_rows(details: Mapping[str, Any], found: FieldDiffs) -> None:
    for call in _entries(details.get("calls")):
        where = f"call {call.get('index', '?')}"
        a, b = call.get("incumbent"), call.get("mirror")
        if a != b:
            found.rows.append(
                FieldDiff(
                    "tool call",
                    f"{where}: tool",
                    "changed" if a is not None and b is not None else "one side only",
                    ABSENT if a is None else shown(a),
                    ABSENT if b is None else shown(b),
                )
            )
            continue
        for entry in _entries(call.get("arguments")):
            found.rows.append(_entry_row("tool call", f"{where} {a}: ", entry))
        invalid = call.get("invalid_arguments")
        if isinstance(invalid, list) and invalid:
            sides = " and ".join("candidate" if s == "mirror" else str(s) for s in invalid)
            found.notes.append(f"{where} {a}: arguments of the {sides} are not JSON")


def field_diffs(score: ScoreRecord | None) -> FieldDiffs:
    """The JSON and tool-call differences a score record holds (none when unscored)."""
    found = FieldDiffs()
    if score is None:
        return found
    if isinstance(json_details := score.details.get("json"), Mapping):
        _json_rows(json_details, found)
    if isinstance(tool_details := score.details.get("tool_calls"), Mapping):
        _tool_rows(tool_details, found)
    return found
