"""The gate's verdict for people (a rich table) and for machines (JSON).

The table shows, per check, the measured value and its one-sided bounds next to the limit, so a
reviewer can see *how far* from the limit a candidate is, not only which side of it.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from comparators.gate.result import Check, GateResult, Verdict

__all__ = ["gate_json", "render_gate"]

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


def render_gate(result: GateResult) -> RenderableType:
    """The checks table and the verdict line, for ``rich.console.Console().print``."""
    table = Table(
        title=f"release gate ({result.confidence:.0%} one-sided bounds)", title_justify="left"
    )
    for column in ("candidate", "check", "status", "measured", "bounds", "limit", "n", "method"):
        table.add_column(column, overflow="fold")
    for check in result.checks:
        sign = "≤" if check.direction == "at_most" else "≥"
        table.add_row(
            check.candidate,
            check.name,
            Text(check.status.value, style=_STYLES[check.status]),
            format_value(check.value, check.unit),
            _bounds(check),
            f"{sign} {format_value(check.threshold, check.unit)}",
            str(check.n),
            check.method,
        )
    verdict = Text(
        f"verdict: {result.verdict.value} (exit {result.exit_code})",
        style=_STYLES[result.verdict],
    )
    notes = [Text(f"note: {note}", style="yellow") for note in result.notes]
    return Group(table, *notes, verdict)


def gate_json(result: GateResult) -> str:
    return result.model_dump_json(indent=2)
