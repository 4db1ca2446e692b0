"""The official openai SDK gets the same result through darklaunch as from the incumbent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from proxy.server import RunningProxy
from proxy.sim.profile import SimProfile
from proxy.sim.server import SimServer, running_simulator
from tests.conftest import ProxyFactory

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
MESSAGES: list[Any] = [{"role": "user", "content": "What is the weather in Paris? use get_weather"}]
VOLATILE = {"id", "created"}


def _stable(obj: Any) -> Any:
    """Drop per-response ids and timestamps, which differ between any two calls."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


@pytest.fixture
async def pair(proxy_factory: ProxyFactory) -> AsyncIterator[tuple[SimServer, RunningProxy]]:
    async with (
        running_simulator(SimProfile(name="inc", seed=3)) as inc,
        running_simulator(SimProfile(name="cand", seed=4, nondeterminism=0.5)) as cand,
        proxy_factory(inc.url, [{"name": "c", "url": cand.url}]) as proxy,
    ):
        yield inc, proxy


def _clients(inc: SimServer, proxy: RunningProxy) -> tuple[openai.AsyncOpenAI, openai.AsyncOpenAI]:
    direct = openai.AsyncOpenAI(base_url=inc.url + "/v1", api_key="sk-test", max_retries=0)
    through = openai.AsyncOpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0)
    return direct, through


async def test_non_streaming_chat(pair: tuple[SimServer, RunningProxy]) -> None:
    direct, through = _clients(*pair)
    async with direct, through:
        results = [
            (
                await client.chat.completions.create(model="gpt-x", messages=MESSAGES[:1])
            ).model_dump()
            for client in (direct, through)
        ]
    assert results[0]["choices"][0]["message"]["content"]
    assert _stable(results[0]) == _stable(results[1])


async def test_streaming_chat_with_usage(pair: tuple[SimServer, RunningProxy]) -> None:
    direct, through = _clients(*pair)
    async with direct, through:
        results = []
        for client in (direct, through):
            stream = await client.chat.completions.create(
                model="gpt-x",
                messages=[{"role": "user", "content": "Tell me about streams"}],
                stream=True,
                stream_options={"include_usage": True},
            )
            results.append([chunk.model_dump() async for chunk in stream])
    assert len(results[0]) > 3
    assert results[0][-1]["usage"]["total_tokens"] > 0
    assert _stable(results[0]) == _stable(results[1])


async def test_streamed_tool_calls(pair: tuple[SimServer, RunningProxy]) -> None:
    direct, through = _clients(*pair)
    async with direct, through:
        results = []
        for client in (direct, through):
            stream = await client.chat.completions.create(
                model="gpt-x", messages=MESSAGES, tools=TOOLS, stream=True
            )
            results.append([chunk.model_dump() async for chunk in stream])
    calls = [
        c
        for chunk in results[0]
        for choice in chunk["choices"]
        for c in choice["delta"]["tool_calls"] or []
    ]
    assert calls
    assert calls[0]["function"]["name"] == "get_weather"
    assert _stable(results[0]) == _stable(results[1])


async def test_embeddings(pair: tuple[SimServer, RunningProxy]) -> None:
    direct, through = _clients(*pair)
    async with direct, through:
        results = [
            (await client.embeddings.create(model="emb", input=["a", "b"])).model_dump()
            for client in (direct, through)
        ]
    assert len(results[0]["data"]) == 2
    assert results[0] == results[1]


async def test_incumbent_error(pair: tuple[SimServer, RunningProxy]) -> None:
    inc, proxy = pair
    inc.profile = inc.profile.model_copy(update={"mode": "error", "error_status": 429})
    direct, through = _clients(inc, proxy)
    errors = []
    async with direct, through:
        for client in (direct, through):
            with pytest.raises(openai.RateLimitError) as caught:
                await client.chat.completions.create(model="gpt-x", messages=MESSAGES[:1])
            errors.append((caught.value.status_code, caught.value.body, caught.value.message))
    assert errors[0] == errors[1]
