"""Word an answer's content in a style, the way a sampling model would: differently every time.

Every call draws its wording from the caller's RNG (openers, connectives, synonyms, sentence
order, number spelling, layout), so two calls with two RNGs word the same content two ways,
which is the incumbent's own nondeterminism, while every fact token comes out of a
:class:`~proxy.sim.answers.model.Slot` unchanged. Styles:

* ``same``: the incumbent's habits: plain prose, the key sentence first, light rewording.
* ``verbose``: a longer opener and closer, connectives, and one to three elaboration sentences
  that add no number, name or negation.
* ``terse``: few pleasantries; context sentences and trailing clauses without facts are
  dropped, hedges (``roughly``) often too, fact sentences are kept (sometimes run together
  with semicolons), so no fact is lost.
* ``own``: its own phrasing: heavy rewording, other connectives, supporting sentences reordered,
  sometimes the key sentence last, numbers spelled its own way (``1250``, ``1,250 dollars``).
* ``markdown``: headings or bold labels, bullets for supporting sentences (sometimes only
  those with facts), a bold figure.

Numbers written with thousands separators may lose them (``8,849`` -> ``8849``); money may be
``$1,250``, ``$1,250.00`` or ``1,250 dollars``: the same fact token for a comparator that
normalises numbers, as the brief for these comparators requires. JSON and tool arguments keep
every leaf; only key order, spacing and (in markdown) a code fence change.
"""

from __future__ import annotations

import functools
import json
import random
import re
from dataclasses import dataclass, replace
from typing import Any

from proxy.sim.answers.model import Content, JsonDoc, Prose, Refusal, Sentence, Slot, Style
from proxy.sim.answers.refusals import refusal
from proxy.sim.answers.words import (
    CLOSERS,
    CONNECTIVES,
    ELABORATIONS,
    HEADINGS,
    OPENERS,
    RESTATEMENTS,
    SYNONYMS,
)

__all__ = ["Written", "write", "write_arguments", "write_json", "write_prose"]


@dataclass(frozen=True)
class Written:
    """A side's answer as text, plus its tool calls as ``(name, arguments JSON)``."""

    text: str
    tool_calls: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Voice:
    """How often a style reaches for each device; the RNG decides each time."""

    synonyms: float  # chance each swappable phrase is reworded
    connectives: float  # chance a supporting sentence gets a connective
    opener: float
    closer: float
    commas: float  # chance thousands separators are kept
    money: tuple[float, float, float]  # shares of $1,250 / $1,250.00 / 1,250 dollars


_VOICES: dict[Style, _Voice] = {
    "same": _Voice(0.25, 0.2, 0.45, 0.3, 0.9, (0.8, 0.1, 0.1)),
    "verbose": _Voice(0.35, 0.55, 0.95, 0.85, 0.8, (0.6, 0.1, 0.3)),
    "terse": _Voice(0.6, 0.0, 0.3, 0.0, 0.7, (0.9, 0.0, 0.1)),
    "own": _Voice(0.75, 0.45, 0.75, 0.5, 0.5, (0.4, 0.2, 0.4)),
    "markdown": _Voice(0.6, 0.0, 0.3, 0.35, 0.9, (0.8, 0.2, 0.0)),
}
_FIGURES = ("number", "money", "year", "date")
_HEDGES = re.compile(r"\b(?:roughly|about|approximately|some) (?=\$?\d)")
_MONEY = re.compile(r"([\d,]+(?:\.\d+)?)(?: ([a-z]+))?")
_KEYS = sorted(SYNONYMS, key=len, reverse=True)
_SWAPPABLE = re.compile(
    r"\b(?:(an?|An?) )?(" + "|".join(re.escape(k) for k in _KEYS) + r")\b", re.IGNORECASE
)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _article(word: str, capital: bool) -> str:
    article = "an" if word[:1].lower() in "aeiou" else "a"
    return article.capitalize() if capital else article


@functools.lru_cache(maxsize=4096)
def _swappable(text: str) -> tuple[tuple[int, int, str | None, str], ...]:
    """Where ``text`` has swappable phrases: ``(start, end, article, phrase)``. The bank's
    wording is a few hundred fixed strings, so the regex runs once per string, not per call."""
    return tuple((m.start(), m.end(), m.group(1), m.group(2)) for m in _SWAPPABLE.finditer(text))


