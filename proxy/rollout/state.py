"""The rollout's state and the only ways it may change: the contract the proxies that serve
the cohort, the controller that judges it and the CLI that steers it all share.

States::

    dark ──start──> step 0 ──advance──> step 1 ... ──advance──> complete
                     │  ▲                                          │
                pause│  │resume                                    │
                     ▼  │                                          │
                    paused ──────rollback (any guard FAIL)─────────┴──> rolled_back
                                                                        (start: step 0)

``dark`` and ``rolled_back`` serve nobody from the candidate; ``ramping`` and ``paused``
serve the current step's share (a pause only stops the controller advancing: a guard that
FAILs still rolls back); ``complete`` serves everyone in the cohort key space. Every change
bumps ``version``; a writer sets a state only over the version it read (compare and set), so
two controllers or a person and a controller cannot both move the same step.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from proxy.config.rollout import RolloutConfig

__all__ = [
    "Action",
    "Phase",
    "RolloutState",
    "Transition",
    "TransitionError",
    "apply",
    "dark",
]


class Phase(StrEnum):
    DARK = "dark"
    RAMPING = "ramping"
    PAUSED = "paused"
    COMPLETE = "complete"
    ROLLED_BACK = "rolled_back"


class Action(StrEnum):
    START = "start"
    ADVANCE = "advance"
    PAUSE = "pause"
    RESUME = "resume"
    ROLLBACK = "rollback"


_ALLOWED: dict[Action, frozenset[Phase]] = {
    Action.START: frozenset({Phase.DARK, Phase.ROLLED_BACK}),
    Action.ADVANCE: frozenset({Phase.RAMPING}),
    Action.PAUSE: frozenset({Phase.RAMPING}),
    Action.RESUME: frozenset({Phase.PAUSED}),
    Action.ROLLBACK: frozenset({Phase.RAMPING, Phase.PAUSED, Phase.COMPLETE}),
}


class TransitionError(ValueError):
    """An action the current state does not allow; the message names both."""


class RolloutState(BaseModel):
    """One campaign's rollout, as stored in ``darklaunch:{C}:rollout``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    campaign: str
    candidate: str
    phase: Phase = Phase.DARK
    # The current step's index into ``rollout.steps``; -1 when no step is served.
    step: int = -1
    # The share of the cohort key space the candidate serves now.
    share: float = 0.0
    version: int = 0
    # When the current step (or phase) began, epoch seconds: the controller's window starts here.
    since: float = 0.0
    # Why the last change happened, and who made it (``controller``, ``cli:<user>``,
    # ``admin:<proxy>``).
    reason: str = ""
    actor: str = ""
    # ``manual`` (a person) or ``guard`` (the controller), as in the audit entry.
    cause: str = "manual"

    @property
    def serving(self) -> bool:
        """Whether any request may be served by the candidate."""
        return self.share > 0.0 and self.phase in (Phase.RAMPING, Phase.PAUSED, Phase.COMPLETE)


class Transition(BaseModel):
    """One change, as kept in the audit stream ``darklaunch:{C}:rollout:audit``: from what
    to what, why, who, and the evidence (the guards' checks) it was made on."""

    model_config = ConfigDict(extra="ignore")

    campaign: str
    # The candidate ramped (``rollout.candidate`` when the change was made).
    candidate: str = ""
    action: Action
    from_phase: Phase
    from_step: int
    to_phase: Phase
    to_step: int
    share: float
    version: int
    time: float
    actor: str
    reason: str
    # ``manual`` (a person: CLI or admin API) or ``guard`` (the controller's verdict).
    cause: str = "manual"
    evidence: dict[str, Any] = Field(default_factory=dict)


def dark(campaign: str, candidate: str) -> RolloutState:
    """The state of a rollout nobody has started: version 0, nothing stored yet."""
    return RolloutState(campaign=campaign, candidate=candidate)


def apply(
    state: RolloutState,
    action: Action,
    config: RolloutConfig,
    *,
    actor: str,
    reason: str,
    cause: str = "manual",
    evidence: dict[str, Any] | None = None,
    now: float | None = None,
) -> tuple[RolloutState, Transition]:
    """The state after ``action``, and its audit entry; raises :class:`TransitionError` when
    the state does not allow it. Pure: storing it is :mod:`proxy.rollout.store`'s job."""
    if state.phase not in _ALLOWED[action]:
        allowed = ", ".join(sorted(_ALLOWED[action]))
        raise TransitionError(
            f"cannot {action} a rollout that is {state.phase}"
            f"{f' (step {state.step + 1})' if state.step >= 0 else ''}; "
            f"{action} needs one that is {allowed}"
        )
    now = time.time() if now is None else now
    phase, step, since = state.phase, state.step, now
    if action is Action.START:
        phase, step = Phase.RAMPING, 0
    elif action is Action.ADVANCE:
        step = state.step + 1
        if step >= len(config.steps):
            phase, step = Phase.COMPLETE, len(config.steps) - 1
    elif action is Action.PAUSE:
        phase, since = Phase.PAUSED, state.since
    elif action is Action.RESUME:
        phase, since = Phase.RAMPING, state.since
    else:
        phase, step = Phase.ROLLED_BACK, -1
    share = 0.0 if step < 0 else config.steps[step].share
    if phase is Phase.COMPLETE:
        share = 1.0
    new = state.model_copy(
        update={
            "candidate": config.candidate,
            "phase": phase,
            "step": step,
            "share": share,
            "version": state.version + 1,
            "since": since,
            "reason": reason,
            "actor": actor,
            "cause": cause,
        }
    )
    entry = Transition(
        campaign=state.campaign,
        candidate=config.candidate,
        action=action,
        from_phase=state.phase,
        from_step=state.step,
        to_phase=phase,
        to_step=step,
        share=share,
        version=new.version,
        time=now,
        actor=actor,
        reason=reason,
        cause=cause,
        evidence=evidence or {},
    )
    return new, entry
