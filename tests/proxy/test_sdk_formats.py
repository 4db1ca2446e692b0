"""Every wire format an official SDK speaks through darklaunch is recorded readably and scored.

The client talks to the proxy with the vendor's own SDK; the pairs it records must carry the
answers' text, tool calls and usage, and a candidate that answers differently must show up as
a divergence, never as a silent 0.0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

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
