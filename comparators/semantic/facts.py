"""Fact tokens: the words of an answer that a meaning vector cannot see.

A sentence embedding scores "the total is $1,250.00" and "the total is $1,520.00" as the same
sentence (similarity 1.0), "with consent" and "without consent" at 0.93, and a wrong capital
at 0.74, because averaging token vectors dilutes the one token that matters. So the tokens
that carry checkable facts are pulled out and compared exactly, order-free and
format-normalised:

* **money**: an amount with a currency sign or word (``$1,250``, ``1250 dollars``, ``€3.5``);
* **numbers**: every other number, with its unit when it has a known one (``5 km``, ``12%``),
  including small number words (``three``); ``1,250`` = ``1250.0`` = ``1250``; list markers
  (``1.`` at the start of a line) are layout, not facts;
* **names**: capitalised words that are not common English words (``Canberra``, ``Postgres``);
  a possessive ``'s`` is dropped, and a name the other answer uses as an ordinary lower-case
  word ("Data shows" and "the data") is not counted as one. A capitalised word that *starts a
  sentence* is a name only when its lower-case form is not an ordinary word: one the packaged
  embedding model's tokenizer (Llama's 32,000-piece vocabulary, which spells frequent English
  words lower-case as whole pieces) knows, so "Hope this helps" and "Worth adding" are not
  names while "Canberra is the capital" is. Mid-sentence capitals are names unless common
  words like "I";
* **negations**: ``not``, ``no``, ``never``, ``without``, ``n't`` ... with the content word they
  negate (``without consent`` gives ``consent``).

Two answers *conflict* on a kind when each has a fact of that kind the other lacks: a
substitution, such as Canberra replaced by Sydney. A fact on one side only (a terser answer
that leaves a number out, a verbose one that adds a name) is not a conflict: omission and
elaboration are matters of style that the meaning similarity judges. A negation conflicts when
one side negates a word the other side uses without negating it.

This is a heuristic with known limits, stated so nobody mistakes it for understanding: it does
not resolve synonyms of names ("the US" and "the United States" conflict), it cannot see
roles swapped between the same names ("Ferrari beat Mercedes" and "Mercedes beat Ferrari"
state the same set of facts), units it does not know are ignored, and spelled-out numbers
above twenty are not read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources

__all__ = ["FactConflict", "Facts", "conflicts", "extract"]

_MARKUP = re.compile(r"(\*\*|__|`+|^#{1,6}\s+|^\s*(?:[-*+>]|\d{1,3}[.)])\s+)", re.MULTILINE)
_MONEY = re.compile(
    r"(?P<sign>[$€£¥])\s?(?P<a>\d[\d,]*(?:\.\d+)?)(?:\s?(?P<scale>k|m|bn|million|billion)\b)?"
    r"|(?P<b>\d[\d,]*(?:\.\d+)?)\s?(?P<word>dollars?|usd|euros?|eur|pounds?|gbp|yen|jpy)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])(?P<n>-?\d[\d,]*(?:\.\d+)?)(?:\s?(?P<unit>%|[a-zA-Z°µ]+))?")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_CURRENCY = {
    "$": "usd", "dollar": "usd", "dollars": "usd", "usd": "usd",
    "€": "eur", "euro": "eur", "euros": "eur", "eur": "eur",
    "£": "gbp", "pound": "gbp", "pounds": "gbp", "gbp": "gbp",
    "¥": "jpy", "yen": "jpy", "jpy": "jpy",
}  # fmt: skip
_SCALE = {"k": 1e3, "m": 1e6, "million": 1e6, "bn": 1e9, "billion": 1e9}
_UNITS = {
    "%": "%", "percent": "%", "per": "", "km": "km", "kilometers": "km", "kilometres": "km",
    "m": "m", "meters": "m", "metres": "m", "cm": "cm", "mm": "mm", "kg": "kg",
    "kilograms": "kg", "g": "g", "grams": "g", "lb": "lb", "lbs": "lb", "pounds": "lb",
    "mi": "mi", "miles": "mi", "ms": "ms", "milliseconds": "ms", "s": "s", "sec": "s",
    "seconds": "s", "min": "min", "minute": "min", "minutes": "min", "h": "h", "hour": "h",
    "hours": "h", "hrs": "h",
    "days": "day", "day": "day", "weeks": "week", "week": "week", "months": "month",
    "years": "year", "year": "year", "month": "month", "gb": "gb", "mb": "mb", "kb": "kb",
    "tb": "tb",
    "°c": "°c", "°f": "°f", "celsius": "°c", "fahrenheit": "°f", "x": "x",
}  # fmt: skip
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
    if w != "_"  # "one" is as often a pronoun as a number
}
_NEGATORS = frozenset("not no never without none nor cannot neither".split())
# Common words that start sentences or headings: capitalised there, but not names.
_COMMON = frozenset(
    """
    a about above according actually additionally after afterwards again against all also
    although always among an and another answer answers any anyway are as at based be
    because before being below besides best between both brief briefly but by can certainly
    clearly consequently considering conclusion consider currently definitely despite details
    do does during each either especially essentially even eventually every example
    examples finally first firstly for from further furthermore generally given good great
    had has have having he her here hers him his how however i if importantly in indeed
    instead into is it its just key last lastly let like mainly many may meanwhile more
    moreover most mostly much my naturally nevertheless next no nor not note notably now
    of often ok okay on once one only or other otherwise our overall perhaps please plus
    point points possibly practically previously put quick quickly rather really regarding
    result second secondly see short she similarly simply since so some sometimes step steps
    still such summary summarized summing sure than thanks that the their them then there
    therefore these they third thirdly this those though thus to today together too
    typically ultimately under unless until up upon usually we well what whatever when
    whenever where whereas whether which while who whom whose why will with within without
    yes yet you your yours tl dr tldr q a faq info information important tip tips warning
    caution answer background context explanation overview recap takeaway takeaways
    add apply ask avoid build call change check choose click close compare configure copy
    create define delete describe do don enable enter ensure find fix follow get go install
    keep learn look make move need open pick press read remember remove replace restart
    review run save select send set show start stop take test try turn update use verify
    write option options method approach solution problem question result results
    """.split()
)


_VOCABULARY = ("wordllama", "tokenizers/l2_supercat_tokenizer_config.json")
_SENTENCE_END = frozenset(".!?:;\n\"'“‘([")


@cache
def _ordinary_words() -> frozenset[str]:
    """Lower-case whole words of the embedding model's tokenizer; empty when the model is not
    installed, so only :data:`_COMMON` is consulted then."""
    try:
        package, name = _VOCABULARY
        text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
        vocabulary = json.loads(text)["model"]["vocab"]
    except (ModuleNotFoundError, OSError, ValueError, KeyError, TypeError):
        return frozenset()
    return frozenset(
        piece[1:]
        for piece in vocabulary
        if piece.startswith("\u2581")
        and len(piece) > 2
        and piece[1:].isalpha()
        and piece[1:].islower()
    )


def _ordinary(stem: str) -> bool:
    if stem in _COMMON:
        return True
    words = _ordinary_words()
    return stem in words or (stem.endswith("ly") and stem[:-2] in words)


def _starts_sentence(text: str, start: int) -> bool:
    index = start - 1
    while index >= 0 and text[index] in " \t*_`":
        index -= 1
    return index < 0 or text[index] in _SENTENCE_END


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _canonical(value: float) -> str:
    """``1250`` for 1250.0 and 1,250.00; ``0.5`` for .50: one spelling per number."""
    return f"{value:.10g}"


@dataclass(frozen=True, slots=True)
class Facts:
    """The fact tokens of one text, each kind a set of canonical strings."""

    money: frozenset[str] = frozenset()
    numbers: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    negated: frozenset[str] = frozenset()
    words: frozenset[str] = field(default=frozenset(), repr=False)

    def __bool__(self) -> bool:
        return bool(self.money or self.numbers or self.names or self.negated)


@dataclass(frozen=True, slots=True)
class FactConflict:
    """One kind of fact the two answers disagree on, with what each side alone said."""

    kind: str
    incumbent: tuple[str, ...]
    mirror: tuple[str, ...]


def _stem(word: str) -> str:
    word = word.casefold().replace("’", "'")
    if word.endswith("'s"):
        word = word[:-2]
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word


def _money(text: str) -> tuple[set[str], str]:
    """Money facts, and the text with them blanked so they are not read again as numbers."""
    found: set[str] = set()

    def take(match: re.Match[str]) -> str:
        amount = _number(match.group("a") or match.group("b"))
        if amount is None:
            return match.group(0)
        scale = (match.group("scale") or "").casefold()
        currency = _CURRENCY[(match.group("sign") or match.group("word")).casefold()]
        found.add(f"{currency} {_canonical(amount * _SCALE.get(scale, 1.0))}")
        return " "

    return found, _MONEY.sub(take, text)


def _numbers(text: str) -> set[str]:
    found: set[str] = set()
    for match in _NUMBER.finditer(text):
        value = _number(match.group("n"))
        if value is None:
            continue
        unit = _UNITS.get((match.group("unit") or "").casefold(), "")
        found.add(f"{_canonical(value)} {unit}".rstrip())
    return found


@lru_cache(maxsize=4096)
def extract(text: str) -> Facts:
    """The fact tokens of ``text``; markdown emphasis, headings and list markers are removed
    first so a formatted answer and a plain one read the same. Cached: the incumbent's answer
    is read once for the replica and again for each candidate."""
    plain = _MARKUP.sub(" ", text)
    money, rest = _money(plain)
    numbers = _numbers(rest)
    names: set[str] = set()
    negated: set[str] = set()
    words: set[str] = set()
    pending_negation = 0
    for match in _WORD.finditer(rest):
        token = match.group(0)
        lowered = token.casefold().replace("’", "'")
        stem = _stem(token)
        words.add(stem)
        if lowered in _NUMBER_WORDS:
            numbers.add(_canonical(float(_NUMBER_WORDS[lowered])))
        if lowered in _NEGATORS or lowered.endswith("n't"):
            pending_negation = 3
            continue
        capital = token[0].isupper() and len(stem) > 1 and stem not in _COMMON
        if capital and not (_starts_sentence(rest, match.start()) and _ordinary(stem)):
            names.add(stem)
        if pending_negation:
            if stem in _COMMON or len(stem) < 3:
                pending_negation -= 1
            else:
                negated.add(stem)
                pending_negation = 0
    return Facts(
        money=frozenset(money),
        numbers=frozenset(numbers),
        names=frozenset(names),
        negated=frozenset(negated),
        words=frozenset(words),
    )


def _substitution(kind: str, a: frozenset[str], b: frozenset[str]) -> FactConflict | None:
    only_a, only_b = a - b, b - a
    if only_a and only_b:
        return FactConflict(kind, tuple(sorted(only_a)), tuple(sorted(only_b)))
    return None


def _units(numbers: frozenset[str]) -> dict[str, set[str]]:
    by_value: dict[str, set[str]] = {}
    for number in numbers:
        value, _, unit = number.partition(" ")
        by_value.setdefault(value, set())
        if unit:
            by_value[value].add(unit)
    return by_value


def _number_conflict(a: frozenset[str], b: frozenset[str]) -> FactConflict | None:
    """Values first; then units, only where both sides give one for the same value: "5 km"
    and "5" agree, "5 km" and "5 mi" do not."""
    units_a, units_b = _units(a), _units(b)
    values = _substitution("number", frozenset(units_a), frozenset(units_b))
    if values is not None:
        return values
    clashes = sorted(
        value
        for value in units_a.keys() & units_b.keys()
        if units_a[value] and units_b[value] and not units_a[value] & units_b[value]
    )
    if not clashes:
        return None
    return FactConflict(
        "unit",
        tuple(f"{v} {'/'.join(sorted(units_a[v]))}" for v in clashes),
        tuple(f"{v} {'/'.join(sorted(units_b[v]))}" for v in clashes),
    )


def conflicts(incumbent: Facts, mirror: Facts) -> list[FactConflict]:
    """Where the two answers state different facts; empty when they agree or one only adds
    to or leaves out from the other."""
    found = [
        _substitution("money", incumbent.money, mirror.money),
        _number_conflict(incumbent.numbers, mirror.numbers),
        # A name the other side uses in lower case ("Data shows" / "the data") is a word.
        _substitution("name", incumbent.names - mirror.words, mirror.names - incumbent.words),
    ]
    negation_a = sorted(w for w in incumbent.negated - mirror.negated if w in mirror.words)
    negation_b = sorted(w for w in mirror.negated - incumbent.negated if w in incumbent.words)
    if negation_a or negation_b:
        found.append(FactConflict("negation", tuple(negation_a), tuple(negation_b)))
    return [c for c in found if c is not None]
