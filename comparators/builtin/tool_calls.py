"""Tool-call divergence: would the mirror have made the application do the same thing?

Applicable when either side's first choice called a tool. Calls are compared position by
position, because the order of calls can matter to the application that runs them. Arguments
are compared after JSON parsing (so key order and spacing do not count) with the same
structural diff as the JSON comparator; an empty argument string is ``{}``, and arguments that
do not parse are compared as stripped raw strings.

For ``n = max(len(incumbent calls), len(mirror calls))`` positions, each position ``i`` scores

* ``d_i = 1`` when a call is missing on one side or the tool names differ,
* ``d_i = changed leaves / total leaves`` of the argument diff when both parse,
* ``d_i = 0`` or ``1`` by raw string equality when either does not parse,

and ``divergence = sum(d_i) / n``. ``agree`` is true when every ``d_i`` is 0. Reordered calls
therefore disagree; ``same_set`` (same tool names in any order) tells a reordering apart from a
different choice of tools.

When either side failed every value is ``None``: there are no calls to compare.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from comparators.base import ComparatorContext, Pairing, make_score
from comparators.builtin.json_diff import diff
from comparators.scores import Score, Value
from proxy.recording.schema import ToolCall

__all__ = ["ToolCallsComparator", "ToolCallsOptions"]

logger = logging.getLogger(__name__)

_INVALID = object()
_KEYS = ("applicable", "agree", "divergence")


def parse_arguments(arguments: str) -> Any:
    """Parsed arguments, or the ``_INVALID`` marker when they are not JSON."""
    if not arguments.strip():
        return {}
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return _INVALID


class ToolCallsOptions(BaseModel):
    """``comparators: {tool_calls: {max_entries: 10}}`` keeps fewer argument diffs per call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_entries: int = Field(default=20, ge=0, le=1000)


class ToolCallsComparator:
    name: ClassVar[str] = "tool_calls"
    Options: ClassVar[type[BaseModel]] = ToolCallsOptions

    def __init__(self, options: ToolCallsOptions, context: ComparatorContext) -> None:
        self.options = options

    def _position(self, index: int, a: ToolCall | None, b: ToolCall | None) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "index": index,
            "incumbent": a.name if a is not None else None,
            "mirror": b.name if b is not None else None,
        }
        if a is None or b is None or a.name != b.name:
            entry["divergence"] = 1.0
            return entry
        args_a, args_b = parse_arguments(a.arguments), parse_arguments(b.arguments)
        if args_a is _INVALID or args_b is _INVALID:
            entry["invalid_arguments"] = [
                side
                for side, args in (("incumbent", args_a), ("mirror", args_b))
                if args is _INVALID
            ]
            entry["divergence"] = 0.0 if a.arguments.strip() == b.arguments.strip() else 1.0
            return entry
        result = diff(args_a, args_b, self.options.max_entries)
        entry["divergence"] = result.divergence
        if result.changed:
            entry["arguments"] = result.entries
        return entry

    def compare(self, pair: Pairing) -> list[Score]:
        incumbent, mirror = pair.incumbent.output, pair.mirror.output
        values: dict[str, Value] = dict.fromkeys(_KEYS)
        if incumbent is None or mirror is None or not pair.both_ok:
            return [make_score(self.name, values)]
        calls_a, calls_b = incumbent.tool_calls, mirror.tool_calls
        if not calls_a and not calls_b:
            values["applicable"] = False
            return [make_score(self.name, values)]
        n = max(len(calls_a), len(calls_b))
        positions = [
            self._position(
                i,
                calls_a[i] if i < len(calls_a) else None,
                calls_b[i] if i < len(calls_b) else None,
            )
            for i in range(n)
        ]
        total = sum(p["divergence"] for p in positions)
        values.update(
            applicable=True,
            agree=total == 0,
            divergence=total / n,
            incumbent_count=len(calls_a),
            mirror_count=len(calls_b),
            same_set=sorted(c.name for c in calls_a) == sorted(c.name for c in calls_b),
        )
        details = {"calls": [p for p in positions if p["divergence"]]}
        return [make_score(self.name, values, details)]
