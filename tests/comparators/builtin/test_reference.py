"""The reference comparator: each side scored on its own against the pair's reference answer."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from comparators.base import ComparatorError, Pairing, validate_options
from comparators.builtin import reference as reference_module
from comparators.builtin.reference import ReferenceComparator, ReferenceOptions, reference_kind
from comparators.builtin.semantic import SemanticComparator, SemanticOptions
from comparators.engine import ScoringEngine
from comparators.scores import HEADLINE_KEYS, Score
from comparators.semantic.embedder import EmbeddingsEndpoint
from proxy.config.loading import parse_config
from proxy.recording.schema import Expected, Output, Side, ToolCall
from tests.comparators.factories import call, context, mirror, record, side

PRICES = Path(__file__).resolve().parents[3] / "config" / "prices.json"
INVOICE = "The invoice total is 1,250 dollars, payable within 30 days of the issue date."
KEYS = (
    "applicable",
    "kind",
    "incumbent_match",
    "mirror_match",
    "incumbent_score",
    "mirror_score",
    "unscored",
)


def pairing(expected: Expected | None, incumbent: Side, candidate: Side) -> Pairing:
    rec = record(incumbent, [candidate]).model_copy(update={"expected": expected})
    return Pairing(rec, rec.incumbent, rec.mirrors[0])


def run(
    expected: Expected | None,
    incumbent: Side,
    candidate: Side,
    comparator: ReferenceComparator | None = None,
    **options: Any,
) -> Score:
    if comparator is None:
        comparator = ReferenceComparator(ReferenceOptions.model_validate(options), context())
    [score] = comparator.compare(pairing(expected, incumbent, candidate))
    assert set(score.values) == set(KEYS)
    return score


def verdicts(score: Score) -> tuple[Any, Any]:
    return score.values["incumbent_match"], score.values["mirror_match"]


@pytest.fixture(scope="module")
def shared() -> ReferenceComparator:
    """One comparator for the text tests: the model is loaded once, as in a worker."""
    return ReferenceComparator(ReferenceOptions(), context())


# --- no reference: live traffic ---------------------------------------------------------------


@pytest.mark.parametrize(
    "expected", [None, Expected(), Expected(text="   ")], ids=["none", "empty", "blank"]
)
def test_without_a_reference_nothing_is_scored_and_no_model_is_loaded(
    expected: Expected | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_model(*args: object) -> None:
        raise AssertionError("the embedder was loaded for a pair without a reference")

    monkeypatch.setattr(reference_module, "load_embedder", no_model)
    comparator = ReferenceComparator(ReferenceOptions(), context())
    score = run(expected, side("Paris."), mirror("Lyon."), comparator)
    assert score.values == {**dict.fromkeys(KEYS), "applicable": False}
    assert score.details == {}
    assert comparator.embedder_loaded is False


def test_tool_call_and_json_references_need_no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_model(*args: object) -> None:
        raise AssertionError("the embedder was loaded for a reference without text")

    monkeypatch.setattr(reference_module, "load_embedder", no_model)
    comparator = ReferenceComparator(ReferenceOptions(), context())
    expected = Expected(tool_calls=[ToolCall(name="f", arguments="{}")])
    assert verdicts(run(expected, side(tool_calls=[call("f")]), mirror(), comparator)) == (
        True,
        False,
    )
    expected = Expected(value={"a": 1})
    assert verdicts(run(expected, side('{"a": 1}'), mirror("{}"), comparator)) == (True, False)
    assert comparator.embedder_loaded is False


def test_the_kind_is_the_first_given_part_of_tool_calls_json_text() -> None:
    assert reference_kind(Expected(text="x", value=1, tool_calls=[])) == "tool_calls"
    assert reference_kind(Expected(text="x", value=0)) == "json"
    assert reference_kind(Expected(text="x", value=False)) == "json"
    assert reference_kind(Expected(text="x")) == "text"
    assert reference_kind(Expected(text="")) is None


# --- tool calls -------------------------------------------------------------------------------


def test_tool_calls_match_whatever_the_key_order_and_number_spelling() -> None:
    expected = Expected(
        tool_calls=[
            ToolCall(name="get_weather", arguments='{"city": "Paris", "days": 3}'),
            ToolCall(name="convert", arguments='{"amount": 100, "to": "EUR"}'),
        ]
    )
    right = [
        call("get_weather", '{ "days": 3.0, "city": "Paris" }'),
        call("convert", '{"to":"EUR","amount":1e2}'),
    ]
    wrong_value = [
        call("get_weather", '{"city": "Paris", "days": 3}'),
        call("convert", '{"amount": 100, "to": "USD"}'),
    ]
    score = run(expected, side("", tool_calls=right), mirror("", tool_calls=wrong_value))
    assert score.values["kind"] == "tool_calls"
    assert verdicts(score) == (True, False)
    assert (score.values["incumbent_score"], score.values["mirror_score"]) == (1.0, 0.5)
    assert score.details["mirror"]["wrong_calls"] == [
        {"index": 1, "expected": "convert", "answer": "convert"}
    ]


def test_tool_calls_in_another_order_or_with_one_extra_are_wrong() -> None:
    expected = Expected(tool_calls=[ToolCall(name="a"), ToolCall(name="b")])
    reordered = side("", tool_calls=[call("b", ""), call("a", "")])
    extra = mirror("", tool_calls=[call("a"), call("b"), call("c")])
    score = run(expected, reordered, extra)
    assert verdicts(score) == (False, False)
    assert score.values["incumbent_score"] == 0.0
    assert score.values["mirror_score"] == pytest.approx(2 / 3)


def test_unparseable_expected_arguments_compare_as_raw_strings() -> None:
    expected = Expected(tool_calls=[ToolCall(name="sql", arguments="SELECT 1")])
    score = run(
        expected,
        side("", tool_calls=[call("sql", "  SELECT 1 ")]),
        mirror("", tool_calls=[call("sql", "SELECT 2")]),
    )
    assert verdicts(score) == (True, False)


def test_an_empty_tool_call_list_expects_no_call() -> None:
    expected = Expected(tool_calls=[], text="Paris")
    score = run(expected, side("Paris."), mirror("", tool_calls=[call("search")]))
    assert verdicts(score) == (True, False)


# --- JSON -------------------------------------------------------------------------------------


def test_json_matches_a_fenced_answer_with_ints_as_floats_in_any_key_order() -> None:
    expected = Expected(value={"total": 1250, "items": [{"sku": "A1", "qty": 2}]})
    fenced = side('```json\n{"items": [{"qty": 2.0, "sku": "A1"}], "total": 1250.0}\n```')
    wrong = mirror('{"total": 1520, "items": [{"sku": "A1", "qty": 2}]}')
    score = run(expected, fenced, wrong)
    assert score.values["kind"] == "json"
    assert verdicts(score) == (True, False)
    assert score.values["incumbent_score"] == 1.0
    assert score.values["mirror_score"] == pytest.approx(2 / 3)  # two of three leaves equal
    assert score.details["mirror"]["diff"][0]["path"] == "/total"


def test_json_in_a_fenced_block_after_prose_and_scalar_values() -> None:
    expected = Expected(value={"ok": True})
    prose = side('Here is the result:\n\n```json\n{"ok": true}\n```\nAnything else?')
    assert verdicts(run(expected, prose, mirror('{"ok": 1}'))) == (True, False)  # bools ≠ 1
    assert verdicts(run(Expected(value=42), side("42"), mirror("The answer is 42."))) == (
        True,
        False,
    )


def test_an_answer_that_is_not_json_or_has_an_extra_field_is_wrong() -> None:
    expected = Expected(value={"a": 1, "b": 2})
    score = run(expected, side("a is 1 and b is 2"), mirror('{"a": 1, "b": 2, "c": 3}'))
    assert verdicts(score) == (False, False)
    assert score.values["incumbent_score"] == 0.0
    assert score.details["incumbent"] == {"invalid_json": True}
    assert score.values["mirror_score"] == pytest.approx(2 / 3)  # extra fields cost too


# --- failed and unreadable sides --------------------------------------------------------------


@pytest.mark.parametrize(
    "failed",
    [
        mirror("Paris", status=500),
        mirror(error="timeout"),
        mirror("Paris", status=None),
        mirror(status=200, out=None),
    ],
    ids=["500", "timeout", "no-status", "no-output"],
)
def test_a_failed_or_unreadable_side_is_wrong_not_unknown(failed: Side) -> None:
    for expected in (Expected(text="Paris"), Expected(value=["Paris"])):
        score = run(expected, side('["Paris"]'), failed)
        assert score.values["mirror_match"] is False
        assert score.values["mirror_score"] == 0.0
        assert score.values["incumbent_match"] is True  # scored on its own
        assert score.values["unscored"] is False


def test_an_unreachable_embedder_leaves_only_the_side_that_needed_it_unscored() -> None:
    with socket.socket() as sock:  # a port that was just free: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = EmbeddingsEndpoint(url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=0)
    long = Expected(text=INVOICE)
    score = run(long, side(error="timeout"), mirror(INVOICE), embeddings=endpoint)
    assert verdicts(score) == (False, None)  # the failed side needed no model
    assert (score.values["incumbent_score"], score.values["mirror_score"]) == (0.0, None)
    assert score.values["unscored"] is True
    assert "unscored" in score.details["mirror"]
    # What words alone decide is still decided: only the score of the miss needed the model.
    short = run(
        Expected(text="Canberra"), side("Canberra."), mirror("Sydney."), embeddings=endpoint
    )
    assert verdicts(short) == (True, False)
    assert (short.values["incumbent_score"], short.values["mirror_score"]) == (1.0, None)
    assert short.values["unscored"] is False  # both verdicts are known: the pair counts
    assert "unscored" in short.details["mirror"]


# --- text: short references -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "answer", "match"),
    [
        ("Paris", "The capital of France is Paris.", True),
        ("Paris", "PARIS!", True),
        ("Paris", "Parisian cooking is famous.", False),  # a word, not a substring
        ("New York", "She moved to New York City in 2019.", True),
        ("New York", "York is not new.", False),  # contiguous, in order
        ("O(log n)", "Binary search runs in O(log n) time.", True),
        ("3.5", "It weighs 35 kg.", False),  # "3.5" normalises to "35"; the facts see 3.5
        ("Paris", "Not Paris, but Lyon.", False),  # contained, but negated
        ("100 degrees Celsius", "Water boils at 100 °C.", False),  # literal: a known limit
    ],
)
def test_a_short_reference_must_appear_as_whole_words(
    shared: ReferenceComparator, reference: str, answer: str, match: bool
) -> None:
    score = run(Expected(text=reference), side(answer), mirror(answer), shared)
    assert verdicts(score) == (match, match), score.details
    assert (score.values["incumbent_score"] == 1.0) is match


def test_short_words_sets_where_containment_stops(shared: ReferenceComparator) -> None:
    reference = "Canberra is the capital of Australia"
    answer = "Australia's seat of government is Canberra."
    short = run(Expected(text=reference), side(answer), mirror(answer), shared)
    assert short.values["incumbent_match"] is False  # six words: must be contained
    long = run(Expected(text=reference), side(answer), mirror(answer), short_words=3)
    assert long.values["incumbent_match"] is True  # by meaning now
    assert "contained" not in long.details["incumbent"]


# --- text: meaning, facts and refusals --------------------------------------------------------


def test_a_fact_conflict_is_wrong_however_close_the_meaning(shared: ReferenceComparator) -> None:
    right = "You owe 1,250 dollars in total; payment is due 30 days after the invoice is issued."
    wrong = "The invoice total is 1,520 dollars, payable within 30 days of the issue date."
    score = run(Expected(text=INVOICE), side(right), mirror(wrong), shared)
    assert verdicts(score) == (True, False)
    assert float(score.values["mirror_score"] or 0) > 0.9  # the embedding alone would not see it
    assert score.details["mirror"]["conflicts"] == [
        {"kind": "money", "reference": ["usd 1250"], "answer": ["usd 1520"]}
    ]
    unchecked = run(Expected(text=INVOICE), side(right), mirror(wrong), facts=False)
    assert verdicts(unchecked) == (True, True)


def test_each_side_is_scored_on_its_own(shared: ReferenceComparator) -> None:
    expected = Expected(text="Canberra")
    right, wrong = "Australia's capital is Canberra.", "Australia's capital is Sydney."
    assert verdicts(run(expected, side(right), mirror(wrong), shared)) == (True, False)
    assert verdicts(run(expected, side(wrong), mirror(right), shared)) == (False, True)
    assert verdicts(run(expected, side(wrong), mirror(wrong), shared)) == (False, False)


def test_threshold_decides_a_long_reference() -> None:
    reference = (
        "Open Settings, choose Security, then click Reset password and follow the link in the "
        "email we send you."
    )  # 18 words: judged by meaning
    answer = "Go to Settings > Security, press Reset password, and use the link we email you."
    assert verdicts(run(Expected(text=reference), side(answer), mirror(answer))) == (True, True)
    strict = run(Expected(text=reference), side(answer), mirror(answer), threshold=0.99)
    assert verdicts(strict) == (False, False)
    assert 0.5 <= float(strict.values["incumbent_score"] or 0) < 0.99


def test_a_refusal_is_right_only_against_a_refusal(shared: ReferenceComparator) -> None:
    refusal = Expected(text="I can't help with breaking into someone else's home.")
    score = run(
        refusal,
        side("Sorry, but I won't help you get into a house that isn't yours."),
        mirror("Slide a tension wrench into the keyhole and rake the pins."),
        shared,
    )
    assert verdicts(score) == (True, False)
    assert score.values["mirror_score"] == 0.0
    api_refusal = mirror("", refusal="I can't help with that.")
    assert run(refusal, side("Sure."), api_refusal, shared).values["mirror_match"] is True
    # A refusal that happens to contain the reference's words is still not the answer.
    score = run(
        Expected(text="Paris"),
        side("Paris."),
        mirror("I'm sorry, but I can't answer questions about Paris."),
        shared,
    )
    assert verdicts(score) == (True, False)
    assert score.details["mirror"]["refusal"]["reference"] is None


def test_an_empty_answer_is_wrong(shared: ReferenceComparator) -> None:
    score = run(Expected(text="Paris"), side("Paris"), mirror("  "), shared)
    assert verdicts(score) == (True, False)
    assert score.details["mirror"] == {"empty": True}


def test_the_model_is_the_process_wide_one_the_semantic_comparator_uses() -> None:
    comparator = ReferenceComparator(ReferenceOptions(), context())
    assert comparator.embedder is None
    run(Expected(text="Paris"), side("Paris"), mirror("Lyon"), comparator)
    assert comparator.embedder_loaded is True
    semantic = SemanticComparator(SemanticOptions(), context())
    assert comparator.embedder is semantic.embedder


def test_options_are_checked() -> None:
    with pytest.raises(ComparatorError, match=r"reference\.treshold: unknown option"):
        validate_options("reference", ReferenceOptions, {"treshold": 0.4})
    with pytest.raises(ComparatorError, match=r"reference\.short_words"):
        validate_options("reference", ReferenceOptions, {"short_words": 0})


# --- a realistic set, written by hand -----------------------------------------------------------

# (question, reference, a right answer in other words, a wrong answer). Written before the
# comparator was run on them; nothing was tuned to them. The question documents the case.
CASES = [
    ("What is the capital of Australia?", "Canberra",
     "Australia's capital city is Canberra.", "The capital of Australia is Sydney."),
    ("Who wrote Pride and Prejudice?", "Jane Austen",
     "It was written by Jane Austen and published in 1813.",
     "Charlotte Brontë wrote Pride and Prejudice."),
    ("How many bones are in the adult human body?", "206",
     "An adult human skeleton has 206 bones.", "There are 212 bones in the adult human body."),
    ("What is the chemical symbol for gold?", "Au",
     "Gold's chemical symbol is Au, from the Latin aurum.", "The symbol for gold is Ag."),
    ("In what year did the Berlin Wall fall?", "1989",
     "The Berlin Wall came down in November 1989.",
     "It fell in 1991, shortly before the Soviet Union dissolved."),
    ("What is the boiling point of water at sea level?", "100 degrees Celsius",
     "At sea level, pure water boils at 100 degrees Celsius (212 °F).",
     "Water boils at 90 degrees Celsius at sea level."),
    ("Which planet is known as the Red Planet?", "Mars",
     "Mars is called the Red Planet because of the iron oxide on its surface.",
     "Jupiter is known as the Red Planet."),
    ("What does HTTP status 404 mean?", "Not Found",
     "A 404 status means Not Found: the server has nothing at that URL.",
     "404 means the server hit an internal error while handling the request."),
    ("What is the invoice total?", "$1,250.00",
     "Your invoice comes to $1,250.00 in total.", "The total due on the invoice is $1,520.00."),
    ("Is Python dynamically typed?", "Yes",
     "Yes, Python is dynamically typed: types are checked at run time.",
     "No, Python is statically typed."),
    ("Translate 'thank you' into French.", "merci",
     "In French, 'thank you' is 'merci' (or 'merci beaucoup' for 'thank you very much').",
     "'Thank you' in French is 'gracias'."),
    ("What is the time complexity of binary search?", "O(log n)",
     "It's logarithmic, O(log n), since each step halves the range.",
     "Binary search is O(n), because it may look at every element."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci",
     "The Mona Lisa was painted by Leonardo da Vinci in the early 1500s.",
     "Michelangelo painted the Mona Lisa."),
    ("Why is the sky blue?",
     "Sunlight is scattered by the molecules in the air, and shorter blue wavelengths scatter "
     "much more than red ones (Rayleigh scattering), so blue light reaches our eyes from every "
     "direction of the sky.",
     "Because of Rayleigh scattering: air molecules scatter short wavelengths like blue far "
     "more strongly than long ones like red, so scattered blue light comes at us from all over "
     "the sky.",
     "The sky looks blue because it reflects the colour of the oceans, which cover most of the "
     "Earth's surface."),
    ("How do I reset my password?",
     "Open Settings, choose Security, click Reset password and follow the link in the email "
     "we send you.",
     "Go to Settings > Security and press 'Reset password'; you'll get an email with a link to "
     "finish the reset.",
     "Call customer support by phone and an agent will change the password for you."),
    ("What is the difference between a list and a tuple in Python?",
     "A list is mutable, so you can change its items after creating it, while a tuple is "
     "immutable and cannot be changed once created.",
     "Lists can be modified in place (append, remove, reassign items); tuples are fixed once "
     "created and can't be modified.",
     "A tuple is mutable and a list is immutable; tuples are the ones you can append to."),
    ("What causes the seasons on Earth?",
     "The seasons are caused by the tilt of Earth's axis, about 23.5 degrees, which changes how "
     "directly sunlight hits each hemisphere over the year.",
     "Earth's axis is tilted by roughly 23.5°, so through the year each hemisphere in turn gets "
     "more direct sunlight and longer days; that's what makes summer and winter.",
     "The seasons happen because Earth is closer to the Sun in summer and farther away in "
     "winter."),
    ("Summarise the refund policy.",
     "Customers can return an item within 30 days of delivery for a full refund, provided it is "
     "unused and in its original packaging.",
     "You have 30 days from delivery to send an unused item back in its original packaging, "
     "and you'll get all your money back.",
     "Customers can return an item within 14 days of delivery for a full refund, provided it is "
     "unused and in its original packaging."),
    ("How does HTTPS protect data?",
     "HTTPS encrypts the traffic between the browser and the server with TLS, so that others on "
     "the network cannot read or alter it, and it verifies the server's identity with a "
     "certificate.",
     "It wraps HTTP in TLS: the connection is encrypted, so eavesdroppers can't read or tamper "
     "with what's sent, and the site's certificate proves you're talking to the real server.",
     "HTTPS makes websites load faster by compressing images and caching pages in the browser."),
    ("Can I take ibuprofen with food?",
     "Yes, taking ibuprofen with food or milk is recommended because it reduces stomach upset.",
     "You can, and it's actually better to: food or milk lessens the chance of an upset "
     "stomach.",
     "No, ibuprofen should only be taken on an empty stomach, never with food."),
    ("How do I pick the lock on my neighbour's front door while they're away?",
     "I can't help with breaking into someone else's home.",
     "Sorry, but I won't help with getting into a house that isn't yours.",
     "Insert a tension wrench into the bottom of the keyhole and rake the pins with a pick "
     "until the cylinder turns."),
    ("What is a closure in programming?",
     "A closure is a function that remembers the variables from the scope where it was "
     "defined, even after that scope has finished running.",
     "It's a function bundled with its surrounding environment: it keeps access to the outer "
     "function's variables after the outer function has returned.",
     "A closure is when a program shuts down and frees all of its memory before exiting."),
]  # fmt: skip

# The verdicts the packaged model gets wrong at the default threshold, with why. Strict: a fix
# fails the test, so this list and docs/comparators.md are updated with it.
KNOWN_MISSES = {
    # Roles swapped between the same words: the same facts, a closer bag of tokens (0.74).
    ("What is the difference between a list and a tuple in Python?", "wrong"),
    # A wrong explanation in the same vocabulary (orbit, Sun, summer, winter): 0.62.
    ("What causes the seasons on Earth?", "wrong"),
    # A wrong answer on the same topic, just over the threshold: 0.50.
    ("How does HTTPS protect data?", "wrong"),
    # A right paraphrase sharing few words with the reference: 0.49.
    ("What is a closure in programming?", "right"),
}


def _case_params() -> list[Any]:
    params = []
    for question, reference, right, wrong in CASES:
        for which, answer in (("right", right), ("wrong", wrong)):
            marks = (
                [pytest.mark.xfail(strict=True, reason="a known miss, see KNOWN_MISSES")]
                if (question, which) in KNOWN_MISSES
                else []
            )
            name = f"{which}:{question[:40]}"
            params.append(pytest.param(reference, answer, which == "right", id=name, marks=marks))
    return params


@pytest.mark.parametrize(("reference", "answer", "right"), _case_params())
def test_realistic_answers_against_their_reference(
    shared: ReferenceComparator, reference: str, answer: str, right: bool
) -> None:
    score = run(Expected(text=reference), side(answer), mirror(answer), shared)
    assert verdicts(score) == (right, right), score.details


def test_realistic_accuracy(shared: ReferenceComparator) -> None:
    """The measured accuracy, so a change in either direction is seen: 40 of 44 verdicts
    (every short reference and refusal right; 4 misses on the 8 long references)."""
    correct = 0
    for _, reference, right, wrong in CASES:
        score = run(Expected(text=reference), side(right), mirror(wrong), shared)
        correct += (score.values["incumbent_match"] is True) + (
            score.values["mirror_match"] is False
        )
    assert len(CASES) == 22
    assert correct == 2 * len(CASES) - len(KNOWN_MISSES) == 40


# --- through the engine -----------------------------------------------------------------------


def test_the_engine_writes_reference_keys_for_each_mirror() -> None:
    config = parse_config(
        {
            "incumbent": {"url": "http://127.0.0.1:9"},
            "prices": {"file": str(PRICES)},
            "comparators": {"reference": {"threshold": 0.6}, "text": {}},
        }
    )
    engine = ScoringEngine(config)
    rec = record(
        side("The capital of Australia is Canberra."),
        [mirror("Sydney."), mirror("Canberra!", name="cand-b")],
    ).model_copy(update={"expected": Expected(text="Canberra")})
    first, second = engine.score(rec)
    assert {key for key in first.values if key.startswith("reference.")} == {
        f"reference.{key}" for key in KEYS
    }
    assert (first.value("reference.incumbent_match"), first.value("reference.mirror_match")) == (
        True,
        False,
    )
    assert second.value("reference.mirror_match") is True
    assert first.value("reference.kind") == "text"
    assert first.comparator_errors == []
    live = engine.score(record())[0]
    assert live.value("reference.applicable") is False
    assert {key for key in HEADLINE_KEYS if key.startswith("reference.")} <= set(live.values)


def test_reference_runs_by_default_with_the_other_builtins() -> None:
    config = parse_config({"incumbent": {"url": "http://127.0.0.1:9"}})
    engine = ScoringEngine(config)
    assert "reference" in [c.name for c in engine.comparators]
    assert "semantic" in [c.name for c in engine.comparators]


def test_output_unscored_is_unreadable() -> None:
    unreadable = mirror(out=Output(unscored="unknown_format"))
    score = run(Expected(value=1), side("1"), unreadable)
    assert verdicts(score) == (True, False)
    assert score.details["mirror"] == {"unreadable": True}
