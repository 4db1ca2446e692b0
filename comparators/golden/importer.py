"""Prompts written by people (JSONL or CSV) read into golden-set items.

Production failures reach the set through ``darklaunch export``; the cases nobody has sent yet
(the long tail, adversarial inputs, questions where the right answer is to abstain) arrive as
a file. Each row is one request:

* JSONL, one object per line: exactly one of ``prompt`` (a string), ``messages`` (a chat
  message list) or ``request`` (the whole body to send), and optionally ``id``, ``expected``
  (a string, the reference text, or an object with ``text``, ``tool_calls``, ``json``),
  ``tags`` (an object of strings), ``route``, ``system`` (with ``prompt``) and ``label``;
* CSV with a header: ``prompt`` (or ``messages``, a JSON list), and optionally ``id``,
  ``expected`` (the reference text), ``system``, ``label``, ``route`` and ``tag:<name>``
  columns. An empty cell is an absent value.

A prompt becomes ``{"model": M, "messages": [{"role": "system", ...}?, {"role": "user",
"content": prompt}]}``; ``messages`` become ``{"model": M, "messages": [...]}``. Both need the
model (``--model``). ``request`` bodies are sent as they are.

The whole file is read before anything is written: the first bad row raises
:class:`~comparators.golden.errors.ImportRowError` naming the file, the line and the problem,
and a file with one id twice (given, or derived from the same request) is an error too.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from comparators.golden.errors import GoldenError, ImportRowError
from comparators.golden.model import (
    Expected,
    GoldenItem,
    ItemProvenance,
    body_kind,
    item_id,
)

__all__ = ["DEFAULT_ROUTE", "FORMATS", "ImportOptions", "detect_format", "read_items"]

DEFAULT_ROUTE = "/v1/chat/completions"
FORMATS = ("jsonl", "csv")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
_BODIES = ("prompt", "messages", "request")
_JSONL_KEYS = (*_BODIES, "id", "expected", "tags", "route", "system", "label")
_CSV_COLUMNS = ("prompt", "messages", "id", "expected", "system", "label", "route")
_TAG = "tag:"


@dataclass(frozen=True)
class ImportOptions:
    """Defaults for every row: the route to send to, the model and the system message of a
    prompt (a row's own ``route`` or ``system`` wins)."""

    route: str = DEFAULT_ROUTE
    model: str | None = None
    system: str | None = None


@dataclass
class _Row:
    """One row, checked field by field, before it becomes an item."""

    line: int
    body: str  # which of _BODIES the row gave
    value: Any
    id: str | None = None
    expected: Expected | None = None
    tags: dict[str, str] = field(default_factory=dict)
    route: str | None = None
    system: str | None = None
    label: str | None = None


class _Bad(Exception):
    """A row's problem; :func:`read_items` adds the file and the line."""


def detect_format(path: Path, fmt: str | None) -> str:
    """``fmt`` when given, else the suffix's (``.jsonl``, ``.ndjson``, ``.csv``)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise GoldenError(f"--format {fmt!r}; expected one of {', '.join(FORMATS)}")
        return fmt
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise GoldenError(
            f"{path}: cannot tell the format from the suffix {path.suffix or '(none)'!r}; "
            "expected .jsonl, .ndjson or .csv, or pass --format jsonl|csv"
        )
    return found


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad(f"{key}: got {value!r}; expected a non-empty string")
    return value


def _expected(value: Any) -> Expected:
    if isinstance(value, str):
        return Expected(text=value)
    if not isinstance(value, dict):
        raise _Bad(
            f"expected: got {value!r}; expected a string (the reference text) or an object "
            "with text, tool_calls or json"
        )
    try:
        return Expected.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(["expected", *(str(part) for part in error["loc"])])
        raise _Bad(f"{where}: {error['msg']}") from exc


def _tag(key: str, value: Any) -> tuple[str, str]:
    if not key or key == "route":
        raise _Bad(f"tag name {key!r}; expected a non-empty name other than route")
    if not isinstance(value, str):
        raise _Bad(f"tags.{key}: got {value!r}; expected a string")
    return key, value


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise _Bad(f"messages: got {value!r}; expected a non-empty list of messages")
    for index, message in enumerate(value):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _Bad(f"messages[{index}]: got {message!r}; expected an object with a role")
    return value


def _check_body(body: str, value: Any) -> Any:
    if body == "prompt":
        return _text("prompt", value)
    if body == "messages":
        return _messages(value)
    if not isinstance(value, dict) or not value:
        raise _Bad(f"request: got {value!r}; expected a JSON object (the body to send)")
    return value


def _route(value: Any) -> str:
    route = _text("route", value)
    if not route.startswith("/"):
        raise _Bad(f"route: got {route!r}; expected a path such as {DEFAULT_ROUTE}")
    return route


def _jsonl_row(line: int, raw: bytes) -> _Row:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _Bad(f"not JSON ({exc}); expected one JSON object per line") from exc
    if not isinstance(data, dict):
        raise _Bad(f'got {data!r}; expected a JSON object such as {{"prompt": "..."}}')
    unknown = sorted(set(data) - set(_JSONL_KEYS))
    if unknown:
        raise _Bad(f"unknown key {unknown[0]!r}; expected {', '.join(_JSONL_KEYS)}")
    bodies = [key for key in _BODIES if key in data]
    if len(bodies) != 1:
        got = " and ".join(bodies) or "none"
        raise _Bad(f"got {got}; expected exactly one of prompt, messages or request")
    tags = data.get("tags", {})
    if not isinstance(tags, dict):
        raise _Bad(f"tags: got {tags!r}; expected an object of strings")
    return _Row(
        line=line,
        body=bodies[0],
        value=_check_body(bodies[0], data[bodies[0]]),
        id=_text("id", data["id"]) if "id" in data else None,
        expected=_expected(data["expected"]) if data.get("expected") is not None else None,
        tags=dict(_tag(str(k), v) for k, v in tags.items()),
        route=_route(data["route"]) if "route" in data else None,
        system=_text("system", data["system"]) if "system" in data else None,
        label=_text("label", data["label"]) if "label" in data else None,
    )


def _jsonl_rows(data: str) -> Iterator[tuple[int, _Row | _Bad]]:
    for line, raw in enumerate(data.splitlines(), start=1):
        if raw.strip():
            try:
                yield line, _jsonl_row(line, raw.encode())
            except _Bad as exc:
                yield line, exc


def _csv_header(header: list[str]) -> None:
    for column in header:
        if column.startswith(_TAG):
            _tag(column[len(_TAG) :], "")
        elif column not in _CSV_COLUMNS:
            raise _Bad(
                f"unknown column {column!r}; expected {', '.join(_CSV_COLUMNS)} or tag:<name>"
            )
    if "prompt" not in header and "messages" not in header:
        raise _Bad("the header has no prompt or messages column; expected a prompt column")
    if len(set(header)) != len(header):
        raise _Bad(f"the header names a column twice: {header}; expected each once")


def _csv_row(line: int, cells: dict[str, str]) -> _Row:
    given = {key: value for key, value in cells.items() if value.strip()}
    bodies = [key for key in ("prompt", "messages") if key in given]
    if len(bodies) != 1:
        got = " and ".join(bodies) or "neither"
        raise _Bad(f"got {got}; expected a prompt (or a messages cell)")
    value: Any = given[bodies[0]]
    if bodies[0] == "messages":
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise _Bad(f"messages: not JSON ({exc}); expected a JSON list of messages") from exc
    return _Row(
        line=line,
        body=bodies[0],
        value=_check_body(bodies[0], value),
        id=given.get("id"),
        expected=Expected(text=given["expected"]) if "expected" in given else None,
        tags=dict(
            _tag(key[len(_TAG) :], value) for key, value in given.items() if key.startswith(_TAG)
        ),
        route=_route(given["route"]) if "route" in given else None,
        system=given.get("system"),
        label=given.get("label"),
    )


def _csv_rows(data: str) -> Iterator[tuple[int, _Row | _Bad]]:
    reader = csv.reader(io.StringIO(data, newline=""))
    try:
        header = next(reader)
        _csv_header([column.strip() for column in header])
    except StopIteration:
        return
    except _Bad as exc:
        yield 1, exc
        return
    columns = [column.strip() for column in header]
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, _Bad(f"not CSV ({exc})")
            return
        if not cells:
            continue
        if len(cells) != len(columns):
            yield line, _Bad(f"{len(cells)} cells; expected {len(columns)}, one per column")
            continue
        try:
            yield line, _csv_row(line, dict(zip(columns, cells, strict=True)))
        except _Bad as exc:
            yield line, exc


def _request(row: _Row, options: ImportOptions) -> Any:
    if row.body == "request":
        if row.system is not None:
            raise _Bad("system: applies to a prompt only; expected it inside the request")
        return row.value
    if options.model is None:
        raise _Bad(f"a {row.body} needs a model for its request body; expected --model M")
    if row.body == "messages":
        if row.system is not None:
            raise _Bad("system: applies to a prompt only; expected it as the first message")
        return {"model": options.model, "messages": row.value}
    system = row.system if row.system is not None else options.system
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": row.value})
    return {"model": options.model, "messages": messages}


def _item(row: _Row, options: ImportOptions, source: str, now: float) -> GoldenItem:
    route = row.route or options.route
    request = _request(row, options)
    return GoldenItem(
        id=row.id or item_id(route, request),
        route=route,
        request=request,
        expected=row.expected,
        tags={"kind": body_kind(route, request), **row.tags},
        label=row.label,
        provenance=ItemProvenance(source="import", file=source, line=row.line, time=now),
    )


def read_items(
    path: Path,
    options: ImportOptions,
    *,
    fmt: str | None = None,
    now: float | None = None,
) -> list[GoldenItem]:
    """Every row of ``path`` as an item, in file order; the first bad row raises
    :class:`~comparators.golden.errors.ImportRowError` and nothing is returned."""
    kind = detect_format(path, fmt)
    try:
        data = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise GoldenError(
            f"{path}: cannot read ({exc.strerror}); expected a readable file"
        ) from exc
    except UnicodeDecodeError as exc:
        raise GoldenError(f"{path}: not UTF-8 text ({exc.reason}); expected UTF-8") from exc
    created = time.time() if now is None else now
    rows = _jsonl_rows(data) if kind == "jsonl" else _csv_rows(data)
    items: list[GoldenItem] = []
    lines: dict[str, int] = {}
    for line, row in rows:
        try:
            if isinstance(row, _Bad):
                raise row
            item = _item(row, options, str(path), created)
        except _Bad as exc:
            raise ImportRowError(path, line, str(exc)) from None
        if item.id in lines:
            raise ImportRowError(
                path,
                line,
                f"id {item.id!r} is also line {lines[item.id]}'s; expected one row per id "
                "(the same request twice gets the same id)",
            )
        lines[item.id] = line
        items.append(item)
    if not items:
        raise GoldenError(f"{path}: no rows; expected at least one {kind} row with a prompt")
    return items
