"""The ``darklaunch`` command line. Exit codes and error lines: :mod:`proxy.terminal`."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import uvloop
import yaml
from rich.console import RenderableType
from typer.core import TyperGroup

from proxy.config.base import ConfigError
from proxy.config.loading import load_config
from proxy.config.masking import masked_dump
from proxy.config.root import Config

if TYPE_CHECKING:
    from comparators.gate.policy import GatePolicy
    from comparators.gate.result import GateResult
from proxy.logs import configure_logging
from proxy.shipped.files import shipped_path, write_shipped
from proxy.terminal import EXIT_NO_SUCH_CAMPAIGN, check_log_level, err, fail, print_version

__all__ = ["app", "main"]

T = TypeVar("T")

app = typer.Typer(
    name="darklaunch",
    help="Shadow / dark-launch proxy for LLM inference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help, as click writes it. Typer's rich help panel labels every option with its
    # Python type, flags included ("--help <bool>", "--json-logs <bool>"), since typer (0.2x)
    # vendors click and describes types itself; the plain formatter leaves flags bare.
    rich_markup_mode=None,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Shadow / dark-launch proxy for LLM inference."""


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
LogLevel = Annotated[
    str,
    typer.Option(
        "--log-level",
        callback=check_log_level,
        metavar="LEVEL",
        help="DEBUG, INFO, WARNING or ERROR.",
    ),
]


def _load(path: Path | None) -> Config:
    if path is None:
        fail("no config: pass --config PATH or set DARKLAUNCH_CONFIG")
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))


def _needs_analysis(command: str) -> None:
    """The analysis plane's commands check for its extra before importing it: on a slim
    install (``pip install darklaunch``) one line names the extra, instead of a traceback."""
    from proxy.shipped.extras import extra_hint

    if (hint := extra_hint(command)) is not None:
        fail(hint)


@app.command(short_help="Run the proxy until SIGTERM or SIGINT, then drain.")
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
    from proxy.server import ListenError, serve_forever
    from proxy.supervisor import WORKER_INDEX_ENV

    index = os.environ.get(WORKER_INDEX_ENV)
    try:
        uvloop.run(serve_forever(cfg, worker_index=int(index) if index is not None else None))
    except ListenError as exc:
        fail(str(exc))


@app.command(short_help="Score recorded pairs, one consumer of the group.")
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
    _needs_analysis("compare")
    from comparators.base import ComparatorError
    from comparators.service import run_worker

    cfg = _load(config)
    configure_logging(log_level)
    try:
        stats = uvloop.run(
            run_worker(cfg, campaign=campaign, once=once, consumer=consumer, serve_metrics=not once)
        )
    except ComparatorError as exc:
        fail(str(exc))
    sys.stdout.write(
        f"scored {stats.scored} pairs ({stats.reclaimed} reclaimed, {stats.bad} bad, "
        f"{stats.skipped_not_owned} taken over by other workers)\n"
    )


CampaignOption = Annotated[
    str | None, typer.Option(help="Campaign to read; defaults to recording.campaign.")
]
FORMATS = ("table", "json", "markdown")


def _check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> None:
    if fmt not in allowed:
        fail(f"--format {fmt!r}; expected one of {', '.join(allowed)}")


def _read_campaign(work: Coroutine[Any, Any, T]) -> T:
    """Run a command that reads a campaign; a campaign without pairs exits 4, listing those
    the Redis has."""
    from comparators.commands import NoSuchCampaign

    try:
        return uvloop.run(work)
    except NoSuchCampaign as exc:
        fail(str(exc), EXIT_NO_SUCH_CAMPAIGN)


