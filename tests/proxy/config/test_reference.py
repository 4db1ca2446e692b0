from __future__ import annotations

from pathlib import Path

from proxy.config.reference import render_config_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "config.md"


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
    ):
        assert section in text
    assert "| `sample_rate` | number | `0.05` | Share of requests" in text
