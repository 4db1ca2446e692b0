"""The scoring engine: every configured comparator over every mirror of a pair.

It is pure (no Redis, no clock), so the worker, the benchmark and the tests share it. One
comparator that raises is contained the way mitmproxy's ``safecall`` contains an add-on: the
traceback is logged, the name is recorded in ``ScoreRecord.comparator_errors``, the caller's
``on_comparator_error`` counter is bumped, and the other comparators still run.

Values land under ``"<name>.<metric>"`` with the comparator's registered name, whatever a
``Score.comparator`` says, so a plug-in can never overwrite a built-in's headline key.

The headline ``divergence`` is the most specific content view that applies: tool calls when
either side called a tool, else JSON when either side is JSON, else text. When either side
failed it is ``None``: an error is an *outcome*, judged by the outcome comparator and the
gate's error checks, never a divergence of 1.0 (that scored every context-length 400 the
candidate answered as a regression, and counted transient incumbent errors into the noise
floor).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from comparators.base import (
    Comparator,
    ComparatorContext,
    Pairing,
    side_failed,
    unscored_reason,
)
from comparators.columns.segments import mirror_fields
from comparators.pricing.budgets import Budgets
from comparators.pricing.prices import PriceTable
from comparators.registry import Registration, load_comparators
from comparators.scores import SCORES_SCHEMA_VERSION, Score, ScoreRecord, Value, construct
from proxy.config.root import Config
from proxy.recording.schema import PairRecord, Side

__all__ = ["ErrorCallback", "ScoringEngine", "headline_divergence"]

logger = logging.getLogger(__name__)

ErrorCallback = Callable[[str], None]

# (applicable key, divergence key), most specific first; text has no applicability flag.
_HEADLINE_ORDER = (
    ("embedding.applicable", "embedding.divergence"),
    ("tool_calls.applicable", "tool_calls.divergence"),
    ("json.applicable", "json.divergence"),
)


def headline_divergence(values: Mapping[str, Value], incumbent: Side, mirror: Side) -> float | None:
    """One number per (pair, mirror) for the report's headline; see the module docstring.
    A view that applies but has no number (JSON asked for, neither side valid) falls through
    to the next one."""
    if side_failed(incumbent) or side_failed(mirror):
        return None
    for applicable, divergence in _HEADLINE_ORDER:
        value = values.get(divergence)
        if values.get(applicable) is True and isinstance(value, int | float):
            return float(value)
    text = values.get("text.divergence")
    return float(text) if isinstance(text, int | float) else None


_SCALARS = (float, int, bool, str, type(None))
_MAX_SHAPES = 1024  # key shapes kept: a plug-in naming a metric per pair makes one per pair
_EXACT_SCALARS = frozenset(_SCALARS)


def _check(scores: object) -> None:
    """Reject what a third-party comparator got wrong (scores may be built without
    validation) inside the containment, so one bad plug-in cannot spoil the score record."""
    if not isinstance(scores, list):
        raise TypeError(f"compare() returned {type(scores).__name__}; expected list[Score]")
    for score in scores:
        if not isinstance(score, Score):
            raise TypeError(f"compare() returned a {type(score).__name__}; expected Score")
        if set(map(type, score.values.values())) <= _EXACT_SCALARS:
            continue  # the common case, checked in C
        for key, value in score.values.items():
            if not isinstance(value, _SCALARS):
                raise TypeError(f"values[{key!r}]: got {type(value).__name__}; expected a scalar")


class ScoringEngine:
    """Scores pair records with the comparators, prices and budgets a config names."""

    def __init__(
        self,
        config: Config,
        *,
        on_comparator_error: ErrorCallback | None = None,
        available: Mapping[str, Registration] | None = None,
    ) -> None:
        """Loads everything up front so a bad price table or comparator option fails at
        start-up, not on the first pair. ``available`` replaces entry-point discovery (tests)."""
        self.context = ComparatorContext(
            prices=PriceTable.from_config(config.prices), budgets=Budgets(config.budgets)
        )
        self.comparators: Sequence[Comparator] = load_comparators(
            config.comparators, self.context, available=available
        )
        self.on_comparator_error = on_comparator_error
        # A comparator's metric names, in order, to their "<name>.<metric>" keys: formatted
        # once per shape a comparator answers in, instead of ~40 times a pair.
        self._keys: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        logger.info(
            "scoring with %s; %d priced models",
            ", ".join(c.name for c in self.comparators),
            len(self.context.prices),
        )

    def score(self, record: PairRecord) -> list[ScoreRecord]:
        """One score record per mirror, candidates and replicas alike, in record order."""
        return [self.score_mirror(record, mirror) for mirror in record.mirrors]

    def score_mirror(self, record: PairRecord, mirror: Side) -> ScoreRecord:
        pair = Pairing(record, record.incumbent, mirror)
        values: dict[str, Value] = {}
        details: dict[str, dict[str, Any]] = {}
        breaches: list[str] = []
        errors: list[str] = []
        unscored = unscored_reason(record.incumbent, mirror)
        for comparator in () if unscored is not None else self.comparators:
            name = comparator.name
            try:
                scores = comparator.compare(pair)
                _check(scores)
            except Exception:
                logger.exception(
                    "comparator %s failed on pair %s mirror %s", name, record.pair_id, mirror.name
                )
                errors.append(name)
                if self.on_comparator_error is not None:
                    self.on_comparator_error(name)
                continue
            for score in scores:
                raw = score.values
                names = tuple(raw)
                full = self._keys.get((name, names))
                if full is None:
                    full = tuple(f"{name}.{key}" for key in names)
                    if len(self._keys) < _MAX_SHAPES:
                        self._keys[(name, names)] = full
                values.update(zip(full, raw.values(), strict=True))
                if score.details:
                    details.setdefault(name, {}).update(score.details)
                for breach in score.breaches:
                    if breach not in breaches:
                        breaches.append(breach)
        return construct(  # every field, in order: construct's fast path
            ScoreRecord,
            {
                "schema_version": SCORES_SCHEMA_VERSION,
                **mirror_fields(record, mirror),
                "sample_rate": record.sample_rate,
                "divergence": headline_divergence(values, record.incumbent, mirror),
                "values": values,
                "details": details,
                "breaches": breaches,
                "comparator_errors": errors,
                "unscored": unscored,
            },
        )
