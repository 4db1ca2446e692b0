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

from proxy.config.base import Section

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
    model: str | None = None
    latency_ms: float | None = Field(default=None, gt=0)
    ttft_ms: float | None = Field(default=None, gt=0)
    cost_usd: float | None = Field(default=None, gt=0)


class BudgetsConfig(Section):
    """Per-query budgets a candidate's answer is held to; unset means "no budget".

    ``budgets: {latency_ms: 2000, ttft_ms: 500, cost_usd: 0.01, overrides: [...]}``
    """

    latency_ms: float | None = Field(default=None, gt=0)
    ttft_ms: float | None = Field(default=None, gt=0)
    cost_usd: float | None = Field(default=None, gt=0)
    overrides: list[BudgetRule] = Field(default_factory=list)


class PricesConfig(Section):
    """Price table in the layout of LiteLLM's ``model_prices_and_context_window.json``.

    ``prices: {file: config/prices.json, models: {my-model: {input_cost_per_token: 1e-7}}}``
    """

    file: Path | None = None
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("file")
    @classmethod
    def _check_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError("an existing JSON price table file")
        return value


class WorkerMetricsConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=9091, ge=0, le=65535)


class WorkerConfig(Section):
    """The comparator worker: one consumer of the ``comparators`` group.

    ``worker: {consumer: worker-1, batch_size: 64, claim_idle_s: 60}``
    """

    consumer: str | None = None
    batch_size: int = Field(default=64, ge=1)
    block_ms: int = Field(default=1000, ge=1)
    claim_idle_s: float = Field(default=60.0, gt=0)
    metrics: WorkerMetricsConfig = Field(default_factory=WorkerMetricsConfig)
