"""The judge's prompt and the one verdict two orders make: answers are hostile text (braces,
placeholders, tags), a cut is said, a reply out of schema is never guessed, and position bias
cancels."""

from __future__ import annotations

from pathlib import Path

import pytest

from comparators.judge.prompt import JudgePrompt, PromptError, render_request
from comparators.judge.verdict import JudgeAnswer, MalformedAnswer, combine, parse_answer
from proxy.config.judge import DEFAULT_RUBRIC
from proxy.recording.schema import PairRecord, RequestInfo, Role, Side


def shipped(max_chars: int = 12_000) -> JudgePrompt:
    return JudgePrompt.load(None, DEFAULT_RUBRIC, max_chars)


def test_answers_with_braces_and_placeholders_stay_in_their_place() -> None:
    prompt = shipped()
    hostile = 'Use {"a": 1}, then {answer_b} and {rubric} literally.'
    text = prompt.render("What is {x}?", hostile, "plain", None)
    a = text.split("<answer_a>")[1].split("</answer_a>")[0].strip()
    b = text.split("<answer_b>")[1].split("</answer_b>")[0].strip()
    assert a == hostile  # neither the other answer nor the rubric was pulled in
    assert b == "plain"
    assert "What is {x}?" in text
    assert DEFAULT_RUBRIC in text
    assert "(none given)" in text  # no reference


def test_a_long_answer_is_cut_and_the_cut_is_said() -> None:
    text = shipped(max_chars=100).render("q", "x" * 250, "short", None)
    assert "x" * 100 + "\n[... 150 more characters cut by darklaunch ...]" in text
    assert "x" * 101 not in text


def test_the_version_follows_the_template_and_the_rubric(tmp_path: Path) -> None:
    custom = tmp_path / "prompt.txt"
    custom.write_text("{request}\n{answer_a}\n{answer_b}\n", encoding="utf-8")
    one = JudgePrompt.load(custom, "rubric one", 1000)
    assert one.version != JudgePrompt.load(custom, "rubric two", 1000).version
    assert one.version != shipped().version
    assert one.version == JudgePrompt.load(custom, "rubric one", 1000).version


def test_a_template_without_both_answers_is_refused(tmp_path: Path) -> None:
    custom = tmp_path / "prompt.txt"
    custom.write_text("{request} {answer_a}", encoding="utf-8")
    with pytest.raises(PromptError, match=r"no \{answer_b\}; expected every one of them"):
        JudgePrompt.load(custom, "r", 1000)


@pytest.mark.parametrize(
    "reply",
    [
        "A is better.",
        '{"winner": "C", "reason": "x", "a_refused": false, "b_refused": false}',
        '{"reason": "no winner"}',
        "",
        None,
        "[1, 2]",
    ],
)
def test_a_reply_out_of_schema_is_malformed(reply: str | None) -> None:
    with pytest.raises(MalformedAnswer):
        parse_answer(reply)


def test_a_fenced_reply_and_a_lower_case_winner_are_read() -> None:
    answer = parse_answer('```json\n{"winner": "b", "reason": "r"}\n```')
    assert answer == JudgeAnswer(winner="B", reason="r")


def answer(winner: str, *, a_refused: bool = False, b_refused: bool = False) -> JudgeAnswer:
    return JudgeAnswer.model_validate(
        {"winner": winner, "reason": winner, "a_refused": a_refused, "b_refused": b_refused}
    )


def test_two_orders_map_back_to_the_sides_and_a_split_is_a_tie() -> None:
    # First order: the incumbent is A. Second: the mirror is A.
    assert combine(answer("B"), answer("A")).verdict == "mirror"
    assert combine(answer("A"), answer("B")).verdict == "incumbent"
    assert combine(answer("tie"), answer("tie")).verdict == "tie"
    split = combine(answer("A"), answer("A"))  # a judge that always picks the first answer
    assert (split.first, split.second, split.verdict, split.orders_agree) == (
        "incumbent",
        "mirror",
        "tie",
        False,
    )


def test_the_mirror_refused_only_when_both_orders_say_so() -> None:
    assert combine(answer("A", b_refused=True), answer("B", a_refused=True)).mirror_refused
    assert not combine(answer("A", b_refused=True), answer("B")).mirror_refused


def test_an_anthropic_request_is_read_with_its_system_prompt_and_tools() -> None:
    record = PairRecord(
        pair_id="p",
        campaign="c",
        timestamp=0.0,
        route="/v1/messages",
        method="POST",
        request=RequestInfo(
            body={
                "model": "claude",
                "max_tokens": 100,
                "system": [{"type": "text", "text": "Answer in French."}],
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            }
        ),
        incumbent=Side(role=Role.INCUMBENT, name="incumbent"),
    )
    assert render_request(record).splitlines() == [
        "system: Answer in French.",
        "user: Hi",
        "(tools offered: get_weather)",
    ]
