"""``darklaunch demo --rollout``: a staged rollout on simulators, ramped and rolled back by its
guards, in well under a minute.

Two runs share one embedded Redis, each with its own simulators, proxy, campaign, comparator
worker and controller:

1. a good candidate (:data:`proxy.sim.demo.CANDIDATE_PROFILES` ``good``) ramped through
   :data:`DEMO_STEPS` to ``complete``, every step advanced by the guards;
2. the same candidate, which starts answering 500 as soon as it reaches step 2: its cohort
   falls back to the incumbent, so clients still get 200s, and the controller rolls it back
   on the error-rate guard.

Traffic (the ``openai`` SDK, a stable ``x-user-id`` per simulated user: the cohort key), the
worker and the controller run together the whole time; nothing is stepped by hand, so what the
demo shows is the loop production runs, with steps of seconds instead of minutes. It exits 0
when the good candidate completed and the regressed one was rolled back with no 5xx reaching a
client. Like :mod:`proxy.sim.demo` it composes both planes, importing the analysis plane lazily.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import openai
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from proxy.config.loading import parse_config
from proxy.config.root import Config
from proxy.recording import keys
from proxy.recording.embedded_redis import EmbeddedRedis
from proxy.rollout.state import Action, Phase, RolloutState, Transition
from proxy.rollout.store import RolloutStore
from proxy.server import running_proxy
from proxy.sim.demo import CANDIDATE_PROFILES, INCUMBENT_PROFILE, MODEL
from proxy.sim.prompts import traffic
from proxy.sim.server import SimServer, running_simulator
from proxy.stopping import wait_set

if TYPE_CHECKING:
    from comparators.gate.policy import GatePolicy
    from comparators.rollout.controller import Controller

__all__ = ["DEMO_STEPS", "RolloutDemoResult", "RolloutRun", "rollout_policy", "run_rollout_demo"]

DEMO_STEPS = (0.05, 0.25, 0.5, 1.0)
CANDIDATE = "candidate"
USER_HEADER = "x-user-id"
USERS = 97
# The error-rate guard, absolute. With no errors, Clopper–Pearson's one-sided 95% upper bound
# falls under 10% from 29 pairs (under 5% only from 59), so a step of a few seconds at the
# demo's rate can prove it; a candidate answering 500 breaches it on a handful of pairs.
MAX_ERROR_RATE = 0.1
# Whatever the run's outcome, it ends by then: a demo that cannot finish says so and fails.
RUN_TIMEOUT_S = 60.0
# After the last transition, traffic goes on this long, so the counts show its effect.
LINGER_S = 1.5
# Loggers whose warnings the demo shows itself (transitions, fallbacks, the follower's task
# cancelled at shutdown); their errors still print.
_QUIET = ("proxy.rollout", "proxy.mirroring", "proxy.tasks", "comparators.rollout")


def rollout_policy(step_pairs: int) -> GatePolicy:
    """The gate policy the demo's guards are laid over, sized for steps of ``step_pairs``.

    Off: the checks that need hundreds of pairs to PASS (the paired error and refusal rate
    increases, changed answers over the noise floor), per-segment checks (a step has too few
    pairs per segment) and the p99 latency ratio (bounded only from 299 pairs). On: the
    error-rate guard (``rollout.guards``) and the p95 (bounded from 59 pairs, hence steps of
    60) and typical latency ratios, which a candidate twice as fast as the incumbent PASSes.
    """
    from comparators.gate.policy import GatePolicy

    return GatePolicy(
        min_pairs=step_pairs, segments=False, max_excess_divergence=None,
        max_error_rate_increase=None, max_refusal_rate_increase=None, max_p99_latency_ratio=None,
    )  # fmt: skip


def rollout_demo_config(
    incumbent_url: str,
    candidate_url: str,
    redis_url: str,
    campaign: str,
    data_dir: Path,
    *,
    steps: Sequence[float] = DEMO_STEPS,
    step_s: float = 3.0,
    step_pairs: int = 60,
) -> Config:
    """Every request not served by the candidate is mirrored to it, so each step's window
    holds pairs from the whole traffic (reverse shadows from the cohort, mirrors from the
    rest) and a 5% step gathers its pairs as fast as a 50% one."""
    rollout = {
        "candidate": CANDIDATE, "cohort_key": f"header:{USER_HEADER}", "steps": list(steps),
        "min_step_duration_s": step_s, "min_step_pairs": step_pairs,
        "guards": {"max_error_rate": MAX_ERROR_RATE},
        "sync_interval_s": 0.5, "controller_interval_s": 1.0,
    }  # fmt: skip
    candidate = {"name": CANDIDATE, "url": candidate_url, "model": "small-model-v2"}
    recording = {"campaign": campaign, "redis_url": redis_url, "spool_dir": str(data_dir / "spool")}
    return parse_config(
        {
            "listen": {"host": "127.0.0.1", "port": 0},
            "admin": {"host": "127.0.0.1", "port": 0},
            "incumbent": {"url": incumbent_url},
            "candidates": [candidate],
            "mirror": {"sample_rate": 1.0},
            "recording": recording,
            # The guards judge outcomes and latency: no other comparator is needed.
            "comparators": {"outcome": {}, "latency": {}},
            "worker": {"block_ms": 200},
            "rollout": rollout,
        }
    )


@dataclass
class RolloutRun:
    """One run's live view and outcome: the proxy's applied state, what clients got, who
    served them, and the audit trail."""

    label: str
    campaign: str
    steps: int
    break_at: int | None
    started: float = field(default_factory=time.time)
    state: RolloutState | None = None
    statuses: Counter[str] = field(default_factory=Counter)
    served: Counter[str] = field(default_factory=Counter)
    fallbacks: Counter[str] = field(default_factory=Counter)
    scored: int = 0
    last: str = ""
    history: list[Transition] = field(default_factory=list)

    @property
    def phase(self) -> Phase:
        return Phase.DARK if self.state is None else self.state.phase

    @property
    def client_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))


@dataclass
class RolloutDemoResult:
    good: RolloutRun
    regressed: RolloutRun

    @property
    def exit_code(self) -> int:
        ok = (
            self.good.phase is Phase.COMPLETE
            and self.regressed.phase is Phase.ROLLED_BACK
            and self.good.client_5xx == self.regressed.client_5xx == 0
        )
        return 0 if ok else 1


async def run_rollout_demo(
    *,
    rate: float = 25.0,
    steps: Sequence[float] = DEMO_STEPS,
    step_s: float = 3.0,
    step_pairs: int = 60,
    data_dir: Path = Path(".darklaunch/demo"),
    console: Console | None = None,
) -> RolloutDemoResult:
    """Ramp a good candidate to complete, then one that breaks at step 2 until it is rolled
    back, and print what happened."""
    from comparators.tables import output_console

    console = console or output_console()
    redis_server = EmbeddedRedis(data_dir / "redis")
    redis_url = await asyncio.to_thread(redis_server.start)

    def configure(incumbent: str, candidate: str, campaign: str) -> Config:
        return rollout_demo_config(
            incumbent, candidate, redis_url, campaign, data_dir,
            steps=steps, step_s=step_s, step_pairs=step_pairs,
        )  # fmt: skip

    console.print(
        f"[bold]darklaunch demo --rollout[/]: steps {', '.join(f'{s:.0%}' for s in steps)}, "
        f"each held {step_s:g}s and {step_pairs} scored pairs at least; cohort by "
        f"{USER_HEADER} ({USERS} users); guards: error rate ≤ {MAX_ERROR_RATE:.0%}, p95 and "
        f"typical latency ratios; {rate:g} requests/s"
    )
    runs: list[RolloutRun] = []
    quiet = [logging.getLogger(name) for name in _QUIET]
    levels = [logger.level for logger in quiet]
    try:
        for logger in quiet:
            logger.setLevel(logging.ERROR)
        for label, break_at in (("good", None), ("regressed", 1)):
            runs.append(RolloutRun(label, f"demo-rollout-{label}", len(steps), break_at))
            await _run_one(runs[-1], configure, redis_url, rate, console)
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)
        await asyncio.to_thread(redis_server.stop)
    result = RolloutDemoResult(*runs)
    _print_summary(console, result)
    return result


async def _run_one(
    run: RolloutRun,
    configure: Callable[[str, str, str], Config],
    redis_url: str,
    rate: float,
    console: Console,
) -> None:
    """One rollout from dark to its end, with traffic, worker and controller running
    together, on a campaign of its own."""
    from comparators.rollout.controller import Controller
    from comparators.service import run_worker

    title = f"{run.label} candidate"
    if run.break_at is not None:
        title += f", answering 500 from step {run.break_at + 1} on"
    console.rule(f"[bold]{title}[/]")
    campaign = run.campaign
    async with (
        running_simulator(INCUMBENT_PROFILE) as incumbent,
        running_simulator(CANDIDATE_PROFILES["good"]) as candidate,
    ):
        config = configure(incumbent.url, candidate.url, campaign)
        assert config.rollout is not None
        client = aioredis.Redis.from_url(redis_url)
        await client.delete(
            keys.pairs_key(campaign), keys.scores_key(campaign), keys.rollout_key(campaign),
            keys.rollout_audit_key(campaign), keys.rollout_lock_key(campaign),
        )  # fmt: skip
        store = RolloutStore(client, campaign, config.rollout)
        controller = Controller(client, config, rollout_policy(config.rollout.min_step_pairs))
        stop_traffic, stop_worker = asyncio.Event(), asyncio.Event()
        try:
            async with running_proxy(config) as proxy:
                follower = proxy.state.rollout
                assert follower is not None
                registry = proxy.state.registry

                def refresh() -> None:
                    run.state = follower.state
                    run.served, run.fallbacks = _rollout_counts(registry)
                    live.update(_live_view(run), refresh=True)

                async with asyncio.TaskGroup() as tasks:
                    worker = run_worker(
                        config, stop=stop_worker, serve_metrics=False, handle_signals=False
                    )
                    tasks.create_task(worker)
                    tasks.create_task(_drive(proxy.url, rate, stop_traffic, run.statuses))
                    reason = f"demo: ramp the {run.label} candidate"
                    _, start = await store.act(Action.START, actor="demo", reason=reason)
                    run.started = start.time
                    # Refreshed from the event loop only, never from rich's thread: the
                    # counts it shows are changed by this loop's tasks.
                    with Live(console=console, auto_refresh=False) as live:
                        await _control(run, controller, candidate, console, refresh)
                        await _wait(LINGER_S, refresh)
                    if not console.is_terminal:
                        console.line()  # rich ends a terminal's live view with one, not a file's
                    stop_traffic.set()
                    stop_worker.set()
                run.served, run.fallbacks = _rollout_counts(registry)  # with the last answers
        finally:
            await controller.lock.release()
            run.history = await store.history()
            run.state = await store.read()
            await client.aclose()


async def _control(
    run: RolloutRun,
    controller: Controller,
    candidate: SimServer,
    console: Console,
    refresh: Callable[[], None],
) -> None:
    """Tick the controller until the rollout completes or is rolled back (or the run times
    out), printing each transition as it is made; break the candidate as it reaches
    ``run.break_at``."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        outcome = await controller.tick()
        run.scored = int(await controller.client.xlen(keys.scores_key(run.campaign)))
        run.last = f"{outcome.result}: {outcome.detail}"
        entry = outcome.transition
        if entry is not None:
            console.print(_transition_line(run, entry))
        state = outcome.state
        if state is not None and state.phase in (Phase.COMPLETE, Phase.ROLLED_BACK):
            return
        if entry is not None and entry.to_step == run.break_at:
            candidate.profile = candidate.profile.model_copy(
                update={"mode": "error", "error_status": 500}
            )
            console.print(f"  [red]the candidate now answers 500[/] at step {entry.to_step + 1}")
        await _wait(controller.rollout.controller_interval_s, refresh)
    console.print(f"[red]the rollout did not finish within {RUN_TIMEOUT_S:g}s[/]")


