"""Which comparators exist and how the configured ones are built.

The built-ins are listed by hand in :data:`BUILTINS`, the one place to look. Third-party
comparators register under the entry-point group :data:`ENTRY_POINT_GROUP`; the entry point's
name is the comparator's name and must equal the class's ``name``. Names are checked for clashes
at start-up, before any entry point is imported, so a broken plug-in that nobody selected does
not stop the worker but a clash always does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, cast

from pydantic import BaseModel

from comparators.base import Comparator, ComparatorContext, ComparatorError, validate_options
from comparators.builtin.cost import CostComparator
from comparators.builtin.embedding import EmbeddingComparator
from comparators.builtin.json_diff import JsonComparator
from comparators.builtin.latency import LatencyComparator
from comparators.builtin.outcome import OutcomeComparator
from comparators.builtin.reference import ReferenceComparator
from comparators.builtin.semantic import SemanticComparator
from comparators.builtin.text import TextComparator
from comparators.builtin.tool_calls import ToolCallsComparator

__all__ = [
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "Registration",
    "discover_comparators",
    "load_comparators",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "darklaunch.comparators"

BUILTINS: dict[str, type[Comparator]] = {
    "text": TextComparator,
    "semantic": SemanticComparator,
    "json": JsonComparator,
    "tool_calls": ToolCallsComparator,
    "outcome": OutcomeComparator,
    "latency": LatencyComparator,
    "cost": CostComparator,
    "embedding": EmbeddingComparator,
    "reference": ReferenceComparator,
}


@dataclass(frozen=True, slots=True)
class Registration:
    """A name that is known, where it came from (for error messages) and how to import it."""

    name: str
    source: str
    load: Callable[[], object]


def _builtin(name: str, cls: type[Comparator]) -> Registration:
    return Registration(name, f"built-in {cls.__module__}:{cls.__qualname__}", lambda: cls)


def _describe(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"entry point {ep.name} = {ep.value}{origin}"


def discover_comparators(
    eps: Iterable[EntryPoint] | None = None,
) -> dict[str, Registration]:
    """Every known comparator: the built-ins plus ``eps`` (by default the installed entry
    points of :data:`ENTRY_POINT_GROUP`). A name registered twice is a :class:`ComparatorError`
    naming both sources."""
    known = {name: _builtin(name, cls) for name, cls in BUILTINS.items()}
    found = entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps
    for ep in found:
        source = _describe(ep)
        existing = known.get(ep.name)
        if existing is not None:
            if existing.source == source:
                continue  # the same distribution seen twice on sys.path
            raise ComparatorError(
                ep.name,
                [
                    f"registered twice, by {existing.source} and by {source}; "
                    "expected one registration per name"
                ],
            )
        known[ep.name] = Registration(ep.name, source, ep.load)
        logger.debug("found comparator %s (%s)", ep.name, source)
    return known


def _shape_problems(name: str, obj: object) -> list[str]:
    if not isinstance(obj, type):
        return [f"got {obj!r}; expected a comparator class"]
    problems = []
    declared = getattr(obj, "name", None)
    if declared != name:
        problems.append(f"{obj.__qualname__}.name: got {declared!r}; expected {name!r}")
    options = getattr(obj, "Options", None)
    if not (isinstance(options, type) and issubclass(options, BaseModel)):
        problems.append(
            f"{obj.__qualname__}.Options: got {options!r}; expected a pydantic model class"
        )
    if not callable(getattr(obj, "compare", None)):
        problems.append(f"{obj.__qualname__}.compare: missing; expected a method")
    return problems


def resolve(registration: Registration) -> type[Comparator]:
    """Import a registration and check it has the comparator shape."""
    try:
        obj = registration.load()
    except Exception as exc:
        raise ComparatorError(
            registration.name,
            [f"{registration.source} failed to load ({exc!r}); expected an importable class"],
        ) from exc
    problems = _shape_problems(registration.name, obj)
    if problems:
        raise ComparatorError(registration.name, [f"{registration.source}: {p}" for p in problems])
    return cast("type[Comparator]", obj)


def load_comparators(
    selection: Mapping[str, Mapping[str, Any] | None] | None,
    context: ComparatorContext,
    *,
    available: Mapping[str, Registration] | None = None,
) -> list[Comparator]:
    """Build the selected comparators, in selection order. ``None`` selects every built-in with
    its default options; third-party comparators run only when named."""
    known = discover_comparators() if available is None else available
    if selection is None:
        selection = dict.fromkeys(BUILTINS)
    comparators: list[Comparator] = []
    for name, raw in selection.items():
        registration = known.get(name)
        if registration is None:
            raise ComparatorError(
                name, [f"unknown comparator; expected one of: {', '.join(sorted(known))}"]
            )
        cls = resolve(registration)
        options = validate_options(name, cls.Options, raw)
        try:
            comparators.append(cls(options, context))
        except Exception as exc:
            raise ComparatorError(
                name, [f"failed to start ({exc!r}); expected it to accept its options"]
            ) from exc
    return comparators
