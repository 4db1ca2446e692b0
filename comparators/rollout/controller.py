"""The rollout controller: every few seconds, judge the current step and act on the verdict.

One controller acts on a campaign at a time (:class:`~proxy.rollout.store.ControllerLock`,
renewed every tick); others wait, each tick trying to take the lock, and take over within
``rollout.lock_ttl_s`` of the holder's death. Even a controller that lost its lock without
knowing (paused for longer than the TTL) cannot move a step someone else moved: every change
is a compare and set over the state it judged, and a stale one is dropped, never retried on
the new state, which must be judged again first.

The controller is the rollback of last resort, so a Redis that goes away for a while (a
failover, a restart still loading its data, a timeout) never ends :meth:`Controller.run`: it
logs one line and tries again next tick. An error that waiting cannot fix (a rejected
password, a key of the wrong type) ends it, as it ends the comparator worker. A bug met on one
tick's data is logged with its traceback, and the next tick, with a moved window, tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from enum import StrEnum

from redis.exceptions import TimeoutError as RedisTimeoutError

from comparators.campaign import CampaignReadError
from comparators.consumer import transient
from comparators.gate.policy import GatePolicy
from comparators.rollout.guards import (
    JUDGED_PHASES,
    StepDecision,
    StepVerdict,
    judge_step,
    step_policy,
)
from comparators.rollout.window import needs_judge_history, read_window
from proxy.config.rollout import RolloutConfig
from proxy.config.root import Config
from proxy.recording.setup import REDIS_ERRORS, RedisClient
from proxy.rollout.state import Action, RolloutState, Transition
from proxy.rollout.store import ControllerLock, RolloutStore, StaleState
from proxy.stopping import wait_set

__all__ = ["Controller", "RolloutNotConfigured", "TickOutcome", "TickResult", "is_transient"]

logger = logging.getLogger(__name__)


class RolloutNotConfigured(ValueError):
    """The config has no ``rollout:`` section, so there is nothing to control."""

    def __init__(self) -> None:
        super().__init__(
            "rollout: not set in the config; expected a rollout: section "
            "(candidate, steps, guards) for the controller to judge"
        )


class TickResult(StrEnum):
    NOT_LEADER = "not_leader"  # another controller holds the lock: nothing done
    IDLE = "idle"  # not ramping nor paused: no step to judge
    HELD = "held"  # judged; the step stays
    ADVANCED = "advanced"
    ROLLED_BACK = "rolled_back"
    RACED = "raced"  # the state changed between read and write: nothing written


@dataclass(frozen=True, slots=True)
class TickOutcome:
    """What one tick did: the state it leaves (as read, or as written), the verdict it acted
    on and the transition it wrote, with one line for a log."""

    result: TickResult
    detail: str
    state: RolloutState | None = None
    verdict: StepVerdict | None = None
    transition: Transition | None = None


def is_transient(exc: BaseException) -> bool:
    """Whether waiting can fix ``exc``: a transient Redis error (the worker's reading of one,
    :func:`comparators.consumer.transient`), directly or wrapped by a reader."""
    if isinstance(exc, CampaignReadError) and exc.__cause__ is not None:
        exc = exc.__cause__
    return transient(exc) or isinstance(exc, RedisTimeoutError | TimeoutError)


class Controller:
    """Judges ``config.rollout``'s current step in ``campaign`` (``recording.campaign`` by
    default) on ``policy`` with the rollout's guards, through a client the caller owns."""

    def __init__(
        self,
        client: RedisClient,
        config: Config,
        policy: GatePolicy,
        *,
        actor: str = "controller",
        campaign: str | None = None,
    ) -> None:
        if config.rollout is None:
            raise RolloutNotConfigured()
        self.client = client
        self.rollout: RolloutConfig = config.rollout
        self.campaign = campaign or config.recording.campaign
        self.policy = policy
        self.actor = actor
        # Fails now, naming the guard, if the guards cannot be laid over this policy.
        step_policy(policy, self.rollout, 0)
        self.store = RolloutStore(client, self.campaign, self.rollout)
        self.lock = ControllerLock(client, self.campaign, self.rollout.lock_ttl_s)

    async def judge(self, state: RolloutState, now: float | None = None) -> StepVerdict:
        """The guards' verdict on ``state``'s step now: what a tick would do with it. The
        gate runs in a thread: its bootstrap takes a while on a big window, and the event loop
        must not stop for it."""
        now = time.time() if now is None else now
        if state.phase not in JUDGED_PHASES:
            return judge_step((), state, self.rollout, self.policy, now=now)
        window = await read_window(
            self.client,
            self.campaign,
            state.since,
            judge_history=needs_judge_history(self.policy),
        )
        return await asyncio.to_thread(
            judge_step,
            window.scores,
            state,
            self.rollout,
            self.policy,
            judgements=window.judgements,
            labels=window.labels,
            now=now,
        )

    async def tick(self, now: float | None = None) -> TickOutcome:
        """Take (or renew) the lock, judge the step, and advance or roll back on the
        verdict. Redis errors propagate: :meth:`run` decides which ones it outlives."""
        if not await self.lock.acquire():
            return TickOutcome(
                TickResult.NOT_LEADER, f"another controller holds {self.lock.key}: waiting"
            )
        state = await self.store.read()
        if state.phase not in JUDGED_PHASES:
            return TickOutcome(TickResult.IDLE, f"{state.phase}: no step to judge", state)
        verdict = await self.judge(state, now)
        if verdict.decision is StepDecision.HOLD:
            return TickOutcome(TickResult.HELD, verdict.reason, state, verdict)
        action = Action.ADVANCE if verdict.decision is StepDecision.ADVANCE else Action.ROLLBACK
        try:
            new, entry = await self.store.act(
                action,
                actor=self.actor,
                reason=verdict.reason,
                cause="guard",
                evidence=verdict.evidence(),
                expected=state,
            )
        except StaleState as exc:
            logger.info("rollout of %s: %s not written: %s", self.rollout.candidate, action, exc)
            return TickOutcome(TickResult.RACED, str(exc), state, verdict)
        logger.warning(
            "rollout of %s (campaign %s): %s from %s step %d to %s step %d (share %g): %s",
            self.rollout.candidate, self.campaign, action, entry.from_phase,
            entry.from_step + 1, entry.to_phase, entry.to_step + 1, entry.share, entry.reason,
        )  # fmt: skip
        result = TickResult.ADVANCED if action is Action.ADVANCE else TickResult.ROLLED_BACK
        return TickOutcome(result, verdict.reason, new, verdict, entry)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``rollout.controller_interval_s`` until ``stop`` is set, then release
        the lock, so a successor need not wait for it to expire."""
        interval = self.rollout.controller_interval_s
        if interval >= self.rollout.lock_ttl_s:
            logger.warning(
                "rollout.controller_interval_s %g is not below rollout.lock_ttl_s %g: the lock "
                "expires between ticks and controllers may take turns",
                interval, self.rollout.lock_ttl_s,
            )  # fmt: skip
        last: TickResult | None = None
        try:
            while not stop.is_set():
                try:
                    outcome = await self.tick()
                except Exception as exc:
                    if is_transient(exc):
                        logger.warning(
                            "rollout controller: Redis unavailable (%s: %s); trying again in %gs",
                            type(exc).__name__, exc, interval,
                        )  # fmt: skip
                    elif isinstance(exc, (*REDIS_ERRORS, CampaignReadError)):
                        raise
                    else:
                        logger.exception("rollout controller: tick failed; trying again")
                else:
                    log = logger.info if outcome.result is not last else logger.debug
                    log("rollout controller: %s: %s", outcome.result, outcome.detail)
                    last = outcome.result
                await wait_set(stop, interval)
        finally:
            with contextlib.suppress(*REDIS_ERRORS, OSError):
                await self.lock.release()
