"""The ``--where`` filter language of ``darklaunch export``: small, safe and readable.

Examples::

    divergence > 0.5
    outcome.mirror_error == true
    mirror == "cand-a" and latency.ratio >= 1.5
    route == "/v1/chat/completions" or cost.delta_usd > 0.001
    not outcome.mirror_error and 0.2 < text.divergence <= 0.6
    "latency_ms" in breaches and mirror in ["cand-a", "cand-b"]

A field is a top-level score field (:data:`TOP_LEVEL`) or a ``<comparator>.<metric>`` key of
``ScoreRecord.values``. Literals are numbers, quoted strings, ``true``/``false``/``null`` and
lists of those. Operators: ``== != < <= > >= in not in and or not`` and parentheses. A bare
field means "is true". A comparison with a missing value, or of a number with a string, is
false rather than an error, since score records are heterogeneous.

The expression is parsed by Python's :mod:`ast` and then *walked*, never evaluated: only the
node types listed above are accepted, and anything else (calls, subscripts, lambdas,
``__dunder__`` names, arithmetic) is rejected with an error naming the offending part.

Exceptions::

    FilterError  (ValueError)  the expression is not in the language; ``part`` is the culprit
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from comparators.scores import ScoreRecord

__all__ = ["TOP_LEVEL", "Filter", "FilterError", "compile_filter"]

MAX_LENGTH = 2000
MAX_DEPTH = 40
TOP_LEVEL = frozenset(
    {
        "pair_id", "campaign", "timestamp", "route", "model", "mirror", "role", "mirror_model",
        "divergence", "breaches", "comparator_errors",
    }
)  # fmt: skip
_LITERALS: dict[str, Any] = {
    "true": True, "false": False, "null": None, "True": True, "False": False, "None": None,
}  # fmt: skip
Getter = Callable[[ScoreRecord], Any]
Predicate = Callable[[ScoreRecord], bool]


class FilterError(ValueError):
    def __init__(self, expression: str, part: str, reason: str) -> None:
        self.expression = expression
        self.part = part
        self.reason = reason
        super().__init__(f"--where {expression!r}: {reason}: {part!r}")


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(left: Any, right: Any) -> bool:
        numbers = (int, float)
        if isinstance(left, numbers) and isinstance(right, numbers):
            return op(left, right)
        if isinstance(left, str) and isinstance(right, str):
            return op(left, right)
        return False  # None or mixed types: no order, so no match

    return compare


def _contains(left: Any, right: Any) -> bool:
    return isinstance(right, list | tuple | str) and (
        isinstance(left, str) or not isinstance(right, str)
    ) and left in right  # fmt: skip


_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: _ordered(operator.lt),
    ast.LtE: _ordered(operator.le),
    ast.Gt: _ordered(operator.gt),
    ast.GtE: _ordered(operator.ge),
    ast.In: _contains,
    ast.NotIn: lambda left, right: not _contains(left, right),
}


@dataclass(frozen=True)
class Filter:
    """A compiled filter; ``value_keys`` lists the ``<comparator>.<metric>`` keys it reads, so
    a caller can reject a typo that no record has."""

    source: str
    predicate: Predicate
    value_keys: frozenset[str]

    def matches(self, record: ScoreRecord) -> bool:
        return self.predicate(record)


class _Compiler:
    def __init__(self, source: str) -> None:
        self.source = source
        self.value_keys: set[str] = set()

    def fail(self, node: ast.AST, reason: str) -> FilterError:
        part = ast.get_source_segment(self.source, node) or type(node).__name__
        return FilterError(self.source, part, reason)

    def boolean(self, node: ast.expr, depth: int = 0) -> Predicate:
        if depth > MAX_DEPTH:
            raise self.fail(node, f"nested more than {MAX_DEPTH} deep")
        if isinstance(node, ast.BoolOp):
            parts = [self.boolean(v, depth + 1) for v in node.values]
            if isinstance(node.op, ast.And):
                return lambda r: all(p(r) for p in parts)
            return lambda r: any(p(r) for p in parts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self.boolean(node.operand, depth + 1)
            return lambda r: not inner(r)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Name | ast.Attribute):
            getter = self.value(node)
            return lambda r: getter(r) is True
        raise self.fail(node, "expected a comparison, a field, 'and', 'or' or 'not'")

    def compare(self, node: ast.Compare) -> Predicate:
        operands = [self.value(node.left), *(self.value(c) for c in node.comparators)]
        ops: list[Callable[[Any, Any], bool]] = []
        for op in node.ops:
            compare = _COMPARE.get(type(op))
            if compare is None:
                raise self.fail(node, f"operator {type(op).__name__} is not allowed")
            ops.append(compare)

        def predicate(record: ScoreRecord) -> bool:
            values = [get(record) for get in operands]
            return all(op(values[i], values[i + 1]) for i, op in enumerate(ops))

        return predicate

    def value(self, node: ast.expr) -> Getter:
        if isinstance(node, ast.Constant):
            constant = self.literal(node)
            return lambda r: constant
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            negative = self.literal(node)
            return lambda r: negative
        if isinstance(node, ast.List | ast.Tuple):
            items = tuple(self.literal(item) for item in node.elts)
            return lambda r: items
        if isinstance(node, ast.Name) and node.id in _LITERALS:
            literal = _LITERALS[node.id]
            return lambda r: literal
        if isinstance(node, ast.Name | ast.Attribute):
            return self.field(node)
        raise self.fail(node, "expected a field, a number, a string, true/false/null or a list")

    def literal(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Name) and node.id in _LITERALS:
            return _LITERALS[node.id]
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)
            and not isinstance(node.operand.value, bool)
        ):
            return -node.operand.value
        if isinstance(node, ast.Constant) and isinstance(
            node.value, str | int | float | bool | type(None)
        ):
            return node.value
        raise self.fail(node, "expected a number, a string or true/false/null")

    def field(self, node: ast.Name | ast.Attribute) -> Getter:
        parts: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if not isinstance(current, ast.Name):
            raise self.fail(node, "a field is a name or a dotted name")
        parts.append(current.id)
        parts.reverse()
        if any(p.startswith("_") for p in parts):
            raise self.fail(node, "names starting with '_' are not fields")
        if len(parts) == 1:
            name = parts[0]
            if name not in TOP_LEVEL:
                known = ", ".join(sorted(TOP_LEVEL))
                raise self.fail(
                    node, f"unknown field; expected one of {known} or a <comparator>.<metric> key"
                )
            return lambda r: _plain(getattr(r, name))
        key = ".".join(parts)
        self.value_keys.add(key)
        return lambda r: r.values.get(key)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def compile_filter(expression: str) -> Filter:
    """Parse and check ``expression`` once; the returned filter is then cheap per record."""
    source = expression.strip()
    if not source:
        raise FilterError(expression, expression, "empty filter; expected e.g. 'divergence > 0.5'")
    if len(source) > MAX_LENGTH:
        raise FilterError(expression, source[:40] + "…", f"longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        part = (exc.text or source).strip()
        raise FilterError(expression, part, f"not a valid expression ({exc.msg})") from exc
    compiler = _Compiler(source)
    predicate = compiler.boolean(tree.body)
    return Filter(source, predicate, frozenset(compiler.value_keys))
