"""A staged rollout: which candidate is ramped, to whom, in what steps, and what rolls it back.

The guards are defined here, before the ramp starts (the seed: "define the rollback trigger
before you ramp, not after you see the dashboards move"); the controller judges every step on
them and nothing else. ``docs/rollout.md`` explains the states, cohorts and failure behaviour.
"""

from __future__ import annotations

import itertools
from typing import Any, Self

from pydantic import Field, field_validator, model_validator

from proxy.config.base import ConfigPath, Section

__all__ = ["DEFAULT_STEPS", "RolloutConfig", "RolloutGuards", "RolloutStep"]

DEFAULT_STEPS = (0.01, 0.05, 0.25, 0.5, 1.0)


class RolloutStep(Section):
    """One step of the ramp: the share of the cohort key space the candidate serves, held for
    at least ``min_duration_s`` and ``min_pairs`` paired records before it may advance.

    ``{share: 0.05, min_duration_s: 1800, min_pairs: 500}`` (a bare number is ``share`` with
    the rollout's defaults)
    """

    share: float = Field(gt=0.0, le=1.0)
    """Share of cohort keys served by the candidate, in (0, 1]."""
    min_duration_s: float | None = Field(default=None, ge=0.0)
    """Seconds the step is held at least; unset: the rollout's `min_step_duration_s`."""
    min_pairs: int | None = Field(default=None, ge=1)
    """Paired records of this step before it may advance; unset: the rollout's
    `min_step_pairs`."""


class RolloutGuards(Section):
    """What the controller judges each step on: the gate policy on the step's window of pairs,
    with the live thresholds below laid over it (each an absolute limit the gate checks with
    its one-sided bounds). A FAIL of any check rolls back at once; a step advances only when
    every check PASSes.

    ``guards: {policy: gate-policy.yaml, max_error_rate: 0.02, max_p95_latency_ms: 3000}``
    """

    policy: ConfigPath | None = None
    """A gate policy file (`darklaunch gate --policy`); unset: the shipped defaults. Its
    `min_pairs` is replaced by the step's."""
    max_error_rate: float | None = Field(default=0.05, ge=0.0, le=1.0)
    """The candidate's error rate, absolute (connect errors, timeouts, 5xx)."""
    max_p95_latency_ms: float | None = Field(default=None, gt=0.0)
    """The candidate's p95 total latency, in ms."""
    max_mean_cost_usd: float | None = Field(default=None, gt=0.0)
    """The candidate's mean cost per query, in USD."""
    max_quality_regression: float | None = Field(default=None, ge=0.0, le=1.0)
    """Judge quality (the policy's `quality: judge`): candidate-worse share minus
    candidate-better share of judged pairs."""

    def overrides(self) -> dict[str, Any]:
        """The thresholds set here, as gate-policy fields."""
        fields = ("max_error_rate", "max_p95_latency_ms", "max_mean_cost_usd")
        found = {name: getattr(self, name) for name in fields if getattr(self, name) is not None}
        if self.max_quality_regression is not None:
            found["max_quality_regression"] = self.max_quality_regression
        return found


class RolloutConfig(Section):
    """Ramp one candidate from dark to 100% of traffic, behind a cohort, with guards.

    ``rollout: {candidate: cand-a, cohort_key: "header:x-user-id", steps: [0.01, 0.05, 0.25, 1]}``
    """

    candidate: str
    """The candidate to ramp: a `candidates[].name` that speaks the client's API."""
    cohort_key: str = "random"
    """`random`, `header:<name>` or `json:<field>`: a stable hash of the key puts a user in
    the cohort or not, and a user in it at 5% stays in it at 25%."""
    flag_header: str | None = "x-darklaunch-cohort"
    """A request header that forces the choice for internal users: `candidate` or
    `incumbent`. Strip it at your edge for outside clients, or set `null`."""
    routes: list[str] | None = None
    """Paths whose requests the candidate may serve; unset: `mirror.routes`."""
    steps: list[RolloutStep] = Field(
        default_factory=lambda: [RolloutStep(share=share) for share in DEFAULT_STEPS]
    )
    """The ramp, shares strictly increasing; advancing past the last step completes the
    rollout (every request is then the candidate's)."""
    min_step_duration_s: float = Field(default=600.0, ge=0.0)
    """Seconds each step is held at least, unless the step says otherwise."""
    min_step_pairs: int = Field(default=300, ge=1)
    """Paired records each step needs before it may advance, unless the step says otherwise.
    The gate's p99 latency ratio can PASS only from 299 pairs a side (fewer cannot bound a
    p99), so a step with fewer holds until it has them."""
    guards: RolloutGuards = Field(default_factory=RolloutGuards)
    """What rolls back and what advances: defined before the ramp, never during it."""
    fallback_on_status: list[int] = Field(default_factory=lambda: [408, 429, 500, 502, 503, 504])
    """Candidate statuses that send a cohort request to the incumbent instead (before the
    client has a byte), like a connect error or a first-byte timeout."""
    reverse_shadow_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    """Share of the candidate's served requests also sent to the incumbent in the background,
    so paired records keep flowing during the ramp and the guards keep judging."""
    sync_interval_s: float = Field(default=1.0, gt=0.0, le=2.0)
    """How often each proxy rereads the rollout's state besides pub/sub: a change applies
    within this even when a message is lost."""
    controller_interval_s: float = Field(default=5.0, gt=0.0)
    """How often the controller judges the current step."""
    lock_ttl_s: float = Field(default=15.0, gt=0.0)
    """The controller lock's expiry: a controller that dies is replaced after this."""

    @field_validator("steps", mode="before")
    @classmethod
    def _bare_shares(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [
                {"share": step} if isinstance(step, int | float) and not isinstance(step, bool)
                else step
                for step in value
            ]  # fmt: skip
        return value

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[RolloutStep]) -> list[RolloutStep]:
        if not value:
            raise ValueError("at least one step")
        shares = [step.share for step in value]
        if any(later <= earlier for earlier, later in itertools.pairwise(shares)):
            raise ValueError(f"strictly increasing shares, got {shares}")
        return value

    @field_validator("cohort_key")
    @classmethod
    def _check_cohort_key(cls, value: str) -> str:
        kind, _, arg = value.partition(":")
        if value == "random" or (kind in ("header", "json") and arg):
            return value
        raise ValueError("'random', 'header:<name>' or 'json:<field>'")

    @field_validator("flag_header")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None

    @model_validator(mode="after")
    def _routes_are_paths(self) -> Self:
        for route in self.routes or ():
            if not route.startswith("/"):
                raise ValueError(f"routes: paths starting with '/', got {route!r}")
        return self

    def step_duration_s(self, index: int) -> float:
        step = self.steps[index]
        return step.min_duration_s if step.min_duration_s is not None else self.min_step_duration_s

    def step_pairs(self, index: int) -> int:
        step = self.steps[index]
        return step.min_pairs if step.min_pairs is not None else self.min_step_pairs
