"""JSON divergence: when an answer is data, compare its structure rather than its wording.

Applicable when the request asked for JSON (``response_format.type`` or, on the Responses API,
``text.format.type`` is ``json_object`` or ``json_schema``) or either side's text parses as a
JSON object or array. A text wrapped in one Markdown code fence (```` ```json ... ``` ````) is
unwrapped first, because models often do that even when asked for JSON.

``<side>_valid`` means the text parses as a JSON object or array. The structural diff walks
both documents: object members are matched by key and array items by index. It yields
``missing`` (in the incumbent only), ``extra`` (in the mirror only), ``type_change`` and
``value_change`` entries with JSON-pointer paths (``""`` is the root), capped at
:data:`MAX_ENTRIES`. Integers and floats are one type, ``number``, so ``1`` equals ``1.0``;
booleans are never numbers.

``divergence = changed leaves / total leaves`` where a *leaf* is a scalar or an empty
container. ``total`` counts the leaves of the union of both documents: a subtree present on
one side only contributes its leaf count to both numbers, a type change contributes the larger
side's leaf count to both, and a leaf present on both sides contributes 1 to ``total`` and 1
to ``changed`` when it differs. So identical documents are 0.0 and disjoint ones 1.0. When
exactly one side is valid the divergence is 1.0; when neither is, it is ``None`` and the
headline divergence falls back to text.

``equal`` is the exact view the gate's ``quality: semantic`` mode reads: true when no leaf
changed, whatever share of the document a change is (a wrong invoice total is one leaf of six,
divergence 0.17, and still a wrong answer), false when any leaf changed or only one side is
valid. Key order, white space and number spelling (``1.0`` and ``1``) never count.
``changed_fields`` counts the entries of the diff, and ``details.diff`` names each one by
JSON pointer, so a report can say which field changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from comparators.base import ComparatorContext, Pairing, make_score
from comparators.scores import Score, Value

__all__ = ["MAX_ENTRIES", "JsonComparator", "JsonDiff", "JsonOptions", "diff", "parse_document"]

logger = logging.getLogger(__name__)

MAX_ENTRIES = 50
JSON_FORMATS = frozenset({"json_object", "json_schema"})
_MAX_SHOWN = 200


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "object" if isinstance(value, dict) else "array"


def _shown(value: Any) -> Any:
    """Keep diff entries small: containers by type, long strings cut."""
    if isinstance(value, dict | list):
        return f"<{json_type(value)} of {len(value)}>"
    if isinstance(value, str) and len(value) > _MAX_SHOWN:
        return value[:_MAX_SHOWN] + "…"
    return value


def leaves(value: Any) -> int:
    if isinstance(value, dict):
        return sum(leaves(v) for v in value.values()) or 1
    if isinstance(value, list):
        return sum(leaves(v) for v in value) or 1
    return 1


def _pointer(path: str, key: str | int) -> str:
    return f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"


@dataclass(slots=True)
class JsonDiff:
    """A structural diff; ``entries`` is capped, ``counts`` never is."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    total: int = 0
    limit: int = MAX_ENTRIES

    @property
    def divergence(self) -> float:
        return self.changed / self.total if self.total else 0.0

    def _add(self, op: str, path: str, weight: int, **values: Any) -> None:
        self.changed += weight
        self.total += weight
        self.counts[op] = self.counts.get(op, 0) + 1
        if len(self.entries) < self.limit:
            self.entries.append({"op": op, "path": path, **values})

    def walk(self, a: Any, b: Any, path: str) -> None:
        type_a, type_b = json_type(a), json_type(b)
        if type_a != type_b:
            weight = max(leaves(a), leaves(b))
            self._add("type_change", path, weight, incumbent=type_a, mirror=type_b)
        elif type_a == "object" and (a or b):
            for key, value in a.items():
                if key in b:
                    self.walk(value, b[key], _pointer(path, key))
                else:
                    self._add(
                        "missing", _pointer(path, key), leaves(value), incumbent=_shown(value)
                    )
            for key, value in b.items():
                if key not in a:
                    self._add("extra", _pointer(path, key), leaves(value), mirror=_shown(value))
        elif type_a == "array" and (a or b):
            for index in range(max(len(a), len(b))):
                if index >= len(b):
                    self._add(
                        "missing",
                        _pointer(path, index),
                        leaves(a[index]),
                        incumbent=_shown(a[index]),
                    )
                elif index >= len(a):
                    self._add(
                        "extra", _pointer(path, index), leaves(b[index]), mirror=_shown(b[index])
                    )
                else:
                    self.walk(a[index], b[index], _pointer(path, index))
        elif a != b:
            self._add("value_change", path, 1, incumbent=_shown(a), mirror=_shown(b))
        else:
            self.total += 1


