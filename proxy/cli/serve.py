"""The data plane's commands: ``serve`` (the proxy) and ``compare`` (the worker that scores
what it records)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
import uvloop

if TYPE_CHECKING:
    pass
from proxy.cli.app import (
    ConfigOption,
    LogLevel,
    app,
    load,
    needs_analysis,
)
from proxy.logs import configure_logging
from proxy.terminal import fail


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
    cfg = load(config)
    configure_logging(log_level, json_logs)
    if workers > 1:
        from proxy.supervisor import serve_workers

        assert config is not None  # load() exits otherwise
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
    needs_analysis("compare")
    from comparators.base import ComparatorError
    from comparators.service import run_worker
    from proxy.recording.setup import REDIS_ERRORS

    cfg = load(config)
    configure_logging(log_level)
    try:
        stats = uvloop.run(
            run_worker(cfg, campaign=campaign, once=once, consumer=consumer, serve_metrics=not once)
        )
    except ComparatorError as exc:
        fail(str(exc))
    except REDIS_ERRORS as exc:
        # Transient ones are waited out by the worker: what reaches here waiting cannot fix.
        fail(f"Redis refused the worker ({exc}); check recording.redis_url and its credentials")
    sys.stdout.write(
        f"scored {stats.scored} pairs ({stats.reclaimed} reclaimed, {stats.bad} bad, "
        f"{stats.skipped_not_owned} taken over by other workers, {stats.reconnects} "
        "reconnects)\n"
    )
