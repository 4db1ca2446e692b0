"""The offline lifecycle: ``golden`` (golden sets), ``replay`` (a golden set sent to the
incumbent and candidates, scored and gated) and ``demo`` (a whole campaign on simulators)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvloop
from typer.core import TyperGroup

if TYPE_CHECKING:
    pass
from proxy.cli.app import (
    app,
    needs_analysis,
)
from proxy.logs import configure_logging
from proxy.terminal import fail


class _GoldenGroup(TyperGroup):
    """``darklaunch golden``: its commands are read from :mod:`comparators.golden.cli` only
    when one runs or is listed, so starting the CLI never loads the analysis plane."""

    def load(self) -> None:
        if not self.commands:
            from comparators.golden.cli import golden_app as commands

            self.commands.update(typer.main.get_group(commands).commands)

    def list_commands(self, ctx: Any) -> list[str]:
        self.load()
        return super().list_commands(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        self.load()
        return super().get_command(ctx, cmd_name)


golden_app = typer.Typer(
    cls=_GoldenGroup, no_args_is_help=True, help="Golden sets: import prompts, diff, stats, verify."
)
app.add_typer(golden_app, name="golden")


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
    candidate_api: Annotated[
        str,
        typer.Option(
            help="The API the candidate speaks: 'openai' (the clients') or 'anthropic' (their "
            "chat requests translated to Messages; see docs/formats.md)."
        ),
    ] = "openai",
    data_dir: Annotated[
        Path, typer.Option(help="Where the embedded Redis and the HTML report go.")
    ] = Path(".darklaunch/demo"),
) -> None:
    """Run a complete campaign on embedded defaults and print the report and gate verdict.

    Exits with the gate's code, as ``darklaunch gate`` would: 0 PASS, 1 FAIL, 3 INCONCLUSIVE.
    """
    needs_analysis("demo")
    from proxy.sim.demo import CANDIDATE_PROFILES, run_demo

    if candidate_profile not in CANDIDATE_PROFILES:
        expected = ", ".join(CANDIDATE_PROFILES)
        fail(f"--candidate-profile {candidate_profile!r}; expected one of: {expected}")
    if candidate_api not in ("openai", "anthropic"):
        fail(f"--candidate-api {candidate_api!r}; expected openai or anthropic")
    configure_logging("WARNING")
    result = uvloop.run(
        run_demo(
            duration_s=duration,
            rate=rate,
            sample_rate=sample_rate,
            candidate_profile=candidate_profile,
            candidate_api=None if candidate_api == "openai" else candidate_api,
            data_dir=data_dir,
        )
    )
    raise typer.Exit(result.gate.exit_code)
