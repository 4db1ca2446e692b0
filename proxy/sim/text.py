"""Wording for the simulated model server: prose, refusals, tool arguments and JSON.

A shadow proxy is only testable if the fake upstreams behave like models do: the same prompt
gives the same answer (so an incumbent and a candidate agree unless told otherwise), sampling
makes the wording wobble a little (``nondeterminism``), and some prompts get a different answer
altogether (``divergence_rate``). Everything here is a pure function of its arguments and a
caller-supplied RNG, so it is cheap, reproducible and needs no network.

A prompt that is one of the content bank's questions (:mod:`proxy.sim.answers`) is answered
from the bank instead (:func:`bank_answer`): real facts worded in a style, so the release
gate's semantic check, which compares meaning and exact facts, has something to judge. The
phrase-bank prose of :func:`compose` stays for every other prompt.

Token counts use the usual four-characters-per-token rule of thumb, rounded up, which works for
prose and for compact JSON alike.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import re
from collections.abc import Sequence
from typing import Any

from proxy.sim import judge
from proxy.sim.answers import (
    KINDS,
    STYLES,
    Content,
    Item,
    Prose,
    Style,
    Written,
    gross,
    items,
    noise,
    subtle,
    write,
)
from proxy.sim.profile import SimProfile, StyleChoice

__all__ = [
    "bank_answer",
    "bank_content",
    "bank_item",
    "cached_tokens",
    "compose",
    "estimate_tokens",
    "fill_schema",
    "json_answer",
    "message_text",
    "pick_style",
    "pick_tools",
    "refusal",
    "split_pieces",
    "stable_fraction",
    "stable_hex",
    "truncate_to_tokens",
]


def _bag(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _list(phrases: str) -> list[str]:
    return phrases.split("|")


_STOPWORDS = _bag(
    "about above after again also because been before being between both could does doing "
    "down during each from have having here into just more most other over same should some "
    "such than that their them then there these they this those through under until very "
    "what when where which while will with would your please tell explain write give make "
    "show want need know like reduce improve using describe summarize summarise create build "
    "find call compare list choose help tune configure work works"
)
# Topic banks: the domain sharing most words with the prompt lends its phrases to the answer.
_DOMAINS = (
    (
        _bag("code python function bug error test tests api library class refactor"),
        _list(
            "the error handling path|a small reproducible example|the test suite|"
            "the public interface|clear naming|the call stack"
        ),
    ),
    (
        _bag("data database query sql table index redis cache schema records"),
        _list(
            "the query plan|an index on the filtered column|the schema|stale cache entries|"
            "the batch size|the write path"
        ),
    ),
    (
        _bag("latency server network proxy kubernetes cpu memory timeout load traffic"),
        _list(
            "tail latency|connection reuse|the timeout budget|back-pressure|"
            "the slowest dependency|resource limits"
        ),
    ),
)
_GENERAL = _list(
    "the main goal|the available evidence|a few concrete examples|the underlying assumptions|"
    "the trade-offs involved|the wider context"
)

_BASE = (
    "{Kw} matters here because it shapes {phrase}.",
    "A good first step is to look at {kw} together with {phrase}.",
    "In most cases {kw} works well when {phrase} is kept simple.",
    "It helps to check {phrase} before changing {kw}.",
    "The usual trade-off is between {kw} and {phrase}.",
    "If {kw} behaves unexpectedly, {phrase} is often the cause.",
    "Keep in mind that {kw} depends on {phrase}.",
    "A careful approach is to measure {phrase} and then adjust {kw}.",
)
_DIVERGENT = (
    "Honestly, {kw} is rarely the real problem; {phrase} usually is.",
    "I would ignore {kw} at first and rebuild {phrase} from scratch.",
    "There is no single answer about {kw}, since {phrase} varies so much.",
    "One unusual option is to drop {kw} entirely and rely on {phrase}.",
    "Contrary to common advice, {phrase} should come before {kw}.",
    "Start by writing down what {kw} must never do, then revisit {phrase}.",
)
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "good": ("sound", "solid"),
    "often": ("frequently", "commonly"),
    "usual": ("common", "typical"),
    "helps": ("pays off", "is useful"),
    "careful": ("cautious", "prudent"),
    "simple": ("straightforward", "plain"),
    "cause": ("culprit", "reason"),
    "check": ("verify", "inspect"),
    "measure": ("profile", "benchmark"),
    "most": ("many",),
    "matters": ("counts",),
    "depends": ("relies",),
    "first": ("initial",),
    "rarely": ("seldom",),
    "unusual": ("uncommon",),
}
_LEAD_INS = ("Generally, ", "In practice, ", "Put simply, ", "As a rule, ")
_REFUSALS = (
    "I'm sorry, but I can't help with that.",
    "I'm sorry, but I can't assist with that request.",
)
_STRING_HINTS = {
    "city": "Paris",
    "location": "Paris, France",
    "country": "France",
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "date": "2024-05-01",
    "time": "12:00",
    "url": "https://example.com",
    "unit": "celsius",
    "language": "en",
}
_FORMATS = {
    "date-time": "2024-05-01T12:00:00Z",
    "date": "2024-05-01",
    "email": "ada@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_PIECE_RE = re.compile(r"\S{1,12}\s*|\s+")


def stable_fraction(*parts: object) -> float:
    """A number in [0, 1) fixed by ``parts``: Python's own ``hash`` is salted per process."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def stable_hex(*parts: object, size: int = 12) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=size).hexdigest()


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def cached_tokens(prompt_tokens: int) -> int:
    """Prompts of 128 tokens or more report half their tokens as cached, in 64-token blocks.

    Real prefix caches work in whole blocks and only on long prompts; the exact share does not
    matter, only that it is deterministic and sometimes non-zero.
    """
    return 0 if prompt_tokens < 128 else prompt_tokens // 2 // 64 * 64


