"""The offline lifecycle: ``golden`` (golden sets), ``replay`` (a golden set sent to the
incumbent and candidates, scored and gated) and ``demo`` (a whole campaign on simulators)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import uvloop
from typer.core import TyperGroup

from proxy.cli.app import (
    FORMATS,
    ConfigOption,
    app,
    check_format,
    emit,
    load,
    needs_analysis,
    policy_from,
)
from proxy.logs import configure_logging
from proxy.shipped.files import shipped_path
from proxy.terminal import EXIT_INTERRUPTED, err, fail

if TYPE_CHECKING:
    from comparators.gate.policy import GatePolicy
    from proxy.cli.replaying import ReplayOutcome
    from proxy.config.root import Config
    from proxy.replay.runner import ReplayOptions
    from proxy.replay.work import ReplayItem


class _GoldenGroup(TyperGroup):
    """``darklaunch golden``: its commands are read from :mod:`comparators.golden.cli` only
    when one runs or is listed, so starting the CLI never loads the analysis plane."""

    def _load_commands(self) -> None:
        if not self.commands:
            from comparators.golden.cli import golden_app as commands

            self.commands.update(typer.main.get_group(commands).commands)

    def list_commands(self, ctx: Any) -> list[str]:
        self._load_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        self._load_commands()
        return super().get_command(ctx, cmd_name)


golden_app = typer.Typer(
    cls=_GoldenGroup, no_args_is_help=True, help="Golden sets: import prompts, diff, stats, verify."
)
app.add_typer(golden_app, name="golden")


@app.command(short_help="Replay a golden set against the incumbent and candidates; score; gate.")
def replay(
    golden: Annotated[
        Path, typer.Option(help="The golden set's folder (darklaunch golden import / export).")
    ],
    config: ConfigOption = None,
    version: Annotated[
        str | None, typer.Option(help="The version to replay (v3 or 3); the latest by default.")
    ] = None,
    candidates: Annotated[
        str | None, typer.Option(help="Comma-separated candidate names; all by default.")
    ] = None,
    campaign: Annotated[
        str | None, typer.Option(help="Campaign to record into; replay-<version> by default.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Items in flight at once.")] = 8,
    rate: Annotated[
        float | None, typer.Option(min=0.001, help="Calls per second at most (all upstreams).")
    ] = None,
    noise_floor: Annotated[
        bool,
        typer.Option(
            "--noise-floor/--no-noise-floor",
            help="Ask the incumbent twice per item: its second answer is the noise floor.",
        ),
    ] = False,
    incumbent: Annotated[
        str,
        typer.Option(help="'live' asks the incumbent; 'recorded' uses production's answer."),
    ] = "live",
    retries: Annotated[
        int, typer.Option(min=0, help="Retries after a 429, a 5xx or a failed connection.")
    ] = 4,
    policy: Annotated[
        Path | None,
        typer.Option(help="Gate policy YAML; defaults to the shipped one (`init` writes a copy)."),
    ] = None,
    gate: Annotated[
        bool, typer.Option("--gate/--no-gate", help="Score and gate after replaying.")
    ] = True,
    fmt: Annotated[str, typer.Option("--format", help="table, json or markdown.")] = "table",
) -> None:
    """Send every item of a golden set to the incumbent and the candidates, record the pairs
    in a campaign, score them and gate: exit 0 PASS, 1 FAIL, 3 INCONCLUSIVE (as `gate`), 130
    when stopped (run it again to continue: items already replayed are not asked again)."""
    needs_analysis("replay")
    from rich.text import Text

    from comparators.gate.render import gate_json, gate_markdown, render_gate
    from comparators.golden.errors import GoldenError
    from proxy.cli.replaying import load_items, summary_json, summary_lines
    from proxy.replay.retry import RetryPolicy
    from proxy.replay.runner import ReplayOptions

    check_format(fmt, FORMATS)
    if incumbent not in ("live", "recorded"):
        fail(f"--incumbent {incumbent!r}; expected live or recorded")
    cfg = load(config)
    gate_policy = policy_from(policy or shipped_path("gate.yaml")) if gate else None
    try:
        found, items, unsendable = load_items(golden, version)
    except GoldenError as exc:
        fail(str(exc))
    names = tuple(n.strip() for n in candidates.split(",") if n.strip()) if candidates else None
    options = ReplayOptions(
        campaign=campaign or f"replay-{found}",
        version=found,
        candidates=names,
        concurrency=concurrency,
        rate=rate,
        noise_floor=noise_floor,
        recorded_incumbent=incumbent == "recorded",
        retry=RetryPolicy(retries=retries),
    )
    configure_logging("WARNING")
    try:
        outcome = uvloop.run(_replay_with_progress(cfg, items, options, gate_policy))
    except ValueError as exc:  # an unknown candidate name, say
        fail(str(exc))
    lines = summary_lines(outcome, unsendable)
    if fmt == "json":
        gate_doc = None if outcome.gate is None else json.loads(gate_json(outcome.gate))
        emit(None, json.dumps({"replay": summary_json(outcome), "gate": gate_doc}, indent=2) + "\n")
    elif fmt == "markdown":
        head = "".join(f"- {line}\n" for line in lines)
        tail = gate_markdown(outcome.gate) if outcome.gate is not None else ""
        emit(None, f"### darklaunch replay\n\n{head}\n{tail}")
    else:
        gate_table = [] if outcome.gate is None else [render_gate(outcome.gate)]
        emit(None, None, *(Text(line) for line in lines), *gate_table)
    if outcome.summary.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if outcome.gate is not None:
        raise typer.Exit(outcome.gate.exit_code)


async def _replay_with_progress(
    cfg: Config, items: list[ReplayItem], options: ReplayOptions, policy: GatePolicy | None
) -> ReplayOutcome:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from proxy.cli.replaying import replay_and_gate

    columns = (
        TextColumn("[bold]replay[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=True) as progress:
        task = progress.add_task("replay", total=len(items))
        return await replay_and_gate(
            cfg,
            items,
            options,
            policy,
            on_item=lambda s: progress.update(task, completed=s.already_done + s.replayed),
        )


@app.command(short_help="A complete campaign (or, --rollout, a staged rollout) on simulators.")
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
    rollout: Annotated[
        bool,
        typer.Option(
            "--rollout",
            help="Instead of the shadow campaign, a staged rollout at --rate: a good candidate "
            "ramped to complete by its guards, then one answering 500 from step 2, which its "
            "cohort's fallback hides from clients and the controller rolls back.",
        ),
    ] = False,
) -> None:
    """Run a complete campaign on embedded defaults and print the report and gate verdict.

    Exits with the gate's code, as ``darklaunch gate`` would: 0 PASS, 1 FAIL, 3 INCONCLUSIVE.
    With ``--rollout``: 0 when the good candidate completed and the regressed one was rolled
    back with no 5xx reaching a client, else 1.
    """
    needs_analysis("demo")
    if rollout:
        from proxy.sim.rollout_demo import run_rollout_demo

        configure_logging("WARNING")
        outcome = uvloop.run(run_rollout_demo(rate=rate, data_dir=data_dir))
        raise typer.Exit(outcome.exit_code)
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
