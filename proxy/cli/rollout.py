"""The staged rollout (``rollout:`` in the config): ``darklaunch rollout status``, the manual
actions ``start``, ``advance``, ``pause``, ``resume`` and ``rollback``, ``history``, and
``run``, the controller that judges each step and advances or rolls back on its own.

The manual actions and ``history`` touch the rollout's state only (:mod:`proxy.rollout`), so
they work on a proxy-only install: rolling back must never wait for the analysis extra.
``status`` and ``run`` judge the step with the gate and need it. Every action is a compare and
set, recorded with who made it (``cli:<user>``) and why (``--reason``): an action the state
does not allow, or a state that changed under it, is refused with one line and exit 2.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
import uvloop

from proxy.cli.app import (
    CampaignOption,
    ConfigOption,
    LogLevel,
    app,
    check_format,
    emit,
    load,
    needs_analysis,
    policy_from,
)
from proxy.logs import configure_logging
from proxy.rollout.state import Action, Phase, RolloutState, Transition, TransitionError
from proxy.shipped.files import shipped_path
from proxy.terminal import err, fail

if TYPE_CHECKING:
    from comparators.gate.policy import GatePolicy
    from comparators.rollout.guards import StepVerdict
    from comparators.tables import Grid
    from proxy.config.rollout import RolloutConfig
    from proxy.config.root import Config
    from proxy.recording.connect import RedisClient

T = TypeVar("T")

rollout_app = typer.Typer(
    no_args_is_help=True,
    short_help="The staged rollout: watch it, steer it, run its controller.",
    help="The staged rollout (rollout: in the config): status, the manual actions start, "
    "advance, pause, resume and rollback, history, and run, the controller.",
)
app.add_typer(rollout_app, name="rollout")

ReasonOption = Annotated[
    str | None,
    typer.Option(
        help="Why, for the audit trail; defaults to 'manual <action>'.", show_default=False
    ),
]
PolicyOption = Annotated[
    Path | None,
    typer.Option(
        help="Gate policy YAML the guards are laid over; defaults to rollout.guards.policy, "
        "else the shipped one."
    ),
]
StatusFormat = Annotated[str, typer.Option("--format", help="table or json.")]
TABLE_OR_JSON = ("table", "json")


def _rollout(cfg: Config, path: Path | None) -> RolloutConfig:
    if cfg.rollout is None:
        fail(
            f"rollout: not set in {path}; expected a rollout: section "
            "(rollout: {candidate: <name>, steps: [0.01, 0.05, 0.25, 1]}) to steer"
        )
    return cfg.rollout


def _policy(path: Path | None, rollout: RolloutConfig) -> GatePolicy:
    return policy_from(path or rollout.guards.policy or shipped_path("gate.yaml"))


def _with_redis(cfg: Config, what: str, work: Callable[[RedisClient], Awaitable[T]]) -> T:
    """Run ``work`` on a client of the config's Redis (embedded when none is set); a Redis
    that fails is one line naming the command, not a traceback."""
    from proxy.recording.setup import REDIS_ERRORS, open_client

    async def run() -> T:
        async with open_client(cfg.recording) as client:
            return await work(client)

    try:
        return uvloop.run(run())
    except REDIS_ERRORS as exc:
        fail(f"rollout {what}: Redis failed: {exc}")


def _share(share: float) -> str:
    return f"{share * 100:g}%"


def _where(state: RolloutState, steps: int) -> str:
    """``ramping, step 2/5 at 5%``: the phase, and the step when one is served."""
    if state.phase in (Phase.RAMPING, Phase.PAUSED):
        return f"{state.phase}, step {state.step + 1}/{steps} at {_share(state.share)}"
    if state.phase is Phase.COMPLETE:
        return f"complete at {_share(state.share)}"
    return str(state.phase)


def _changes(count: int) -> str:
    return "the last change" if count == 1 else f"the last {count} changes"


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _act(action: Action, config: Path | None, campaign: str | None, reason: str | None) -> None:
    from proxy.rollout.store import RolloutStore, StaleState

    cfg = load(config)
    rollout = _rollout(cfg, config)
    name = campaign or cfg.recording.campaign
    actor = f"cli:{os.environ.get('USER') or 'unknown'}"

    async def work(client: RedisClient) -> tuple[RolloutState, Transition]:
        store = RolloutStore(client, name, rollout)
        return await store.act(action, actor=actor, reason=reason or f"manual {action}")

    try:
        state, entry = _with_redis(cfg, str(action), work)
    except (TransitionError, StaleState) as exc:
        fail(f"rollout {action} refused for campaign {name}: {exc}")
    before = _step_text(entry.from_phase, entry.from_step, len(rollout.steps))
    typer.echo(
        f"rollout of {state.candidate} (campaign {name}): {action}: {before} -> "
        f"{_where(state, len(rollout.steps))} (version {state.version}, by {actor})"
    )


async def _status(
    client: RedisClient, cfg: Config, name: str, policy: GatePolicy, now: float
) -> tuple[RolloutState, StepVerdict, list[Transition]]:
    from comparators.rollout.controller import Controller

    controller = Controller(client, cfg, policy, campaign=name)
    state = await controller.store.read()
    verdict = await controller.judge(state, now)
    return state, verdict, await controller.store.history(5)


def _status_json(
    state: RolloutState,
    verdict: StepVerdict,
    history: list[Transition],
    rollout: RolloutConfig,
    now: float,
) -> dict[str, Any]:
    return {
        "state": state.model_dump(mode="json"),
        "age_s": round(now - state.since, 1) if state.since else None,
        "steps": [
            {
                "step": index + 1,
                "share": step.share,
                "min_duration_s": rollout.step_duration_s(index),
                "min_pairs": rollout.step_pairs(index),
                "current": index == state.step and state.phase is not Phase.COMPLETE,
            }
            for index, step in enumerate(rollout.steps)
        ],
        "guard": {
            "decision": str(verdict.decision),
            "reason": verdict.reason,
            "pairs": verdict.pairs,
            "elapsed_s": round(verdict.elapsed_s, 1),
            "evidence": verdict.evidence(),
        },
        "history": [entry.model_dump(mode="json") for entry in history],
    }


def _status_table(
    name: str,
    state: RolloutState,
    verdict: StepVerdict,
    history: list[Transition],
    rollout: RolloutConfig,
    now: float,
) -> list[Any]:
    from rich.console import RenderableType
    from rich.text import Text

    from comparators.gate.render import format_value
    from comparators.rollout.guards import format_duration
    from comparators.tables import Grid, to_rich

    count = len(rollout.steps)
    age = f", since {format_duration(now - state.since)} ago" if state.since else ""
    head = [
        Text(
            f"rollout of {rollout.candidate} (campaign {name}): {_where(state, count)}{age} "
            f"(version {state.version})",
            style="bold",
        )
    ]
    if state.actor:
        head.append(Text(f"last change by {state.actor}: {state.reason}"))
    steps = Grid(
        "steps", ("step", "share", "min duration", "min pairs", ""), right=frozenset({"share"})
    )
    for index, step in enumerate(rollout.steps):
        mark = ""
        if state.phase is Phase.COMPLETE or index < state.step:
            mark = "done"
        elif index == state.step and state.phase in (Phase.RAMPING, Phase.PAUSED):
            mark = f"<- current ({state.phase})"
        steps.add_row(
            f"{index + 1}/{count}",
            _share(step.share),
            format_duration(rollout.step_duration_s(index)),
            str(rollout.step_pairs(index)),
            mark,
        )
    guard: list[RenderableType] = [Text(f"controller now: {verdict.decision}: {verdict.reason}")]
    if verdict.result is not None:
        checks = Grid(
            f"guards on the step's {verdict.pairs} pairs: {verdict.result.verdict}",
            ("check", "status", "measured", "bounds", "limit"),
            keep_whole=frozenset({"check", "status"}),
        )
        for check in verdict.result.checks:
            if check.segment is not None and check.status.value != "FAIL":
                continue
            label = check.name if check.segment is None else f"{check.name} [{check.segment}]"
            low, high = format_value(check.lower, check.unit), format_value(check.upper, check.unit)
            checks.add_row(
                label,
                check.status.value,
                format_value(check.value, check.unit),
                f"[{low}, {high}]",
                format_value(check.threshold, check.unit),
            )
        guard.append(to_rich(checks))
    title = _changes(len(history)) if history else "no changes yet"
    return [*head, to_rich(steps), *guard, to_rich(_history_grid(title, history, count))]


@rollout_app.command(short_help="The phase, the steps, what the guards say now, recent changes.")
def status(
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    policy: PolicyOption = None,
    fmt: StatusFormat = "table",
) -> None:
    """The rollout's phase and step, its steps, the current step's guard verdict (what the
    controller would do now, and why) and the last 5 changes."""
    needs_analysis("rollout status")
    from comparators.campaign import CampaignReadError
    from comparators.gate.policy import GatePolicyError

    check_format(fmt, TABLE_OR_JSON)
    cfg = load(config)
    rollout = _rollout(cfg, config)
    gate_policy = _policy(policy, rollout)
    name = campaign or cfg.recording.campaign
    configure_logging("WARNING")
    now = time.time()
    try:
        state, verdict, changes = _with_redis(
            cfg, "status", lambda client: _status(client, cfg, name, gate_policy, now)
        )
    except (CampaignReadError, GatePolicyError) as exc:
        fail(f"rollout status: {exc}")
    if fmt == "json":
        doc = _status_json(state, verdict, changes, rollout, now)
        emit(None, json.dumps(doc, indent=2) + "\n")
    else:
        emit(None, None, *_status_table(name, state, verdict, changes, rollout, now))


@rollout_app.command(short_help="Start the ramp at step 1 (from dark or rolled back).")
def start(
    config: ConfigOption = None, campaign: CampaignOption = None, reason: ReasonOption = None
) -> None:
    """Start the ramp: the candidate serves the first step's share of the cohort."""
    _act(Action.START, config, campaign, reason)


