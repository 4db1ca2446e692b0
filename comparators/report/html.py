"""The HTML report: one self-contained file a person opens offline, in any browser.

No external URL, font, script or stylesheet: the CSS is inline, the charts are inline SVG
(:mod:`comparators.report.charts`) and there is no JavaScript, so the page renders the same
from a CI artifact, an air-gapped laptop or an e-mail attachment. Every piece of recorded text
(prompts, answers, route and model names) is HTML-escaped; answers can contain anything.
"""

from __future__ import annotations

import difflib
import html
import re
import time

from comparators.gate.render import (
    GATE_COLUMNS,
    decides_at,
    format_value,
    shown_checks,
    sizing_lines,
)
from comparators.gate.result import GateResult
from comparators.report.charts import cost_chart, divergence_chart, latency_chart
from comparators.report.model import (
    CampaignReport,
    CandidateReport,
    HumanSummary,
    JudgeSummary,
    RolloutTimeline,
    SliceReport,
)
from comparators.report.rollout import TIMELINE_COLUMNS, timeline_rows
from comparators.report.style import CSS
from comparators.report.table import (
    fmt_delta_ms,
    fmt_delta_usd,
    fmt_estimate,
    fmt_ms,
    fmt_plain,
    fmt_pts,
    fmt_usd,
    human_confusion,
    human_rows,
    human_slices,
    judge_rows,
    reference_difference,
)
from comparators.report.worst import CATEGORIES, WorstPair, WorstPairs

__all__ = ["MAX_TEXT_CHARS", "render_html", "word_diff"]

MAX_TEXT_CHARS = 20_000
_TOKENS = re.compile(r"\s+|[^\s]+")
e = html.escape