def _emit(out: Path | None, document: str | None, *renderables: RenderableType) -> None:
    from comparators.tables import emit

    emit(out, document, *renderables)
    if out is not None:
        err.print(f"wrote {out}")


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
    _needs_analysis("report")
    from comparators.commands import report_campaign
    from comparators.gate.render import gate_markdown, render_gate
    from comparators.report.table import render_markdown, render_table

    _check_format(fmt, (*FORMATS, "html"))
    cfg = _load(config)
    gate_policy = _policy(policy) if policy is not None else None
    configure_logging("WARNING")
    result = _read_campaign(
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
        _emit(out, render_markdown(result.report) + verdict)
    elif result.text is not None:
        _emit(out, result.text)
    else:
        verdict_table = [] if gate_result is None else [render_gate(gate_result)]
        _emit(out, None, render_table(result.report), *verdict_table)
    _exit_with_verdict(gate_result)


def _exit_with_verdict(result: GateResult | None) -> None:
    if result is not None:
        raise typer.Exit(result.exit_code)


def _policy(path: Path) -> GatePolicy:
    from comparators.gate.policy import GatePolicyError, load_policy

    try:
        return load_policy(path)
    except (GatePolicyError, OSError) as exc:
        fail(str(exc))


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
    _needs_analysis("gate")
    from comparators.commands import gate_campaign
    from comparators.gate.render import gate_json, gate_markdown, render_gate

    _check_format(fmt)
    cfg = _load(config)
    gate_policy = _policy(policy or shipped_path("gate.yaml"))
    configure_logging("WARNING")
    result = _read_campaign(
        gate_campaign(cfg, campaign or cfg.recording.campaign, gate_policy, candidate=candidate)
    )
    if json_output or fmt == "json":
        _emit(None, gate_json(result) + "\n")
    elif fmt == "markdown":
        _emit(None, gate_markdown(result))
    else:
        _emit(None, None, render_gate(result))
    _exit_with_verdict(result)


@app.command(short_help="List the campaigns in Redis, with pair and score counts.")
def campaigns(
    config: ConfigOption = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
) -> None:
    """List the campaigns recorded in Redis, with their pair and score counts."""
    _needs_analysis("campaigns")
    from comparators.commands import campaigns_grid, find_campaigns
    from comparators.tables import to_markdown, to_rich

    _check_format(fmt)
    cfg = _load(config)
    configure_logging("WARNING")
    found = uvloop.run(find_campaigns(cfg))
    if fmt == "json":
        rows = [{"campaign": c.name, "pairs": c.pairs, "scores": c.scores} for c in found]
        _emit(None, json.dumps(rows, indent=2) + "\n")
    elif fmt == "markdown":
        _emit(None, to_markdown(campaigns_grid(cfg, found)))
    else:
        _emit(None, None, to_rich(campaigns_grid(cfg, found)))


@app.command(short_help="Write selected pairs as a golden evaluation set.")
def export(
    where: Annotated[str, typer.Option(help='Filter, e.g. "divergence > 0.5".')],
    out: Annotated[Path, typer.Option(help="Golden-set folder; a new version is added.")],
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    new: Annotated[bool, typer.Option("--new", help="Start a fresh lineage: no parent.")] = False,
) -> None:
    """Write the selected pairs as a new version of a golden evaluation set (docs/golden.md):
    the latest version's items plus these, unless --new."""
    _needs_analysis("export")
    from comparators.commands import export_campaign
    from comparators.export import ExportError
    from comparators.where import FilterError

    cfg = _load(config)
    configure_logging("WARNING")
    try:
        manifest = _read_campaign(
            export_campaign(cfg, campaign or cfg.recording.campaign, where, out, new=new)
        )
    except (FilterError, ExportError) as exc:
        fail(str(exc))
    sys.stdout.write(
        f"exported {manifest.provenance.rows} pairs as {out / manifest.version}: "
        f"{manifest.count} items (parent {manifest.parent or 'none'}: {manifest.added} added, "
        f"{manifest.replaced} replaced), sha256 {manifest.sha256[:12]}\n"
    )


class _GoldenGroup(TyperGroup):
    """``darklaunch golden``: its commands are read from :mod:`comparators.golden.cli` only
    when one runs or is listed, so starting the CLI never loads the analysis plane."""

    def _load(self) -> None:
        if not self.commands:
            from comparators.golden.cli import golden_app as commands

            self.commands.update(typer.main.get_group(commands).commands)

    def list_commands(self, ctx: Any) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        self._load()
        return super().get_command(ctx, cmd_name)


golden_app = typer.Typer(
    cls=_GoldenGroup, no_args_is_help=True, help="Golden sets: import prompts, diff, stats, verify."
)
app.add_typer(golden_app, name="golden")


@app.command("config-reference", short_help="Print the config reference (Markdown).")
def config_reference() -> None:
    """Print the configuration reference (Markdown), generated from the config models."""
    from proxy.config.reference import render_config_reference

    sys.stdout.write(render_config_reference())


@app.command("check-config", short_help="Validate a config; print it with secrets masked.")
def check_config(
    path: Annotated[Path, typer.Argument(help="YAML config file to validate.")],
) -> None:
    """Validate a config and print the effective config, with secrets masked."""
    cfg = _load(path)
    sys.stdout.write(yaml.safe_dump(masked_dump(cfg), sort_keys=False))


@app.command(short_help="Write a starter config, policy, dashboard and alerts.")
def init(
    folder: Annotated[Path, typer.Argument(help="Folder to write the starter files into.")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that exist.")] = False,
) -> None:
    """Write a starter config with the gate policy, price table, Grafana dashboard and
    Prometheus alert rules it goes with into FOLDER, to edit."""
    try:
        written = write_shipped(folder, overwrite=force)
    except FileExistsError as exc:
        fail(str(exc))
    sys.stdout.write("".join(f"wrote {path}\n" for path in written))


@app.command(short_help="A complete campaign on simulators: report and verdict.")
def demo(
    duration: Annotated[float, typer.Option(min=1, help="Seconds of traffic.")] = 40.0,
    rate: Annotated[float, typer.Option(min=0.5, help="Requests per second.")] = 25.0,
    sample_rate: Annotated[
        float, typer.Option(min=0, max=1, help="Share of requests mirrored.")
    ] = 1.0,
    candidate_profile: Annotated[
        str,
        typer.Option(
            help="Simulated candidate: 'good' (PASS), 'paraphrasing' (same facts in its own "
            "words: PASS) or 'regressed' (wrong facts, slower: FAIL)."
        ),
    ] = "good",
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded Redis and the HTML report go.")
    ] = Path(".darklaunch/demo"),
) -> None:
    """Run a complete campaign on embedded defaults and print the report and gate verdict.

    Exits with the gate's code, as ``darklaunch gate`` would: 0 PASS, 1 FAIL, 3 INCONCLUSIVE.
    """
    _needs_analysis("demo")
    from proxy.sim.demo import CANDIDATE_PROFILES, run_demo

    if candidate_profile not in CANDIDATE_PROFILES:
        expected = ", ".join(CANDIDATE_PROFILES)
        fail(f"--candidate-profile {candidate_profile!r}; expected one of: {expected}")
    configure_logging("WARNING")
    result = uvloop.run(
        run_demo(
            duration_s=duration,
            rate=rate,
            sample_rate=sample_rate,
            candidate_profile=candidate_profile,
            data_dir=data_dir,
        )
    )
    raise typer.Exit(result.gate.exit_code)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
