"""The simulator as a judge (``proxy.sim.judge``): it knows which simulated answers were
wrong, errs at the rate its profile sets, and leans towards answer A as much as it is told."""

from __future__ import annotations

import json
import random
from collections import Counter

import openai
import pytest

from proxy.sim import judge
from proxy.sim.answers import items
from proxy.sim.profile import SimProfile
from proxy.sim.server import running_simulator


def test_a_perfect_unbiased_judge_gives_the_truth() -> None:
    rng = random.Random(1)
    assert judge.decide("right", "wrong", 1.0, 0.0, rng) == "A"
    assert judge.decide("wrong", "right", 1.0, 0.0, rng) == "B"
    assert judge.decide("right", "right", 1.0, 0.0, rng) == "tie"
    assert judge.decide("wrong", "wrong", 1.0, 0.0, rng) == "tie"


def test_accuracy_and_position_bias_are_the_rates_asked_for() -> None:
    rng = random.Random(7)
    draws = Counter(judge.decide("wrong", "right", 0.85, 0.10, rng) for _ in range(40_000))
    share = {verdict: count / 40_000 for verdict, count in draws.items()}
    # B is true: 0.9 * 0.85; A is the bias plus half the errors; tie the other half.
    assert share["B"] == pytest.approx(0.9 * 0.85, abs=0.01)
    assert share["A"] == pytest.approx(0.10 + 0.9 * 0.075, abs=0.01)
    assert share["tie"] == pytest.approx(0.9 * 0.075, abs=0.01)


async def test_the_simulators_wrong_answers_lose_before_the_simulated_judge() -> None:
    """A simulated model wrong on every bank question, one always right, and the simulator
    as a judge, over HTTP with the official SDK."""
    judge.forget_all()
    question = next(item for item in items("short_fact")).question
    right_profile = SimProfile(name="right", style="own")
    wrong_profile = SimProfile(name="wrong", style="own", content_error_rate=1.0)
    async with (
        running_simulator(right_profile) as right,
        running_simulator(wrong_profile) as wrong,
        running_simulator(SimProfile(name="judge", judge_accuracy=1.0)) as judging,
    ):
        answers = []
        for server in (right, wrong):
            client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0)
            reply = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": question}]
            )
            answers.append(reply.choices[0].message.content or "")
            await client.close()
        assert answers[0] != answers[1]
        client = openai.AsyncOpenAI(base_url=judging.url + "/v1", api_key="k", max_retries=0)
        verdicts = []
        for a, b in ((answers[0], answers[1]), (answers[1], answers[0])):
            prompt = f"<answer_a>\n{a}\n</answer_a>\n<answer_b>\n{b}\n</answer_b>"
            reply = await client.chat.completions.create(
                model="judge", messages=[{"role": "user", "content": prompt}]
            )
            verdicts.append(json.loads(reply.choices[0].message.content or "")["winner"])
        await client.close()
    assert verdicts == ["A", "B"]  # the right answer wins in either place
