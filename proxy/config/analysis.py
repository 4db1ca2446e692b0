"""The analysis plane's config contract: budgets, prices, the comparator worker and the
comparators' options. This is the one home of those sections; ``comparators`` imports them
from here and nowhere else.

They live under ``proxy/config`` rather than in ``comparators`` for two reasons: the root
:class:`~proxy.config.root.Config` must validate the whole file, so a typo in an analysis key
fails ``darklaunch check-config`` and ``serve`` as loudly as one in a data-plane key; and the
data plane must never import ``comparators`` (tests/test_layering.py), so the models cannot
live on that side. Nothing in the data plane reads these sections: they only ride along.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from proxy.config.base import ConfigPath, Section

__all__ = [
    "BudgetRule",
    "BudgetsConfig",
    "ComparatorOptions",
    "PricesConfig",
    "WorkerConfig",
    "WorkerMetricsConfig",
]

ComparatorOptions = dict[str, dict[str, Any]]
"""Comparator name -> its options, as the ``comparators`` key holds them."""


class BudgetRule(Section):
    """Budgets for the requests of one route and/or model; the most specific rule wins.

    ``- {route: /v1/embeddings, latency_ms: 300}`` or ``- {model: gpt-4o, cost_usd: 0.02}``
    """

    route: str | None = None
    """Request path the rule applies to (exact match, e.g. `/v1/embeddings`); unset: any."""
    model: str | None = None
    """Model the client asked for that the rule applies to (exact match); unset: any."""
    latency_ms: float | None = Field(default=None, gt=0)
    """Milliseconds a candidate's whole answer may take; unset inherits a less specific one."""
    ttft_ms: float | None = Field(default=None, gt=0)
    """Milliseconds to a candidate's first byte (first token); unset inherits."""
    cost_usd: float | None = Field(default=None, gt=0)
    """US dollars a candidate's answer may cost; unset inherits."""


class BudgetsConfig(Section):
    """Per-query budgets a candidate's answer is held to; unset means "no budget".

    ``budgets: {latency_ms: 2000, ttft_ms: 500, cost_usd: 0.01, overrides: [...]}``
    """

    latency_ms: float | None = Field(default=None, gt=0)
    """Milliseconds a candidate's whole answer may take; above it counts a latency_ms breach."""
    ttft_ms: float | None = Field(default=None, gt=0)
    """Milliseconds to a candidate's first byte (first token); above it, a ttft_ms breach."""
    cost_usd: float | None = Field(default=None, gt=0)
    """US dollars a candidate's answer may cost, at `prices`; above it, a cost_usd breach."""
    overrides: list[BudgetRule] = Field(default_factory=list)
    """Budgets per route and/or model; each budget comes from the most specific rule that
    sets it, else from the defaults above."""


class PricesConfig(Section):
    """Price table in the layout of LiteLLM's ``model_prices_and_context_window.json``.

    ``prices: {file: prices.json, models: {my-model: {input_cost_per_token: 1e-7}}}``
    """

    file: ConfigPath | None = None
    """JSON price table file; unset uses the table shipped with darklaunch."""
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Entries added on top of the file, model -> `{input_cost_per_token: ..., ...}` in USD."""

    @field_validator("file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"an existing JSON price table file; {value} is not a file")
        return value


class WorkerMetricsConfig(Section):
    """Where a comparator worker serves its own `/metrics` and `/healthz` (not with `--once`).

    ``metrics: {host: 0.0.0.0, port: 9091}``
    """

    host: str = "127.0.0.1"
    """Address the worker's metrics listener binds; `0.0.0.0` for every interface."""
    port: int = Field(default=9091, ge=0, le=65535)
    """TCP port of the worker's `/metrics` and `/healthz`; 0 picks a free one."""


class WorkerConfig(Section):
    """The comparator worker: one consumer of the ``comparators`` group.

    ``worker: {consumer: worker-1, batch_size: 64, claim_idle_s: 60}``
    """

    consumer: str | None = None
    """Consumer name in the group (`--consumer` wins); unset is `<hostname>-<pid>`."""
    batch_size: int = Field(default=64, ge=1)
    """Pairs read, or reclaimed, per round; their scores are written in one step."""
    block_ms: int = Field(default=1000, ge=1)
    """Milliseconds one read waits for new pairs before the worker looks for stale ones."""
    claim_idle_s: float = Field(default=60.0, gt=0)
    """Seconds a pair may sit unacknowledged with another consumer before this one takes it."""
    metrics: WorkerMetricsConfig = Field(default_factory=WorkerMetricsConfig)
    """The worker's own metrics listener."""
