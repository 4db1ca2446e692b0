"""The gate's verdict for people (a rich table, or Markdown for a pull-request comment) and for
machines (JSON).

The table shows, per check, the measured value and its one-sided bounds next to the limit, so a
reviewer can see *how far* from the limit a candidate is, not only which side of it, and the
check's power ("FAILs from"): about the true value these pairs would FAIL half the time, so
an INCONCLUSIVE tail check says how large a regression it could have seen. Checks on
all pairs are always shown; segment checks only when they FAIL, with one line per segment in a
second table (its pairs and verdict, or "not judged" below ``min_segment_pairs``). The
verdict line quotes the exit code ``darklaunch gate`` (and ``report --policy``, and ``demo``)
ends with.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from comparators.gate.result import Check, GateResult, Verdict
from comparators.tables import Grid, markdown_text, to_markdown, to_rich

__all__ = ["GATE_COLUMNS", "gate_json", "gate_markdown", "render_gate", "shown_checks"]

_STYLES = {
    Verdict.PASS: "bold green",
    Verdict.FAIL: "bold red",
    Verdict.INCONCLUSIVE: "bold yellow",
}


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "rate":
        return f"{value * 100:.2f}%"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "usd":
        return f"${value:.4g}"
    if unit == "pairs":
        return f"{value:,.0f}"
    return f"{value:.3f}"


def _bounds(check: Check) -> str:
    if check.lower is None and check.upper is None:
        return "—"
    return f"[{format_value(check.lower, check.unit)}, {format_value(check.upper, check.unit)}]"


def _title(result: GateResult) -> str:
    fail = ", ".join(f"{family} {level:.4%}" for family, level in result.fail_confidence.items())
    title = f"release gate (PASS bounds at {result.confidence:.0%} one-sided"
    return title + (f"; FAIL bounds at {fail})" if fail else ")")


GATE_COLUMNS = (
    "candidate", "check", "status", "measured", "bounds", "limit", "FAILs from", "n", "method",
)  # fmt: skip


def shown_checks(result: GateResult) -> list[Check]:
    """The checks a table shows: every check on all pairs, and the segment checks that FAIL
    (the rest are in the JSON; a table of every check of every segment buries the verdict)."""
    return [c for c in result.checks if c.segment is None or c.status is Verdict.FAIL]


def _grid(result: GateResult) -> Grid:
    grid = Grid(
        _title(result),
        GATE_COLUMNS,
        keep_whole=frozenset({"candidate", "check", "status", "measured", "limit", "n"}),
    )
    for check in shown_checks(result):
        sign = "≤" if check.direction == "at_most" else "≥"
        name = check.name if check.segment is None else f"{check.name} [{check.segment}]"
        grid.add_row(
            check.candidate,
            name,
            Text(check.status.value, style=_STYLES[check.status]),
            format_value(check.value, check.unit),
            _bounds(check),
            f"{sign} {format_value(check.threshold, check.unit)}",
            "—" if check.detectable is None else f"~{format_value(check.detectable, check.unit)}",
            str(check.n),
            check.method,
        )
    return grid


def _segment_grid(result: GateResult) -> Grid:
    grid = Grid(
        "segments (judged with at least min_segment_pairs pairs)",
        ("candidate", "segment", "pairs", "status"),
        keep_whole=frozenset({"candidate", "segment", "pairs", "status"}),
    )
    for segment in result.segments:
        status = (
            Text(segment.status.value, style=_STYLES[segment.status])
            if segment.status is not None
            else Text("not judged", style="dim")
        )
        grid.add_row(segment.candidate, segment.segment, f"{segment.n:,}", status)
    return grid


def _verdict_line(result: GateResult) -> str:
    return f"verdict: {result.verdict.value} (exit {result.exit_code})"


def render_gate(result: GateResult) -> RenderableType:
    """The checks table and the verdict line, for ``rich.console.Console().print``."""
    notes = [Text(f"note: {note}", style="yellow") for note in result.notes]
    verdict = Text(_verdict_line(result), style=_STYLES[result.verdict])
    segments = [to_rich(_segment_grid(result))] if result.segments else []
    return Group(to_rich(_grid(result)), *segments, *notes, verdict)


def gate_markdown(result: GateResult) -> str:
    """The same as :func:`render_gate`, as Markdown."""
    parts = [to_markdown(_grid(result))]
    if result.segments:
        parts.append(to_markdown(_segment_grid(result)))
    if result.notes:
        parts.append("".join(f"- note: {markdown_text(note)}\n" for note in result.notes) + "\n")
    parts.append(f"**{_verdict_line(result)}**\n")
    return "".join(parts)


def gate_json(result: GateResult) -> str:
    return result.model_dump_json(indent=2)
