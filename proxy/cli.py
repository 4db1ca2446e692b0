"""The ``darklaunch`` command line.

Exit codes: 0 success, 2 bad usage or bad config (the message names the key path, the bad
value and what was expected).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvloop
import yaml
from rich.console import Console

from proxy.config.base import ConfigError
from proxy.config.loading import load_config
from proxy.config.masking import masked_dump
from proxy.config.root import Config

if TYPE_CHECKING:
    from comparators.gate.policy import GatePolicy
from proxy.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="darklaunch",
    help="Shadow / dark-launch proxy for LLM inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML config file. Defaults to $DARKLAUNCH_CONFIG.",
        envvar="DARKLAUNCH_CONFIG",
        show_default=False,
    ),
]
LogLevel = Annotated[str, typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR.")]


def _load(path: Path | None) -> Config:
    if path is None:
        err.print("[red]error:[/] no config: pass --config PATH or set DARKLAUNCH_CONFIG")
        raise typer.Exit(2)
    try:
        return load_config(path)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc


@app.command()
def serve(
    config: ConfigOption = None,
    workers: Annotated[
        int,
        typer.Option("--workers", "-w", min=1, help="Processes sharing the ports (SO_REUSEPORT)."),
    ] = 1,
    log_level: LogLevel = "INFO",
    json_logs: Annotated[bool, typer.Option("--json-logs", help="Log JSON lines.")] = False,
) -> None:
    """Run the proxy until SIGTERM or SIGINT, then shut down gracefully."""
    cfg = _load(config)
    configure_logging(log_level, json_logs)
    if workers > 1:
        from proxy.supervisor import serve_workers

        assert config is not None  # _load() exits otherwise
        extra = ["--log-level", log_level, *(["--json-logs"] if json_logs else [])]
        raise typer.Exit(serve_workers(cfg, config, workers, extra))
    from proxy.server import serve_forever
    from proxy.supervisor import WORKER_INDEX_ENV

    index = os.environ.get(WORKER_INDEX_ENV)
    uvloop.run(serve_forever(cfg, worker_index=int(index) if index is not None else None))


@app.command()
def compare(
    config: ConfigOption = None,
    campaign: Annotated[
        str | None, typer.Option(help="Campaign to score; defaults to recording.campaign.")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Drain the stream, then exit.")] = False,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name in the group; defaults to host-pid.")
    ] = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Score recorded pairs as one consumer of the 'comparators' group."""
    from comparators.base import ComparatorError
    from comparators.service import run_worker

    cfg = _load(config)
    configure_logging(log_level)
    try:
        stats = uvloop.run(
            run_worker(cfg, campaign=campaign, once=once, consumer=consumer, serve_metrics=not once)
        )
    except ComparatorError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    sys.stdout.write(
        f"scored {stats.scored} pairs ({stats.reclaimed} reclaimed, {stats.bad} bad, "
        f"{stats.skipped_not_owned} taken over by other workers)\n"
    )


CampaignOption = Annotated[
    str | None, typer.Option(help="Campaign to read; defaults to recording.campaign.")
]


@app.command()
def report(
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or html.")] = "table",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    policy: Annotated[
        Path | None, typer.Option(help="Gate policy: adds the verdict to the report.")
    ] = None,
    worst: Annotated[int, typer.Option(min=1, help="Worst pairs shown in HTML.")] = 10,
    traffic_rps: Annotated[
        float | None, typer.Option(help="Full traffic rate, for the monthly cost projection.")
    ] = None,
) -> None:
    """The campaign report: divergence over the noise floor, failures, latency, cost."""
    from comparators.commands import report_campaign
    from comparators.gate.render import render_gate
    from comparators.report.table import render_table

    if fmt not in ("table", "json", "html"):
        err.print(f"error: --format {fmt!r}; expected table, json or html")
        raise typer.Exit(2)
    cfg = _load(config)
    gate_policy = _policy(policy) if policy is not None else None
    configure_logging("WARNING")
    result = uvloop.run(
        report_campaign(
            cfg,
            campaign or cfg.recording.campaign,
            fmt,
            policy=gate_policy,
            worst=worst,
            traffic_rps=traffic_rps,
        )
    )
    if result.text is None:
        console = Console(file=out.open("w") if out else None, width=160 if out else None)
        console.print(render_table(result.report))
        if result.gate is not None:
            console.print(render_gate(result.gate))
    elif out is not None:
        out.write_text(result.text, encoding="utf-8")
    else:
        sys.stdout.write(result.text)
    if out is not None:
        err.print(f"wrote {out}")


