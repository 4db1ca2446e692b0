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

__all__ = [
    "GATE_COLUMNS",
    "decides_at",
    "gate_json",
    "gate_markdown",
    "render_gate",
    "shown_checks",
    "sizing_lines",
]

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
    "candidate", "check", "status", "measured", "bounds", "limit", "FAILs from", "n",
    "decides at", "method",
)  # fmt: skip


def decides_at(check: Check) -> str:
    """The table's "decides at" cell: about the pairs (of the check's ``n``) at which an
    INCONCLUSIVE check would decide (:mod:`comparators.gate.sizing`)."""
    return "—" if check.pairs_to_decide is None else f"~{_round_up(check.pairs_to_decide):,}"


def _round_up(pairs: int) -> int:
    """Two significant figures, up: a planning figure read as "about 31,000", not 30,713."""
    step = int(10 ** max(len(str(pairs)) - 2, 0))
    return -(-pairs // step) * step


def sizing_lines(result: GateResult) -> list[str]:
    """For each INCONCLUSIVE candidate, what would decide it: the all-pairs check that needs the
    most pairs relative to its ``n`` (the others decide sooner), whether judging more of the
    pairs would get there sooner, and the undecided checks no number of pairs decides. Empty
    when nothing is undecided."""
    lines: list[str] = []
    for candidate, verdict in result.candidates.items():
        if verdict is not Verdict.INCONCLUSIVE:
            continue
        open_checks = [
            c
            for c in result.checks
            if c.candidate == candidate and c.segment is None and c.status is Verdict.INCONCLUSIVE
        ]
        sized = [c for c in open_checks if c.pairs_to_decide is not None and c.n > 0]
        unsized = [c.name for c in open_checks if c.pairs_to_decide is None]
        parts: list[str] = []
        if sized:
            worst = max(sized, key=lambda c: (c.pairs_to_decide or 0) / c.n)
            factor = (worst.pairs_to_decide or 0) / worst.n
            parts.append(
                f"about {factor:,.1f}× its pairs so far would decide it, if the measured values "
                f"hold ({worst.name}: ~{_round_up(worst.pairs_to_decide or 0):,} against "
                f"{worst.n:,} now)"
            )
            pairs = next(
                (int(c.value) for c in result.checks
                 if c.candidate == candidate and c.name == "min_pairs" and c.value is not None),
                0,
            )  # fmt: skip
            if worst.name == "quality_regression" and pairs > worst.n:
                parts.append(
                    f"{worst.n:,} of its {pairs:,} pairs are judged: a higher judge.sample_rate "
                    "gets there sooner"
                )
        if unsized:
            parts.append(f"more pairs alone may not decide {', '.join(unsized)}")
        if parts:
            lines.append(f"{candidate}: " + "; ".join(parts))
    return lines


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
            decides_at(check),
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
    notes += [Text(f"to decide: {line}", style="yellow") for line in sizing_lines(result)]
    verdict = Text(_verdict_line(result), style=_STYLES[result.verdict])
    segments = [to_rich(_segment_grid(result))] if result.segments else []
    return Group(to_rich(_grid(result)), *segments, *notes, verdict)


def gate_markdown(result: GateResult) -> str:
    """The same as :func:`render_gate`, as Markdown."""
    parts = [to_markdown(_grid(result))]
    if result.segments:
        parts.append(to_markdown(_segment_grid(result)))
    lines = [f"note: {note}" for note in result.notes]
    lines += [f"to decide: {line}" for line in sizing_lines(result)]
    if lines:
        parts.append("".join(f"- {markdown_text(line)}\n" for line in lines) + "\n")
    parts.append(f"**{_verdict_line(result)}**\n")
    return "".join(parts)


def gate_json(result: GateResult) -> str:
    return result.model_dump_json(indent=2)
