"""A candidate that speaks another API: translated out, read back in its own format, scored
against the incumbent like any other; what cannot be translated is skipped and counted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import orjson
import pytest

from comparators.engine import ScoringEngine
from comparators.gate.policy import GatePolicy
from comparators.gate.verdict import evaluate
from proxy.config.loading import parse_config
from proxy.mirroring.crossapi import CrossCall, cross_call, route_api
from proxy.mirroring.translate import Untranslatable
from proxy.recording.schema import PairRecord
from proxy.recording.sink import MemoryRecorder
from proxy.server import RunningProxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import SimServer, running_simulator
from tests.conftest import ProxyFactory

PRICES = Path(__file__).resolve().parents[3] / "config" / "prices.json"
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
ROUTES = [CHAT, MESSAGES, "/v1/responses"]
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


@pytest.mark.parametrize(
    ("route", "api"),
    [
        (CHAT, "openai"),
        ("/openai/deployments/gpt/chat/completions", "openai"),
        (MESSAGES, "anthropic"),
        ("/anthropic/v1/messages", "anthropic"),
        ("/v1/threads/t_1/messages", None),  # OpenAI's Assistants API
        ("/v1/messages/count_tokens", None),
        ("/v1/responses", None),
    ],
)
def test_route_api(route: str, api: str | None) -> None:
    assert route_api(route) == api


def test_a_candidate_of_the_clients_api_is_sent_the_clients_request() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert cross_call(None, CHAT, body) is None
    assert cross_call("openai", CHAT, body) is None
    assert cross_call("openai", "/v1/responses", {"model": "m", "input": "hi"}) is None
    assert cross_call("anthropic", MESSAGES, {**body, "max_tokens": 5}) is None


def test_the_counterpart_route_keeps_the_prefix_and_drops_nothing_else() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    crossed = cross_call("anthropic", "/gateway/v1/chat/completions", body)
    assert isinstance(crossed, CrossCall)
    assert crossed.path == "/gateway/v1/messages"
    assert crossed.body["messages"] == [{"role": "user", "content": "hi"}]
    assert crossed.body["max_tokens"] > 0
    back = cross_call("openai", "/gateway/v1/messages", crossed.body)
    assert isinstance(back, CrossCall)
    assert back.path == "/gateway/v1/chat/completions"


def test_a_route_without_counterpart_is_refused_by_name() -> None:
    refused = cross_call("anthropic", "/v1/responses", {"model": "m", "input": "hi"})
    assert isinstance(refused, Untranslatable)
    assert refused.reason == "unsupported_route"
    assert "/v1/responses" in refused.detail


@dataclass
class Setup:
    incumbent: SimServer
    candidate: SimServer
    proxy: RunningProxy
    recorder: MemoryRecorder

    async def records(self) -> list[PairRecord]:
        await self.proxy.state.mirror.tasks.drain(10)
        return self.recorder.records

    def untranslatable(self, reason: str) -> float:
        value = self.proxy.state.registry.get_sample_value(
            "darklaunch_mirror_untranslatable_total", {"candidate": "claude", "reason": reason}
        )
        return value or 0.0


@pytest.fixture
async def setup(proxy_factory: ProxyFactory) -> AsyncIterator[Setup]:
    recorder = MemoryRecorder()
    candidate: dict[str, Any] = {
        "name": "claude",
        "api": "anthropic",
        "model": "claude-haiku-4-5",
        "headers": {"x-api-key": "sk-ant-candidate"},
    }
    async with (
        running_simulator(SimProfile(name="inc", seed=3)) as inc,
        running_simulator(SimProfile(name="cand", seed=4, divergence_rate=0.5)) as cand,
        proxy_factory(
            inc.url,
            [{**candidate, "url": cand.url}],
            recorder=recorder,
            mirror={"sample_rate": 1.0, "routes": ROUTES},
        ) as proxy,
    ):
        yield Setup(inc, cand, proxy, recorder)


def engine() -> ScoringEngine:
    return ScoringEngine(
        parse_config({"incumbent": {"url": "http://127.0.0.1:9"}, "prices": {"file": str(PRICES)}})
    )


async def test_an_openai_client_with_an_anthropic_candidate_is_scored_and_gated(
    setup: Setup,
) -> None:
    client = openai.AsyncOpenAI(base_url=setup.proxy.url + "/v1", api_key="sk-client")
    prompts = [f"Explain topic number {i} in two sentences." for i in range(40)]
    async with client:
        for i, prompt in enumerate(prompts):
            messages: Any = [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": prompt},
            ]
            if i % 2:
                stream = await client.chat.completions.create(
                    model="big-model-v1", messages=messages, stream=True
                )
                async for _ in stream:
                    pass
            else:
                await client.chat.completions.create(model="big-model-v1", messages=messages)
        await client.chat.completions.create(
            model="big-model-v1",
            messages=[{"role": "user", "content": "Weather in Oslo? use get_weather"}],
            tools=[WEATHER],
        )
    found = await setup.records()
    assert len(found) == 41
    # The candidate got Anthropic requests on its own route, with its key and a version,
    # and never the client's key.
    assert setup.candidate.stats.by_path == {MESSAGES: 41}
    sent = [orjson.loads(body) for body in setup.candidate.stats.bodies]
    assert all(b["model"] == "claude-haiku-4-5" and b["system"] == "Be brief." for b in sent[:40])
    assert all("stream_options" not in b for b in sent)
    headers = setup.candidate.stats.headers[-1]
    assert headers["x-api-key"] == "sk-ant-candidate"
    assert headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in headers
    for record in found:
        [mirror] = record.mirrors
        assert mirror.output is not None
        assert (record.incumbent.output.format if record.incumbent.output else None) == "chat"
        assert mirror.output.format == "messages"
        assert not mirror.output.partial
        assert mirror.output.usage is not None
    [tooled] = [r for r in found if r.mirrors[0].output and r.mirrors[0].output.tool_calls]
    assert tooled.mirrors[0].output is not None
    assert tooled.mirrors[0].output.tool_calls[0].name == "get_weather"
    scores = [s for record in found for s in engine().score(record)]
    assert all(s.unscored is None and s.divergence is not None for s in scores)
    assert max(s.divergence or 0.0 for s in scores) > 0.2
    assert all(isinstance(s.values["cost.mirror_usd"], float) for s in scores)
    result = evaluate(scores, GatePolicy(min_pairs=10, segments=False))
    assert result.unscored == 0
    assert {c.n for c in result.checks if c.name != "min_pairs"} >= {41}


async def test_untranslatable_requests_are_skipped_and_counted_by_reason(setup: Setup) -> None:
    client = openai.AsyncOpenAI(base_url=setup.proxy.url + "/v1", api_key="sk-client")
    ask: Any = {"model": "big-model-v1", "messages": [{"role": "user", "content": "hi"}]}
    async with client:
        two = await client.chat.completions.create(**ask, n=2)
        await client.chat.completions.create(**ask, logprobs=True)
        await client.chat.completions.create(**ask, temperature=1.5)
        await client.responses.create(model="big-model-v1", input="hi")
    # The client is served as ever; nothing reached the candidate.
    assert len(two.choices) == 2
    assert await setup.records() == []
    assert setup.candidate.stats.requests == 0
    assert setup.untranslatable("n_greater_than_1") == 1
    assert setup.untranslatable("logprobs") == 1
    assert setup.untranslatable("temperature_out_of_range") == 1
    assert setup.untranslatable("unsupported_route") == 1
    skipped = setup.proxy.state.registry.get_sample_value(
        "darklaunch_mirror_skipped_total", {"candidate": "claude", "reason": "untranslatable"}
    )
    assert skipped == 4


async def test_an_anthropic_client_with_an_openai_candidate(proxy_factory: ProxyFactory) -> None:
    recorder = MemoryRecorder()
    async with (
        running_simulator(SimProfile(name="inc", seed=3)) as inc,
        running_simulator(SimProfile(name="cand", seed=4)) as cand,
        proxy_factory(
            inc.url,
            [{"name": "gpt", "url": cand.url, "api": "openai", "model": "small-model-v2"}],
            recorder=recorder,
            mirror={"sample_rate": 1.0, "routes": ROUTES},
        ) as proxy,
    ):
        client = anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-ant-client")
        async with client:
            await client.messages.create(
                model="claude-haiku-4-5",
                max_tokens=500,
                system="Be brief.",
                messages=[{"role": "user", "content": "What does a proxy do?"}],
            )
            async with client.messages.stream(
                model="claude-haiku-4-5",
                max_tokens=500,
                messages=[{"role": "user", "content": "What does a cache do?"}],
            ) as stream:
                await stream.get_final_message()
        await proxy.state.mirror.tasks.drain(10)
        assert cand.stats.by_path == {CHAT: 2}
        streamed = orjson.loads(cand.stats.bodies[1])
        assert streamed["stream_options"] == {"include_usage": True}
    found = recorder.records
    assert [r.incumbent.output.format for r in found if r.incumbent.output] == ["messages"] * 2
    assert [r.mirrors[0].output.format for r in found if r.mirrors[0].output] == ["chat"] * 2
    scores = [s for record in found for s in engine().score(record)]
    assert all(s.unscored is None and s.divergence is not None for s in scores)
    assert all(s.values["text.applicable"] is True for s in scores)
