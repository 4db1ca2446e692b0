"""Why a request was not translated, and the checks that say so.

A refusal is a value, :class:`Untranslatable`, whose ``reason`` is a metric label: one word of
the small closed vocabulary :data:`REASONS`, so that a dashboard can count skipped mirrors by
cause. The ``detail`` is for a person reading a log line: it names the field, shows the value
(shortened) and says what the other API would need.

Inside the translators a refusal travels as :class:`Refused`, raised from however deep the
offending field sits and caught once at the public function, which returns its value. The
exception never leaves the package.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, get_args

__all__ = [
    "REASONS",
    "Reason",
    "Refused",
    "Untranslatable",
    "at",
    "expect_bool",
    "expect_int",
    "expect_list",
    "expect_number",
    "expect_object",
    "expect_str",
    "only_keys",
    "present",
    "refuse",
    "show",
]

Reason = Literal[
    # The body is not what its own API accepts: a wrong type, a missing required field.
    "invalid_request",
    # A top-level parameter, or a value of one, that the other API has no equivalent for.
    "unsupported_parameter",
    # A message field, content part or content block that the other API cannot carry.
    "unsupported_content",
    # A tool (definition, call or choice) other than a plain client-side function.
    "unsupported_tool",
    # An OpenAI system or developer message after the conversation started.
    "system_in_conversation",
    # The last turn is the assistant's: a prefill for Anthropic, a finished turn for OpenAI.
    "ends_with_assistant",
    # An OpenAI tool call whose ``arguments`` string is not a JSON object.
    "invalid_tool_arguments",
    # An OpenAI temperature above 1, outside Anthropic's 0 to 1.
    "temperature_out_of_range",
    # More than one OpenAI choice; Anthropic answers once.
    "n_greater_than_1",
    # OpenAI log probabilities; Anthropic has none.
    "logprobs",
    # An OpenAI response_format, or an Anthropic output format, with no faithful equivalent.
    "response_format",
    # More than 4 Anthropic stop sequences, OpenAI's limit.
    "too_many_stop_sequences",
    # A route with no counterpart in the other API (Responses, Embeddings, ...): refused by
    # the caller (proxy.mirroring.crossapi), before any body is read.
    "unsupported_route",
]
REASONS: tuple[Reason, ...] = get_args(Reason)

_SHOWN_CHARS = 80
_REPR = reprlib.Repr()  # keyword arguments need Python 3.12
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist = 3, 4, 4
_REPR.maxstring = _REPR.maxother = _SHOWN_CHARS


@dataclass(frozen=True, slots=True)
class Untranslatable:
    """A request that cannot be sent to the other API without changing what it asks.

    ``reason`` is one of :data:`REASONS` (a metric label); ``detail`` names the field and its
    value and says what was expected.
    """

    reason: Reason
    detail: str

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"reason {self.reason!r} is not one of {REASONS}")


class Refused(Exception):
    """Carries an :class:`Untranslatable` out of a translator's nested checks."""

    def __init__(self, untranslatable: Untranslatable) -> None:
        super().__init__(f"{untranslatable.reason}: {untranslatable.detail}")
        self.untranslatable = untranslatable


def refuse(reason: Reason, detail: str) -> NoReturn:
    raise Refused(Untranslatable(reason, detail))


def show(value: Any) -> str:
    """The value's ``repr``, short: a detail may quote a data URL or a whole message list.
    :mod:`reprlib` cuts while it writes, so a huge or deeply nested value costs little."""
    text = _REPR.repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def present(value: Any) -> bool:
    """Whether an optional field was given: both APIs read ``null`` as absent."""
    return value is not None


def expect_object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        refuse("invalid_request", f"{where} is {show(value)}; expected an object")
    return value


def expect_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        refuse("invalid_request", f"{where} is {show(value)}; expected an array")
    return value


def expect_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        refuse("invalid_request", f"{where} is {show(value)}; expected a string")
    return value


def expect_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        refuse("invalid_request", f"{where} is {show(value)}; expected true or false")
    return value


def expect_int(value: Any, where: str, *, minimum: int = 0) -> int:
    """An integer at least ``minimum``; ``true`` is not one, though Python says it is."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        refuse("invalid_request", f"{where} is {show(value)}; expected an integer >= {minimum}")
    return value


def expect_number(value: Any, where: str) -> float | int:
    """A finite number; ``true`` is not one, nor is NaN."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        refuse("invalid_request", f"{where} is {show(value)}; expected a number")
    return value


def at(where: str, key: str | int) -> str:
    """The path of a field for a detail: ``messages[2].content``, or ``seed`` at the top."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def only_keys(
    obj: dict[str, Any], allowed: frozenset[str], where: str, reason: Reason, target: str
) -> None:
    """Refuse the first given key outside ``allowed``: a field this module does not know may
    change what the model reads, and a mirror that reads differently is worse than none."""
    for key, value in obj.items():
        if key not in allowed and present(value):
            refuse(reason, f"{at(where, key)} is {show(value)}; {target} has no equivalent")