@rollout_app.command(short_help="Move to the next step now, whatever the guards say.")
def advance(
    config: ConfigOption = None, campaign: CampaignOption = None, reason: ReasonOption = None
) -> None:
    """Move to the next step now (after the last one: complete). The guards keep judging the
    new step, and a FAIL there still rolls back."""
    _act(Action.ADVANCE, config, campaign, reason)


@rollout_app.command(short_help="Hold the current step: the controller stops advancing.")
def pause(
    config: ConfigOption = None, campaign: CampaignOption = None, reason: ReasonOption = None
) -> None:
    """Hold the current step: the candidate keeps serving its share, the controller stops
    advancing, and a guard that FAILs still rolls back."""
    _act(Action.PAUSE, config, campaign, reason)


@rollout_app.command(short_help="Let the controller advance a paused rollout again.")
def resume(
    config: ConfigOption = None, campaign: CampaignOption = None, reason: ReasonOption = None
) -> None:
    """Let the controller advance again; the step keeps its start time."""
    _act(Action.RESUME, config, campaign, reason)


@rollout_app.command(short_help="Stop serving the candidate to anyone, now.")
def rollback(
    config: ConfigOption = None, campaign: CampaignOption = None, reason: ReasonOption = None
) -> None:
    """Roll back: the incumbent serves everyone again within rollout.sync_interval_s."""
    _act(Action.ROLLBACK, config, campaign, reason)