def _reword(text: str, rng: random.Random, rate: float) -> str:
    """Swap ordinary phrases for synonyms, fixing a/an and keeping a capital first letter."""
    spans = _swappable(text)
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for start, end, article, phrase in spans:
        if rng.random() >= rate:
            continue
        new = rng.choice(SYNONYMS[phrase.lower()])
        if phrase[0].isupper() and article is None:
            new = new[0].upper() + new[1:]
        if article is not None:
            new = f"{_article(new, article[0].isupper())} {new}"
        out += (text[position:start], new)
        position = end
    out.append(text[position:])
    return "".join(out)


@dataclass(frozen=True)
class _Numbers:
    commas: bool
    money: str  # "symbol", "cents" or "word"


def _number(value: str, numbers: _Numbers) -> str:
    return value if numbers.commas else value.replace(",", "")


def _money(value: str, numbers: _Numbers) -> str:
    match = _MONEY.fullmatch(value)
    if match is None:
        return f"${value}"
    amount, scale = _number(match.group(1), numbers), match.group(2)
    if numbers.money == "cents" and "." not in amount and scale is None:
        amount += ".00"
    if numbers.money == "word":
        return f"{amount}{' ' + scale if scale else ''} dollars"
    return f"${amount}{' ' + scale if scale else ''}"


def _slot(slot: Slot, numbers: _Numbers) -> str:
    if slot.kind == "number":
        return _number(slot.value, numbers)
    if slot.kind == "money":
        return _money(slot.value, numbers)
    return slot.value


def _sentence(
    sentence: Sentence, rng: random.Random, voice: _Voice, numbers: _Numbers, bold: bool = False
) -> str:
    """The sentence in this answer's wording; ``bold`` marks its first figure in markdown."""
    out = []
    for part in sentence.parts:
        if isinstance(part, str):
            out.append(_reword(part, rng, voice.synonyms))
        elif bold and part.kind in _FIGURES:
            out.append(f"**{_slot(part, numbers)}**")
            bold = False
        else:
            out.append(_slot(part, numbers))
    return "".join(out)


def _order(prose: Prose, style: Style, rng: random.Random) -> list[Sentence]:
    key, supports = prose.sentences[0], list(prose.sentences[1:])
    if style == "terse" or (style == "markdown" and rng.random() < 0.4):
        return [key, *(s for s in supports if s.slots)]
    if style == "own" and rng.random() < 0.7:
        rng.shuffle(supports)
    elif len(supports) >= 2 and rng.random() < 0.2:
        i = rng.randrange(len(supports) - 1)
        supports[i], supports[i + 1] = supports[i + 1], supports[i]
    if style == "own" and supports and rng.random() < 0.2:
        return [*supports, key]
    return [key, *supports]


def _clip(sentence: Sentence) -> Sentence:
    """The sentence without a trailing clause that holds no fact (``, antennas included``)."""
    tail = sentence.parts[-1]
    if len(sentence.parts) < 2 or not isinstance(tail, str) or ", " not in tail:
        return sentence
    return Sentence((*sentence.parts[:-1], tail[: tail.rindex(", ")] + "."))


def _connect(text: str, style: Style, rng: random.Random, voice: _Voice) -> str:
    if rng.random() >= voice.connectives:
        return text
    return rng.choice(CONNECTIVES[style]) + _lower_first(text)


def _open(first: str, style: Style, rng: random.Random, voice: _Voice) -> str:
    if rng.random() >= voice.opener:
        return first
    opener = rng.choice(OPENERS[style])
    return opener + (_lower_first(first) if opener.endswith((", ", ": ", "so ")) else first)


