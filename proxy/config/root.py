"""The root of a darklaunch config file: every section of both planes, validated together."""

from __future__ import annotations

from pydantic import Field, field_validator

from proxy.config.analysis import BudgetsConfig, ComparatorOptions, PricesConfig, WorkerConfig
from proxy.config.base import Section
from proxy.config.fallback import FallbackConfig
from proxy.config.listeners import AdminConfig, ListenConfig
from proxy.config.mirror import MirrorConfig
from proxy.config.recording import RecordingConfig
from proxy.config.upstreams import CandidateConfig, IncumbentConfig

__all__ = ["Config"]


class Config(Section):
    """The root of a darklaunch config file."""

    listen: ListenConfig = Field(default_factory=ListenConfig)
    admin: AdminConfig = Field(default_factory=AdminConfig)
    incumbent: IncumbentConfig
    fallback: FallbackConfig | None = None
    candidates: list[CandidateConfig] = Field(default_factory=list)
    mirror: MirrorConfig = Field(default_factory=MirrorConfig)
    recording: RecordingConfig = Field(default_factory=RecordingConfig)
    # Comparator name -> its options; ``None`` runs every built-in with its defaults.
    comparators: ComparatorOptions | None = None
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    prices: PricesConfig = Field(default_factory=PricesConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)

    @field_validator("candidates")
    @classmethod
    def _unique_names(cls, value: list[CandidateConfig]) -> list[CandidateConfig]:
        seen: set[str] = set()
        for candidate in value:
            if candidate.name in seen:
                raise ValueError(f"unique candidate names, {candidate.name!r} repeats")
            seen.add(candidate.name)
        return value
