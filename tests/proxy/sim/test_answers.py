"""The answer content bank, its writer and its mutations, checked the way the comparators will
read them: fact tokens (digit strings, mid-sentence capitalised names, negations) as sets,
JSON leaves and tool arguments exactly, wording with rapidfuzz."""

from __future__ import annotations

import ast
import json
import random
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
from rapidfuzz.fuzz import token_sort_ratio

from proxy.sim.answers import (
    KINDS,
    STYLES,
    Item,
    JsonDoc,
    Kind,
    Prose,
    Refusal,
    Style,
    ToolUse,
    gross,
    items,
    noise,
    refusal,
    subtle,
    words,
    write,
    write_prose,
)
from proxy.sim.answers.model import parse_sentence
from proxy.sim.answers.refusals import CORES

PACKAGE = Path(__file__).resolve().parents[3] / "proxy" / "sim" / "answers"
TEXT_ITEMS = items("prose") + items("short_fact")
DIGITS = re.compile(r"\d[\d,]*(?:\.\d+)?")
# A capitalised word that does not start a sentence, a line or a bullet: a name, to a reader.
NAME = re.compile(r"(?<=[a-z0-9,;)] )[A-Z][\w'-]*")
NEGATION = re.compile(r"\b(?:not|no|never|without)\b|n't", re.IGNORECASE)
# The stock openings a phrase-list refusal detector knows; most real refusals avoid them.
STOCK_REFUSALS = (
    "i'm sorry, but i can",
    "i apologize, but i can",
    "i can't help with",
    "i cannot help with",
    "i can't assist",
    "i cannot assist",
    "i'm unable to help",
    "i must decline",
)
NUMBER_WORDS = re.compile(r"\b(?:one|two|three|four|five|six|seven|eight|nine|ten)\b", re.I)


def normalize(text: str) -> str:
    """What the text comparator compares: casefolded words, no punctuation."""
    return " ".join(re.sub(r"[^\w\s]+", "", text.casefold()).split())


def facts(text: str) -> tuple[set[str], set[str], set[str]]:
    """The fact tokens a comparator compares as sets; ``1,250``, ``1250`` and ``1,250.00``
    are one number."""
    numbers = {d.replace(",", "").removesuffix(".00") for d in DIGITS.findall(text)}
    negations = {m.group(0).lower() for m in NEGATION.finditer(text)}
    return numbers, set(NAME.findall(text)), negations


def canonical(prose: Prose) -> str:
    return " ".join(s.plain for s in prose.sentences)


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in leaves(item, f"{path}/{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in leaves(item, f"{path}/{i}").items()
        }
    return {path: value}


def unfence(text: str) -> str:
    return text.removeprefix("```json\n").removesuffix("\n```")


def prose(item: Item) -> Prose:
    assert isinstance(item.answer, Prose)
    return item.answer


def test_the_bank_is_large_and_varied() -> None:
    assert len(items("prose")) >= 60
    assert len({i.domain for i in items("prose")}) >= 10
    assert len(items("short_fact")) >= 30
    assert len(items("refusable")) >= 20
    assert all(isinstance(i.answer, Refusal) for i in items("refusable"))
    assert len({i.domain for i in items("json")}) >= 12
    for item in items("json"):
        assert isinstance(item.answer, JsonDoc)
        assert 4 <= len(leaves(item.answer.document)) <= 8, item.key
        assert item.response_format == {"type": "json_object"}
        assert all(key in item.question for key in item.answer.document)
    assert len({i.domain for i in items("tool_call")}) >= 10
    for item in items("tool_call"):
        assert isinstance(item.answer, ToolUse)
        offered = {t["function"]["name"]: t["function"]["parameters"] for t in item.tools}
        assert 2 <= len(offered) <= 4
        assert item.answer.name in offered
        schema = offered[item.answer.name]
        assert set(schema["required"]) <= set(item.answer.arguments) <= set(schema["properties"])
    keys = [i.key for kind in KINDS for i in items(kind)]
    assert len(keys) == len(set(keys))


