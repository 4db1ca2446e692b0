"""The report as tables: the numbers a person scans in a terminal (rich) or in a pull-request
comment (Markdown), intervals in brackets.

One summary table per candidate (all pairs: candidate, incumbent or noise floor, and the
difference) and one compact table of its segments (route, model, request kind, stream, user
tags), so a regression confined to one slice is visible without opening the HTML report. Both
renderings come from the same :class:`~comparators.tables.Grid`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.text import Text

from comparators.gate.estimate import Estimate
from comparators.report.model import (
    CampaignReport,
    CandidateReport,
    HumanAgreement,
    HumanSummary,
    JudgeSummary,
    LatencyComparison,
    RateComparison,
    SliceReport,
)
from comparators.report.rollout import TIMELINE_COLUMNS, timeline_rows
from comparators.review.label import VERDICTS
from comparators.tables import Grid, markdown_text, to_markdown, to_rich

__all__ = [
    "fmt_estimate",
    "fmt_ms",
    "fmt_pct",
    "fmt_usd",
    "human_confusion",
    "human_rows",
    "human_slices",
    "judge_rows",
    "reference_difference",
    "render_markdown",
    "render_table",
]

_DASH = "—"
Formatter = Callable[[float], str]


def fmt_pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def fmt_pts(value: float) -> str:
    return f"{value * 100:+.1f} pts"


def fmt_ms(value: float) -> str:
    return f"{value:,.0f} ms"


def fmt_delta_ms(value: float) -> str:
    return f"{value:+,.0f} ms"


def fmt_usd(value: float) -> str:
    return f"${value:.3g}" if abs(value) < 1 else f"${value:,.2f}"


def fmt_delta_usd(value: float) -> str:
    return ("+" if value >= 0 else "-") + fmt_usd(abs(value))


def fmt_plain(value: float) -> str:
    return f"{value:.3f}"


def fmt_estimate(estimate: Estimate, fmt: Formatter = fmt_pct) -> str:
    """``12.3% [10.1%, 14.6%]``; the brackets are dropped when there is no interval, and
    ``—`` stands for no data."""
    if estimate.value is None:
        return _DASH
    text = fmt(estimate.value)
    if estimate.lower is not None and estimate.upper is not None:
        text += f" [{fmt(estimate.lower)}, {fmt(estimate.upper)}]"
    return text


def _opt(value: float | None, fmt: Formatter) -> str:
    return _DASH if value is None else fmt(value)


def _rate_rows(table: Grid, label: str, rates: RateComparison) -> None:
    delta = fmt_estimate(rates.delta, fmt_pts)
    if rates.fisher_p_higher is not None:
        delta += f" (Fisher p={rates.fisher_p_higher:.3g})"
    table.add_row(label, fmt_estimate(rates.candidate), fmt_estimate(rates.incumbent), delta)


def _latency_rows(table: Grid, label: str, latency: LatencyComparison) -> None:
    for q in ("p50", "p95", "p99"):
        table.add_row(
            f"{label} {q}",
            _opt(getattr(latency.candidate, q), fmt_ms),
            _opt(getattr(latency.incumbent, q), fmt_ms),
            fmt_estimate(getattr(latency, f"{q}_delta_ms"), fmt_delta_ms),
        )
    p_value = _opt(latency.mann_whitney_p, lambda p: f"Mann–Whitney p={p:.3g}")
    shift = fmt_estimate(latency.hodges_lehmann_ms, fmt_delta_ms)
    table.add_row(f"{label} shift", p_value, "", f"HL {shift}")


def reference_difference(row: SliceReport) -> str:
    """The reference row's difference cell: incumbent minus candidate accuracy on the same
    items, the items it counts and those it left out (a side the comparator could not read)."""
    text = f"regression {fmt_estimate(row.reference_regression, fmt_pts)} "
    text += f"(n={row.reference_regression.n}"
    if row.reference_unscored:
        text += f", {row.reference_unscored} unscored"
    return text + ")"


def _summary(candidate: CandidateReport, report: CampaignReport) -> Grid:
    row = candidate.overall
    models = f" ({', '.join(candidate.models)})" if candidate.models else ""
    table = Grid(
        f"{candidate.name}{models}: {row.pairs} pairs, {report.confidence:.0%} intervals",
        ("metric", "candidate", "incumbent / noise", "difference"),
        keep_whole=frozenset({"metric"}),
        bold_first=True,
    )
    if row.change_rate.n:
        table.add_row(
            "changed answers (meaning)",
            fmt_estimate(row.change_rate),
            f"{fmt_estimate(row.noise_change_rate)} (n={row.noise_change_rate.n})",
            f"excess {fmt_estimate(row.excess_change, fmt_pts)}",
        )
        table.add_row(
            "meaning similarity",
            fmt_estimate(row.meaning_similarity, fmt_plain),
            fmt_estimate(row.noise_meaning_similarity, fmt_plain),
            f"fact conflicts {fmt_estimate(row.fact_conflict_rate)}",
        )
    if row.judge_better.n:
        table.add_row(
            "judge: better / worse",
            f"{fmt_estimate(row.judge_better)} / {fmt_estimate(row.judge_worse)}",
            f"{fmt_estimate(row.noise_judge_better)} / {fmt_estimate(row.noise_judge_worse)}",
            f"regression {fmt_estimate(row.judge_regression, fmt_pts)} (n={row.judge_better.n})",
        )
    if row.reference_pairs:
        table.add_row(
            "reference accuracy",
            fmt_estimate(row.reference_accuracy),
            fmt_estimate(row.incumbent_reference_accuracy),
            reference_difference(row),
        )
    table.add_row(
        f"word divergence > {report.divergence_threshold:g}",
        fmt_estimate(row.divergence_rate),
        f"{fmt_estimate(row.noise_divergence_rate)} (n={row.noise_pairs})",
        f"excess {fmt_estimate(row.excess_divergence, fmt_pts)}",
    )
    table.add_row(
        "word similarity",
        fmt_estimate(row.mean_similarity, fmt_plain),
        fmt_estimate(row.noise_mean_similarity, fmt_plain),
        "",
    )
    table.add_row("exact match", fmt_estimate(row.exact_match_rate), "", "")
    table.add_row(
        "JSON valid",
        fmt_estimate(row.json_valid_candidate),
        fmt_estimate(row.json_valid_incumbent),
        "",
    )
    if row.json_equal_rate.n:
        table.add_row("JSON fields all equal", fmt_estimate(row.json_equal_rate), "", "")
    table.add_row("tool-call agreement", fmt_estimate(row.tool_call_agreement), "", "")
    if row.embedding_cosine.n or row.noise_embedding_cosine.n:
        table.add_row(
            "embedding cosine",
            fmt_estimate(row.embedding_cosine, fmt_plain),
            fmt_estimate(row.noise_embedding_cosine, fmt_plain),
            f"divergence {fmt_estimate(row.embedding_divergence, fmt_plain)}",
        )
    _rate_rows(table, "error rate", row.errors)
    if row.candidate_wins.value or row.candidate_losses.value:
        table.add_row(
            "answered where the other failed",
            fmt_estimate(row.candidate_wins),
            fmt_estimate(row.candidate_losses),
            "candidate wins / losses",
        )
    _rate_rows(table, "refusal rate", row.refusals)
    _latency_rows(table, "latency", row.latency)
    _latency_rows(table, "TTFT (streamed)", row.ttft)
    cost = row.cost
    table.add_row(
        "cost/query mean",
        fmt_estimate(cost.candidate.mean, fmt_usd),
        fmt_estimate(cost.incumbent.mean, fmt_usd),
        fmt_estimate(cost.mean_delta_usd, fmt_delta_usd),
    )
    table.add_row(
        "cost/query p95", _opt(cost.candidate.p95, fmt_usd), _opt(cost.incumbent.p95, fmt_usd), ""
    )
    table.add_row("monthly cost Δ", "", "", fmt_estimate(cost.monthly_delta_usd, fmt_delta_usd))
    for kind, rate in row.breach_rates.items():
        table.add_row(f"budget breach {kind}", fmt_estimate(rate), "", "")
    return table


def _slices(candidate: CandidateReport) -> Grid:
    columns = (
        "segment", "pairs", "changed", "excess changed", "word divergence", "errors Δ",
        "p95 Δ", "cost Δ/query",
    )  # fmt: skip
    table = Grid(
        f"{candidate.name} by segment",
        columns,
        keep_whole=frozenset({"segment", "pairs"}),
        right=frozenset(columns[1:]),
    )
    rows: list[SliceReport] = candidate.rows[1:]
    for row in rows:
        table.add_row(
            f"{row.scope}={row.key}",
            str(row.pairs),
            fmt_estimate(row.change_rate),
            fmt_estimate(row.excess_change, fmt_pts),
            fmt_estimate(row.divergence_rate),
            fmt_estimate(row.errors.delta, fmt_pts),
            fmt_estimate(row.latency.p95_delta_ms, fmt_delta_ms),
            fmt_estimate(row.cost.mean_delta_usd, fmt_delta_usd),
        )
    return table


def judge_rows(judge: JudgeSummary) -> list[tuple[str, str]]:
    """The judge's summary as (what, value) rows, for the terminal, Markdown and HTML alike."""
    rows = [("pairs read", ", ".join(f"{n} {s}" for s, n in sorted(judge.statuses.items())))]
    if judge.orders_agree is not None:
        rows.append(("both orders agreed", fmt_pct(judge.orders_agree)))
    rows += [
        ("calls", f"{judge.calls} paid, {judge.cached} answered from the cache"),
        ("tokens", f"{judge.input_tokens:,} in, {judge.output_tokens:,} out"),
        (
            "evaluation cost",
            "unpriced (price the judge model)"
            if judge.cost_usd is None
            else fmt_usd(judge.cost_usd),
        ),
    ]
    return rows


