"""Did the mirror's answer say something else? The per-pair verdict behind ``quality:
semantic``, in one place for the gate, the report and the worker's metrics.

The most specific view that read both answers decides:

1. tool calls (either side called one): any changed tool name, order or argument value;
2. JSON (either side is, or was asked to be, JSON): any changed leaf (``json.equal``);
3. prose: the semantic comparator's ``changed`` (meaning, fact tokens, refusals).

A pair where either side failed has no verdict (``None``): a failure is an *outcome*, judged
by the error checks, never a changed answer. So has a pair no view could read.
"""

from __future__ import annotations

from collections.abc import Mapping

from comparators.scores import Value

__all__ = ["VIEWS", "semantic_change"]

# (applicable flag, verdict flag, whether the verdict says "agree" rather than "changed")
VIEWS = (
    ("tool_calls.applicable", "tool_calls.agree", True),
    ("json.applicable", "json.equal", True),
    ("semantic.applicable", "semantic.changed", False),
)


def semantic_change(values: Mapping[str, Value]) -> bool | None:
    """``True`` when the answer changed, ``False`` when it says the same, ``None`` when that is
    unknown; see the module docstring."""
    both_ok = values.get("latency.both_ok")
    if both_ok is False or (
        both_ok is None
        and (
            values.get("outcome.incumbent_error") is True
            or values.get("outcome.mirror_error") is True
        )
    ):
        return None
    for applicable, verdict, agreement in VIEWS:
        value = values.get(verdict)
        if values.get(applicable) is True and isinstance(value, bool):
            return not value if agreement else value
    return None
