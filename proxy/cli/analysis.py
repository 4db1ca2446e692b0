"""Reading a campaign: ``report``, ``gate``, ``campaigns`` and ``export``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvloop

if TYPE_CHECKING:
    pass
from proxy.cli.app import (
    FORMATS,
    CampaignOption,
    ConfigOption,
    app,
    check_format,
    emit,
    exit_with_verdict,
    load,
    needs_analysis,
    policy_from,
    read_campaign,
)
from proxy.logs import configure_logging
from proxy.shipped.files import shipped_path
from proxy.terminal import fail


@app.command(short_help="The campaign report: quality, failures, latency, cost.")
def report(
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json, markdown or html.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="Gate policy: adds the verdict to the report, and its exit code."),
    ] = None,
    worst: Annotated[int, typer.Option(min=1, help="Worst pairs shown in HTML.")] = 10,
    traffic_rps: Annotated[
        float | None, typer.Option(help="Full traffic rate, for the monthly cost projection.")
    ] = None,
) -> None:
    """The campaign report: divergence over the noise floor, failures, latency, cost.

    With --policy the report ends with the gate's verdict and exits with its code (0 PASS,
    1 FAIL, 3 INCONCLUSIVE). A campaign with no pairs exits 4.
    """
    needs_analysis("report")
    from comparators.commands import report_campaign
    from comparators.gate.render import gate_markdown, render_gate
    from comparators.report.table import render_markdown, render_table

    check_format(fmt, (*FORMATS, "html"))
    cfg = load(config)
    gate_policy = policy_from(policy) if policy is not None else None
    configure_logging("WARNING")
    result = read_campaign(
        report_campaign(
            cfg,
            campaign or cfg.recording.campaign,
            fmt,
            policy=gate_policy,
            worst=worst,
            traffic_rps=traffic_rps,
        )
    )
    gate_result = result.gate
    if fmt == "markdown":
        verdict = "" if gate_result is None else "\n" + gate_markdown(gate_result)
        emit(out, render_markdown(result.report) + verdict)
    elif result.text is not None:
        emit(out, result.text)
    else:
        verdict_table = [] if gate_result is None else [render_gate(gate_result)]
        emit(out, None, render_table(result.report), *verdict_table)
    exit_with_verdict(gate_result)


@app.command(short_help="The release gate: exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE.")
def gate(
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    policy: Annotated[
        Path | None,
        typer.Option(help="Gate policy YAML; defaults to the shipped one (`init` writes a copy)."),
    ] = None,
    candidate: Annotated[str | None, typer.Option(help="Judge only this candidate.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
    json_output: Annotated[bool, typer.Option("--json", help="The same as --format json.")] = False,
) -> None:
    """The release gate. Exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE; 4 when the campaign has no
    pairs."""
    needs_analysis("gate")
    from comparators.commands import gate_campaign
    from comparators.gate.render import gate_json, gate_markdown, render_gate

    check_format(fmt)
    cfg = load(config)
    gate_policy = policy_from(policy or shipped_path("gate.yaml"))
    configure_logging("WARNING")
    result = read_campaign(
        gate_campaign(cfg, campaign or cfg.recording.campaign, gate_policy, candidate=candidate)
    )
    if json_output or fmt == "json":
        emit(None, gate_json(result) + "\n")
    elif fmt == "markdown":
        emit(None, gate_markdown(result))
    else:
        emit(None, None, render_gate(result))
    exit_with_verdict(result)


@app.command(short_help="List the campaigns in Redis, with pair and score counts.")
def campaigns(
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
) -> None:
    """List the campaigns recorded in Redis, with their pair and score counts."""
    needs_analysis("campaigns")
    from comparators.commands import campaigns_grid, find_campaigns
    from comparators.tables import to_markdown, to_rich

    check_format(fmt)
    cfg = load(config)
    configure_logging("WARNING")
    found = uvloop.run(find_campaigns(cfg))
    if fmt == "json":
        rows = [{"campaign": c.name, "pairs": c.pairs, "scores": c.scores} for c in found]
        emit(None, json.dumps(rows, indent=2) + "\n")
    elif fmt == "markdown":
        emit(None, to_markdown(campaigns_grid(cfg, found)))
    else:
        emit(None, None, to_rich(campaigns_grid(cfg, found)))


@app.command(short_help="Write selected or labeled pairs as a golden evaluation set.")
def export(
    out: Annotated[Path, typer.Option(help="Golden-set folder; a new version is added.")],
    where: Annotated[str | None, typer.Option(help='Filter, e.g. "divergence > 0.5".')] = None,
    labeled: Annotated[
        bool,
        typer.Option(
            "--labeled",
            help="The pairs reviewers labeled, with their verdict and expected answer.",
        ),
    ] = False,
    reviewer: Annotated[
        str | None, typer.Option(help="With --labeled: only this reviewer's labels.")
    ] = None,
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    new: Annotated[bool, typer.Option("--new", help="Start a fresh lineage: no parent.")] = False,
) -> None:
    """Write the selected pairs as a new version of a golden evaluation set (docs/golden.md):
    the latest version's items plus these, unless --new.

    --where selects by score; --labeled takes the pairs reviewers labeled (the last label of
    a pair wins; --reviewer keeps one reviewer's), with --where too when both are given."""
    needs_analysis("export")
    from comparators.commands import export_campaign
    from comparators.export import ExportError
    from comparators.where import FilterError

    if reviewer is not None and not labeled:
        fail("export: --reviewer needs --labeled")
    if where is None and not labeled:
        fail('export: expected --where FILTER (e.g. "divergence > 0.5") or --labeled')
    cfg = load(config)
    configure_logging("WARNING")
    try:
        manifest = read_campaign(
            export_campaign(
                cfg,
                campaign or cfg.recording.campaign,
                where,
                out,
                new=new,
                labeled=labeled,
                reviewer=reviewer,
            )
        )
    except (FilterError, ExportError) as exc:
        fail(str(exc))
    what = "labeled pairs" if labeled else "pairs"
    sys.stdout.write(
        f"exported {manifest.provenance.rows} {what} as {out / manifest.version}: "
        f"{manifest.count} items (parent {manifest.parent or 'none'}: {manifest.added} added, "
        f"{manifest.replaced} replaced), sha256 {manifest.sha256[:12]}\n"
    )