def test_wording_outside_slots_never_carries_a_fact() -> None:
    """What a writer may reword must hold no digit, name, negation or number word; and every
    item must have a fact that can be made wrong."""
    problems = []
    for item in TEXT_ITEMS:
        for sentence in prose(item).sentences:
            first = sentence.parts[0]
            if not isinstance(first, str) or not first[:1].isupper():
                problems.append(f"{item.key}: starts with a slot: {sentence.plain}")
            for n, part in enumerate(sentence.parts):
                if isinstance(part, str):
                    text = part[1:] if n == 0 else part
                    if re.search(r"\d|\b[A-Z]", text) or NEGATION.search(text):
                        problems.append(f"{item.key}: fact outside a slot: {part!r}")
                    if NUMBER_WORDS.search(text):
                        problems.append(f"{item.key}: number word: {part!r}")
                elif part.kind == "negation" and not part.alternatives:
                    problems.append(f"{item.key}: negation without its opposite: {part.value}")
        mutable = [s for s in prose(item).slots if s.kind not in ("name", "negation")]
        if not mutable and not any(s.alternatives for s in prose(item).slots):
            problems.append(f"{item.key}: nothing to get wrong")
    assert problems == []


def test_the_writers_own_phrases_carry_no_fact() -> None:
    phrases = [
        *(p for group in words.OPENERS.values() for p in group),
        *(p for group in words.CONNECTIVES.values() for p in group),
        *(p for group in words.CLOSERS.values() for p in group),
        *words.ELABORATIONS,
        *words.RESTATEMENTS,
        *(p for pair in words.HEADINGS for p in pair),
        *words.SYNONYMS,
        *(p for group in words.SYNONYMS.values() for p in group),
    ]
    carrying = [p for p in phrases if DIGITS.search(p) or NEGATION.search(p) or NAME.search(p)]
    assert carrying == []


def test_a_slot_of_an_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown slot kind 'z'"):
        parse_sentence("Built in {z:1889}.")


def test_every_style_keeps_every_fact() -> None:
    problems = []
    for item in TEXT_ITEMS:
        expected = facts(canonical(prose(item)))
        for style in STYLES:
            for seed in range(4):
                text = write_prose(prose(item), style, random.Random(f"{item.key}:{style}:{seed}"))
                if facts(text) != expected:
                    problems.append(f"{item.key} {style}: {text}")
    assert problems == []


def test_paraphrases_change_the_wording() -> None:
    """Another style words a prose answer differently from the incumbent's: rapidfuzz's token
    sort ratio (what the text comparator scores) stays well below 100."""
    overall = []
    for style in STYLES[1:]:
        ratios = []
        for item in items("prose"):
            for seed in range(3):
                same = write_prose(prose(item), "same", random.Random(f"i:{item.key}:{seed}"))
                other = write_prose(prose(item), style, random.Random(f"c:{item.key}:{seed}"))
                ratios.append(token_sort_ratio(normalize(same), normalize(other)))
        assert statistics.mean(r < 90 for r in ratios) >= 0.7, style
        assert statistics.mean(r < 95 for r in ratios) >= 0.85, style
        overall += ratios
    assert statistics.mean(r < 90 for r in overall) >= 0.8


def test_the_same_style_words_things_differently_on_every_call() -> None:
    """The incumbent's own nondeterminism: two calls rarely say it in the same words."""
    differ = [
        write_prose(prose(i), "same", random.Random(1))
        != write_prose(prose(i), "same", random.Random(2))
        for i in items("prose")
    ]
    assert statistics.mean(differ) >= 0.9


@pytest.mark.parametrize("kind", KINDS)
def test_writing_is_a_function_of_the_rng(kind: Kind) -> None:
    for item in items(kind)[:10]:
        for style in STYLES:
            first = write(item.answer, style, random.Random(f"{item.key}:{style}"))
            assert write(item.answer, style, random.Random(f"{item.key}:{style}")) == first


@pytest.mark.parametrize("style", STYLES)
def test_json_and_tool_arguments_keep_every_leaf(style: Style) -> None:
    rng = random.Random(style)
    spellings = set()
    for item in items("json"):
        assert isinstance(item.answer, JsonDoc)
        text = write(item.answer, style, rng).text
        assert json.loads(unfence(text)) == item.answer.document
        spellings.add(text)
    for item in items("tool_call"):
        assert isinstance(item.answer, ToolUse)
        written = write(item.answer, style, rng)
        assert written.text == ""
        [(name, arguments)] = written.tool_calls
        assert name == item.answer.name
        assert json.loads(arguments) == item.answer.arguments
    assert len(spellings) == len(items("json"))


