"""Setting up: ``config-reference``, ``check-config`` and ``init``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml

from proxy.config.masking import masked_dump

if TYPE_CHECKING:
    pass
from proxy.cli.app import (
    app,
    load,
)
from proxy.shipped.files import write_shipped
from proxy.terminal import fail


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
    cfg = load(path)
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
