"""Realistic answer content for simulated models: what they say, how they word it, how they
get it wrong.

Pure functions of their arguments and a caller-supplied :class:`random.Random`, with no I/O and
no import from the rest of darklaunch, so the simulated model server and the load tests can
both use them.

* :mod:`~proxy.sim.answers.bank`: the questions and their correct answers (prose, short facts,
  JSON extraction, tool calls, prompts to refuse).
* :mod:`~proxy.sim.answers.writer`: word content in a style (``same``, ``verbose``, ``terse``,
  ``own``, ``markdown``), differently on every call, never changing a fact.
* :mod:`~proxy.sim.answers.mutate`: one fact wrong (subtle), a different answer (gross), or a
  defensible difference (noise).
* :mod:`~proxy.sim.answers.refusals`: refusals in many wordings.
"""

from proxy.sim.answers.bank import VARIANTS, items, siblings, tool, tool_call
from proxy.sim.answers.model import (
    KINDS,
    STYLES,
    Content,
    Item,
    JsonDoc,
    Kind,
    Prose,
    Refusal,
    Sentence,
    Slot,
    Style,
    ToolUse,
)
from proxy.sim.answers.mutate import Mutation, gross, noise, subtle
from proxy.sim.answers.refusals import refusal
from proxy.sim.answers.writer import Written, write, write_arguments, write_json, write_prose

__all__ = [
    "KINDS",
    "STYLES",
    "VARIANTS",
    "Content",
    "Item",
    "JsonDoc",
    "Kind",
    "Mutation",
    "Prose",
    "Refusal",
    "Sentence",
    "Slot",
    "Style",
    "ToolUse",
    "Written",
    "gross",
    "items",
    "noise",
    "refusal",
    "siblings",
    "subtle",
    "tool",
    "tool_call",
    "write",
    "write_arguments",
    "write_json",
    "write_prose",
]
