"""The ``darklaunch`` application and what its commands share: the options, loading a
config, the analysis extra check, formats, reading a campaign, the verdict exit. Exit codes
and error lines: :mod:`proxy.terminal`."""

from __future__ import annotations

import os
from collections.abc import Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import uvloop
from rich.console import RenderableType

from proxy.config.base import ConfigError
from proxy.config.loading import load_config
from proxy.config.root import Config

if TYPE_CHECKING:
    from comparators.gate.policy import GatePolicy
    from comparators.gate.result import GateResult
from proxy.terminal import EXIT_NO_SUCH_CAMPAIGN, check_log_level, err, fail, print_version

__all__ = [
    "FORMATS",
    "CampaignOption",
    "ConfigOption",
    "LogLevel",
    "app",
    "check_format",
    "emit",
    "exit_with_verdict",
    "load",
    "main",
    "needs_analysis",
    "policy_from",
    "read_campaign",
]

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


def load(path: Path | None) -> Config:
    if path is None:
        fail("no config: pass --config PATH or set DARKLAUNCH_CONFIG")
    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))


def needs_analysis(command: str) -> None:
    """The analysis plane's commands check for its extra before importing it: on a slim
    install (``pip install darklaunch``) one line names the extra, instead of a traceback."""
    from proxy.shipped.extras import extra_hint

    if (hint := extra_hint(command)) is not None:
        fail(hint)


CampaignOption = Annotated[
    str | None, typer.Option(help="Campaign to read; defaults to recording.campaign.")
]
FORMATS = ("table", "json", "markdown")


def check_format(fmt: str, allowed: tuple[str, ...] = FORMATS) -> None:
    if fmt not in allowed:
        fail(f"--format {fmt!r}; expected one of {', '.join(allowed)}")


def read_campaign(work: Coroutine[Any, Any, T]) -> T:
    """Run a command that reads a campaign; a campaign without pairs exits 4, listing those
    the Redis has."""
    from comparators.commands import NoSuchCampaign

    try:
        return uvloop.run(work)
    except NoSuchCampaign as exc:
        fail(str(exc), EXIT_NO_SUCH_CAMPAIGN)


def emit(out: Path | None, document: str | None, *renderables: RenderableType) -> None:
    from comparators.tables import emit

    emit(out, document, *renderables)
    if out is not None:
        err.print(f"wrote {out}")


def exit_with_verdict(result: GateResult | None) -> None:
    if result is not None:
        raise typer.Exit(result.exit_code)


def policy_from(path: Path) -> GatePolicy:
    from comparators.gate.policy import GatePolicyError, load_policy

    try:
        return load_policy(path)
    except (GatePolicyError, OSError) as exc:
        fail(str(exc))


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
