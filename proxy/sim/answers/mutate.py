"""Wrong answers, and answers that differ without being wrong.

Three ways a side's content can differ from the bank's correct answer:

* :func:`subtle`: exactly one fact is wrong: one slot of prose (a number, a name, a date, a
  year, a money amount, a negation flipped; two names of one sentence swapped when each is the
  other's wrong value, as in winner and loser), one JSON leaf, or one tool argument. The rest
  is untouched, so only a fact-level comparator can see it.
* :func:`gross`: a different answer altogether: a sibling item (same domain, so on topic but
  about something else), another document, or a call of the wrong tool.
* :func:`noise`: a defensible difference, the incumbent's own content-level nondeterminism:
  a figure rounded (``8,849`` -> ``roughly 8,800``), a supporting fact left out, a dated
  qualifier added, a date or amount spelled another way in JSON, an optional argument passed
  or left to its default, a city given with its country. A fact token changes, yet neither
  answer is wrong: this is the noise floor a gate must subtract.

Every function returns a :class:`Mutation` that says what changed, for the ground truth.
A wrong number, year, date or amount is never another fact of the same answer, so a set
comparison of fact tokens always sees the change; a wrong name may be one the answer names
elsewhere (the Amazon for the Nile), which still takes the right one out of the set. Only a
swap keeps the set: that is what makes it the hardest error to catch.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, replace
from typing import Any

from proxy.sim.answers import bank
from proxy.sim.answers.model import (
    Content,
    Item,
    JsonDoc,
    Prose,
    Sentence,
    Slot,
    ToolUse,
    parse_sentence,
)
from proxy.sim.answers.pools import CITIES, spoken_date

__all__ = ["Mutation", "gross", "noise", "subtle"]

_FACTORS = (0.6, 0.75, 0.85, 0.9, 1.1, 1.15, 1.25, 1.5)
_DATE = re.compile(r"(\d{1,2}) ([A-Z][a-z]+) (\d{4})")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_COUNTRIES = dict(CITIES)
_APPROX = ("roughly ", "about ", "around ", "approximately ", "some ", "over ", "than ")
_QUALIFIERS = (
    "This reflects the most recent sources, as of {{y:{year}}}.",
    "That matches standard references as of {{y:{year}}}.",
)
Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mutation:
    """The changed content, what kind of change it is and a short ``before -> after``."""

    content: Content
    what: str
    detail: str


def _numeric(text: str) -> str:
    return text.replace(",", "")


def _format_like(original: str, value: float, decimals: int) -> str:
    return f"{value:,.{decimals}f}" if "," in original else f"{value:.{decimals}f}"


def _shift_number(text: str, rng: random.Random) -> str:
    """A plausible wrong number: close in size, same precision and spelling, never equal."""
    plain = _numeric(text)
    decimals = len(plain.split(".")[1]) if "." in plain else 0
    value = float(plain)
    if decimals == 0 and abs(value) < 10:
        near = [v for v in (value - 2, value - 1, value + 1, value + 2) if v >= 1]
        return _format_like(text, rng.choice(near), 0)
    significant = max(2, len(plain.strip("-").replace(".", "").strip("0")))
    magnitude = math.floor(math.log10(abs(value))) if value else 0
    step = 10.0 ** max(magnitude - significant + 1, -decimals)
    new = round(value * rng.choice(_FACTORS) / step) * step
    if new == value:
        new = value + step
    return _format_like(text, new, decimals)


def _wrong_date(text: str, rng: random.Random) -> str:
    match = _DATE.fullmatch(text)
    if match is None:
        return text + " (approximately)"
    day, month, year = int(match.group(1)), match.group(2), int(match.group(3))
    if rng.random() < 0.25:
        return f"{day} {month} {year + rng.choice((-1, 1))}"
    new = day + rng.choice((-5, -3, -2, -1, 1, 2, 3, 5))
    new = new if 1 <= new <= 28 else (day + 3 if day < 25 else day - 3)
    return f"{new} {month} {year}"


def _wrong(slot: Slot, taken: set[str], rng: random.Random) -> str:
    """A wrong value for ``slot`` that is none of the answer's other facts."""
    for _ in range(20):
        if slot.kind in ("name", "negation"):
            value = rng.choice(slot.alternatives)
        elif slot.kind == "year":
            value = str(int(slot.value) + rng.choice((-10, -5, -3, -2, -1, 1, 2, 3, 5, 10)))
        elif slot.kind == "date":
            value = _wrong_date(slot.value, rng)
        elif slot.kind == "money":
            amount, _, scale = slot.value.partition(" ")
            value = " ".join(filter(None, (_shift_number(amount, rng), scale)))
        else:
            value = _shift_number(slot.value, rng)
        if _numeric(value) not in taken or slot.kind in ("name", "negation"):
            return value
    return value


