"""The comparator interface: what a built-in or third-party comparator must look like.

A comparator is a class with a ``name``, an ``Options`` model and a ``compare`` method. It is
built once at start-up as ``Comparator(options, context)`` and then called once per
(pair, mirror), so anything expensive belongs in the constructor. It is typed as a
:class:`typing.Protocol` so mypy checks third-party comparators without them inheriting from us.

Exceptions::

    ComparatorError  (ValueError)  unknown comparator, bad options, a clash of names, or an
                                   entry point that does not load to a comparator class
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ValidationError

from comparators.pricing.budgets import Budgets, ResolvedBudget
from comparators.pricing.prices import PriceTable
from comparators.scores import Score, Value, construct_score
from proxy.recording.schema import PairRecord, Side

__all__ = [
    "Comparator",
    "ComparatorContext",
    "ComparatorError",
    "Pairing",
    "make_score",
    "side_failed",
    "unscored_reason",
    "validate_options",
]

logger = logging.getLogger(__name__)


class ComparatorError(ValueError):
    """A comparator that cannot be used; ``problems`` holds one line per bad option or name."""

    def __init__(self, comparator: str, problems: list[str]) -> None:
        self.comparator = comparator
        self.problems = problems
        super().__init__(f"comparator {comparator!r}: " + "; ".join(problems))

    def __repr__(self) -> str:
        return f"ComparatorError(comparator={self.comparator!r}, problems={self.problems!r})"


@dataclass(frozen=True, slots=True)
class ComparatorContext:
    """What every comparator may share: loaded once, read on every pair, never mutated."""

    prices: PriceTable = field(default_factory=PriceTable)
    budgets: Budgets = field(default_factory=Budgets)


@dataclass(frozen=True, slots=True)
class Pairing:
    """One (pair, mirror) as a comparator sees it.

    A replica is compared with the incumbent exactly like a candidate is, so comparators only
    ever see "the incumbent" and "the mirror" and never need to know which role the mirror has.
    """

    record: PairRecord
    incumbent: Side
    mirror: Side

    @property
    def request_body(self) -> dict[str, Any] | None:
        """The recorded request body when it is a JSON object; ``None`` when it was truncated
        to a string or is absent, so callers need no type checks."""
        body = self.record.request.body
        return body if isinstance(body, dict) else None

    @property
    def requested_model(self) -> str | None:
        """The model the client asked for: what per-model budgets are keyed by."""
        return self.record.request.model or self.incumbent.model

    @property
    def both_ok(self) -> bool:
        """Whether both sides answered; content comparators have nothing to compare otherwise."""
        return not side_failed(self.incumbent) and not side_failed(self.mirror)

    def budget(self, budgets: Budgets) -> ResolvedBudget:
        return budgets.resolve(self.record.route, self.requested_model)


def side_failed(side: Side) -> bool:
    """A side failed when it reported an error, answered 4xx/5xx, or never got a status."""
    return side.error is not None or side.status is None or side.status >= 400


def unscored_reason(incumbent: Side, mirror: Side) -> str | None:
    """``"<role>:<reason>"`` when a side that answered did so in a form no comparator can read
    (:attr:`~proxy.recording.schema.Output.unscored`), else ``None``. A failed side is an
    outcome and is scored as one; an unreadable answer is not a failure, and scoring it would
    compare nothing with something (or nothing with nothing, and call it identical)."""
    for side in (incumbent, mirror):
        output = side.output
        if output is not None and output.unscored is not None and not side_failed(side):
            return f"{side.role.value}:{output.unscored}"
    return None


class Comparator(Protocol):
    """The plug-in contract. Built as ``cls(options, context)`` with ``options`` an instance of
    ``cls.Options`` (a pydantic model with ``extra="forbid"``, so typos fail at start-up)."""

    name: ClassVar[str]
    Options: ClassVar[type[BaseModel]]

    def __init__(self, options: Any, context: ComparatorContext) -> None: ...

    def compare(self, pair: Pairing) -> list[Score]:
        """Score one (pair, mirror). Raising is allowed: the engine contains it."""
        ...


def make_score(
    comparator: str,
    values: dict[str, Value],
    details: dict[str, Any] | None = None,
    breaches: list[str] | None = None,
) -> Score:
    """Build a :class:`Score` without validation: built-ins produce well-typed values, and
    validating ~30 fields per pair would cost more than the comparison itself."""
    return construct_score(
        comparator,
        values,
        details if details is not None else {},
        breaches if breaches is not None else [],
    )


def validate_options(name: str, model: type[BaseModel], raw: Any) -> BaseModel:
    """Validate ``raw`` against a comparator's options model, translating pydantic's error into
    a :class:`ComparatorError` that names ``<comparator>.<option>``, the value and the
    expectation, in the same voice as config errors."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ComparatorError(name, [f"{name}: got {raw!r}; expected a mapping of options"])
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join([name, *(str(p) for p in error["loc"])])
            if error["type"] == "extra_forbidden":
                known = ", ".join(model.model_fields) or "no options"
                problems.append(f"{where}: unknown option; expected one of: {known}")
            elif error["type"] == "missing":
                problems.append(f"{where}: missing; expected a value")
            else:
                message = error["msg"].removeprefix("Value error, ")
                message = message.removeprefix("Input should be ")
                problems.append(f"{where}: got {error.get('input')!r}; expected {message}")
        raise ComparatorError(name, problems) from exc