def diff(a: Any, b: Any, limit: int = MAX_ENTRIES) -> JsonDiff:
    """Diff two parsed JSON values (any type, not only documents: tool arguments reuse it)."""
    result = JsonDiff(limit=limit)
    result.walk(a, b, "")
    return result


def _unfence(text: str) -> str:
    if text.startswith("```") and text.endswith("```") and "\n" in text:
        return text[text.index("\n") + 1 : -3].strip()
    return text


def parse_document(text: str) -> tuple[Any, str | None]:
    """``(document, None)`` when ``text`` is a JSON object or array, else ``(None, reason)``.
    Texts that cannot start a document are rejected before parsing: most answers are prose."""
    text = _unfence(text.strip())
    if not text or text[0] not in "{[":
        return None, "not a JSON object or array"
    try:
        document = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc}"[:_MAX_SHOWN]
    if not isinstance(document, dict | list):
        return None, "not a JSON object or array"
    return document, None


def json_requested(body: dict[str, Any] | None) -> bool:
    if body is None:
        return False
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in JSON_FORMATS:
        return True
    text_options = body.get("text")
    fmt = text_options.get("format") if isinstance(text_options, dict) else None
    return isinstance(fmt, dict) and fmt.get("type") in JSON_FORMATS


class JsonOptions(BaseModel):
    """``comparators: {json: {max_entries: 20}}`` keeps fewer diff entries per pair."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_entries: int = Field(default=MAX_ENTRIES, ge=0, le=1000)


_KEYS = ("applicable", "incumbent_valid", "mirror_valid", "equal", "changed_fields", "divergence")


class JsonComparator:
    name: ClassVar[str] = "json"
    Options: ClassVar[type[BaseModel]] = JsonOptions

    def __init__(self, options: JsonOptions, context: ComparatorContext) -> None:
        self.options = options

    def compare(self, pair: Pairing) -> list[Score]:
        incumbent, mirror = pair.incumbent.output, pair.mirror.output
        if incumbent is None or mirror is None or not pair.both_ok:
            return [make_score(self.name, dict.fromkeys(_KEYS))]
        doc_a, error_a = parse_document(incumbent.text)
        doc_b, error_b = parse_document(mirror.text)
        valid_a, valid_b = error_a is None, error_b is None
        if not (valid_a or valid_b or json_requested(pair.request_body)):
            values: dict[str, Value] = dict.fromkeys(_KEYS)
            values["applicable"] = False
            return [make_score(self.name, values)]
        details: dict[str, Any] = {}
        if error_a is not None:
            details["incumbent_error"] = error_a
        if error_b is not None:
            details["mirror_error"] = error_b
        divergence: float | None = None
        equal: bool | None = None
        changed_fields: int | None = None
        if valid_a and valid_b:
            result = diff(doc_a, doc_b, self.options.max_entries)
            divergence = result.divergence
            changed_fields = sum(result.counts.values())
            equal = changed_fields == 0
            details.update(
                diff=result.entries,
                counts=result.counts,
                changed_leaves=result.changed,
                total_leaves=result.total,
            )
            if sum(result.counts.values()) > self.options.max_entries:
                details["diff_truncated"] = True
        elif valid_a or valid_b:
            divergence, equal = 1.0, False
        values = {
            "applicable": True,
            "incumbent_valid": valid_a,
            "mirror_valid": valid_b,
            "equal": equal,
            "changed_fields": changed_fields,
            "divergence": divergence,
        }
        return [make_score(self.name, values, details)]