def test_a_subtle_error_changes_exactly_one_fact_of_prose() -> None:
    kinds = set()
    for item in TEXT_ITEMS:
        for seed in range(6):
            mutation = subtle(item, random.Random(f"{item.key}:{seed}"))
            changed = mutation.content
            assert isinstance(changed, Prose)
            before, after = prose(item).slots, changed.slots
            assert len(before) == len(after)
            differ = sum(a.value != b.value for a, b in zip(before, after, strict=True))
            assert differ == (2 if mutation.what == "swap" else 1), mutation
            wording = [[p for p in s.parts if isinstance(p, str)] for s in prose(item).sentences]
            assert [
                [p for p in s.parts if isinstance(p, str)] for s in changed.sentences
            ] == wording
            if mutation.what != "swap":  # a swap keeps the set: that is what makes it subtle
                assert facts(canonical(changed)) != facts(canonical(prose(item))), mutation
            kinds.add(mutation.what)
    assert {"name", "number", "year", "date", "money", "negation", "swap"} <= kinds


def test_a_subtle_error_changes_exactly_one_leaf_or_argument() -> None:
    for item in items("json") + items("tool_call"):
        for seed in range(4):
            mutation = subtle(item, random.Random(f"{item.key}:{seed}"))
            if isinstance(item.answer, JsonDoc):
                assert isinstance(mutation.content, JsonDoc)
                before, after = leaves(item.answer.document), leaves(mutation.content.document)
            else:
                assert isinstance(item.answer, ToolUse)
                assert isinstance(mutation.content, ToolUse)
                assert mutation.content.name == item.answer.name
                before, after = leaves(item.answer.arguments), leaves(mutation.content.arguments)
            assert before.keys() == after.keys()
            assert sum(before[k] != after[k] for k in before) == 1, mutation


def test_a_gross_error_answers_something_else() -> None:
    for item in TEXT_ITEMS + items("json") + items("tool_call"):
        mutation = gross(item, random.Random(item.key))
        assert mutation.content != item.answer
        if isinstance(item.answer, ToolUse):
            assert isinstance(mutation.content, ToolUse)
            assert mutation.content.name != item.answer.name
            assert mutation.content.name in {t["function"]["name"] for t in item.tools}
        elif isinstance(item.answer, Prose):
            assert isinstance(mutation.content, Prose)
            assert facts(canonical(mutation.content)) != facts(canonical(item.answer))


def test_noise_changes_content_defensibly() -> None:
    whats = set()
    for item in TEXT_ITEMS + items("json") + items("tool_call"):
        for seed in range(3):
            mutation = noise(item, random.Random(f"{item.key}:{seed}"))
            whats.add(mutation.what)
            if isinstance(item.answer, Prose):
                assert isinstance(mutation.content, Prose)
                assert facts(canonical(mutation.content)) != facts(canonical(item.answer))
            elif isinstance(item.answer, JsonDoc):
                assert isinstance(mutation.content, JsonDoc)
                before, after = leaves(item.answer.document), leaves(mutation.content.document)
                assert sum(before[k] != after[k] for k in before) == 1
            else:
                assert isinstance(mutation.content, ToolUse)
                assert isinstance(item.answer, ToolUse)
                assert mutation.content.name == item.answer.name
                assert mutation.content.arguments != item.answer.arguments
    assert {"rounding", "omission", "qualifier", "respelled"} <= whats


def test_refusals_are_worded_many_ways() -> None:
    assert len(set(CORES)) >= 30
    stock = [c for c in CORES if any(p in c.lower() for p in STOCK_REFUSALS)]
    assert len(stock) <= len(CORES) // 4  # most real refusals avoid the stock phrases
    rng = random.Random(0)
    assert len({refusal(rng) for _ in range(300)}) >= 100
    refusable = items("refusable")[0]
    texts = {write(refusable.answer, "same", random.Random(n)).text for n in range(50)}
    assert len(texts) >= 30


def test_the_package_imports_nothing_of_darklaunch_but_itself_and_sim_text() -> None:
    outside = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                module = node.module
                if module.split(".")[0] in ("proxy", "comparators", "loadtests") and not (
                    module.startswith("proxy.sim.answers") or module == "proxy.sim.text"
                ):
                    outside.append(f"{path.name}: {module}")
            elif isinstance(node, ast.Import):
                outside += [
                    f"{path.name}: {a.name}"
                    for a in node.names
                    if a.name.split(".")[0] in ("proxy", "comparators", "loadtests")
                ]
    assert outside == []
