"""The ``darklaunch`` command line.

Exit codes: 0 success, 2 bad usage or bad config (the message names the key path, the bad
value and what was expected).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
import uvloop
import yaml
from rich.console import Console

from proxy.config import Config, ConfigError, load_config, masked_dump
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


@app.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference (Markdown), generated from the config models."""
    from proxy.config_reference import render_config_reference

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
    requests: Annotated[int, typer.Option(help="Requests to send through the proxy.")] = 40,
    sample_rate: Annotated[float, typer.Option(help="Share of requests mirrored.")] = 1.0,
    concurrency: Annotated[int, typer.Option(help="Concurrent clients.")] = 4,
    candidate_profile: Annotated[
        str, typer.Option(help="Simulated candidate: 'good' or 'regressed'.")
    ] = "good",
) -> None:
    """Run a dark launch on embedded defaults: Redis, simulated models, proxy, traffic."""
    from proxy.demo import CANDIDATE_PROFILES, run_demo

    if candidate_profile not in CANDIDATE_PROFILES:
        err.print(
            f"error: --candidate-profile {candidate_profile!r}; expected one of: good, regressed"
        )
        raise typer.Exit(2)
    configure_logging("WARNING")
    code = uvloop.run(
        run_demo(
            requests=requests,
            sample_rate=sample_rate,
            concurrency=concurrency,
            candidate_profile=candidate_profile,
        )
    )
    raise typer.Exit(code)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
