"""The simulator as an LLM judge: it knows which of its answers were wrong.

A simulated model that answers a bank question wrongly (``content_error_rate``) says so here,
keyed by the answer's text (:func:`remember`). A simulator whose profile sets
``judge_accuracy`` answers judge prompts (two answers between ``<answer_a>`` and
``<answer_b>`` tags, as the shipped prompt has them) by that ground truth: the right answer
wins over the wrong one, two right or two wrong answers tie; then it errs as a real judge
does, at a rate and with a position bias the profile sets (:func:`decide`). An answer it never
saw (the phrase banks, or text the recorder redacted) counts as right.

The truth is kept in this process, so the judge must run in the process of the simulators
whose answers it judges (the tests and ``darklaunch demo`` run them together). The
calibration (``loadtests/calibration``) draws verdicts with :func:`decide` directly.
"""

from __future__ import annotations

import json
import random
import re
from collections import OrderedDict
from typing import Literal

__all__ = ["Truth", "Verdict", "decide", "forget_all", "judge_reply", "remember", "truth"]

Verdict = Literal["A", "B", "tie"]
Truth = Literal["right", "wrong"]

_MAX_REMEMBERED = 200_000
_known: OrderedDict[str, Truth] = OrderedDict()
_ANSWER = re.compile(r"<answer_([ab])>\n?(.*?)\n?</answer_\1>", re.DOTALL)
_TOOL_ARGUMENTS = re.compile(r"\(calls tool \S+ with arguments (.*)\)$", re.MULTILINE)


def remember(text: str, *, wrong: bool) -> None:
    """Note what a simulated model said, and whether it was wrong."""
    key = text.strip()
    if not key:
        return
    _known[key] = "wrong" if wrong else "right"
    _known.move_to_end(key)
    while len(_known) > _MAX_REMEMBERED:
        _known.popitem(last=False)


def forget_all() -> None:
    _known.clear()


def truth(answer: str) -> Truth:
    """Whether an answer, as a judge prompt shows it, was wrong: by its text, else by the
    arguments of a tool call in it; an answer never seen is right."""
    found = _known.get(answer.strip())
    if found is not None:
        return found
    for arguments in _TOOL_ARGUMENTS.findall(answer):
        found = _known.get(arguments.strip())
        if found is not None:
            return found
    return "right"


def decide(
    truth_a: Truth, truth_b: Truth, accuracy: float, position_bias: float, rng: random.Random
) -> Verdict:
    """A judge's verdict on one order: with probability ``position_bias`` it picks A whatever
    the answers; otherwise it gives the true verdict with probability ``accuracy``, else one
    of the two others at random."""
    if rng.random() < position_bias:
        return "A"
    true: Verdict = "tie" if truth_a == truth_b else ("A" if truth_a == "right" else "B")
    if rng.random() < accuracy:
        return true
    others: list[Verdict] = [v for v in ("A", "B", "tie") if v != true]
    return rng.choice(others)


def judge_reply(prompt: str, accuracy: float, position_bias: float, rng: random.Random) -> str:
    """The JSON a judge answers to ``prompt``; a prompt without the two answers is a tie."""
    answers = dict(_ANSWER.findall(prompt))
    truth_a, truth_b = truth(answers.get("a", "")), truth(answers.get("b", ""))
    verdict = decide(truth_a, truth_b, accuracy, position_bias, rng)
    reason = {
        "A": "Answer A is correct where answer B is not.",
        "B": "Answer B is correct where answer A is not.",
        "tie": "Both answers say the same thing.",
    }[verdict]
    return json.dumps({"winner": verdict, "reason": reason, "a_refused": False, "b_refused": False})