def write_prose(prose: Prose, style: Style, rng: random.Random) -> str:
    """``prose`` worded in ``style``; every slot's fact token appears in the text."""
    voice = _VOICES[style]
    commas, u_money = rng.random() < voice.commas, rng.random()
    symbol, cents, _ = voice.money
    money = "symbol" if u_money < symbol else "cents" if u_money < symbol + cents else "word"
    numbers = _Numbers(commas, money)
    bold = style == "markdown" and rng.random() < 0.5
    order = _order(prose, style, rng)
    if style == "terse":
        order = [_clip(s) if rng.random() < 0.5 else s for s in order]
    texts = [_sentence(s, rng, voice, numbers, bold and not i) for i, s in enumerate(order)]
    if style in ("terse", "markdown") and rng.random() < 0.5:
        texts = [_HEDGES.sub("", t) for t in texts]
    texts[1:] = [_connect(t, style, rng, voice) for t in texts[1:]]
    if style == "verbose":
        texts = _elaborate(texts, prose, rng, voice, numbers)
    closer = rng.choice(CLOSERS[style]) if rng.random() < voice.closer else ""
    if style == "markdown":
        return _markdown(texts, closer, rng)
    if style == "terse" and len(texts) > 1 and rng.random() < 0.5:
        joined = [texts[0], *(_lower_first(t) for t in texts[1:])]
        texts = ["; ".join(t.rstrip(".") for t in joined) + "."]
    texts[0] = _open(texts[0], style, rng, voice)
    return " ".join([*texts, closer]).strip()


def _elaborate(
    texts: list[str], prose: Prose, rng: random.Random, voice: _Voice, numbers: _Numbers
) -> list[str]:
    """Longer without new facts: a generic remark or two (fewer for short answers, whose
    meaning they would drown) and often a reworded restatement of the key sentence."""
    extra = rng.randint(0, 1) if len(texts) <= 2 else rng.randint(1, 2)
    for _ in range(extra):
        texts.insert(rng.randint(1, len(texts)), rng.choice(ELABORATIONS))
    if rng.random() < 0.6:
        again = _sentence(prose.sentences[0], rng, replace(voice, synonyms=0.8), numbers)
        texts.append(rng.choice(RESTATEMENTS) + _lower_first(again))
    return texts


def _markdown(texts: list[str], closer: str, rng: random.Random) -> str:
    lead, details = rng.choice(HEADINGS)
    blocks = [lead + texts[0]]
    opener = "" if lead else rng.choice(OPENERS["markdown"]).strip()
    if opener:
        blocks.insert(0, opener)
    if len(texts) > 1:
        bullet = rng.choice(("- ", "* "))
        items = "\n".join(bullet + t for t in texts[1:])
        blocks.append(f"{details}\n{items}" if details else items)
    if closer:
        blocks.append(closer)
    return "\n\n".join(blocks)


def _ordered(value: dict[str, Any], rng: random.Random, shuffle: float) -> dict[str, Any]:
    keys = list(value)
    if len(keys) > 1 and rng.random() < shuffle:
        rng.shuffle(keys)
    return {k: value[k] for k in keys}


def write_json(document: dict[str, Any], style: Style, rng: random.Random) -> str:
    """The same leaves, spelled the way this answer happens to spell JSON."""
    shuffle = {"own": 0.6, "verbose": 0.2}.get(style, 0.1)
    ordered = _ordered(document, rng, shuffle)
    if style == "terse" or (style == "own" and rng.random() < 0.5):
        text = json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))
    elif style in ("verbose", "markdown") or rng.random() < 0.5:
        text = json.dumps(ordered, ensure_ascii=False, indent=rng.choice((2, 2, 4)))
    else:
        text = json.dumps(ordered, ensure_ascii=False)
    return f"```json\n{text}\n```" if style == "markdown" else text


def write_arguments(arguments: dict[str, Any], rng: random.Random) -> str:
    """Tool arguments as a model emits them: compact or spaced, keys mostly in schema order."""
    ordered = _ordered(arguments, rng, 0.15)
    separators = (",", ":") if rng.random() < 0.5 else (", ", ": ")
    return json.dumps(ordered, ensure_ascii=False, separators=separators)


def write(content: Content, style: Style, rng: random.Random) -> Written:
    """Any content in ``style``: prose, a JSON document, a tool call or a refusal."""
    if isinstance(content, Prose):
        return Written(write_prose(content, style, rng))
    if isinstance(content, JsonDoc):
        return Written(write_json(content.document, style, rng))
    if isinstance(content, Refusal):
        return Written(content.text or refusal(rng))
    return Written("", ((content.name, write_arguments(content.arguments, rng)),))
