"""Every wire format an official SDK speaks through darklaunch is recorded readably and scored.

The client talks to the proxy with the vendor's own SDK; the pairs it records must carry the
answers' text, tool calls and usage, and a candidate that answers differently must show up as
a divergence, never as a silent 0.0.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from comparators.engine import ScoringEngine
from proxy.config.loading import parse_config
from proxy.recording.schema import PairRecord
from proxy.recording.sink import MemoryRecorder
from proxy.server import RunningProxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import SimServer, running_simulator
from tests.conftest import ProxyFactory

PRICES = Path(__file__).resolve().parents[2] / "config" / "prices.json"
PROMPTS = [
    "Explain what a load balancer does.",
    "Summarise the benefits of unit tests.",
    "Describe how a hash map works.",
    "What is a message queue for?",
]


@dataclass
class Setup:
    incumbent: SimServer
    candidate: SimServer
    proxy: RunningProxy
    recorder: MemoryRecorder


@pytest.fixture
async def setup(proxy_factory: ProxyFactory) -> AsyncIterator[Setup]:
    recorder = MemoryRecorder()
    async with (
        running_simulator(SimProfile(name="inc", seed=3)) as inc,
        running_simulator(SimProfile(name="cand", seed=4, divergence_rate=1.0)) as cand,
        proxy_factory(
            inc.url,
            [{"name": "cand", "url": cand.url}],
            recorder=recorder,
            mirror={"sample_rate": 1.0, "routes": ["/v1/chat/completions", "/v1/responses",
                                                   "/v1/messages"]},
        ) as proxy,
    ):  # fmt: skip
        yield Setup(inc, cand, proxy, recorder)


async def records(setup: Setup) -> list[PairRecord]:
    """Every record, once the pairs' background tasks (and their builds) are done."""
    await setup.proxy.state.mirror.tasks.drain(10)
    return setup.recorder.records


def engine() -> ScoringEngine:
    config = parse_config(
        {"incumbent": {"url": "http://127.0.0.1:9"}, "prices": {"file": str(PRICES)}}
    )
    return ScoringEngine(config)


def assert_scored_and_divergent(found: list[PairRecord], fmt: str) -> None:
    for record in found:
        for side in (record.incumbent, *record.mirrors):
            assert side.output is not None
            assert side.output.format == fmt
            assert side.output.unscored is None
            assert side.output.text.strip()
            assert side.output.usage
            assert not side.output.partial
    scores = [s for record in found for s in engine().score(record)]
    assert all(s.unscored is None for s in scores)
    divergences = [s.divergence for s in scores]
    assert all(d is not None for d in divergences)
    assert max(d for d in divergences if d is not None) > 0.2
    assert all(s.values["cost.incumbent_tokens"] for s in scores)


async def test_responses_plain_and_streamed_are_recorded_and_scored(setup: Setup) -> None:
    client = openai.AsyncOpenAI(base_url=setup.proxy.url + "/v1", api_key="sk-test")
    texts: list[str] = []
    async with client:
        for prompt in PROMPTS[:2]:
            response = await client.responses.create(model="gpt-x", input=prompt)
            texts.append(response.output_text)
        for prompt in PROMPTS[2:]:
            parts: list[str] = []
            stream = await client.responses.create(model="gpt-x", input=prompt, stream=True)
            async for event in stream:
                if event.type == "response.output_text.delta":
                    parts.append(event.delta)
            texts.append("".join(parts))
    found = await records(setup)
    assert [r.request.stream for r in found] == [False, False, True, True]
    assert [r.incumbent.output.text for r in found if r.incumbent.output] == texts
    assert_scored_and_divergent(found, "responses")


WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather forecast for a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def anthropic_client(setup: Setup) -> anthropic.AsyncAnthropic:
    # The SDK appends /v1/messages itself: the proxy's root is the base URL.
    return anthropic.AsyncAnthropic(base_url=setup.proxy.url, api_key="sk-ant-test")


async def test_anthropic_messages_plain_streamed_thinking_and_tools_are_recorded_and_scored(
    setup: Setup,
) -> None:
    ask: dict[str, Any] = {"model": "claude-sonnet-4-5", "max_tokens": 2000}
    async with anthropic_client(setup) as client:
        plain = await client.messages.create(
            **ask, messages=[{"role": "user", "content": PROMPTS[0]}]
        )
        async with client.messages.stream(
            **ask, messages=[{"role": "user", "content": PROMPTS[1]}]
        ) as stream:
            streamed = await stream.get_final_message()
        thought = await client.messages.create(
            **ask,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": PROMPTS[2]}],
        )
        async with client.messages.stream(
            **ask,
            tools=[WEATHER],
            tool_choice={"type": "tool", "name": "get_weather"},
            messages=[{"role": "user", "content": "What is the weather in Oslo?"}],
        ) as stream:
            tooled = await stream.get_final_message()
    found = await records(setup)
    assert [r.route for r in found] == ["/v1/messages"] * 4
    assert [r.request.stream for r in found] == [False, True, False, True]
    said = [
        "".join(b.text for b in m.content if isinstance(b, anthropic.types.TextBlock))
        for m in (plain, streamed, thought)
    ]
    assert [r.incumbent.output.text for r in found[:3] if r.incumbent.output] == said
    # Thinking is kept apart from the answer, and usage is the upstream's, cache counts and all.
    thinking = found[2].incumbent.output
    assert thinking is not None
    assert thinking.choices[0].reasoning
    assert thinking.choices[0].reasoning not in thinking.text
    for record in found:
        output = record.incumbent.output
        assert output is not None
        assert output.usage is not None
        assert output.usage["output_tokens"] > 0
        assert "cache_read_input_tokens" in output.usage
    # The tool call, with its arguments as parsed JSON, in the record.
    [tool_use] = [b for b in tooled.content if b.type == "tool_use"]
    recorded = found[3].incumbent.output
    assert recorded is not None
    assert recorded.finish_reason == "tool_calls"
    [call] = recorded.tool_calls
    assert (call.id, call.name) == (tool_use.id, "get_weather")
    assert json.loads(call.arguments) == tool_use.input
    assert_scored_and_divergent(found[:3], "messages")
    [tool_score] = engine().score(found[3])
    assert tool_score.values["tool_calls.applicable"] is True