def _judge(report: CampaignReport) -> list[Grid]:
    judge = report.judge
    if judge is None:
        return []
    table = Grid(
        f"LLM judge ({', '.join(judge.models)})",
        ("what", "value"),
        keep_whole=frozenset({"what"}),
        bold_first=True,
    )
    for what, value in judge_rows(judge):
        table.add_row(what, value)
    grids = [table]
    if judge.worst_losses:
        shown = len(judge.worst_losses)
        losses = Grid(
            f"the candidate's losses by the judge ({judge.losses}; the first {shown})",
            ("pair", "candidate", "the judge's reason"),
        )
        for loss in judge.worst_losses:
            losses.add_row(loss.pair_id, loss.mirror, loss.reason)
        grids.append(losses)
    return grids


def fmt_kappa(agreement: HumanAgreement) -> str:
    """``κ=0.41 [0.22, 0.60] (n=57, 70.2% alike)``, or why there is no kappa."""
    kappa = agreement.kappa
    if kappa.value is None:
        return f"— (n={kappa.n}: too few items rated by both, or no variation)"
    text = f"κ={fmt_estimate(kappa, lambda v: f'{v:.2f}')} (n={kappa.n}"
    if agreement.percent_agreement is not None:
        text += f", {fmt_pct(agreement.percent_agreement)} alike"
    if agreement.reviewer_pairs > 1:
        text += f", mean of {agreement.reviewer_pairs} reviewer pairs"
    if agreement.left_out:
        text += ", left out: " + ", ".join(f"{n} {v}" for v, n in agreement.left_out.items())
    return text + ")"