def truncate_to_tokens(text: str, limit: int) -> tuple[str, bool]:
    """Cut ``text`` to at most ``limit`` estimated tokens, at a word boundary when there is one."""
    if estimate_tokens(text) <= limit:
        return text, False
    cut = text[: max(limit, 0) * 4]
    head = cut.rsplit(" ", 1)[0] if " " in cut else cut
    return head.rstrip(), True


def split_pieces(text: str, per_chunk: int) -> list[str]:
    """Split into stream deltas of ``per_chunk`` words; ``"".join`` gives back ``text`` exactly.

    Long runs without spaces (compact JSON) are cut every 12 characters, so tool arguments
    stream in fragments too.
    """
    units = _PIECE_RE.findall(text)
    step = max(per_chunk, 1)
    return ["".join(units[i : i + step]) for i in range(0, len(units), step)]


def message_text(content: Any) -> str:
    """Text of a message ``content`` that is a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return " ".join(p for p in parts if isinstance(p, str))
    return ""


def _keywords(prompt: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in re.findall(r"[a-z][a-z\-]{3,}", prompt.lower()):
        if word not in _STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)[:5] or ["this question"]


def _phrases(keywords: Sequence[str]) -> list[str]:
    triggers, phrases = max(_DOMAINS, key=lambda d: len(d[0].intersection(keywords)))
    return phrases + _GENERAL if triggers.intersection(keywords) else _GENERAL


def _vary(sentence: str, rng: random.Random) -> str:
    words = sentence.split(" ")
    swappable = [i for i, w in enumerate(words) if w.strip(".,;").lower() in _SYNONYMS]
    if swappable and rng.random() < 0.7:
        i = rng.choice(swappable)
        bare = words[i].strip(".,;")
        new = rng.choice(_SYNONYMS[bare.lower()])
        words[i] = words[i].replace(bare, new.capitalize() if bare[0].isupper() else new)
        return " ".join(words)
    return rng.choice(_LEAD_INS) + sentence[0].lower() + sentence[1:]


def compose(
    prompt: str,
    *,
    words: int,
    divergent: bool,
    nondeterminism: float,
    rng: random.Random,
) -> str:
    """An answer of roughly ``words`` words about the prompt's keywords.

    The skeleton depends only on the prompt (and ``divergent``), so every simulator built from
    any profile says the same thing; ``rng`` only decides which sentences get reworded, with
    probability ``nondeterminism`` each.
    """
    keywords = _keywords(prompt)
    phrases = _phrases(keywords)
    base = random.Random(stable_hex(prompt, "divergent" if divergent else "base"))
    target = max(1, round(words * (0.75 + 0.5 * stable_fraction(prompt, "length"))))
    bank = _DIVERGENT if divergent else _BASE
    templates = base.sample(bank, k=len(bank))  # cycled: no repeats until all are used
    opener = "Let me take a different angle on {kw}." if divergent else "Here is how I see {kw}."
    sentences = [opener.format(kw=keywords[0])]
    count = len(sentences[0].split())
    while count < target:
        kw = keywords[len(sentences) % len(keywords)]
        sentence = templates[len(sentences) % len(templates)].format(
            kw=kw, Kw=kw[0].upper() + kw[1:], phrase=base.choice(phrases)
        )
        sentences.append(sentence)
        count += len(sentence.split())
    if nondeterminism > 0:
        sentences = [_vary(s, rng) if rng.random() < nondeterminism else s for s in sentences]
    return " ".join(sentences)


def refusal(prompt: str) -> str:
    return _REFUSALS[int(stable_fraction(prompt, "refusal") * len(_REFUSALS))]


def json_answer(prompt: str, text: str) -> dict[str, Any]:
    """The object answered in JSON mode when no schema says what it should contain."""
    return {"answer": text, "keywords": _keywords(prompt)[:3], "confidence": 0.8}


def fill_schema(schema: Any, key: str, text: str = "", root: Any = None, depth: int = 0) -> Any:
    """A plausible instance of a JSON schema, fixed by ``key`` (the prompt plus a path).

    Handles what function-calling and structured-output schemas use in practice: objects,
    arrays, scalars, ``enum``/``const``, ``anyOf``/``oneOf``/``allOf`` and local ``$ref``s.
    """
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 8:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return fill_schema(target, key, text, root, depth + 1)
    if schema.get("enum"):
        options = schema["enum"]
        return options[int(stable_fraction(key) * len(options))]
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = [
            o
            for o in schema.get(combinator) or []
            if isinstance(o, dict) and o.get("type") != "null"
        ]
        if options:
            return fill_schema(options[0], key, text, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    fraction = stable_fraction(key)
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {n: fill_schema(s, f"{key}.{n}", text, root, depth + 1) for n, s in props.items()}
    if kind == "array":
        count = min(max(int(schema.get("minItems", 1)), 1), 3)
        items = schema.get("items")
        return [fill_schema(items, f"{key}[{i}]", text, root, depth + 1) for i in range(count)]
    if kind == "integer":
        low = int(schema.get("minimum", 1))
        return low + int(fraction * max(int(schema.get("maximum", low + 9)) - low + 1, 1))
    if kind == "number":
        return round(float(schema.get("minimum", 0)) + fraction * 100, 2)
    if kind == "boolean":
        return fraction < 0.5
    if kind == "string":
        return _string_value(key, schema, text)
    return None


def _string_value(key: str, schema: dict[str, Any], text: str) -> str:
    if schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    name = key.rsplit(".", 1)[-1].lower()
    for hint, value in _STRING_HINTS.items():
        if hint in name:
            return value
    if name in {"query", "q", "topic", "search", "keywords"}:
        return " ".join(_keywords(text)[:3])
    first = text.split(". ")[0].rstrip(".")
    return " ".join(first.split()[:12]) or "example"


def pick_tools(names: Sequence[str], prompt: str, tool_choice: Any, parallel: bool) -> list[str]:
    """Which of the offered functions to call, the way a model tends to decide.

    ``tool_choice`` ``"none"`` never calls; a named function is always called; ``"required"``
    calls the mentioned functions or else the first one; ``"auto"`` calls only functions whose
    name (or its words) appears in the prompt.
    """
    if not names or tool_choice == "none":
        return []
    if isinstance(tool_choice, dict):
        forced = tool_choice.get("name") or (tool_choice.get("function") or {}).get("name")
        if isinstance(forced, str) and forced in names:
            return [forced]
    low = prompt.lower()
    mentioned = [n for n in names if n.lower() in low or n.lower().replace("_", " ") in low]
    if not mentioned and tool_choice == "required":
        mentioned = [names[0]]
    return mentioned if parallel else mentioned[:1]


@functools.cache
def _bank() -> dict[str, Item]:
    return {item.question.strip(): item for kind in KINDS for item in items(kind)}


def bank_item(prompt: str) -> Item | None:
    """The bank item whose question ``prompt`` is, exactly (give or take outer white space):
    anything else, even a near miss, is not a bank question and keeps the phrase-bank path."""
    return _bank().get(prompt.strip())


def bank_content(item: Item, profile: SimProfile, rng: random.Random) -> Content:
    """What the model ``profile`` describes says to ``item``, before any wording.

    Wrong on a share ``content_error_rate`` of questions, picked by a stable hash of the
    profile's name and the question: a model that has a fact wrong has it wrong every time it
    is asked, so the mutation comes from a stable RNG too (the lower half of the share subtle,
    the upper half gross). Otherwise the bank's answer or, at ``content_noise_rate`` per call,
    a defensible variant of it. A refusable item is always its refusal.
    """
    if item.kind == "refusable":
        return item.answer
    share = stable_fraction(profile.name, item.question, "content")
    if content_is_wrong(item, profile):
        stable = random.Random(stable_hex(profile.name, item.question, "mutation"))
        mutate = subtle if share < profile.content_error_rate / 2 else gross
        return mutate(item, stable).content
    if rng.random() < profile.content_noise_rate:
        return noise(item, rng).content
    return item.answer


def content_is_wrong(item: Item, profile: SimProfile) -> bool:
    """Whether ``profile`` answers ``item`` wrongly (see :func:`bank_content`)."""
    share = stable_fraction(profile.name, item.question, "content")
    return item.kind != "refusable" and share < profile.content_error_rate


def pick_style(style: StyleChoice, rng: random.Random) -> Style:
    """One answer's style: ``style`` itself, or a draw from ``mixed`` (every style) or a list."""
    if style == "mixed":
        return rng.choice(STYLES)
    return style if isinstance(style, str) else rng.choice(style)


def bank_answer(
    item: Item, profile: SimProfile, fmt: tuple[str, Any], rng: random.Random
) -> Written:
    """``profile``'s answer to ``item``, worded afresh from ``rng`` in one of its styles, for a
    request whose output format is ``fmt`` (kind and schema, as the wire builders read it).

    In JSON mode a document is never fenced (the API guarantees bare JSON, so a markdown
    writer indents it instead), and prose is wrapped the way :func:`json_answer` and
    :func:`fill_schema` wrap phrase-bank prose.
    """
    content = bank_content(item, profile, rng)
    style = pick_style(profile.style, rng)
    if fmt[0] in ("json_object", "json_schema") and style == "markdown":
        style = "verbose"
    written = write(content, style, rng)
    if isinstance(content, Prose) and fmt[0] == "json_object":
        written = Written(json.dumps(json_answer(item.question, written.text)))
    elif isinstance(content, Prose) and fmt[0] == "json_schema":
        written = Written(json.dumps(fill_schema(fmt[1], item.question, written.text)))
    wrong = content_is_wrong(item, profile)  # what the simulated judge knows (proxy.sim.judge)
    for said in (written.text, *(arguments for _, arguments in written.tool_calls)):
        judge.remember(said, wrong=wrong)
    return written