async def _wait(seconds: float, refresh: Callable[[], None]) -> None:
    """Sleep ``seconds``, refreshing the live view four times a second."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        refresh()
        await asyncio.sleep(min(0.25, left))
    refresh()


async def _drive(url: str, rate: float, stop: asyncio.Event, statuses: Counter[str]) -> None:
    """Open-loop traffic until ``stop``: one request every 1/rate seconds from one of
    :data:`USERS` users, at most 64 in flight; what each client got is counted by status
    (a stream cut short and no answer at all are counted apart)."""
    plan = traffic()
    slots = asyncio.Semaphore(64)
    async with (
        openai.AsyncOpenAI(
            base_url=url + "/v1", api_key="sk-demo", max_retries=0, timeout=30
        ) as client,
        asyncio.TaskGroup() as requests,
    ):

        async def one(user: str, arguments: dict[str, Any], stream: bool) -> None:
            headers = {USER_HEADER: user}
            try:
                answer = await client.chat.completions.create(
                    model=MODEL, stream=stream, extra_headers=headers, **arguments
                )
                if isinstance(answer, openai.AsyncStream):
                    async for _ in answer:
                        pass
                statuses["200"] += 1
            except openai.APIStatusError as exc:
                statuses[str(exc.status_code)] += 1
            except openai.APIError as exc:
                statuses[f"no answer ({type(exc).__name__})"] += 1
            finally:
                slots.release()

        started = time.monotonic()
        for index in itertools.count():
            due = started + index / rate
            if stop.is_set():
                break
            now = time.monotonic()
            if due > now and await wait_set(stop, due - now):
                break
            await slots.acquire()
            request = next(plan)
            user = f"user-{index % USERS}"
            requests.create_task(one(user, request.arguments(), request.stream))


def _rollout_counts(registry: CollectorRegistry) -> tuple[Counter[str], Counter[str]]:
    """Requests by who served them, and fallbacks by reason, as the proxy counted them."""
    served, fallbacks = Counter[str](), Counter[str]()
    for metric in registry.collect():
        for sample in metric.samples:
            if not sample.name.endswith("_total") or not sample.value:
                continue
            if metric.name == "darklaunch_rollout_requests":
                served[sample.labels["served_by"]] += int(sample.value)
            elif metric.name == "darklaunch_rollout_fallbacks":
                fallbacks[sample.labels["reason"]] += int(sample.value)
    return served, fallbacks


def _live_view(run: RolloutRun) -> Group:
    state = run.state
    step = "-" if state is None or state.step < 0 else f"{state.step + 1}/{run.steps}"
    share = 0.0 if state is None or not state.serving else state.share
    table = Table(title=f"rollout of the {run.label} candidate (as the proxy applies it)")
    for name in ("phase", "step", "share", "candidate", "fallback", "incumbent", "pairs scored"):
        table.add_column(name, justify="left" if name == "phase" else "right")
    table.add_row(
        run.phase.value, step, f"{share:.0%}",
        *(str(run.served[who]) for who in ("candidate", "fallback", "incumbent")),
        str(run.scored),
    )  # fmt: skip
    return Group(table, f"clients: {_counts(run.statuses)}", f"controller: {escape(run.last)}")


def _transition_line(run: RolloutRun, entry: Transition) -> str:
    offset = entry.time - run.started
    where = "" if entry.to_step < 0 else f" step {entry.to_step + 1}/{run.steps}"
    colour = "red" if entry.action is Action.ROLLBACK else "green"
    return (
        f"  +{offset:5.1f}s [{colour}]{entry.action}[/] → {entry.to_phase}{where} "
        f"(share {entry.share:.0%}), {entry.cause}: {escape(entry.reason)}"
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key}: {n}" for key, n in sorted(counter.items())) or "none"


def _fired(entry: Transition) -> str:
    """The guards that FAILed in a transition's evidence, with value and limit."""
    failed = [c for c in entry.evidence.get("checks", []) if c.get("status") == "FAIL"]
    return "; ".join(f"{c['name']} {c['value']} > {c['limit']}" for c in failed)