def _mutable(slot: Slot) -> bool:
    return slot.kind not in ("name", "negation") or bool(slot.alternatives)


def _with_parts(prose: Prose, index: int, parts: list[str | Slot]) -> Prose:
    sentences = list(prose.sentences)
    sentences[index] = Sentence(tuple(parts))
    return Prose(tuple(sentences))


def _subtle_prose(prose: Prose, rng: random.Random) -> Mutation:
    places = [
        (i, j, part)
        for i, sentence in enumerate(prose.sentences)
        for j, part in enumerate(sentence.parts)
        if isinstance(part, Slot) and _mutable(part)
    ]
    i, j, slot = rng.choice(places)
    parts = list(prose.sentences[i].parts)
    taken = {_numeric(s.value) for s in prose.slots}
    value = _wrong(slot, taken, rng)
    parts[j] = slot.replaced(value)
    what: str = slot.kind
    if slot.kind == "name":
        for k, other in enumerate(parts):
            if k != j and isinstance(other, Slot) and other.value == value:
                parts[k] = other.replaced(slot.value)  # winner and loser swapped
                what = "swap"
                break
    return Mutation(_with_parts(prose, i, parts), what, f"{slot.value} -> {value}")


def _leaves(value: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list):
        return [leaf for k, v in enumerate(value) for leaf in _leaves(v, (*path, k))]
    return [(path, value)]


def _get(value: Any, path: Path) -> Any:
    for step in path:
        if isinstance(value, dict) and isinstance(step, str):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return None
    return value


def _set(value: Any, path: Path, new: Any) -> Any:
    """A copy of ``value`` with the leaf at ``path`` replaced; the original is untouched."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: _set(v, rest, new) if k == head else v for k, v in value.items()}
    return [_set(v, rest, new) if k == head else v for k, v in enumerate(value)]


def _perturb(leaf: Any, rng: random.Random) -> Any:
    if isinstance(leaf, bool):
        return not leaf
    if isinstance(leaf, int):
        return leaf + rng.choice((-2, -1, 1, 2)) if leaf > 2 else leaf + 1
    if isinstance(leaf, float):
        return float(_shift_number(repr(leaf), rng))
    if isinstance(leaf, str) and _ISO.fullmatch(leaf):
        day = int(leaf[8:]) % 28 + 1
        return f"{leaf[:8]}{day:02d}"
    return f"{leaf}x" if isinstance(leaf, str) else leaf


def _one_leaf(
    value: dict[str, Any], others: list[dict[str, Any]], rng: random.Random
) -> tuple[dict[str, Any], str]:
    """``value`` with one leaf set to what a sibling has there (a plausible wrong value)."""
    leaves = _leaves(value)
    path, leaf = rng.choice(leaves)
    options = [
        _get(o, path) for o in others if type(_get(o, path)) is type(leaf) and _get(o, path) != leaf
    ]
    new = rng.choice(options) if options and not isinstance(leaf, bool) else _perturb(leaf, rng)
    where = "/".join(map(str, path))
    changed: dict[str, Any] = _set(value, path, new)
    return changed, f"{where}: {leaf!r} -> {new!r}"


def subtle(item: Item, rng: random.Random) -> Mutation:
    """``item``'s answer with exactly one fact, leaf or argument wrong."""
    answer = item.answer
    if isinstance(answer, Prose):
        return _subtle_prose(answer, rng)
    others = [s.answer for s in bank.siblings(item)]
    if isinstance(answer, JsonDoc):
        docs = [o.document for o in others if isinstance(o, JsonDoc)]
        document, detail = _one_leaf(answer.document, docs, rng)
        return Mutation(JsonDoc(document), "leaf", detail)
    if isinstance(answer, ToolUse):
        calls = [o.arguments for o in others if isinstance(o, ToolUse)]
        arguments, detail = _one_leaf(answer.arguments, calls, rng)
        return Mutation(ToolUse(answer.name, arguments), "argument", detail)
    raise ValueError(f"{item.key}: a refusal has no fact to get wrong")


def gross(item: Item, rng: random.Random) -> Mutation:
    """A confidently wrong answer: a sibling item's answer, or a call of another tool."""
    answer = item.answer
    if isinstance(answer, ToolUse):
        names = [t["function"]["name"] for t in item.tools]
        wrong = rng.choice([n for n in names if n != answer.name])
        return Mutation(bank.tool_call(wrong, rng), "wrong_tool", f"{answer.name} -> {wrong}")
    near = bank.siblings(item)
    if not near or (item.kind in ("prose", "short_fact") and rng.random() < 0.4):
        near = tuple(i for i in bank.items(item.kind) if i.key != item.key)
    other = rng.choice(near)
    return Mutation(other.answer, "other_item", f"{item.key} -> {other.key}")