def _policy(path: Path) -> GatePolicy:
    from comparators.gate.policy import GatePolicyError, load_policy

    try:
        return load_policy(path)
    except (GatePolicyError, OSError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc


@app.command()
def gate(
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    policy: Annotated[Path, typer.Option(help="Gate policy YAML, e.g. config/gate.yaml.")] = Path(
        "config/gate.yaml"
    ),
    candidate: Annotated[str | None, typer.Option(help="Judge only this candidate.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """The release gate. Exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE."""
    from comparators.commands import gate_campaign
    from comparators.gate.render import gate_json, render_gate

    cfg = _load(config)
    gate_policy = _policy(policy)
    configure_logging("WARNING")
    result = uvloop.run(
        gate_campaign(cfg, campaign or cfg.recording.campaign, gate_policy, candidate=candidate)
    )
    if json_output:
        sys.stdout.write(gate_json(result) + "\n")
    else:
        Console().print(render_gate(result))
    raise typer.Exit(result.exit_code)


@app.command()
def export(
    where: Annotated[str, typer.Option(help='Filter, e.g. "divergence > 0.5".')],
    out: Annotated[Path, typer.Option(help="Golden-set folder; a new version is added.")],
    config: ConfigOption = None,
    campaign: CampaignOption = None,
) -> None:
    """Write the selected pairs as a new version of a golden evaluation set."""
    from comparators.commands import export_campaign
    from comparators.export import ExportError
    from comparators.where import FilterError

    cfg = _load(config)
    configure_logging("WARNING")
    try:
        manifest = uvloop.run(export_campaign(cfg, campaign or cfg.recording.campaign, where, out))
    except (FilterError, ExportError) as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    where_to = out / manifest.version
    sys.stdout.write(
        f"exported {manifest.count} pairs as {where_to} (sha256 {manifest.sha256[:12]})\n"
    )


@app.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference (Markdown), generated from the config models."""
    from proxy.config.reference import render_config_reference

    sys.stdout.write(render_config_reference())


@app.command("check-config")
def check_config(
    path: Annotated[Path, typer.Argument(help="YAML config file to validate.")],
) -> None:
    """Validate a config and print the effective config, with secrets masked."""
    cfg = _load(path)
    sys.stdout.write(yaml.safe_dump(masked_dump(cfg), sort_keys=False))


@app.command()
def demo(
    duration: Annotated[float, typer.Option(min=1, help="Seconds of traffic.")] = 40.0,
    rate: Annotated[float, typer.Option(min=0.5, help="Requests per second.")] = 25.0,
    sample_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of requests mirrored.")
    ] = 1.0,
    candidate_profile: Annotated[
        str, typer.Option(help="Simulated candidate: 'good' or 'regressed'.")
    ] = "good",
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded Redis and the HTML report go.")
    ] = Path(".darklaunch/demo"),
) -> None:
    """Run a complete campaign on embedded defaults and print the report and gate verdict."""
    from proxy.sim.demo import CANDIDATE_PROFILES, run_demo

    if candidate_profile not in CANDIDATE_PROFILES:
        err.print(
            f"error: --candidate-profile {candidate_profile!r}; expected one of: good, regressed"
        )
        raise typer.Exit(2)
    configure_logging("WARNING")
    uvloop.run(
        run_demo(
            duration_s=duration,
            rate=rate,
            sample_rate=sample_rate,
            candidate_profile=candidate_profile,
            data_dir=data_dir,
        )
    )


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
