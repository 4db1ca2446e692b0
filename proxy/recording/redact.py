"""Mask personal data and secrets before a record (or a log line) leaves the process.

Built-in patterns, on by default: ``email``, ``phone``, ``card`` (13–19 digits that pass the
Luhn check, so order numbers survive), ``api_key`` (``sk-…``, ``AKIA…``, ``ghp_…``, ``xox…``
and JWTs) and ``bearer`` (``Bearer <token>``). Each match becomes ``[REDACTED:<name>]``, so a
reader still sees that something was there and what kind it was.

Users add their own patterns (``recording.redact.patterns``) and name JSON paths to drop from
the request body entirely (``recording.redact.drop_paths``, e.g. ``metadata.user_email`` or
``messages[*].name``).
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Iterable, Mapping
from typing import Any

from proxy.recording.encode import ChoiceData, ErrorData, OutputData, ToolCallData
from proxy.recording.schema import ErrorInfo

__all__ = ["BUILTIN_PATTERNS", "RedactingFilter", "Redactor"]

BUILTIN_PATTERNS: dict[str, str] = {
    "bearer": r"\b[Bb][Ee][Aa][Rr][Ee][Rr]\s+[A-Za-z0-9._~+/=\-]{8,}",
    "api_key": (
        r"\bsk-[A-Za-z0-9_\-]{16,}"
        r"|\bAKIA[0-9A-Z]{16}\b"
        r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
        r"|\bxox[abprs]-[A-Za-z0-9\-]{10,}"
        r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    ),
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}",
    "card": r"\b(?:\d[ \-]?){12,18}\d\b",
    "phone": r"(?<![\w.])\+?\d{1,3}[ .\-]?\(?\d{2,4}\)?[ .\-]?\d{3,4}[ .\-]?\d{3,4}(?![\w.])",
}


def _luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _parse_path(path: str) -> list[str]:
    """``messages[*].name`` -> ``["messages", "*", "name"]``."""
    return [part for part in re.split(r"\.|\[|\]", path) if part]


# Every built-in pattern's match contains one of these markers, ``bearer`` in any case, or a
# run of eight or more digits and separators (phone and card numbers). Substring tests run at
# memchr speed, so text with none of them skips the full regex, which costs about a tenth of
# a microsecond per character; most LLM text has none. A one-character test is several times
# cheaper than a longer one, so each marker is first looked for by a character it needs.
_GITHUB_MARKERS = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")
_ASCII_DIGITS = "0123456789"
_DIGIT_RUN = re.compile(r"\d[\d ().+\-]{7,}")


def _might_match(value: str) -> bool:
    """False only when no built-in pattern can match: a superset test, never a miss."""
    if "@" in value:
        return True
    if "-" in value and ("sk-" in value or "xox" in value):  # the xox pattern needs a "-" too
        return True
    if ("K" in value and "AKIA" in value) or ("J" in value and "eyJ" in value):
        return True
    if "_" in value and any(marker in value for marker in _GITHUB_MARKERS):
        return True
    if "bearer" in value.lower():
        return True
    if not value.isascii():  # \d also matches other scripts' digits
        return _DIGIT_RUN.search(value) is not None
    for digit in _ASCII_DIGITS:  # most prose has no digit at all: skip the regex
        if digit in value:
            return _DIGIT_RUN.search(value) is not None
    return False


# Short strings known to hold nothing, remembered (up to a bound) so repeats cost a lookup.
_CACHED_LENGTH = 64
_CACHE_SIZE = 4096
# The shortest string a built-in pattern can match ("a@b.co").
_MIN_BUILTIN_MATCH = 6


class Redactor:
    """Compiled once from config; applies every pattern in one regex pass per string, and
    skips that pass for strings that cannot hold a built-in match."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        builtins: Iterable[str] = tuple(BUILTIN_PATTERNS),
        patterns: Mapping[str, str] | None = None,
        drop_paths: Iterable[str] = (),
    ) -> None:
        self.enabled = enabled
        chosen = {name: BUILTIN_PATTERNS[name] for name in builtins}
        chosen.update(patterns or {})
        self.names = list(chosen)
        alternatives = [f"(?P<g{i}>{pattern})" for i, pattern in enumerate(chosen.values())]
        self._regex = re.compile("|".join(alternatives)) if alternatives else None
        # Custom patterns can match anything, so only built-ins alone allow the shortcuts.
        self._prefilter = not patterns
        self._min_length = 0 if patterns else _MIN_BUILTIN_MATCH
        self._clean: set[str] = set()
        # Long strings already masked within one output() call, by identity: an answer's
        # text sits both in its body and in its choices, and is scanned only once. The memo
        # holds each string, so an id cannot be reused while it is in there.
        self._long_memo: dict[int, tuple[str, str]] | None = None
        self._drop_paths = [_parse_path(path) for path in drop_paths]

    def _replace(self, match: re.Match[str]) -> str:
        group = match.lastgroup or "g0"
        name = self.names[int(group[1:])]
        if name == "card":
            digits = re.sub(r"\D", "", match.group(0))
            if not _luhn_ok(digits):
                return match.group(0)
        return f"[REDACTED:{name}]"

    def text(self, value: str) -> str:
        if not self.enabled or self._regex is None:
            return value
        if len(value) <= _CACHED_LENGTH:
            if value in self._clean:  # keys, ids, roles and models repeat endlessly
                return value
            # Even strings too short to match are remembered: a tree walk then tells a clean
            # dict by its keys alone (see _walk_dict).
            masked = value if len(value) < self._min_length else self._mask(value)
            if masked is value:
                self._remember_clean(value)
            return masked
        memo = self._long_memo
        if memo is None:
            return self._mask(value)
        seen = memo.get(id(value))
        if seen is not None and seen[0] is value:
            return seen[1]
        masked = self._mask(value)
        memo[id(value)] = (value, masked)
        return masked

    def _mask(self, value: str) -> str:
        if self._prefilter and not _might_match(value):
            return value
        return self._regex.sub(self._replace, value) if self._regex is not None else value

    def _remember_clean(self, value: str) -> None:
        if len(self._clean) >= _CACHE_SIZE:
            self._clean.clear()
        self._clean.add(value)

    def tree(self, node: Any) -> Any:
        """Every string in a JSON tree (keys included, since tools put data in keys).

        A subtree with nothing to mask is returned as it is, not copied: most answers hold
        nothing, and rebuilding every dict and list cost more than checking the strings.
        """
        if not self.enabled:
            return node
        return self._walk(node)

    def _walk(self, node: Any) -> Any:
        kind = type(node)
        if kind is str:
            return self.text(node)
        if kind is dict:
            return self._walk_dict(node)
        if kind is list:
            return self._walk_list(node)
        return node

    def _walk_dict(self, node: dict[Any, Any]) -> dict[Any, Any]:
        # The common case first, without building anything: every key and string is clean.
        # Keys repeat from one answer to the next, so usually all of them are known clean,
        # which one subset test (a loop in C) confirms.
        clean = self._clean
        if not node.keys() <= clean:
            for key in node:
                if type(key) is str and key not in clean and self.text(key) is not key:
                    return self._copy_dict(node)
        for value in node.values():
            kind = type(value)
            if kind is str:
                if value not in clean and self.text(value) is not value:
                    return self._copy_dict(node)
            elif kind is dict:
                if self._walk_dict(value) is not value:
                    return self._copy_dict(node)
            elif kind is list and self._walk_list(value) is not value:
                return self._copy_dict(node)
        return node

    def _copy_dict(self, node: dict[Any, Any]) -> dict[Any, Any]:
        return {
            self.text(key) if type(key) is str else key: self._walk(value)
            for key, value in node.items()
        }

    def _walk_list(self, node: list[Any]) -> list[Any]:
        copy: list[Any] | None = None
        for position, value in enumerate(node):
            new_value = self._walk(value)
            if copy is None and new_value is not value:
                copy = node[:position]
            if copy is not None:
                copy.append(new_value)
        return node if copy is None else copy

    def request_body(self, body: Any) -> Any:
        if not self.enabled:
            return body
        for path in self._drop_paths:
            body = _drop(body, path)
        return self.tree(body)

    def output(self, output: OutputData) -> OutputData:
        """The output with its body and choices masked; the same object when nothing was."""
        if not self.enabled:
            return output
        self._long_memo = {}
        try:
            body = self.tree(output["body"])
            choices = [self._choice(choice) for choice in output["choices"]]
        finally:
            self._long_memo = None
        if body is output["body"] and _same_items(choices, output["choices"]):
            return output
        return {**output, "body": body, "choices": choices}

    def _choice(self, choice: ChoiceData) -> ChoiceData:
        text = self.text(choice["text"])
        refusal = choice["refusal"]
        if refusal:
            refusal = self.text(refusal)
        reasoning = choice["reasoning"]
        if reasoning:
            reasoning = self.text(reasoning)
        calls = choice["tool_calls"]
        if calls:
            calls = [self._tool_call(call) for call in calls]
        if (
            text is choice["text"]
            and refusal is choice["refusal"]
            and reasoning is choice["reasoning"]
            and _same_items(calls, choice["tool_calls"])
        ):
            return choice
        return {
            **choice,
            "text": text,
            "refusal": refusal,
            "reasoning": reasoning,
            "tool_calls": calls,
        }

    def _tool_call(self, call: ToolCallData) -> ToolCallData:
        arguments = self.text(call["arguments"])
        if arguments is call["arguments"]:
            return call
        return {**call, "arguments": arguments}

    def error(self, error: ErrorInfo | None) -> ErrorData | None:
        """The error as the record's plain data, its message masked."""
        if error is None:
            return None
        message = self.text(error.message) if self.enabled else error.message
        return {"kind": error.kind, "message": message}


def _same_items(new: list[Any], old: list[Any]) -> bool:
    """Whether masking returned every item of ``old`` as it was (``map`` spares a generator)."""
    return new is old or all(map(operator.is_, new, old))


def _drop(node: Any, path: list[str]) -> Any:
    """A copy of ``node`` without the value at ``path``; ``*`` matches every list item."""
    if not path:
        return node
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        if head not in node:
            return node
        if not rest:
            return {k: v for k, v in node.items() if k != head}
        return {**node, head: _drop(node[head], rest)}
    if isinstance(node, list) and head == "*":
        if not rest:
            return []
        return [_drop(item, rest) for item in node]
    if isinstance(node, list) and head.isdigit() and int(head) < len(node):
        index = int(head)
        copy = list(node)
        if not rest:
            del copy[index]
        else:
            copy[index] = _drop(copy[index], rest)
        return copy
    return node


class RedactingFilter(logging.Filter):
    """Masks secrets in every log record, so a message that quotes a request cannot leak."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor.text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
