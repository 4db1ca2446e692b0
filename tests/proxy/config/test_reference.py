from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from proxy.config.analysis import BudgetRule, WorkerMetricsConfig
from proxy.config.fallback import StaticResponseConfig
from proxy.config.reference import render_config_reference
from proxy.config.root import Config
from proxy.config.upstreams import BreakerConfig, PoolConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Every config section an annotation can hold: ``X``, ``X | None``, ``list[X]``."""
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from _models_in(arg)


def _fields(model: type[BaseModel], path: str) -> Iterator[tuple[str, str | None]]:
    """(key path, description) of every field in the config tree, depth first."""
    for name, field in model.model_fields.items():
        key = f"{path}.{name}" if path else name
        yield key, field.description
        for child in _models_in(field.annotation):
            yield from _fields(child, key)


def _reference_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("| `"):
            # Split on the table's own pipes, not on escaped ones inside a cell.
            cells = line.replace("\\|", "\0").strip("|").split(" | ")
            rows.append([cell.replace("\0", "|").strip() for cell in cells])
    return rows


def test_docs_config_md_is_the_generated_reference() -> None:
    assert DOC.read_text() == render_config_reference(), (
        "docs/config.md is stale: run `darklaunch config-reference > docs/config.md`"
    )


def test_reference_covers_every_top_level_key_and_nested_section() -> None:
    text = render_config_reference()
    for key in ("listen", "admin", "incumbent", "fallback", "candidates", "mirror", "recording"):
        assert f"| `{key}` |" in text
    for section in (
        "## `candidates[].breaker`",
        "## `recording.redact`",
        "## `budgets.overrides[]`",
        "## `worker.metrics`",
    ):
        assert section in text
    assert "| `sample_rate` | number | `0.05` | Share of requests" in text


def test_every_config_key_has_a_description() -> None:
    fields = list(_fields(Config, ""))
    # The walk reaches the deepest sections, so a section it missed cannot hide a key.
    walked = {key.rsplit(".", 1)[0] for key, _ in fields}
    assert {
        "candidates.breaker",
        "fallback.static",
        "budgets.overrides",
        "worker.metrics",
    } <= walked
    missing = [key for key, description in fields if not (description or "").strip()]
    assert missing == [], (
        f"config keys without a description (add an attribute docstring): {missing}"
    )


def _sections(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    yield model
    for field in model.model_fields.values():
        for child in _models_in(field.annotation):
            yield from _sections(child)


def test_every_section_has_a_docstring() -> None:
    """A section's docstring heads its part of the reference."""
    sections = set(_sections(Config))
    assert {PoolConfig, BreakerConfig, StaticResponseConfig, BudgetRule, WorkerMetricsConfig} <= (
        sections
    )
    undocumented = sorted(m.__name__ for m in sections if not (m.__doc__ or "").strip())
    assert undocumented == []


def test_every_reference_row_has_a_one_line_meaning() -> None:
    rows = _reference_rows(render_config_reference())
    assert len(rows) >= 90
    for row in rows:
        assert len(row) == 4, row
        assert row[3], f"no meaning for {row[0]}"
        assert "Annotated" not in row[1], row
        assert "typing" not in row[1], row


def test_defaults_are_spelled_as_in_a_config_file() -> None:
    rows = {row[0]: row for row in _reference_rows(render_config_reference())}
    assert rows["`data_dir`"][2] == '`".darklaunch/redis"`'
    assert rows["`spool_dir`"][2] == '`".darklaunch/spool"`'
    assert rows["`verify_tls`"][2] == "`true`"
    assert '"param": null' in rows["`body`"][2]
    for key, kind, default, _meaning in rows.values():
        for python_only in ("PosixPath", "True", "False", "None", "'"):
            assert python_only not in default, (key, kind, default)