def human_rows(human: HumanSummary) -> list[tuple[str, str]]:
    """The reviewers' summary as (what, value) rows, for the terminal, Markdown and HTML."""
    rows = [
        ("labels", f"{human.labels} on {human.labeled_pairs} pairs"),
        ("verdicts", ", ".join(f"{n} {v}" for v, n in human.verdicts.items())),
        ("reviewers", ", ".join(f"{r} {n}" for r, n in human.reviewers.items())),
        ("agreement between reviewers", fmt_kappa(human.inter_reviewer)),
    ]
    if human.judge_human is not None:
        rows.append(("agreement of the judge with reviewers", fmt_kappa(human.judge_human)))
    expected = human.with_expected
    rows.append(("with an expected answer", f"{fmt_estimate(expected)} (n={expected.n})"))
    return rows


def human_slices(human: HumanSummary) -> tuple[list[str], list[list[str]]]:
    """Labels by verdict per candidate and segment: the columns and the rows."""
    verdicts = [v for v in VERDICTS if any(v in s.verdicts for s in human.slices)]
    rows = [
        [f"{s.scope}={s.key}", str(s.labels), *(str(s.verdicts.get(v, 0)) for v in verdicts)]
        for s in human.slices
    ]
    return ["slice", "labels", *verdicts], rows