def _history_grid(title: str, entries: list[Transition], steps: int) -> Grid:
    from comparators.tables import Grid

    grid = Grid(
        title,
        ("time", "action", "from", "to", "actor", "cause", "reason"),
        keep_whole=frozenset({"time", "action", "actor", "cause"}),
    )
    for entry in entries:
        grid.add_row(
            _when(entry.time),
            str(entry.action),
            _step_text(entry.from_phase, entry.from_step, steps),
            _step_text(entry.to_phase, entry.to_step, steps),
            entry.actor,
            entry.cause,
            entry.reason,
        )
    return grid


def _step_text(phase: Phase, step: int, steps: int) -> str:
    return f"{phase} {step + 1}/{steps}" if phase in (Phase.RAMPING, Phase.PAUSED) else str(phase)


@rollout_app.command(short_help="The audit trail: every change, who made it and why.")
def history(
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    count: Annotated[int, typer.Option(min=1, help="The last COUNT changes.")] = 20,
    fmt: StatusFormat = "table",
) -> None:
    """The last changes of the rollout, oldest first, with their cause (manual or guard),
    actor, reason and, in JSON, the guards' evidence."""
    from proxy.rollout.store import RolloutStore

    check_format(fmt, TABLE_OR_JSON)
    cfg = load(config)
    rollout = _rollout(cfg, config)
    name = campaign or cfg.recording.campaign
    entries = _with_redis(
        cfg, "history", lambda client: RolloutStore(client, name, rollout).history(count)
    )
    if fmt == "json":
        emit(None, json.dumps([e.model_dump(mode="json") for e in entries], indent=2) + "\n")
        return
    # comparators.tables stands on rich alone: no analysis extra needed.
    from comparators.tables import to_rich

    title = f"rollout of {rollout.candidate} (campaign {name}): {_changes(len(entries))}"
    emit(None, None, to_rich(_history_grid(title, entries, len(rollout.steps))))


@rollout_app.command(short_help="The controller: judge each step, advance or roll back.")
def run(
    config: ConfigOption = None,
    campaign: CampaignOption = None,
    policy: PolicyOption = None,
    once: Annotated[bool, typer.Option("--once", help="One tick, then exit.")] = False,
    log_level: LogLevel = "INFO",
) -> None:
    """Judge the current step every rollout.controller_interval_s and advance or roll back on
    the guards' verdict, until Ctrl-C (or SIGTERM). One controller acts per campaign (a
    lock); start more for failover. With --once: one tick, its outcome on stdout."""
    needs_analysis("rollout run")
    from comparators.gate.policy import GatePolicyError
    from comparators.rollout.controller import Controller

    cfg = load(config)
    rollout = _rollout(cfg, config)
    gate_policy = _policy(policy, rollout)
    name = campaign or cfg.recording.campaign
    configure_logging(log_level)

    async def work(client: RedisClient) -> str:
        controller = Controller(client, cfg, gate_policy, campaign=name)
        if once:
            outcome = await controller.tick()
            return f"{outcome.result}: {outcome.detail}"
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        err.print(f"rollout controller for {rollout.candidate} (campaign {name}); Ctrl-C stops it")
        try:
            await controller.run(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return "stopped"

    try:
        done = _with_redis(cfg, "run", work)
    except GatePolicyError as exc:  # a guard the policy cannot hold
        fail(f"rollout run: {exc}")
    typer.echo(done)
