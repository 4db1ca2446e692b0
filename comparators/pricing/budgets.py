"""Per-query budgets: which latency, time-to-first-token and cost limits a mirror is held to.

Rules under ``budgets.overrides`` match a request by route and/or requested model. Each budget
is resolved on its own, from the most specific rule that sets it: route+model, then model, then
route, then a rule with neither, then the top-level default. So a route rule that only sets
``latency_ms`` still inherits ``cost_usd`` from the default. Among equally specific rules the
first one in the file wins, as a reader of the file would expect.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from proxy.config.analysis import BudgetRule, BudgetsConfig

__all__ = ["Budgets", "ResolvedBudget"]

logger = logging.getLogger(__name__)

_FIELDS = ("latency_ms", "ttft_ms", "cost_usd")
_CACHE_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class ResolvedBudget:
    """The limits for one (route, model); ``None`` means "no budget"."""

    latency_ms: float | None = None
    ttft_ms: float | None = None
    cost_usd: float | None = None


def _specificity(rule: BudgetRule) -> int:
    return (2 if rule.model is not None else 0) + (1 if rule.route is not None else 0)


class Budgets:
    """Resolves budgets; results are memoised because a campaign sees few (route, model)s."""

    def __init__(self, config: BudgetsConfig | None = None) -> None:
        self.config = config if config is not None else BudgetsConfig()
        # Most specific first; sorted() is stable, so file order breaks ties.
        self._rules = sorted(self.config.overrides, key=_specificity, reverse=True)
        self._cache: dict[tuple[str, str | None], ResolvedBudget] = {}

    def resolve(self, route: str, model: str | None) -> ResolvedBudget:
        key = (route, model)
        cached = self._cache.get(key)
        if cached is None:
            if len(self._cache) >= _CACHE_LIMIT:
                # Models are client-chosen strings; never let them grow memory without bound.
                self._cache.clear()
            cached = self._cache[key] = self._resolve(route, model)
        return cached

    def _resolve(self, route: str, model: str | None) -> ResolvedBudget:
        matching = [
            rule
            for rule in self._rules
            if (rule.route is None or rule.route == route)
            and (rule.model is None or rule.model == model)
        ]
        resolved: dict[str, float | None] = {}
        for name in _FIELDS:
            value: float | None = getattr(self.config, name)
            for rule in matching:
                rule_value: float | None = getattr(rule, name)
                if rule_value is not None:
                    value = rule_value
                    break
            resolved[name] = value
        return ResolvedBudget(**resolved)