def human_confusion(agreement: HumanAgreement) -> tuple[list[str], list[list[str]]]:
    """The judge's verdicts (rows) against the reviewers' (columns), in the judge's words."""
    columns = list(agreement.confusion)
    rows = [
        [f"judge: {judge}", *(str(counts.get(c, 0)) for c in columns)]
        for judge, counts in agreement.confusion.items()
    ]
    return ["", *(f"reviewer: {c}" for c in columns)], rows


def _human(report: CampaignReport) -> list[Grid]:
    human = report.human
    if human is None:
        return []
    table = Grid("human review", ("what", "value"), keep_whole=frozenset({"what"}), bold_first=True)
    for what, value in human_rows(human):
        table.add_row(what, Text(value))  # reviewer names are free text: never rich markup
    grids = [table]
    columns, rows = human_slices(human)
    if rows:
        grids.append(_plain("labels by candidate and segment", columns, rows))
    judge = human.judge_human
    if judge is not None and judge.kappa.n:
        columns, rows = human_confusion(judge)
        grids.append(_plain("the judge against reviewers (pairs)", columns, rows))
    return grids


def _plain(title: str, columns: list[str], rows: list[list[str]]) -> Grid:
    grid = Grid(title, tuple(columns), keep_whole=frozenset({columns[0]}), bold_first=True)
    for row in rows:
        grid.add_row(*(Text(cell) for cell in row))
    return grid


def _grids(report: CampaignReport) -> list[Grid]:
    grids: list[Grid] = []
    for candidate in report.candidates:
        grids.append(_summary(candidate, report))
        if len(candidate.rows) > 1:
            grids.append(_slices(candidate))
    return grids + _judge(report) + _human(report) + _rollout(report)


def _rollout(report: CampaignReport) -> list[Grid]:
    timeline = report.rollout
    if timeline is None:
        return []
    title = f"rollout of {timeline.candidate}: {timeline.phase}" + (
        f", step {timeline.step} (share {timeline.share:.4g})" if timeline.step else ""
    )
    return [_plain(title, TIMELINE_COLUMNS, timeline_rows(timeline))]


def _headline(report: CampaignReport) -> list[str]:
    lines = [
        f"campaign {report.campaign}: {report.records} score records, "
        f"{report.replica_records} replica (noise) records"
    ]
    if report.skipped_records:
        lines.append(f"{report.skipped_records} unreadable score records skipped")
    if not report.candidates:
        lines.append("no candidate scores in this campaign")
    return lines


def render_table(report: CampaignReport) -> RenderableType:
    """Everything for ``darklaunch report --format table``, printable with
    ``rich.console.Console().print(...)``."""
    first, *rest = _headline(report)
    parts: list[RenderableType] = [Text(first, style="bold"), *(Text(line) for line in rest)]
    parts.extend(to_rich(grid) for grid in _grids(report))
    parts.extend(Text(f"note: {note}", style="yellow") for note in report.notes)
    return Group(*parts)


def render_markdown(report: CampaignReport) -> str:
    """Everything for ``darklaunch report --format markdown``: a pull-request comment."""
    first, *rest = _headline(report)
    parts = [f"**{markdown_text(first)}**\n\n"]
    parts.extend(f"{markdown_text(line)}\n\n" for line in rest)
    parts.extend(to_markdown(grid) for grid in _grids(report))
    if report.notes:
        parts.append("".join(f"- note: {markdown_text(note)}\n" for note in report.notes))
    return "".join(parts)