def word_diff(old: str, new: str) -> tuple[str, str]:
    """Both texts as escaped HTML, words only in ``old`` wrapped in ``<del>`` and words only in
    ``new`` in ``<ins>``. Word granularity reads better than characters for prose, and
    difflib's matcher is in the standard library."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    left: list[str] = []
    right: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        old_part, new_part = e("".join(a[i1:i2])), e("".join(b[j1:j2]))
        if op == "equal":
            left.append(old_part)
            right.append(new_part)
            continue
        if old_part:
            left.append(f"<del>{old_part}</del>")
        if new_part:
            right.append(f"<ins>{new_part}</ins>")
    return "".join(left), "".join(right)


def _cut(text: str) -> str:
    if len(text) <= MAX_TEXT_CHARS:
        return text
    return text[:MAX_TEXT_CHARS] + f"\n[… {len(text) - MAX_TEXT_CHARS:,} more characters]"


class Html(str):
    """Text that is already HTML; every other cell is escaped."""

    __slots__ = ()


def _cell(value: str) -> str:
    return value if isinstance(value, Html) else e(value)


def _table(headers: list[str], rows: list[list[str]], cls: str = "") -> str:
    head = "".join(f"<th>{e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _summary_rows(
    row: SliceReport, threshold: float, unpriced: dict[str, int] | None = None
) -> list[list[str]]:
    lat, ttft, cost = row.latency, row.ttft, row.cost
    rows: list[list[str]] = []
    if row.change_rate.n:
        rows += [
            [
                "changed answers (meaning)",
                fmt_estimate(row.change_rate),
                f"{fmt_estimate(row.noise_change_rate)} (n={row.noise_change_rate.n})",
                "excess " + fmt_estimate(row.excess_change, fmt_pts),
            ],
            [
                "meaning similarity",
                fmt_estimate(row.meaning_similarity, fmt_plain),
                fmt_estimate(row.noise_meaning_similarity, fmt_plain),
                "fact conflicts " + fmt_estimate(row.fact_conflict_rate),
            ],
        ]
    if row.judge_better.n:
        rows.append(
            [
                "judge: better / worse",
                f"{fmt_estimate(row.judge_better)} / {fmt_estimate(row.judge_worse)}",
                f"{fmt_estimate(row.noise_judge_better)} / {fmt_estimate(row.noise_judge_worse)}",
                f"regression {fmt_estimate(row.judge_regression, fmt_pts)} "
                f"(n={row.judge_better.n})",
            ]
        )
    if row.reference_pairs:
        rows.append(
            [
                "reference accuracy",
                fmt_estimate(row.reference_accuracy),
                fmt_estimate(row.incumbent_reference_accuracy),
                reference_difference(row),
            ]
        )
    rows += [
        [
            f"word divergence > {threshold:g}",
            fmt_estimate(row.divergence_rate),
            f"{fmt_estimate(row.noise_divergence_rate)} (n={row.noise_pairs})",
            "excess " + fmt_estimate(row.excess_divergence, fmt_pts),
        ],
        [
            "word similarity",
            fmt_estimate(row.mean_similarity, fmt_plain),
            fmt_estimate(row.noise_mean_similarity, fmt_plain),
            "",
        ],
        ["exact match", fmt_estimate(row.exact_match_rate), "", ""],
        [
            "JSON valid",
            fmt_estimate(row.json_valid_candidate),
            fmt_estimate(row.json_valid_incumbent),
            "",
        ],
        ["JSON fields all equal", fmt_estimate(row.json_equal_rate), "", ""],
        ["tool-call agreement", fmt_estimate(row.tool_call_agreement), "", ""],
        [
            "answered where the other failed",
            fmt_estimate(row.candidate_wins),
            fmt_estimate(row.candidate_losses),
            "candidate wins / losses",
        ],
    ]
    if row.embedding_cosine.n or row.noise_embedding_cosine.n:
        rows.append(
            [
                "embedding cosine",
                fmt_estimate(row.embedding_cosine, fmt_plain),
                fmt_estimate(row.noise_embedding_cosine, fmt_plain),
                "divergence " + fmt_estimate(row.embedding_divergence, fmt_plain),
            ]
        )
    for label, rates in (("error rate", row.errors), ("refusal rate", row.refusals)):
        rows.append(
            [
                label,
                fmt_estimate(rates.candidate),
                fmt_estimate(rates.incumbent),
                fmt_estimate(rates.delta, fmt_pts),
            ]
        )
    for label, comp in (("latency", lat), ("TTFT (streamed)", ttft)):
        for q in ("p50", "p95", "p99"):
            cand, inc = getattr(comp.candidate, q), getattr(comp.incumbent, q)
            rows.append(
                [
                    f"{label} {q}",
                    "—" if cand is None else fmt_ms(cand),
                    "—" if inc is None else fmt_ms(inc),
                    fmt_estimate(getattr(comp, f"{q}_delta_ms"), fmt_delta_ms),
                ]
            )
        p_value = (
            "—" if comp.mann_whitney_p is None else f"Mann–Whitney p={comp.mann_whitney_p:.3g}"
        )
        rows.append(
            [
                f"{label} shift",
                p_value,
                "",
                "HL " + fmt_estimate(comp.hodges_lehmann_ms, fmt_delta_ms),
            ]
        )
    rows.append(
        [
            "cost/query mean",
            fmt_estimate(cost.candidate.mean, fmt_usd),
            fmt_estimate(cost.incumbent.mean, fmt_usd),
            fmt_estimate(cost.mean_delta_usd, fmt_delta_usd),
        ]
    )
    if unpriced:
        models = ", ".join(f"{m} ({n} pair{'' if n == 1 else 's'})" for m, n in unpriced.items())
        rows.append(["unpriced models", models, "", "add to prices.models or prices.file"])
    p95s = [cost.candidate.p95, cost.incumbent.p95]
    rows.append(["cost/query p95", *("—" if v is None else fmt_usd(v) for v in p95s), ""])
    rows.append(
        [
            "monthly cost Δ",
            "",
            cost.projection_basis,
            fmt_estimate(cost.monthly_delta_usd, fmt_delta_usd),
        ]
    )
    rows.extend(
        [f"budget breach {k}", fmt_estimate(v), "", ""] for k, v in row.breach_rates.items()
    )
    return rows


def _slices(candidate: CandidateReport) -> str:
    rows = [
        [
            Html(f"{e(r.scope)}=<code>{e(r.key)}</code>"),
            str(r.pairs),
            fmt_estimate(r.change_rate),
            fmt_estimate(r.excess_change, fmt_pts),
            fmt_estimate(r.divergence_rate),
            fmt_estimate(r.errors.delta, fmt_pts),
            fmt_estimate(r.latency.p95_delta_ms, fmt_delta_ms),
            fmt_estimate(r.cost.mean_delta_usd, fmt_delta_usd),
        ]
        for r in candidate.rows[1:]
    ]
    headers = [
        "segment", "pairs", "changed", "excess changed", "word divergence", "errors Δ", "p95 Δ",
        "cost Δ/query",
    ]  # fmt: skip
    return _table(headers, rows, "num") if rows else ""


def _candidate(candidate: CandidateReport, report: CampaignReport, index: int) -> str:
    row, dist, name = candidate.overall, candidate.distributions, candidate.name
    models = (
        f" <span class=muted>({e(', '.join(candidate.models))})</span>" if candidate.models else ""
    )
    summary = _table(
        ["metric", "candidate", "incumbent / noise", "difference"],
        _summary_rows(row, report.divergence_threshold, candidate.unpriced_models),
        "num",
    )
    charts = "".join(
        f'<figure class="chart">{svg}</figure>'
        for svg in (
            latency_chart(dist, name, f"c{index}-latency"),
            divergence_chart(dist, name, report.divergence_threshold, f"c{index}-divergence"),
            cost_chart(dist, name, f"c{index}-cost"),
        )
    )
    return (
        f'<section class="candidate"><h2>{e(name)}{models}</h2>'
        f"<p>{row.pairs:,} pairs; intervals at {report.confidence:.0%}.</p>"
        f"{summary}<h3>By segment</h3>{_slices(candidate)}"
        f'<h3>Distributions</h3><div class="charts">{charts}</div></section>'
    )


def _gate(gate: GateResult) -> str:
    rows = [
        [
            c.candidate,
            c.name if c.segment is None else f"{c.name} [{c.segment}]",
            Html(f'<span class="badge {c.status.value.lower()}">{c.status.value}</span>'),
            format_value(c.value, c.unit),
            f"[{format_value(c.lower, c.unit)}, {format_value(c.upper, c.unit)}]",
            ("≤ " if c.direction == "at_most" else "≥ ") + format_value(c.threshold, c.unit),
            "—" if c.detectable is None else "~" + format_value(c.detectable, c.unit),
            str(c.n),
            decides_at(c),
            c.method,
        ]
        for c in shown_checks(gate)
    ]
    table = _table(list(GATE_COLUMNS), rows)
    notes = "".join(f"<p class=note>{e(n)}</p>" for n in gate.notes)
    notes += "".join(f"<p class=note>to decide: {e(line)}</p>" for line in sizing_lines(gate))
    verdict = gate.verdict.value
    return (
        f'<section class="gate"><h2>Release gate: <span class="badge {verdict.lower()}">'
        f"{verdict}</span> <span class=muted>(exit {gate.exit_code}, "
        f"{gate.confidence:.0%} one-sided bounds)</span></h2>{table}{notes}</section>"
    )


def _judge(judge: JudgeSummary) -> str:
    """What the judge read, its self-consistency and cost, and its reasons for the candidate's
    losses: model output, escaped like every recorded text."""
    summary = _table(["what", "value"], [[what, value] for what, value in judge_rows(judge)])
    losses = ""
    if judge.worst_losses:
        rows = [[loss.pair_id, loss.mirror, loss.reason] for loss in judge.worst_losses]
        losses = (
            f"<h3>The candidate's losses by the judge ({judge.losses:,}; "
            f"the first {len(rows)})</h3>"
            + _table(["pair", "candidate", "the judge's reason"], rows)
        )
    return (
        f"<section class=judge><h2>LLM judge ({e(', '.join(judge.models))})</h2>"
        f"{summary}{losses}</section>"
    )


def _rollout(timeline: RolloutTimeline) -> str:
    """The staged rollout's changes, oldest first; reasons and actors are escaped by
    :func:`_table` like every free text."""
    where = f"{timeline.phase}" + (f", step {timeline.step}" if timeline.step else "")
    return (
        f"<section class=rollout><h2>Rollout of {e(timeline.candidate)}: {e(where)}</h2>"
        f"{_table(TIMELINE_COLUMNS, timeline_rows(timeline))}</section>"
    )


def _human(human: HumanSummary) -> str:
    """What reviewers labeled and how far they and the judge agree. Reviewer names, routes
    and candidate names are free text: every cell is escaped by :func:`_table`."""
    parts = [_table(["what", "value"], [[what, value] for what, value in human_rows(human)])]
    columns, rows = human_slices(human)
    if rows:
        parts.append("<h3>Labels by candidate and segment</h3>" + _table(columns, rows))
    judge = human.judge_human
    if judge is not None and judge.kappa.n:
        columns, rows = human_confusion(judge)
        parts.append("<h3>The judge against reviewers (pairs)</h3>" + _table(columns, rows))
    return f"<section class=human><h2>Human review</h2>{''.join(parts)}</section>"


def _pair(pair: WorstPair) -> str:
    facts = [
        f"#{pair.rank}",
        f"pair <code>{e(pair.pair_id)}</code>",
        f"candidate <code>{e(pair.mirror)}</code>",
        f"route <code>{e(pair.route)}</code>",
    ]
    if pair.divergence is not None:
        facts.append(f"divergence {pair.divergence:.3f}")
    if pair.incumbent_ms is not None and pair.mirror_ms is not None:
        facts.append(f"latency {fmt_ms(pair.incumbent_ms)} → {fmt_ms(pair.mirror_ms)}")
    if pair.incumbent_usd is not None and pair.mirror_usd is not None:
        facts.append(f"cost {fmt_usd(pair.incumbent_usd)} → {fmt_usd(pair.mirror_usd)}")
    head = f'<p class="facts">{" · ".join(facts)}</p>'
    if not pair.found:
        return (
            f'<article class="pair">{head}<p class=note>pair record no longer stored</p></article>'
        )
    left, right = word_diff(_cut(pair.incumbent_text), _cut(pair.candidate_text))
    return (
        f'<article class="pair">{head}<div class="prompt"><b>last user message</b>'
        f"<pre>{e(_cut(pair.prompt))}</pre></div>"
        f'<div class="sides"><div><b>incumbent</b><pre>{left}</pre></div>'
        f"<div><b>candidate</b><pre>{right}</pre></div></div></article>"
    )


def _worst(worst: WorstPairs) -> str:
    parts = [f"<section class=worst><h2>Worst {worst.n} pairs</h2>"]
    for category, pairs in worst.categories.items():
        title = CATEGORIES[category][0] if category in CATEGORIES else category
        items = "".join(_pair(p) for p in pairs) or "<p class=muted>none</p>"
        parts.append(f"<h3>{e(title)}</h3>{items}")
    parts.append("</section>")
    return "".join(parts)


def render_html(
    report: CampaignReport, worst: WorstPairs | None = None, gate: GateResult | None = None
) -> str:
    """The whole page. ``worst`` adds the side-by-side examples, ``gate`` the verdict."""
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.generated_at))
    notes = "".join(f"<p class=note>{e(n)}</p>" for n in report.notes)
    skipped = (
        f"<p class=note>{report.skipped_records:,} unreadable score records skipped</p>"
        if report.skipped_records
        else ""
    )
    candidates = "".join(_candidate(c, report, i) for i, c in enumerate(report.candidates, 1))
    body = [
        f"<header><h1>darklaunch report: {e(report.campaign)}</h1>",
        f"<p class=muted>generated {generated} · {report.records:,} score records · "
        f"{report.replica_records:,} replica (noise floor) records</p>{skipped}{notes}</header>",
        _gate(gate) if gate is not None else "",
        candidates or "<p>No candidate scores in this campaign.</p>",
        _judge(report.judge) if report.judge is not None else "",
        _human(report.human) if report.human is not None else "",
        _rollout(report.rollout) if report.rollout is not None else "",
        _worst(worst) if worst is not None else "",
    ]
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>darklaunch report: {e(report.campaign)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
