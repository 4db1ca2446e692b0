"""The report's rollout timeline: every change in order, in each rendering, escaped."""

from __future__ import annotations

from rich.console import Console

from comparators.report.build import build_report, render_json
from comparators.report.html import render_html
from comparators.report.table import render_markdown, render_table
from proxy.config.rollout import RolloutConfig
from proxy.rollout.state import Action, Transition, apply, dark
from tests.comparators.score_factories import score

HOSTILE = "<script>alert(1)</script> error_rate 0.31 > 0.05"


def _trail() -> list[Transition]:
    config = RolloutConfig.model_validate({"candidate": "cand-a", "steps": [0.05, 1.0]})
    state = dark("c", "cand-a")
    trail = []
    for now, action, reason, cause in (
        (1_764_000_000.0, Action.START, "shadow PASS", "manual"),
        (1_764_003_600.0, Action.ADVANCE, "every check PASSed", "guard"),
        (1_764_007_200.0, Action.ROLLBACK, HOSTILE, "guard"),
    ):
        state, entry = apply(
            state, action, config, actor="controller", reason=reason, cause=cause, now=now
        )
        trail.append(entry)
    return trail


def test_no_rollout_no_section() -> None:
    report = build_report([score()])
    assert report.rollout is None
    assert "Rollout of" not in render_html(report)


def test_the_timeline_in_every_rendering() -> None:
    trail = _trail()
    report = build_report([score()], rollout=list(reversed(trail)))  # any order in, oldest out
    timeline = report.rollout
    assert timeline is not None
    assert (timeline.candidate, timeline.phase, timeline.step) == ("cand-a", "rolled_back", 0)
    assert [(e.action, e.step, e.share) for e in timeline.events] == [
        ("start", 1, 0.05),
        ("advance", 2, 1.0),
        ("rollback", 0, 0.0),
    ]
    assert '"rollout"' in render_json(report)
    console = Console(width=200, record=True)
    console.print(render_table(report))
    text = console.export_text()
    assert "rollout of cand-a: rolled_back" in text
    assert "2025-11-24 17:00:00" in text  # when the step began, UTC
    assert "guard (controller)" in text
    markdown = render_markdown(report)
    assert "advance: ramping → ramping" in markdown
    page = render_html(report)
    assert "<script>alert(1)" not in page  # a reason is free text: escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
