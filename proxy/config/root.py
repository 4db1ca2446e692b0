"""The root of a darklaunch config file: every section of both planes, validated together."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from proxy.config.analysis import BudgetsConfig, ComparatorOptions, PricesConfig, WorkerConfig
from proxy.config.base import Section
from proxy.config.fallback import FallbackConfig
from proxy.config.feedback import FeedbackConfig
from proxy.config.judge import JudgeConfig
from proxy.config.listeners import AdminConfig, ListenConfig
from proxy.config.mirror import MirrorConfig
from proxy.config.recording import RecordingConfig
from proxy.config.rollout import RolloutConfig
from proxy.config.upstreams import CandidateConfig, IncumbentConfig

__all__ = ["Config"]


class Config(Section):
    """The root of a darklaunch config file."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    """The public listener clients point their base URL at."""
    admin: AdminConfig = Field(default_factory=AdminConfig)
    """Metrics, health and the admin API, on a port of their own."""
    incumbent: IncumbentConfig
    """The model that serves clients; its answer is relayed byte for byte."""
    fallback: FallbackConfig | None = None
    """What serves clients when the incumbent cannot; unset: they get darklaunch's error."""
    candidates: list[CandidateConfig] = Field(default_factory=list)
    """The models under evaluation; without any, nothing is mirrored."""
    mirror: MirrorConfig = Field(default_factory=MirrorConfig)
    """Which requests are mirrored, and how many go to the incumbent twice."""
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    """Where paired records go and what they keep."""
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    """End users' ratings of their answers, sent to the public listener and recorded."""
    rollout: RolloutConfig | None = None
    """A staged rollout of one candidate, from dark to 100%, with automatic rollback; unset:
    the candidates only shadow (see docs/rollout.md)."""
    comparators: ComparatorOptions | None = None
    """Comparator name -> its options; only those named run. Unset runs every built-in with
    its defaults (see docs/comparators.md)."""
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    """Per-query latency, first-token and cost budgets the candidates are held to."""
    prices: PricesConfig = Field(default_factory=PricesConfig)
    """Per-token prices that cost the answers."""
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    """The comparator worker (`darklaunch compare`)."""
    judge: JudgeConfig | None = None
    """An LLM judge that says which answer is better, run by `darklaunch compare` beside the
    comparators; unset: no judge (the gate's `quality: judge` is then INCONCLUSIVE)."""

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, value: list[CandidateConfig]) -> list[CandidateConfig]:
        seen: set[str] = set()
        for candidate in value:
            if candidate.name in seen:
                raise ValueError(f"unique candidate names, {candidate.name!r} repeats")
            seen.add(candidate.name)
        return value

    @field_validator("rollout")
    @classmethod
    def _rollout_candidate_exists(
        cls, value: RolloutConfig | None, info: ValidationInfo
    ) -> RolloutConfig | None:
        if value is None:
            return None
        names = [c.name for c in info.data.get("candidates", [])]
        if value.candidate not in names:
            raise ValueError(
                f"candidate: got {value.candidate!r}; expected one of candidates[].name: "
                f"{', '.join(names) or 'none configured'}"
            )
        return value

    @field_validator("feedback")
    @classmethod
    def _feedback_path_is_free(cls, value: FeedbackConfig, info: ValidationInfo) -> FeedbackConfig:
        """The feedback path is answered by darklaunch, never forwarded: on a mirrored route
        it would swallow that route's traffic."""
        mirror = info.data.get("mirror")
        if value.enabled and isinstance(mirror, MirrorConfig) and value.path in mirror.routes:
            raise ValueError(
                f"a feedback.path of its own, not {value.path!r}, a mirrored route (mirror.routes)"
            )
        return value