def _round(prose: Prose, rng: random.Random) -> Mutation | None:
    places = []
    for i, sentence in enumerate(prose.sentences):
        for j, part in enumerate(sentence.parts):
            if isinstance(part, Slot) and part.kind in ("number", "money"):
                digits = _numeric(part.value.split(" ")[0]).lstrip("-").replace(".", "")
                if len(digits.strip("0")) >= 3:
                    places.append((i, j, part))
    if not places:
        return None
    i, j, slot = rng.choice(places)
    parts = list(prose.sentences[i].parts)
    amount, _, scale = slot.value.partition(" ")
    value = float(_numeric(amount))
    step = 10.0 ** (math.floor(math.log10(abs(value))) - 1)
    rounded = _format_like(amount, round(value / step) * step, 0)
    parts[j] = slot.replaced(" ".join(filter(None, (rounded, scale))))
    before = parts[j - 1]
    if isinstance(before, str) and not before.endswith(_APPROX):
        parts[j - 1] = before + "roughly "
    return Mutation(_with_parts(prose, i, parts), "rounding", f"{slot.value} -> {rounded}")


def _noise_prose(prose: Prose, rng: random.Random) -> Mutation:
    rounded = _round(prose, rng) if rng.random() < 0.6 else None
    if rounded is not None:
        return rounded
    droppable = [i for i, s in enumerate(prose.sentences) if i and s.slots]
    if droppable:
        drop = rng.choice(droppable)
        kept = tuple(s for i, s in enumerate(prose.sentences) if i != drop)
        return Mutation(Prose(kept), "omission", prose.sentences[drop].plain)
    rounded = _round(prose, rng)
    if rounded is not None:
        return rounded
    years = [y for y in ("2022", "2023", "2024") if y not in prose.facts()]
    extra = parse_sentence(rng.choice(_QUALIFIERS).format(year=rng.choice(years)))
    return Mutation(Prose((*prose.sentences, extra)), "qualifier", extra.plain)


def _noise_leaf(document: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], str]:
    """A defensible respelling: a date written out, an amount rounded to whole units."""
    options = [
        (path, leaf)
        for path, leaf in _leaves(document)
        if (isinstance(leaf, str) and _ISO.fullmatch(leaf))
        or (isinstance(leaf, float) and leaf != round(leaf))
    ]
    if not options:
        path, leaf = rng.choice(_leaves(document))
        new: Any = leaf.lower() if isinstance(leaf, str) and leaf != leaf.lower() else None
    else:
        path, leaf = rng.choice(options)
        new = spoken_date(leaf) if isinstance(leaf, str) else float(round(leaf))
    changed: dict[str, Any] = _set(document, path, new)
    return changed, f"{'/'.join(map(str, path))}: {leaf!r} -> {new!r}"


def _respell(value: Any) -> Any:
    """Another defensible spelling of a tool argument: a city with its country, a time
    without seconds, a code or name in lower case; ``None`` when there is none."""
    if not isinstance(value, str):
        return None
    if value in _COUNTRIES:
        return f"{value}, {_COUNTRIES[value]}"
    if _DATETIME.fullmatch(value):
        return value[:-3]
    return value.lower() if value != value.lower() else None


def _noise_call(call: ToolUse, rng: random.Random) -> Mutation:
    defaults = bank.tool(call.name).defaults()
    arguments = dict(call.arguments)
    toggles = [k for k in defaults if k not in arguments or arguments[k] == defaults[k]]
    if toggles:
        key = rng.choice(toggles)
        if key in arguments:
            del arguments[key]
            return Mutation(replace(call, arguments=arguments), "default_omitted", key)
        arguments[key] = defaults[key]
        return Mutation(replace(call, arguments=arguments), "default_passed", key)
    respelled = {k: _respell(v) for k, v in arguments.items()}
    options = [k for k, v in respelled.items() if v is not None]
    if options:
        key = rng.choice(options)
        arguments[key] = respelled[key]
        return Mutation(replace(call, arguments=arguments), "respelled", key)
    changed, detail = _noise_leaf(call.arguments, rng)
    return Mutation(replace(call, arguments=changed), "respelled", detail)


def noise(item: Item, rng: random.Random) -> Mutation:
    """``item``'s answer with a defensible, content-level difference (see the module doc)."""
    answer = item.answer
    if isinstance(answer, Prose):
        return _noise_prose(answer, rng)
    if isinstance(answer, JsonDoc):
        document, detail = _noise_leaf(answer.document, rng)
        return Mutation(JsonDoc(document), "respelled", detail)
    if isinstance(answer, ToolUse):
        return _noise_call(answer, rng)
    raise ValueError(f"{item.key}: a refusal has no content to vary")