def _print_summary(console: Console, result: RolloutDemoResult) -> None:
    console.rule("[bold]summary[/]")
    for run in (result.good, result.regressed):
        expected = Phase.COMPLETE if run.break_at is None else Phase.ROLLED_BACK
        mark = "[green]as expected[/]" if run.phase is expected else f"[red]expected {expected}[/]"
        console.print(f"[bold]{run.label} candidate[/]: final phase {run.phase} ({mark})")
        table = Table("at", "action", "to", "cause", "actor", "reason")
        fired_lines = []
        for entry in run.history:
            where = "" if entry.to_step < 0 else f" step {entry.to_step + 1}/{run.steps}"
            at = f"+{entry.time - run.started:.1f}s"
            if fired := _fired(entry):  # below the table: a long reason wraps in its cell
                fired_lines.append(f"  [bold red]guard fired[/] at {at}: {escape(fired)}")
            table.add_row(
                at, entry.action.value, f"{entry.to_phase}{where}", entry.cause, entry.actor,
                escape(entry.reason),
            )  # fmt: skip
        console.print(table)
        console.print(*fired_lines, sep="\n")
        console.print(f"  client statuses: {_counts(run.statuses)} ({run.client_5xx} 5xx)")
        console.print(f"  served by: {_counts(run.served)}")
        console.print(f"  fallbacks by reason: {_counts(run.fallbacks)}")
    code = result.exit_code
    verdict = "[green]OK[/]" if code == 0 else "[red]NOT AS EXPECTED[/]"
    console.print(
        f"rollout demo: {verdict} (exit {code}): good candidate {result.good.phase}, "
        f"regressed candidate {result.regressed.phase}, "
        f"{result.good.client_5xx + result.regressed.client_5xx} client 5xx"
    )
